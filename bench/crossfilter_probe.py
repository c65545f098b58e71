"""Where one crossfilter click's time goes, browser and server on one clock (issue 13).

    python bench/crossfilter_probe.py [--rows 1e6] [--rounds 3]

bench/crossfilter.py's page and data (its child server, with timestamps added), one real
click on the 2014 wedge and its undo per round. Printed per click, in ms after the click
was sent: the browser's pointer events, websocket frames in and out, data-source and other
model changes as Bokeh applies them, each figure's paint and the page's layouts (with their
duration), long tasks, and when the page first showed the exact totals (the bench's
condition, checked each animation frame in the page); the server's websocket fragments in,
the tap's start and end, `Crossfilter.select` (the redraws included), each chart's direct
write and Panel's writing of the patch (with their durations). The wall clock is shared:
the browser's `performance.timeOrigin + now()` against the server's `time.time()`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import crossfilter as bench
from chromium import CHROMIUM, CHROMIUM_ARGS
from ports import free_port, wait_port

# timestamps ("P <ms> <event> <detail>") on the child's stdout, hooked in before the bench's
# own server child (bench/crossfilter.py SERVE_CHILD) runs
HOOKS = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[4])
    import panel.io.document as panel_document
    from bokeh.server.views.ws import WSHandler
    from streamvis.kinds import bar
    from streamvis.page.direct_charts import DirectChart
    from streamvis.transforms.crossfilter import Crossfilter

    def mark(event, detail=""):
        print(f"P {time.time() * 1000:.1f} {event} {detail}", flush=True)

    def timed(owner, name):
        original = getattr(owner, name)
        def wrapper(*args, **kwargs):
            started = time.time()
            try:
                return original(*args, **kwargs)
            finally:
                mark(name, f"{(time.time() - started) * 1000:.1f}")
        setattr(owner, name, wrapper)

    received = WSHandler.on_message
    async def on_message(self, fragment):
        mark("ws-in", len(fragment) if fragment is not None else 0)
        return await received(self, fragment)
    WSHandler.on_message = on_message
    tapped = bar.on_tap
    def on_tap(state, index):
        mark("tap-start", index)
        tapped(state, index)
        mark("tap-end")
    bar.on_tap = on_tap
    timed(Crossfilter, "select")
    timed(DirectChart, "write")
    timed(panel_document, "dispatch_tornado")

""")
CHILD = HOOKS + bench.SERVE_CHILD

# in the page before Bokeh loads: websocket frames, pointer events, long tasks
RECORDER = """
window.svProbe = [];
const mark = (event, detail) => window.svProbe.push(
    [performance.timeOrigin + performance.now(), event, detail === undefined ? '' : detail]);
window.svMark = mark;
const size = (d) => typeof d === 'string' ? d.slice(0, 50) : d.byteLength;
class ProbedSocket extends window.WebSocket {
    constructor(...args) {
        super(...args);
        this.addEventListener('message', (event) => mark('ws-in', size(event.data)));
    }
    send(data) { mark('ws-out', size(data)); super.send(data); }
}
window.WebSocket = ProbedSocket;
for (const name of ['pointerdown', 'pointerup'])
    document.addEventListener(name, () => mark(name), true);
new PerformanceObserver((list) => {
    for (const e of list.getEntries())
        window.svProbe.push(
            [performance.timeOrigin + e.startTime, 'longtask', Math.round(e.duration)]);
}).observe({type: 'longtask', buffered: true});
"""

# once the page is drawn: paints and layouts of its views, model changes, the totals shown
# (the bench's condition is pasted in: the page's CSP forbids eval)
WATCH = """() => {
    const doc = Bokeh.documents[0], mark = window.svMark;
    const wrap = (view, name, label) => {
        const original = view[name];
        if (!original) return;
        view[name] = function (...args) {
            const started = performance.now(), out = original.apply(this, args);
            mark(label, Math.round((performance.now() - started) * 10) / 10);
            return out;
        };
    };
    for (const model of doc.all_models) {
        if (!model.name || !model.name.startsWith('sv-figure:')) continue;
        const view = Bokeh.index.find_one(model), plot = model.name.slice(10);
        wrap(view, 'paint', 'paint ' + plot);
        wrap(view, 'compute_layout', 'layout ' + plot);
    }
    for (const root of doc.roots()) {
        const view = Bokeh.index.find_one(root);
        if (view) wrap(view, 'compute_layout', 'layout (page)');
    }
    const named = (event) => (event.model && event.model.name) || '';
    doc.on_change((event) => mark('change',
        `${event.attr || event.constructor.name} ${named(event)}`), true);
    const check = __SHOWS__;
    window.svWatch = (want) => {
        const poll = () => { if (check(want)) mark('shows'); else requestAnimationFrame(poll); };
        requestAnimationFrame(poll);
    };
}"""


