"""The page part of bench/lod.py: a streamvis page of one line plot over N rows (`sv.serve`
in a child process that streamed the rows first) against a raw Bokeh server page of one
6,400-point line, in headless Chromium, interleaved round by round, a fresh server each.

    python bench/lod.py --parts page --page-rows 1e7

- open: from `page.goto` until the page's data sources hold the first and the last x of
  the run (streamvis: sources `sv:p:*`; raw: its one source) and the figure's view has
  finished drawing, then one animation frame.
- pan: a real mouse drag (pan tool) of a quarter of the plot's frame to the right, until
  redrawn: streamvis, until the sources were answered for the new range (no x beyond 80%
  of the run is left); raw Bokeh, until the x range moved; then the view has finished
  drawing and one animation frame passed.
- both wait, when the page has the note `sv-lod:p`, until it agrees with the sources.
- points held: the longest x column over the page's line sources after open; JS heap.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from chromium import CHROMIUM, CHROMIUM_ARGS
from ports import free_port, wait_port

HERE = Path(__file__).resolve()
RAW_POINTS = 6_400  # 4 x 1,600: one pixel-exact M4 line on a plot 1,600 pixels wide
VIEWPORT = {"width": 1720, "height": 900}
DEADLINE = float(os.environ.get("LOD_BENCH_DEADLINE", "180"))  # seconds per draw or redraw
SERVER_LIFETIME = 3600.0

RAW_APP = textwrap.dedent("""
    import numpy as np
    from bokeh.io import curdoc
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    points = int(__import__("os").environ["BENCH_POINTS"])
    rows = int(__import__("os").environ["BENCH_ROWS"])
    x = np.linspace(0, rows - 1, points)
    y = np.cumsum(np.random.default_rng(0).standard_normal(points)).astype("float32")
    source = ColumnDataSource({"step": x, "y": y}, name="bench:p:y")
    plot = figure(name="bench-figure:p", height=720, sizing_mode="stretch_width",
                  output_backend="canvas", tools="pan,wheel_zoom,box_zoom,reset,hover")
    plot.line("step", "y", source=source)
    curdoc().add_root(plot)
""")

SERVE_CHILD = textwrap.dedent("""
    import inspect, sys, time
    import numpy as np
    import streamvis as sv
    from streamvis.core.hub import Hub

    rows, port = int(sys.argv[1]), int(sys.argv[2])
    capped = inspect.signature(Hub).parameters["retain"].default is not None  # a row cap
    hub = Hub(retain=rows + 1_000_000) if capped else Hub()  # else the default memory budget
    rng = np.random.default_rng(0)
    level = 0.0
    for first in range(0, rows, 1_000_000):
        count = min(1_000_000, rows - first)
        walk = level + np.cumsum(rng.standard_normal(count))
        level = float(walk[-1])
        hub.stream("s", {"step": np.arange(first, first + count), "y": walk.astype("float32")})
    layout = {"title": "lod bench", "plots": [
        {"id": "p", "kind": "line", "stream": "s", "x": "step", "y": "y", "at": [0, 0, 1, 1]}]}
    sv.serve(layout, hub=hub, port=port)
    print("serving", flush=True)
    time.sleep(float(sys.argv[3]))
