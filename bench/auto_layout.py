"""An automatic layout of 100 charts kept live: `sv.serve()` with no layout in a child
process, a producer in it logging one step to each of 100 streams (one metric each) every
`--period` seconds, and headless Chromium on the page.

    python bench/auto_layout.py [--streams 100] [--period 0.5] [--seconds 30] [--rounds 2]
    python bench/auto_layout.py --mode layout   # the same 100 line plots from a fixed layout
    python bench/auto_layout.py --source /path/to/other/checkout --mode layout   # anchor

Measured per round (a fresh server and browser each):
- tick: the server time of each page tick (LiveSession.tick wrapped in the child), p50/p95;
- step latency: from the producer logging step k (its clock) until step k is in the data
  source of every chart on screen in the browser (polled every 10 ms in the page, same clock),
  p50/p95 in ms and in page ticks (ticks the server started in between);
- open: from `page.goto` until every chart's data source holds rows.
The target (issue 15): every visible chart shows a new step within two ticks.
"""

from __future__ import annotations

import argparse
import json
import os
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
VIEWPORT = {"width": 1600, "height": 1000}

CHILD = textwrap.dedent("""
    import json, sys, threading, time
    import numpy as np
    import streamvis as sv
    from streamvis.core.hub import Hub
    from streamvis.page import session as session_module

    streams, port, period, out, mode = (
        int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5])
    ticks, logged = [], []
    original = session_module.LiveSession.tick

    def timed(self):
        started = time.time()
        try:
            return original(self)
        finally:
            spent = time.time() - started
            direct = sum(1 for feed in self.lines.values() if feed.direct)
            ticks.append((started, spent, len(self.lines), direct))

    session_module.LiveSession.tick = timed
    hub = Hub()
    names = [f"s{i:03d}" for i in range(streams)]
    step = 0
    for name in names:  # some history: 200 steps
        hub.stream(name, {"step": np.arange(200), "loss": np.random.rand(200)}, run="bench")
    step = 200
    layout = None
    if mode == "layout":
        layout = {"title": "bench", "run": "bench", "plots": [
            {"id": f"p{i:03d}", "kind": "line", "stream": name, "x": "step", "y": "loss",
             "at": [i // 3, i % 3, 1, 1]} for i, name in enumerate(names)]}
    sv.serve(layout, hub=hub, port=port, run="bench")  # None: the automatic layout
    print("serving", flush=True)

    def produce():
        global step
        while True:
            time.sleep(period)
            now = time.time()
            for name in names:
                hub.stream(name, {"step": step, "loss": float(np.random.rand())}, run="bench")
            logged.append((step, now))
            step += 1

    def report():
        while True:
            time.sleep(1.0)
            with open(out + ".tmp", "w") as handle:
                json.dump({"ticks": ticks, "logged": logged}, handle)
            import os
            os.replace(out + ".tmp", out)

    threading.Thread(target=produce, daemon=True).start()
    threading.Thread(target=report, daemon=True).start()
    time.sleep(3600)
""")