def server_marks(log: Path, offset: int) -> list[tuple[float, str, str]]:
    """The child's timestamps written from byte `offset` of its log on."""
    found = []
    with log.open() as lines:
        lines.seek(offset)
        for line in lines:
            if line.startswith("P "):
                _, at, event, *detail = line.rstrip("\n").split(" ", 3)
                found.append((float(at), "server " + event, " ".join(detail)))
    return found


def one_click(page: Any, want: dict[str, Any], log: Path) -> float:
    """Click the 2014 wedge, print the click's timeline; ms until the page showed `want`."""
    page.wait_for_function(bench.TAP_CLEARED, polling="raf", timeout=600_000)
    x, y = page.evaluate(bench.WEDGE_2014)
    page.evaluate("() => { window.svProbe.length = 0; }")
    offset = log.stat().st_size
    page.evaluate("(want) => window.svWatch(want)", want)
    clicked = time.time() * 1000
    page.mouse.click(x, y)
    page.wait_for_function(bench.SHOWS, arg=want, polling="raf", timeout=120_000)
    time.sleep(0.5)  # the paints and layouts that follow
    events = [(at, "browser " + event, str(d)) for at, event, d in page.evaluate("window.svProbe")]
    events += server_marks(log, offset)
    events.sort(key=lambda event: event[0])
    shown = next((at - clicked for at, event, _ in events if event == "browser shows"), None)
    quiet = ("browser ws-in", "server ws-in")
    frames = sum(1 for _, event, _ in events if event in quiet)
    for at, event, detail in events:
        if event not in quiet:
            print(f"  {at - clicked:8.1f}  {event:28s} {detail[:70]}")
    print(f"  ({frames} websocket frames in, not listed)")
    return shown if shown is not None else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e6")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = int(float(args.rows))
    from playwright.sync_api import sync_playwright

    data = bench.purchases(rows)
    everything, in_2014 = bench.expected(data, None), bench.expected(data, 2014)
    folder = Path(tempfile.mkdtemp(prefix="sv-xf-probe-"))
    log, script, port = folder / "server.log", folder / "child.py", free_port()
    script.write_text(CHILD)
    here = str(Path(__file__).resolve().parent)
    with log.open("w") as output:
        child = subprocess.Popen(
            [sys.executable, str(script), str(rows), str(port), "3600", here],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while "serving" not in log.read_text():
            if child.poll() is not None:
                raise RuntimeError(log.read_text())
            time.sleep(0.2)
        wait_port(port)
        print(f"load average {os.getloadavg()}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.add_init_script(RECORDER)
            page.goto(f"http://127.0.0.1:{port}/", timeout=600_000)
            page.wait_for_function(bench.SHOWS, arg=everything, polling="raf", timeout=600_000)
            page.evaluate(WATCH.replace("__SHOWS__", bench.SHOWS))
            shown = []
            for round_ in range(args.rounds):
                for name, want in (("click", in_2014), ("undo", everything)):
                    print(f"--- round {round_ + 1}, {name}")
                    shown.append(one_click(page, want, log))
                    print(f"  shown after {shown[-1]:.0f} ms")
            page.screenshot(path=str(folder / "page.png"))
            browser.close()
        print(f"shown after (ms): median {statistics.median(shown):.0f}, all {shown}")
        print(f"load average {os.getloadavg()}; log and screenshot: {folder}")
    finally:
        os.killpg(child.pid, 15)
        child.wait(30)


if __name__ == "__main__":
    main()
