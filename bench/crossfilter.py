"""What a crossfilter click costs: streamvis end to end in headless Chromium, its server
side, and crossfilter.js (npm `crossfilter2`) in the same Chromium on the same data, at
1e5, 1e6 and 5e6 rows; and the server memory each extra page costs.

    python bench/crossfilter.py [--rows 1e5,1e6,5e6] [--rounds 5] [--pages 4]
                                [--parts server,page,memory]

Data: the crossfilter tutorial's shape (4 years x 4 names x 5 pay types, Spent 10..600),
seeded. The group: a ring of Spent per Year (sum), a row chart of Spent per Name (sum), a
bar chart of purchases per payType (count) and a 20-bin histogram of Spent.

- server: in process, the group over the hub's rows: a 2014 wedge click (`select` plus
  every member's table, what a session does before Bokeh sends), its undo, and 1,000 rows
  folded in under the filter (sync plus the tables). Median of `--rounds` x 3.
- page: `sv.serve` in a child process that streamed the rows first; a real mouse click on
  the 2014 wedge until every chart's data source holds the exact totals (pandas, computed
  here) and the document is idle, polled each animation frame; the second click (undo)
  likewise. Interleaved round by round with crossfilter2 in another tab of the same
  browser, served from a local file (installed by npm into a temp dir, never a CDN):
  the median of 7 warm repetitions of yearDim.filterExact(2014) plus reading every
  group's all(); filterAll is not timed. Ratio = streamvis click / crossfilter2 filter.
- memory: server RSS after one drawn page, then after `--pages` more drawn pages each
  holding a 2014 filter: (difference) / pages, at 1e6 rows and at 1e3 rows.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from chromium import CHROMIUM, CHROMIUM_ARGS
from ports import free_port, wait_port

HERE = Path(__file__).resolve()
NAMES = ["Ben", "Aziz", "Vijay", "Jarrod"]
PAYS = ["cash", "visa", "tab", "amex", "debit"]
DEADLINE = float(os.environ.get("CROSSFILTER_BENCH_DEADLINE", "600"))  # seconds per wait
NPM_DIR = Path(os.environ.get("CROSSFILTER2_DIR", Path(tempfile.gettempdir()) / "sv-xf-npm"))

LAYOUT = {
    "title": "crossfilter bench",
    "refresh_ms": 50,
    "plots": [
        {"id": "by_year", "kind": "ring", "stream": "purchases", "by": "Year",
         "value": "Spent", "agg": "sum", "sort": "name", "crossfilter": "shop",
         "at": [0, 0, 1, 1]},
        {"id": "by_name", "kind": "row", "stream": "purchases", "by": "Name",
         "value": "Spent", "agg": "sum", "crossfilter": "shop", "at": [0, 1, 1, 1]},
        {"id": "pay", "kind": "bar", "stream": "purchases", "by": "payType",
         "crossfilter": "shop", "at": [1, 0, 1, 1]},
        {"id": "spent", "kind": "histogram", "stream": "purchases", "value": "Spent",
         "bins": 20, "crossfilter": "shop", "at": [1, 1, 1, 1]},
    ],
}  # fmt: skip


def purchases(rows: int, seed: int = 13) -> dict[str, np.ndarray]:
    """The tutorial's data at scale, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    return {
        "Year": rng.integers(2012, 2016, rows),
        "Name": np.array(NAMES, dtype=object)[rng.integers(0, len(NAMES), rows)],
        "payType": np.array(PAYS, dtype=object)[rng.integers(0, len(PAYS), rows)],
        "Spent": rng.integers(10, 601, rows).astype(float),
    }


def expected(data: dict[str, np.ndarray], year: int | None) -> dict[str, Any]:
    """What the page must show (pandas): per chart {category: value}; the histogram total."""
    import pandas as pd

    frame = pd.DataFrame(data)
    chosen = frame if year is None else frame[frame["Year"] == year]

    def totals(part: pd.DataFrame, by: str, agg: str) -> dict[str, float]:
        found = part.groupby(by)["Spent"].agg(agg)
        return {str(key): float(value) for key, value in found.items()}

    return {
        "charts": {
            "sv:by_year:wedges": totals(frame, "Year", "sum"),  # its own click keeps all
            "sv:by_name:value": totals(chosen, "Name", "sum"),
            "sv:pay:value": totals(chosen, "payType", "count"),
        },
        "bins": len(chosen),
    }


# ---------------------------------------------------------------------------------------
# server side, in process