# JS: install a poller recording, per step, the first time the source of every chart on
# screen held it (charts scrolled out of view may wait until shown: page/on_screen.py);
# `opened`: the first time every chart's source held rows
WATCH = """
(count) => {
  const state = {seen: {}, opened: null, charts: 0, shown: 0};
  window.svBench = state;
  let onScreen = null, checked = 0;
  const screenSources = () => {  // the sv: sources of the figures within the viewport
    const found = new Set();
    for (const view of Bokeh.index.query((v) => v.model && v.model.type === "Figure")) {
      const box = view.el.getBoundingClientRect();
      if (box.height <= 0 || box.bottom <= 0 || box.top >= window.innerHeight) continue;
      for (const renderer of view.model.renderers)
        if (renderer.data_source) found.add(renderer.data_source);
    }
    return found;
  };
  const poll = () => {
    const docs = (window.Bokeh && Bokeh.documents) || [];
    if (!docs.length) return;
    const doc = docs[0];
    if (Date.now() - checked > 250) { onScreen = screenSources(); checked = Date.now(); }
    let least = Infinity, charts = 0, shown = 0;
    const known = doc._all_models;
    const all = known instanceof Map ? known.values() : Object.values(known);
    for (const model of all) {
      const name = model.name || "";
      if (!name.startsWith("sv:") || !model.data) continue;
      const xs = model.data.step;
      if (!xs || xs.length === 0) continue;
      charts += 1;
      if (!onScreen || !onScreen.has(model)) continue;
      shown += 1;
      let top = -Infinity;
      for (let i = Math.max(0, xs.length - 20); i < xs.length; i++)
        if (xs[i] > top) top = xs[i];
      if (top < least) least = top;
    }
    state.charts = charts;
    state.shown = shown;
    if (charts >= count && state.opened === null) state.opened = Date.now();
    if (state.opened === null || shown === 0) return;
    if (!(least in state.seen)) state.seen[least] = Date.now();
  };
  setInterval(poll, 10);
}
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def one_round(args: argparse.Namespace) -> dict[str, Any]:
    """Serve, open the page, let it run `args.seconds`, and read what happened."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "server.json")
        script = Path(folder) / "child.py"
        script.write_text(CHILD)
        env = dict(os.environ, STREAMVIS_STORE="none", STREAMVIS_MAX_PLOTS="1000")
        if args.source:
            env["PYTHONPATH"] = args.source
        child = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(args.streams),
                str(port),
                str(args.period),
                out,
                args.mode,
            ],
            env=env,
            cwd=folder,
        )
        try:
            wait_port(port, 400)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                started = time.time()
                page.goto(f"http://127.0.0.1:{port}/?run=bench", wait_until="domcontentloaded")
                page.evaluate(WATCH, args.streams)
                deadline = time.time() + 900
                while page.evaluate("() => window.svBench.opened") is None:
                    if time.time() > deadline:
                        raise TimeoutError("the page never drew every chart")
                    time.sleep(0.05)
                opened_at = page.evaluate("() => window.svBench.opened") / 1000
                opened = opened_at - started
                time.sleep(args.seconds)
                seen = page.evaluate("() => window.svBench.seen")
                shown = page.evaluate("() => window.svBench.shown")
                browser.close()
            time.sleep(1.2)  # the child's last report
            server = json.loads(Path(out).read_text())
        finally:
            child.terminate()
            child.wait(30)
    return {**summarise(server, seen, opened, opened_at), "charts_on_screen": shown}


def summarise(
    server: dict[str, Any], seen: dict[str, int], opened: float, opened_at: float
) -> dict[str, Any]:
    """Percentiles of what one round measured; only steps logged once every chart was drawn,
    and ticks from then on, count."""
    ticks = [(start, spent) for start, spent, lines, _direct in server["ticks"] if lines]
    after_open = [spent for start, spent in ticks if start >= opened_at]
    shown = {float(step): ms / 1000 for step, ms in seen.items()}
    latencies, tick_counts = [], []
    starts = [start for start, _ in ticks]
    for step, logged in server["logged"]:
        if logged < opened_at:
            continue
        # the first time the page's least step was at least this one
        later = [when for shown_step, when in shown.items() if shown_step >= step]
        if not later:
            continue
        arrived = min(later)
        latencies.append(arrived - logged)
        tick_counts.append(sum(1 for start in starts if logged <= start <= arrived))
    return {
        "open_s": opened,
        "tick_p50_ms": 1000 * percentile(after_open, 0.5),
        "tick_p95_ms": 1000 * percentile(after_open, 0.95),
        "ticks": len(after_open),
        "latency_p50_ms": 1000 * percentile(latencies, 0.5),
        "latency_p95_ms": 1000 * percentile(latencies, 0.95),
        "latency_ticks_p50": percentile([float(c) for c in tick_counts], 0.5),
        "latency_ticks_p95": percentile([float(c) for c in tick_counts], 0.95),
        "steps": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--period", type=float, default=0.5, help="seconds between steps")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--mode", choices=("auto", "layout"), default="auto")
    parser.add_argument("--source", default=None, help="run the server from this checkout")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for number in range(args.rounds):
        result = one_round(args)
        text = ", ".join(
            f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
            for key, value in result.items()
        )
        print(f"round {number + 1} ({args.mode}): {text}", flush=True)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
