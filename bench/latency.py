"""Sample -> page latency in headless Chromium: streamvis next to a raw Bokeh server app.

    .venv/bin/python bench/latency.py                       # the full table (~15 min)
    .venv/bin/python bench/latency.py --rates 1000 --pages 1 --rounds 3

Every sample carries the wall-clock time it was emitted (`t`, seconds). Each page hooks its
Bokeh data sources (a change listener in the page, as BokehJS applies an update) and notes
(now, newest t it holds) whenever that grows. A sample's latency is the first time a page
held a t at least its own, minus its own: how long until the page shows the data as new as
that sample. This counts a sample the level-of-detail view folded into a pixel column (a
whole-run view sends the newest row of every column, never every row) the moment a newer
one is drawn; for the raw Bokeh app, which streams every row, it is the per-sample latency.

Systems, each with a 50 ms tick unless --period-ms says otherwise:
  bokeh            a raw Bokeh server app: per session a periodic callback streams the rows
                   it has not sent yet into a ColumnDataSource (`stream`, rollover 10,000);
                   the producer is a thread in the server process            [the anchor]
  streamvis        `sv.serve` of a one-line-plot layout; the producer is a thread in the same
                   process calling `sv.stream`
  streamvis-remote `streamvis serve` of the same layout; the producer is another process
                   sending through `sv.Client` (numeric rows as binary columns)
  streamvis-remote-json   the same, with the client held to JSON bodies (as before the
                   binary columns wire; not in the default systems)
  streamvis-redis  streamvis-remote on the Redis store at --redis (emptied first)
  streamvis-redis-ab      two `streamvis serve` on that Redis: the producer sends to A,
                   the pages are on B (bench/scale_out.py runs these)
Rates 10 .. 100,000 samples/s; above 10,000/s producers send 1,000-row batches (every row of
a batch carries the batch's emit time). N real Chromium pages (tabs of one browser, with
background throttling off) each measured; rounds interleave the systems. "Sustained": the
producer reached >= 95% of the target, >= 99% of samples reached every page, p95 < 1 s and
the last fifth's median latency <= 2x the first fifth's + 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import open_tabs  # noqa: E402
from ports import free_port, wait_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BATCH_ABOVE = 10_000  # samples/s above which producers send 1,000-row batches
BATCH_ROWS = 1_000
ROLLOVER = 10_000


def layout(period_ms: int) -> dict[str, Any]:
    return {
        "title": "latency",
        "refresh_ms": period_ms,
        "plots": [
            {"id": "lat", "kind": "line", "stream": "lat", "x": "step", "y": ["t"]}
            | {"at": [0, 0, 1, 1]}
        ],
    }


# -- producers ---------------------------------------------------------------------------


def produce(send: Any, rate: float, duration: float) -> dict[str, Any]:
    """Call `send(steps, emit_time)` at `rate` samples/s for `duration` s; returns the emit
    times (one per sample) and the achieved rate."""
    batch = BATCH_ROWS if rate > BATCH_ABOVE else 1
    total = int(rate * duration)
    emitted: list[float] = []
    counts: list[int] = []
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = start + sent / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        size = min(batch, total - sent)
        now = time.time()
        send(np.arange(sent, sent + size), now)
        emitted.append(now)
        counts.append(size)
        sent += size
    elapsed = time.perf_counter() - start
    times = np.repeat(np.array(emitted), counts)
    return {"times": times.tolist(), "target": total, "elapsed": elapsed}


def write_atomically(path: Path, text: str) -> None:
    """The reader polls for the file: it must never see it half written."""
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.rename(path)


def wait_for(path: Path, deadline_s: float = 600) -> None:
    deadline = time.monotonic() + deadline_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.01)


def producer_thread(send: Any, args: argparse.Namespace) -> None:
    def run() -> None:
        wait_for(Path(args.go))
        result = produce(send, args.rate, args.duration)
        write_atomically(Path(args.out), json.dumps(result))

    threading.Thread(target=run, daemon=True).start()


# -- servers (child processes) -----------------------------------------------------------


def serve_bokeh(args: argparse.Namespace) -> None:
    """The anchor: a plain Bokeh server app streaming each session's unsent rows per tick."""
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure
    from bokeh.server.server import Server

    steps: list[np.ndarray] = []
    times: list[np.ndarray] = []
    lock = threading.Lock()

    def send(batch_steps: np.ndarray, now: float) -> None:
        with lock:
            steps.append(batch_steps)
            times.append(np.full(len(batch_steps), now))

    def app(doc: Any) -> None:
        source = ColumnDataSource({"step": [], "t": []}, name="lat")
        plot = figure(sizing_mode="stretch_both", output_backend="canvas")
        plot.line("step", "t", source=source)
        doc.add_root(plot)
        cursor = [0]

        def tick() -> None:
            with lock:
                new_steps, new_times = steps[cursor[0] :], times[cursor[0] :]
                cursor[0] = len(steps)
            if new_steps:
                source.stream(
                    {"step": np.concatenate(new_steps), "t": np.concatenate(new_times)}, ROLLOVER
                )

        doc.add_periodic_callback(tick, args.period_ms)

    producer_thread(send, args)
    server = Server({"/": app}, port=args.port, address="127.0.0.1", allow_websocket_origin=["*"])
    server.start()
    server.io_loop.start()


