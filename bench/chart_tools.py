"""What the per-chart tools (log y, CSV, full window: streamvis/page/chart_tools.py) cost a
page of many line plots: open a fresh page of N plots on a `streamvis serve` with the tools
and on one without (`STREAMVIS_CHART_TOOLS=off`), interleaved for a few rounds, and time
until headless Chromium has drawn every plot (as bench/layout_page.py does).

    python bench/chart_tools.py            # 100 plots, 3 rounds (needs /usr/bin/chromium)
    python bench/chart_tools.py 100 5      # plots, rounds
    python bench/chart_tools.py --build 100 3   # server side only: build the page in-process

`--build` times `sv.dashboard(...)` plus Panel's `get_root` for the same layout in this
process (no browser), tools on and off interleaved, after one untimed round.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chromium import CHROMIUM, CHROMIUM_ARGS
from layout_page import DEADLINE, ROWS, STREAMVIS, call, layout, start, stop, wait_drawn
from ports import free_port

MODELS = """() => {
    const found = new Set();
    for (const root of Bokeh.documents[0].roots())
        for (const model of root.references()) found.add(model);
    return found.size;
}"""


def serve(count: int, tools: bool, folder: Path) -> tuple[Any, int]:
    """A `streamvis serve` holding the stream and a layout of `count` line plots."""
    port = free_port()
    env = {
        "STREAMVIS_MAX_PLOTS": str(max(count, 64)),
        "STREAMVIS_CHART_TOOLS": "on" if tools else "off",
    }
    command = [STREAMVIS, "serve", "--port", str(port), "--store", "none"]
    server = start(command, port, env, folder / f"streamvis-{'tools' if tools else 'plain'}.log")
    call(port, "POST", "/api/v1/runs/default/streams/s",
         {"x": list(range(ROWS)), "y": [float(v) for v in range(ROWS)]})  # fmt: skip
    call(port, "PUT", "/api/v1/runs/default/layout", layout(count))
    return server, port


def open_once(browser: Any, port: int, count: int) -> tuple[float, int]:
    """(seconds until every plot is drawn in a fresh page, Bokeh models in that page)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    began = time.perf_counter()
    page.goto(f"http://127.0.0.1:{port}/", timeout=DEADLINE * 1000)
    wait_drawn(page, count)
    opened = time.perf_counter() - began
    models = int(page.evaluate(MODELS))
    context.close()
    return opened, models


def main(count: int, rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="streamvis-tools-bench-"))
    print(f"per-chart tools bench, {count} line plots, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    servers = {name: serve(count, name == "tools", folder) for name in ("plain", "tools")}
    times: dict[str, list[float]] = {"plain": [], "tools": []}
    models: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in servers:  # a first page warms each server up (not counted)
                open_once(browser, servers[name][1], count)
            for round_ in range(rounds):
                order = ("plain", "tools") if round_ % 2 == 0 else ("tools", "plain")
                for name in order:
                    opened, models[name] = open_once(browser, servers[name][1], count)
                    times[name].append(opened)
                    print(f"round {round_ + 1} {name:>5}: {opened:7.2f} s "
                          f"({models[name]:,} models), load {os.getloadavg()[0]:.1f}",
                          flush=True)  # fmt: skip
        finally:
            browser.close()
            for server, _port in servers.values():
                stop(server)
    plain, tools = statistics.median(times["plain"]), statistics.median(times["tools"])
    ratios = [t / p for p, t in zip(times["plain"], times["tools"], strict=True)]
    print(f"median open: without tools {plain:.2f} s, with tools {tools:.2f} s, "
          f"ratio {tools / plain:.2f} (per round: {', '.join(f'{r:.2f}' for r in ratios)}); "
          f"models {models['plain']:,} -> {models['tools']:,} "
          f"(+{(models['tools'] - models['plain']) / count:.1f} per chart)")  # fmt: skip


def build(count: int, rounds: int) -> None:
    """Time building the page in this process (wall and this process's CPU seconds): tools
    off, on (a "tools" button per chart), and on with every chart's tool row opened (the
    row clicked open right after the build: what making the rows up front costs)."""
    import panel as pn
    from bokeh.document import Document

    import streamvis as sv
    from streamvis.core.hub import Hub

    os.environ["STREAMVIS_MAX_PLOTS"] = str(max(count, 64))
    hub = Hub()
    hub.write("s", {"x": list(range(ROWS)), "y": [float(v) for v in range(ROWS)]})
    variants = ("off", "on", "opened")
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    models: dict[str, int] = {}
    print(f"per-chart tools, page build in-process, {count} line plots, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for round_ in range(rounds + 1):  # round 0 warms up (imports, first HoloViews use)
        order = variants if round_ % 2 else variants[::-1]
        for name in order:
            os.environ["STREAMVIS_CHART_TOOLS"] = "off" if name == "off" else "on"
            began, began_cpu = time.perf_counter(), time.process_time()
            page = sv.dashboard(layout(count), hub=hub, start=False)
            view = page.__panel__()
            root = view.get_root(Document())
            if name == "opened":
                for button in view.select(pn.widgets.Button):
                    if "sv-tools-open" in button.css_classes:
                        button.clicks += 1
            took, took_cpu = time.perf_counter() - began, time.process_time() - began_cpu
            models[name] = len(root.references())
            if round_:
                cpu[name].append(took_cpu)
                print(f"round {round_} tools {name:>6}: {took:7.2f} s wall, {took_cpu:7.2f} s "
                      f"CPU ({models[name]:,} models), load {os.getloadavg()[0]:.1f}",
                      flush=True)  # fmt: skip
    off = statistics.median(cpu["off"])
    for name in ("on", "opened"):
        median = statistics.median(cpu[name])
        print(f"median CPU: tools {name} {median:.2f} s against off {off:.2f} s, ratio "
              f"{median / off:.2f}; models {models['off']:,} -> {models[name]:,} "
              f"(+{(models[name] - models['off']) / count:.1f} per chart)")  # fmt: skip


if __name__ == "__main__":
    flags = [arg for arg in sys.argv[1:] if arg.startswith("--")]
    arguments = [int(arg) for arg in sys.argv[1:] if not arg.startswith("--")]
    run = build if "--build" in flags else main
    run(*(arguments + [100, 3][len(arguments) :]))
