"""The browser every bench drives: Debian's chromium, headless, never a downloaded build."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# several pages of one browser, each drawing: no throttling of background tabs
MANY_PAGES_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]


def open_tabs(playwright, url: str, count: int, height: int = 700) -> tuple[object, list]:
    """(browser, `count` tabs of `url`, each loaded up to DOMContentLoaded)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=MANY_PAGES_ARGS)
    tabs = []
    for _ in range(count):
        tab = browser.new_page(viewport={"width": 1200, "height": height})
        tab.goto(url, wait_until="domcontentloaded", timeout=120_000)
        tabs.append(tab)
    return browser, tabs