def serve_streamvis(args: argparse.Namespace) -> None:
    """streamvis in-process: `sv.serve` plus a producer thread calling `sv.stream`."""
    import streamvis as sv

    def send(batch_steps: np.ndarray, now: float) -> None:
        if len(batch_steps) == 1:
            sv.stream("lat", {"step": int(batch_steps[0]), "t": now})
        else:
            sv.stream("lat", {"step": batch_steps, "t": np.full(len(batch_steps), now)})

    producer_thread(send, args)
    sv.serve(layout(args.period_ms), port=args.port, threaded=False)


def produce_remote(args: argparse.Namespace) -> None:
    """A producer process sending through `sv.Client` to a `streamvis serve`."""
    import streamvis as sv

    client = sv.Client(args.url)
    client.binary = not args.json_wire  # False: JSON bodies, as a client before binary columns
    requests: list[tuple[float, int]] = []  # (seconds until answered, rows) per request
    send_request = client._send

    def timed(request: Any, *more: Any) -> Any:
        start = time.perf_counter()
        answer = send_request(request, *more)
        requests.append((time.perf_counter() - start, request.rows))
        return answer

    client._send = timed  # type: ignore[method-assign]

    def send(batch_steps: np.ndarray, now: float) -> None:
        if len(batch_steps) == 1:
            client.stream("lat", {"step": int(batch_steps[0]), "t": now})
        else:
            client.stream("lat", {"step": batch_steps, "t": np.full(len(batch_steps), now)})

    wait_for(Path(args.go))
    result = produce(send, args.rate, args.duration)
    client.flush(60)
    waits, rows = np.array(requests).T if requests else (np.zeros(1), np.zeros(1))
    result["requests"] = {
        "count": len(requests),
        "rows_mean": float(rows.mean()),
        "answer_p50_ms": float(np.percentile(waits, 50) * 1e3),
        "answer_p95_ms": float(np.percentile(waits, 95) * 1e3),
    }
    write_atomically(Path(args.out), json.dumps(result))
    client.close()


# -- the pages ---------------------------------------------------------------------------

HOOK = """() => {
  if (window.__svlat) return true;
  if (!window.Bokeh || !Bokeh.documents || !Bokeh.documents.length) return false;
  const doc = Bokeh.documents[0];
  const sources = [...doc.all_models].filter(m => m.data != null && m.data.t !== undefined);
  if (!sources.length) return false;
  const seen = [];
  let newest = 0;
  const look = () => {
    let top = newest;
    for (const s of sources) {
      const t = s.data.t;
      const stop = Math.max(0, t.length - 20000);
      for (let i = t.length - 1; i >= stop; i--) { if (t[i] > top) top = t[i]; }
    }
    if (top > newest) {
      newest = top;
      seen.push([(performance.timeOrigin + performance.now()) / 1000, top]);
    }
  };
  for (const s of sources) {
    s.streaming.connect(look); s.patching.connect(look); s.change.connect(look);
    s.properties.data.change.connect(look);
  }
  window.__svlat = seen;
  return true;
}"""