def server_side(rows: int, rounds: int) -> dict[str, float]:
    from streamvis.core.hub import Hub
    from streamvis.kinds import KINDS
    from streamvis.layout.spec import load_layout
    from streamvis.transforms.crossfilter import Crossfilter, Selection

    hub = Hub()
    data = purchases(rows)
    for start in range(0, rows, 1_000_000):
        hub.stream("purchases", {k: v[start : start + 1_000_000] for k, v in data.items()})
    group = Crossfilter("shop", table=lambda: hub.table("default", "purchases"))
    states = []
    for plot in load_layout(LAYOUT).plots:
        state = KINDS[plot.kind].make_state(plot)
        state.group = group
        group.join(plot.id, state)
        states.append(state)
    started = time.perf_counter()
    group.sync()
    first = time.perf_counter() - started
    year = Selection("Year", frozenset({"2014"}))
    clicks, undos, folds = [], [], []
    more = purchases(1_000, seed=99)
    for _ in range(rounds * 3):
        started = time.perf_counter()
        group.select("by_year", year)
        for state in states:
            state.table()
        clicks.append(time.perf_counter() - started)
        hub.stream("purchases", more)
        started = time.perf_counter()
        group.sync()
        for state in states:
            state.table()
        folds.append(time.perf_counter() - started)
        started = time.perf_counter()
        group.select("by_year", None)
        for state in states:
            state.table()
        undos.append(time.perf_counter() - started)
    encodings = group.encodings
    return {
        "first_ms": first * 1e3,
        "click_ms": statistics.median(clicks) * 1e3,
        "undo_ms": statistics.median(undos) * 1e3,
        "fold_ms": statistics.median(folds) * 1e3,
        "shared_mb": (encodings.nbytes if encodings is not None else 0) / 1e6,
    }


# ---------------------------------------------------------------------------------------
# page: a served streamvis page and crossfilter2 in the same Chromium

SERVE_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[4])
    import streamvis as sv
    from streamvis.core.hub import Hub
    from crossfilter import LAYOUT, purchases

    rows, port = int(sys.argv[1]), int(sys.argv[2])
    hub = Hub()
    data = purchases(rows)
    for start in range(0, rows, 1_000_000):
        hub.stream("purchases", {k: v[start : start + 1_000_000] for k, v in data.items()})
    sv.serve(LAYOUT, hub=hub, port=port)
    print("serving", flush=True)
    time.sleep(float(sys.argv[3]))
""")

SHOWS = """(want) => {
    const doc = (window.Bokeh && Bokeh.documents) ? Bokeh.documents[0] : null;
    if (!doc || !doc.is_idle) return false;
    for (const [name, values] of Object.entries(want.charts)) {
        const m = doc.get_model_by_name(name);
        if (!m || !m.data.category) return false;
        const cats = m.data.category, vals = m.data.value;
        if (cats.length !== Object.keys(values).length) return false;
        for (let i = 0; i < cats.length; i++) if (values[cats[i]] !== vals[i]) return false;
    }
    const bins = doc.get_model_by_name('sv:spent:count');
    if (!bins) return false;
    let total = 0;
    for (const count of bins.data.top) total += count;
    if (total !== want.bins) return false;
    for (const figure of doc.all_models) {
        if (!figure.name || !figure.name.startsWith('sv-figure:')) continue;
        const view = Bokeh.index.find_one(figure);
        if (!view || !view.has_finished()) return false;
    }
    return true;
}"""

WEDGE_2014 = """() => {
    const doc = Bokeh.documents[0];
    const source = doc.get_model_by_name('sv:by_year:wedges');
    const index = Array.from(source.data.category).indexOf('2014');
    const flat = (v) => Array.isArray(v) || ArrayBuffer.isView(v)
        ? Array.from(v).flatMap(flat) : [v];
    const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
    const mx = mean(flat(source.data.xs[index])), my = mean(flat(source.data.ys[index]));
    const view = Bokeh.index.find_one(doc.get_model_by_name('sv-figure:by_year'));
    const box = view.canvas_view.el.getBoundingClientRect();
    return [box.left + view.frame.x_scale.compute(mx), box.top + view.frame.y_scale.compute(my)];
}"""

CROSSFILTER_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="crossfilter.min.js"></script></head><body>crossfilter2</body></html>"""

