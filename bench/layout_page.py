"""A large layout's page: PUT a layout of N line plots to a real `streamvis serve` and time
until headless Chromium has drawn every plot, against a floor of N plain Bokeh figures
served by a raw `bokeh serve` app. Per-plot times show whether the cost is linear in N.

    python bench/layout_page.py              # 16, 64 and 144 plots (needs /usr/bin/chromium)
    python bench/layout_page.py 16 32        # other sizes

Two timings per N: `rebuild` (a page is already open on the run; PUT the layout and wait
until the open page has redrawn itself with every plot) and `open` (a fresh page opened
after the PUT). "Drawn" means: every plot's figure is in `Bokeh.documents[0]`, its line's
data source holds the stream's rows, and its Bokeh view reports `has_finished()`.
Sizes above the plot limit are served with STREAMVIS_MAX_PLOTS raised to that size.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from chromium import CHROMIUM, CHROMIUM_ARGS
from ports import free_port, wait_port

STREAMVIS = str(Path(sys.executable).with_name("streamvis"))
ROWS = 50  # rows of the one stream every plot draws
DEADLINE = 900.0  # seconds to wait for one page before giving up

DRAWN = """([n, rows]) => {
    const doc = (window.Bokeh && Bokeh.documents) ? Bokeh.documents[0] : null;
    if (!doc) return 0;
    let done = 0;
    for (let i = 0; i < n; i++) {
        const figure = doc.get_model_by_name(`sv-figure:p${i}`) ||
                       doc.get_model_by_name(`bench-figure:p${i}`);
        const source = doc.get_model_by_name(`sv:p${i}:y`) ||
                       doc.get_model_by_name(`bench:p${i}`);
        if (!figure || !source || source.data.y.length < rows) continue;
        const view = Bokeh.index.find_one(figure);
        if (view && view.has_finished()) done++;
    }
    return done;
}"""

RAW_APP = textwrap.dedent("""
    import math, os
    from bokeh.io import curdoc
    from bokeh.layouts import gridplot
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    count = int(os.environ["BENCH_PLOTS"])
    rows = int(os.environ["BENCH_ROWS"])
    figures = []
    for index in range(count):
        source = ColumnDataSource({"x": list(range(rows)), "y": [float(v) for v in range(rows)]},
                                  name=f"bench:p{index}")
        plot = figure(name=f"bench-figure:p{index}", title=f"p{index}", height=260,
                      sizing_mode="stretch_width", output_backend="canvas", tools="hover")
        plot.line("x", "y", source=source)
        figures.append(plot)
    curdoc().add_root(gridplot(figures, ncols=math.ceil(math.sqrt(count)),
                               sizing_mode="stretch_width"))
""")


def layout(count: int) -> dict[str, Any]:
    """`count` line plots of stream `s` on a square-ish grid, one cell each."""
    columns = math.ceil(math.sqrt(count))
    plots = []
    for index in range(count):
        row, column = divmod(index, columns)
        plots.append(
            {
                "id": f"p{index}",
                "kind": "line",
                "stream": "s",
                "x": "x",
                "y": "y",
                "at": [row, column, 1, 1],
            }
        )
    return {"title": f"{count} plots", "plots": plots}


def call(port: int, method: str, path: str, body: Any) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as reply:
        return json.loads(reply.read())


def wait_drawn(page: Any, count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while page.evaluate(DRAWN, [count, ROWS]) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the page did not draw {count} plots in {DEADLINE:.0f} s")
        time.sleep(0.05)


def start(command: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # `streamvis serve` starts `panel serve`: stop both
        )
    wait_port(port, timeout=120)
    return process


def stop(process: subprocess.Popen) -> None:
    """End the server and the processes it started (its own process group)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def time_streamvis(browser: Any, count: int, folder: Path) -> tuple[float, float]:
    """(rebuild seconds, open seconds) for a layout of `count` plots."""
    port = free_port()
    env = {"STREAMVIS_MAX_PLOTS": str(max(count, 64))}
    command = [STREAMVIS, "serve", "--port", str(port), "--store", "none"]
    server = start(command, port, env, folder / f"streamvis-{count}.log")
    try:
        call(port, "POST", "/api/v1/runs/default/streams/s",
             {"x": list(range(ROWS)), "y": [float(v) for v in range(ROWS)]})  # fmt: skip
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/", timeout=DEADLINE * 1000)
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        began = time.perf_counter()
        call(port, "PUT", "/api/v1/runs/default/layout", layout(count))
        wait_drawn(page, count)
        rebuild = time.perf_counter() - began
        context.close()
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        began = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}/", timeout=DEADLINE * 1000)
        wait_drawn(page, count)
        opened = time.perf_counter() - began
        context.close()
        return rebuild, opened
    finally:
        stop(server)


def time_raw_bokeh(browser: Any, count: int, folder: Path) -> float:
    """Seconds to open a raw Bokeh server page of `count` plain line figures."""
    app = folder / "raw_app.py"
    app.write_text(RAW_APP)
    port = free_port()
    command = [sys.executable, "-m", "bokeh", "serve", str(app), "--port", str(port)]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    env = {"BENCH_PLOTS": str(count), "BENCH_ROWS": str(ROWS), "BOKEH_RESOURCES": "server"}
    server = start(command, port, env, folder / f"bokeh-{count}.log")
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        began = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}/raw_app", timeout=DEADLINE * 1000)
        wait_drawn(page, count)
        opened = time.perf_counter() - began
        context.close()
        return opened
    finally:
        stop(server)


def main(sizes: list[int]) -> None:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="streamvis-layout-bench-"))
    print(f"streamvis layout page bench, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"{'plots':>5} {'rebuild s':>10} {'open s':>8} {'raw bokeh s':>12} "
        f"{'rebuild ms/plot':>16} {'open ms/plot':>13} {'raw ms/plot':>12} {'open/raw':>9}"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for count in sizes:
                rebuild, opened = time_streamvis(browser, count, folder)
                raw = time_raw_bokeh(browser, count, folder)
                print(
                    f"{count:>5} {rebuild:>10.2f} {opened:>8.2f} {raw:>12.2f} "
                    f"{rebuild / count * 1000:>16.1f} {opened / count * 1000:>13.1f} "
                    f"{raw / count * 1000:>12.1f} {opened / raw:>9.1f}",
                    flush=True,
                )
        finally:
            browser.close()
    print(f"server logs in {folder}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [16, 64, 144])