def latencies(times: np.ndarray, seen: list[list[float]]) -> np.ndarray:
    """Per sample: first time a page held a t >= its own, minus its own (NaN: never)."""
    if not seen:
        return np.full(len(times), np.nan)
    stamps = np.array(seen)
    when, newest = stamps[:, 0], np.maximum.accumulate(stamps[:, 1])
    index = np.searchsorted(newest, times, side="left")
    out = np.full(len(times), np.nan)
    found = index < len(newest)
    out[found] = when[index[found]] - times[found]
    return out


def verdict(
    times: np.ndarray, lat: np.ndarray, emitted: int, target: int, elapsed: float, rate: float
) -> dict:
    """Latency percentiles over every (sample, page) pair, and whether the rate held."""
    got = np.isfinite(lat)
    result: dict[str, Any] = {
        "emitted": emitted,
        "target": target,
        "achieved": (emitted / elapsed) if elapsed else 0.0,
        "delivered": float(got.mean()) if len(got) else 0.0,
    }
    if not got.any():
        result.update(sustained=False, reason="nothing reached the page")
        return result
    values = lat[got] * 1e3
    fifth = max(1, len(values) // 5)
    first, last = float(np.median(values[:fifth])), float(np.median(values[-fifth:]))
    result.update(
        p50=float(np.percentile(values, 50)),
        p95=float(np.percentile(values, 95)),
        first=first,
        last=last,
    )
    reasons = []
    if emitted < 0.95 * target or result["achieved"] < 0.95 * rate:
        reasons.append(f"producer reached {result['achieved']:.0f}/s")
    if result["delivered"] < 0.99:
        reasons.append(f"delivered {result['delivered']:.1%}")
    if result["p95"] > 1000:
        reasons.append("p95 > 1 s")
    if last > 2 * first + 100:
        reasons.append("latency growing")
    result.update(sustained=not reasons, reason="; ".join(reasons))
    return result


def emptied_redis(url: str | None) -> str:
    """The Redis at `url` with nothing in it (a run starts from an empty store)."""
    if not url:
        raise SystemExit("the streamvis-redis systems need --redis redis://HOST:PORT/DB")
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def one_run(system: str, rate: float, pages: int, args: argparse.Namespace) -> dict[str, Any]:
    """Start the system's server (and producer), open `pages` pages, produce, collect."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="svlat-"))
    go, out = scratch / "go", scratch / "out.json"
    common = ["--rate", str(rate), "--duration", str(args.duration), "--go", str(go)]
    common += ["--out", str(out), "--period-ms", str(args.period_ms), "--port", str(port)]
    children = []
    env = {**os.environ, "STREAMVIS_STORE": str(scratch / "store.sqlite")}
    page_port = port  # the page's server; another one for streamvis-redis-ab
    if system.startswith(("streamvis-remote", "streamvis-redis")):
        layout_file = scratch / "layout.json"
        layout_file.write_text(json.dumps(layout(args.period_ms)))
        store = str(scratch / "store.sqlite")
        if system.startswith("streamvis-redis"):
            store = emptied_redis(getattr(args, "redis", None))
        if system == "streamvis-redis-ab":
            page_port = free_port()
        for serving in dict.fromkeys([port, page_port]):
            command = [str(Path(PYTHON).parent / "streamvis"), "serve", str(layout_file)]
            command += ["--port", str(serving), "--store", store]
            children.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
        producer = [PYTHON, __file__, "--role", "remote", "--url", f"http://127.0.0.1:{port}"]
        producer += ["--json-wire"] if system == "streamvis-remote-json" else []
        children.append(subprocess.Popen(producer + common, env=env))
    else:
        role = "bokeh" if system == "bokeh" else "streamvis"
        command = [PYTHON, __file__, "--role", role, *common]
        children.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
    try:
        wait_port(port, 120)
        wait_port(page_port, 120)
        with sync_playwright() as playwright:
            browser, tabs = open_tabs(playwright, f"http://127.0.0.1:{page_port}/", pages, 700)
            for tab in tabs:
                tab.wait_for_function(HOOK, timeout=120000, polling=100)
            go.write_text("go")
            wait_for(out, args.duration * 20 + 120)
            produced = json.loads(out.read_text())
            times = np.array(produced["times"])
            newest = float(times.max()) if len(times) else 0.0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the tail reaching every page
                newest_js = "Math.max(0, ...window.__svlat.map(s => s[1]))"
                reached = [t.evaluate(newest_js) for t in tabs]
                if min(reached) >= newest:
                    break
                time.sleep(0.2)
            seen = [tab.evaluate("window.__svlat") for tab in tabs]
            browser.close()
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
    per_page = [latencies(times, s) for s in seen]
    lat = np.concatenate(per_page) if per_page else np.empty(0)
    every = np.tile(times, len(per_page))
    order = np.argsort(every, kind="stable")
    result = verdict(
        every[order], lat[order], len(times), produced["target"], produced["elapsed"], rate
    )
    result["delivered"] = min(float(np.isfinite(p).mean()) for p in per_page)
    if "requests" in produced:  # a remote producer: its requests and their answer times
        result["requests"] = produced["requests"]
    result.update(system=system, rate=rate, pages=pages)
    return result


def table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'system':<21} {'pages':>5} {'rate/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'x bokeh p50':>11} {'delivered':>9} {'achieved':>9}  sustained"
    )
    anchors = {(r["rate"], r["pages"]): r for r in results if r["system"] == "bokeh"}
    for r in results:
        anchor = anchors.get((r["rate"], r["pages"]), {})
        p50, p95 = r.get("p50", float("nan")), r.get("p95", float("nan"))
        ratio = p50 / anchor.get("p50", float("nan"))
        print(
            f"{r['system']:<21} {r['pages']:>5} {r['rate']:>8,.0f} {p50:>8.1f} "
            f"{p95:>8.1f} {ratio:>11.2f} {r['delivered']:>9.1%} "
            f"{r['achieved']:>9,.0f}  {'yes' if r['sustained'] else 'no: ' + r['reason']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["bokeh", "streamvis", "remote"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--go")
    parser.add_argument("--out")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--period-ms", type=int, default=50)
    parser.add_argument("--rates", default="10,100,1000,10000,100000")
    parser.add_argument("--pages", default="1,20")
    parser.add_argument("--systems", default="bokeh,streamvis,streamvis-remote")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", help="also write every run's result here")
    parser.add_argument("--redis", help="a Redis URL, for the streamvis-redis systems")
    parser.add_argument("--json-wire", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "bokeh":
        return serve_bokeh(args)
    if args.role == "streamvis":
        return serve_streamvis(args)
    if args.role == "remote":
        return produce_remote(args)
    results = []
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    for pages in [int(p) for p in args.pages.split(",")]:
        for rate in [float(r) for r in args.rates.split(",")]:
            for _ in range(args.rounds):
                for system in args.systems.split(","):
                    result = one_run(system, rate, pages, args)
                    print(json.dumps(result), flush=True)
                    results.append(result)
    merged = []
    for key in dict.fromkeys((r["system"], r["rate"], r["pages"]) for r in results):
        runs = [r for r in results if (r["system"], r["rate"], r["pages"]) == key]
        best = dict(runs[len(runs) // 2])
        for name in ("p50", "p95"):
            values = [r[name] for r in runs if name in r]
            if values:
                best[name] = float(np.median(values))
        merged.append(best)
    table(merged)
    print(f"# load after {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