CROSSFILTER_SETUP = """async ([names, pays]) => {
    const get = async (file, Kind) => new Kind(await (await fetch(file)).arrayBuffer());
    const year = await get('year.bin', Int16Array), name = await get('name.bin', Uint8Array);
    const pay = await get('pay.bin', Uint8Array), spent = await get('spent.bin', Float64Array);
    const records = new Array(year.length);
    let low = Infinity, high = -Infinity;
    for (let i = 0; i < year.length; i++) {
        records[i] = {Year: year[i], Name: names[name[i]], payType: pays[pay[i]], Spent: spent[i]};
        if (spent[i] < low) low = spent[i];
        if (spent[i] > high) high = spent[i];
    }
    const pad = (high - low) * 0.05, width = (high - low + 2 * pad) / 20;
    const xf = crossfilter(records);
    const yearDim = xf.dimension(d => d.Year), nameDim = xf.dimension(d => d.Name);
    const payDim = xf.dimension(d => d.payType), spentDim = xf.dimension(d => d.Spent);
    const groups = [
        yearDim.group().reduceSum(d => d.Spent), nameDim.group().reduceSum(d => d.Spent),
        payDim.group(), spentDim.group(v => Math.floor((v - low + pad) / width)),
    ];
    const readAll = () => {
        let n = 0;
        for (const g of groups) for (const kv of g.all()) n += kv.value;
        return n;
    };
    window.bench = {xf, yearDim, nameDim, groups, readAll};
    return xf.size();
}"""

CROSSFILTER_MEASURE = """(repeats) => {
    const {yearDim, readAll, groups} = window.bench, times = [];
    for (let r = 0; r < repeats + 3; r++) {
        const started = performance.now();
        yearDim.filterExact(2014);
        readAll();
        const took = performance.now() - started;
        if (r >= 3) times.push(took);  // three warm-up repetitions
        if (r < repeats + 2) { yearDim.filterAll(); readAll(); }
    }
    const names = {};
    for (const kv of groups[1].all()) names[kv.key] = kv.value;
    yearDim.filterAll();
    times.sort((a, b) => a - b);
    return {median: times[Math.floor(times.length / 2)], names};
}"""