""")

# JS: the page's state: x extent of the line sources, points held, x range, drawn or not
STATE = """([figureName, prefix, xName]) => {
    const doc = (window.Bokeh && Bokeh.documents) ? Bokeh.documents[0] : null;
    if (!doc) return null;
    const figure = doc.get_model_by_name(figureName);
    if (!figure) return null;
    let lo = Infinity, hi = -Infinity, held = 0, total = 0;
    for (const model of doc.all_models) {
        if (!model.name || !model.name.startsWith(prefix) || !model.data) continue;
        const xs = model.data[xName] || model.data.x;
        if (!xs) continue;
        held = Math.max(held, xs.length);
        total += xs.length;
        for (let i = 0; i < xs.length; i++) {
            const v = xs[i];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    const view = Bokeh.index.find_one(figure);
    const done = !!view && view.has_finished() && doc.is_idle;
    let label = null;
    for (const item of figure.center) {
        if (item.name && item.name.startsWith("sv-lod:")) label = item.text;
    }
    return {lo, hi, held, total, done, start: figure.x_range.start, end: figure.x_range.end,
            label, frame: view ? view.frame.bbox.width : null};
}"""

FRAME_BOX = """(figureName) => {
    const figure = Bokeh.documents[0].get_model_by_name(figureName);
    const view = Bokeh.index.find_one(figure);
    const rect = view.canvas_view.el.getBoundingClientRect();
    const box = view.frame.bbox;
    return {x: rect.left + box.x, y: rect.top + box.y, width: box.width, height: box.height};
}"""

NEXT_FRAME = "() => new Promise(done => requestAnimationFrame(() => done(performance.now())))"


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A server in its own process group (so stopping it stops its children too)."""
    with log.open("w") as output:
        return subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_listening(process: subprocess.Popen, port: int, timeout: float) -> None:
    """Return once `port` listens; raise when the server exits first or after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}); see its log")
        try:
            wait_port(port, timeout=1)
            return
        except RuntimeError:
            continue
    raise RuntimeError(f"nothing listens on {port} after {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """End a server started by `start`: its process group, by its PID."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(20)
    except ProcessLookupError:
        pass


def wait_state(page: Any, names: tuple[str, str, str], test: Any, what: str) -> dict[str, Any]:
    """Poll the page's state every animation frame (in Python, at most every 10 ms) until
    `test(state)`; the state that passed. Raises after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while True:
        state = page.evaluate(STATE, list(names))
        if state is not None and test(state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {DEADLINE:.0f} s (last state {state})")
        time.sleep(0.01)


def note_agrees(state: dict[str, Any]) -> bool:
    """The plot's note (`sv-lod:<plot id>`, when the page has one) tells what the sources
    hold: "N rows, M drawn" with M the points of the longest line, or "(raw)"."""
    label = state["label"]
    if label is None:
        return True
    return label.endswith("(raw)") or label.endswith(f"{state['held']:,} drawn")


def measure(browser: Any, url: str, names: tuple[str, str, str], rows: int) -> dict[str, Any]:
    """Open `url`, time until drawn, then one pan until redrawn; points held, heap, errors."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    result: dict[str, Any] = {"errors": errors}
    try:
        began = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=DEADLINE * 1000)

        def drawn(state: dict[str, Any]) -> bool:
            whole = state["lo"] <= 0 and state["hi"] >= rows - 1
            return whole and state["done"] and note_agrees(state)

        try:
            state = wait_state(page, names, drawn, "open")
        except TimeoutError as error:
            result["open_error"] = str(error)[:300]
            return result
        page.evaluate(NEXT_FRAME)
        result["open_s"] = time.perf_counter() - began
        result.update(held=state["held"], total=state["total"], label=state["label"])
        result["frame_width"] = state["frame"]
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        result["heap_mb"] = metrics.get("JSHeapUsedSize", 0) / 2**20
        box = page.evaluate(FRAME_BOX, names[0])
        x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
        span = state["end"] - state["start"]
        start_before = state["start"]

        def redrawn(now: dict[str, Any]) -> bool:
            moved = now["start"] < start_before - 0.2 * span
            if names[1].startswith("sv:"):
                moved = moved and now["hi"] < 0.8 * rows and now["held"] > 0
            return moved and now["done"] and note_agrees(now)

        page.mouse.move(x, y)
        began = time.perf_counter()
        page.mouse.down()
        page.mouse.move(x + box["width"] * 0.25, y, steps=8)
        page.mouse.up()
        try:
            state = wait_state(page, names, redrawn, "pan")
        except TimeoutError as error:
            result["pan_error"] = str(error)[:300]
            return result
        page.evaluate(NEXT_FRAME)
        result["pan_s"] = time.perf_counter() - began
        result.update(held_after_pan=state["held"], label_after_pan=state["label"])
        return result
    finally:
        if not os.environ.get("BENCH_KEEP_SHOT"):
            context.close()
        else:
            page.screenshot(path=os.environ["BENCH_KEEP_SHOT"] + f"-{names[1][:2]}.png")
            context.close()


def run_streamvis(browser: Any, rows: int, folder: Path) -> dict[str, Any]:
    """One round of the streamvis page: a fresh `sv.serve` child holding `rows` rows."""
    port = free_port()
    script = folder / "serve_child.py"
    script.write_text(SERVE_CHILD)
    command = [sys.executable, str(script), str(rows), str(port), str(SERVER_LIFETIME)]
    server = start(command, {}, folder / f"streamvis-{rows}.log")
    try:
        began = time.perf_counter()
        wait_listening(server, port, 1800)
        ready = time.perf_counter() - began
        url = f"http://127.0.0.1:{port}/"
        names = ("sv-figure:p", "sv:p:", "step")
        return {"server_ready_s": ready, **measure(browser, url, names, rows)}
    finally:
        stop(server)


def run_raw(browser: Any, rows: int, folder: Path) -> dict[str, Any]:
    """One round of the raw Bokeh page: one 6,400-point line spanning the same x."""
    app = folder / "raw_line.py"
    app.write_text(RAW_APP)
    port = free_port()
    command = [sys.executable, "-m", "bokeh", "serve", str(app), "--port", str(port)]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    env = {"BENCH_POINTS": str(RAW_POINTS), "BENCH_ROWS": str(rows), "BOKEH_RESOURCES": "server"}
    server = start(command, env, folder / "raw-bokeh.log")
    try:
        wait_listening(server, port, 300)
        url = f"http://127.0.0.1:{port}/raw_line"
        return measure(browser, url, ("bench-figure:p", "bench:p:", "step"), rows)
    finally:
        stop(server)


def ratio(rounds: list[dict[str, Any]], system: str, key: str) -> str:
    """Median over rounds of system/raw for `key`, both from the same round."""
    found = [
        r[system][key] / r["raw"][key] for r in rounds if key in r[system] and key in r["raw"]
    ]
    return f"{statistics.median(found):.2f}" if found else "-"


def part_page(rows: int, rounds: int, small: int = 0) -> None:
    """Print the page table: per round and the median, with the ratio to raw Bokeh; with
    `small`, also the streamvis page of a `small`-row stream (its own fixed cost)."""
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="streamvis-lod-page-"))
    size = f"{VIEWPORT['width']}x{VIEWPORT['height']}"
    print(
        f"\npage in headless Chromium, {rows:,} rows vs raw Bokeh {RAW_POINTS:,} points, "
        f"viewport {size}, {rounds} interleaved rounds"
    )
    systems = {"sv": rows, "raw": rows} | ({"sv-small": small} if small else {})
    results: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for index in range(rounds):
                names = list(systems)
                order = names[index % len(names) :] + names[: index % len(names)]
                found: dict[str, Any] = {}
                for system in order:
                    run = run_raw if system == "raw" else run_streamvis
                    found[system] = run(browser, systems[system], folder)
                results.append(found)
                for system in names:
                    shown = {k: v for k, v in found[system].items() if k != "errors"}
                    errors = len(found[system]["errors"])
                    print(f"  round {index} {system} {shown} console errors: {errors}", flush=True)
        finally:
            browser.close()
    print(
        f"  {'page':22} {'open s':>8} {'x raw':>6} {'pan s':>7} {'x raw':>6} {'points':>7} "
        f"{'heap MB':>8} {'frame px':>8}"
    )
    for system in systems:
        runs = [r[system] for r in results]

        def middle(key: str, runs: list[dict[str, Any]] = runs) -> float:
            values = [run[key] for run in runs if key in run]
            return statistics.median(values) if values else float("nan")

        label = (
            f"raw Bokeh {RAW_POINTS:,} pts"
            if system == "raw"
            else f"streamvis {systems[system]:,} rows"
        )
        print(
            f"  {label:22} {middle('open_s'):>8.2f} {ratio(results, system, 'open_s'):>6} "
            f"{middle('pan_s'):>7.3f} {ratio(results, system, 'pan_s'):>6} "
            f"{middle('held'):>7,.0f} {middle('heap_mb'):>8.1f} {middle('frame_width'):>8.0f}"
        )
    print(f"  server logs in {folder}")