def crossfilter_js() -> Path:
    """crossfilter2's browser build, installed by npm into a temp dir on first use."""
    found = NPM_DIR / "node_modules" / "crossfilter2" / "crossfilter.min.js"
    if not found.exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR)]
            + ["crossfilter2"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return found


def crossfilter_site(data: dict[str, np.ndarray], where: Path) -> Path:
    """A folder with the page, crossfilter2's file and the data as binary arrays."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(crossfilter_js(), where / "crossfilter.min.js")
    (where / "index.html").write_text(CROSSFILTER_PAGE)
    (where / "year.bin").write_bytes(data["Year"].astype(np.int16).tobytes())
    for name, labels, file in (("Name", NAMES, "name.bin"), ("payType", PAYS, "pay.bin")):
        codes = np.zeros(len(data[name]), dtype=np.uint8)
        for code, label in enumerate(labels):
            codes[data[name] == label] = code
        (where / file).write_bytes(codes.tobytes())
    (where / "spent.bin").write_bytes(data["Spent"].astype(np.float64).tobytes())
    return where


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def static_server(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/index.html"


def start_child(rows: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    script = log.with_suffix(".py")
    script.write_text(SERVE_CHILD)
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(script), str(rows), str(port), "3600", str(HERE.parent)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + DEADLINE
    while "serving" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bench server did not start:\n{log.read_text()}")
        time.sleep(0.2)
    wait_port(port, timeout=60)
    return process, f"http://127.0.0.1:{port}/"


def stop_child(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_drawn(browser: Any, url: str, want: dict[str, Any]) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(url, timeout=DEADLINE * 1000)
    page.wait_for_function(SHOWS, arg=want, polling="raf", timeout=DEADLINE * 1000)
    return page


TAP_CLEARED = """() => Bokeh.documents[0].get_model_by_name('sv:by_year:wedges')
    .selected.indices.length === 0"""
# the page's main thread idle (the last click's paints and layouts done), at most 2 s
IDLE = """() => new Promise((done) => requestIdleCallback(() => done(true), {timeout: 2000}))"""


def click_until(page: Any, want: dict[str, Any]) -> float:
    """Click the 2014 wedge; seconds until every chart holds `want` and is drawn. Clicks
    only once the server cleared the last tap (a click meanwhile would be lost) and the
    page is idle (Bokeh takes a pointer held 300 ms for a press, not a tap: a long task
    between the mouse's down and up lost the click); a click still lost after 30 s is
    repeated, the time counted from the first."""
    page.wait_for_function(TAP_CLEARED, polling="raf", timeout=DEADLINE * 1000)
    page.evaluate(IDLE)
    x, y = page.evaluate(WEDGE_2014)
    started = time.perf_counter()
    page.mouse.click(x, y)
    try:
        page.wait_for_function(SHOWS, arg=want, polling="raf", timeout=30_000)
    except Exception:  # Playwright's TimeoutError: the click was lost
        print("  (a click was lost; clicking again)", flush=True)
        page.wait_for_function(TAP_CLEARED, polling="raf", timeout=DEADLINE * 1000)
        page.mouse.click(x, y)
        page.wait_for_function(SHOWS, arg=want, polling="raf", timeout=DEADLINE * 1000)
    return time.perf_counter() - started


def page_part(browser: Any, rows: int, rounds: int, folder: Path) -> dict[str, Any]:
    data = purchases(rows)
    everything, in_2014 = expected(data, None), expected(data, 2014)
    site, address = static_server(crossfilter_site(data, folder / f"site-{rows}"))
    process, url = start_child(rows, folder / f"server-{rows}.log")
    try:
        xf_page = browser.new_context().new_page()
        xf_page.goto(address)
        assert xf_page.evaluate(CROSSFILTER_SETUP, [NAMES, PAYS]) == rows
        started = time.perf_counter()
        page = open_drawn(browser, url, everything)
        first_draw = time.perf_counter() - started
        clicks, undos, filters = [], [], []
        for _ in range(rounds):  # interleaved: streamvis click and undo, then crossfilter2
            clicks.append(click_until(page, in_2014))
            undos.append(click_until(page, everything))
            measured = xf_page.evaluate(CROSSFILTER_MEASURE, 7)
            if measured["names"] != in_2014["charts"]["sv:by_name:value"]:
                raise AssertionError("crossfilter2 and pandas disagree on the data")
            filters.append(measured["median"] / 1e3)
        page.screenshot(path=str(folder / f"page-{rows}.png"))
        return {
            "first_draw_s": first_draw,
            "click_ms": statistics.median(clicks) * 1e3,
            "undo_ms": statistics.median(undos) * 1e3,
            "xf_ms": statistics.median(filters) * 1e3,
            "ratio": statistics.median(c / f for c, f in zip(clicks, filters, strict=True)),
        }
    finally:
        stop_child(process)
        site.shutdown()


def memory_part(browser: Any, rows: int, pages: int, folder: Path) -> dict[str, float]:
    data = purchases(rows)
    everything, in_2014 = expected(data, None), expected(data, 2014)
    process, url = start_child(rows, folder / f"memory-{rows}.log")
    try:
        opened = [open_drawn(browser, url, everything)]
        time.sleep(2)
        one = rss_mb(process.pid)
        for _ in range(pages):
            page = open_drawn(browser, url, everything)
            click_until(page, in_2014)
            opened.append(page)
        time.sleep(2)
        more = rss_mb(process.pid)
        for page in opened:
            page.context.close()
        return {"rss_one_mb": one, "per_page_mb": (more - one) / pages}
    finally:
        stop_child(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e5,1e6,5e6")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--parts", default="server,page,memory")
    args = parser.parse_args()
    sizes = [int(float(text)) for text in args.rows.split(",")]
    parts = set(args.parts.split(","))
    print(f"load average {os.getloadavg()}")
    results: dict[str, Any] = {}
    if "server" in parts:
        print(f"{'rows':>10} {'first sync ms':>14} {'click ms':>9} {'undo ms':>8} "
              f"{'+1000 rows ms':>14} {'shared MB':>10}")  # fmt: skip
        for rows in sizes:
            found = results[f"server {rows}"] = server_side(rows, args.rounds)
            print(f"{rows:>10,} {found['first_ms']:>14.0f} {found['click_ms']:>9.1f} "
                  f"{found['undo_ms']:>8.1f} {found['fold_ms']:>14.2f} "
                  f"{found['shared_mb']:>10.1f}")  # fmt: skip
    if parts & {"page", "memory"}:
        from playwright.sync_api import sync_playwright

        folder = Path(tempfile.mkdtemp(prefix="sv-xf-bench-"))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            if "page" in parts:
                print(f"{'rows':>10} {'first draw s':>13} {'click ms':>9} {'undo ms':>8} "
                      f"{'crossfilter2 ms':>16} {'click/xf':>9}")  # fmt: skip
                for rows in sizes:
                    found = results[f"page {rows}"] = page_part(browser, rows, args.rounds, folder)
                    print(f"{rows:>10,} {found['first_draw_s']:>13.1f} "
                          f"{found['click_ms']:>9.0f} {found['undo_ms']:>8.0f} "
                          f"{found['xf_ms']:>16.1f} {found['ratio']:>9.2f}")  # fmt: skip
            if "memory" in parts:
                print(f"{'rows':>10} {'RSS, 1 page MB':>15} {'per extra page MB':>18}")
                for rows in (1_000, 1_000_000):
                    found = results[f"memory {rows}"] = memory_part(
                        browser, rows, args.pages, folder
                    )
                    print(f"{rows:>10,} {found['rss_one_mb']:>15.0f} "
                          f"{found['per_page_mb']:>18.1f}")  # fmt: skip
            browser.close()
        print(f"screenshots and logs: {folder}")
    print(f"load average {os.getloadavg()}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
