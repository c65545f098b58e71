"""Open pages must not starve ingest: producers posting over HTTP while N pages are open.

    .venv/bin/python bench/load.py                     # 0, 2 and 10 pages, 30 s each
    .venv/bin/python bench/load.py --pages 0,10 --seconds 60

A `streamvis serve` with a SQLite store and a layout of four line plots (one per producer's
stream). N real Chromium pages (tabs of one headless browser) are opened and drawn first;
then four producer processes each POST 1,000 rows/s (a 50-row JSON batch every 50 ms, one
keep-alive connection each) for the given time. An acknowledgement is the POST's response,
which the server sends once the rows are committed to the store (docs/storage.md). Reported
per page count: rows acknowledged per second (target 4,000), ack latency p50/p99, the
server's RSS growth over the run and the CPU it used (cores kept busy: 1.00 is one whole
core); the run with no page open is the anchor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import open_tabs  # noqa: E402
from ports import free_port, wait_port  # noqa: E402

PRODUCERS = 4
ROWS_PER_POST = 50
POST_EVERY = 0.05  # seconds: 1,000 rows/s per producer


def layout() -> dict:
    plots = [
        {"id": f"p{i}", "kind": "line", "stream": f"s{i}", "x": "step", "y": ["v"]}
        | {"at": [i // 2, i % 2, 1, 1]}
        for i in range(PRODUCERS)
    ]
    return {"title": "load", "plots": plots}


def produce(port: int, stream: str, seconds: float, out: str) -> None:
    """One producer: a 50-row POST every 50 ms; each POST's round trip is its ack latency.
    A connection the server drops is counted as a failed POST and opened again; posting
    stops at three times the planned duration (the POSTs not made are not acknowledged)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    path = f"/api/v1/runs/default/streams/{stream}"
    latencies, acked, failed, step = [], 0, 0, 0
    start = time.perf_counter()
    posts = int(seconds / POST_EVERY)
    for index in range(posts):
        due = start + index * POST_EVERY
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        if time.perf_counter() - start > 3 * seconds:
            break
        body = json.dumps(
            {"step": list(range(step, step + ROWS_PER_POST)), "v": [float(step)] * ROWS_PER_POST}
        )
        sent = time.perf_counter()
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
        except (http.client.HTTPException, OSError):
            failed += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            step += ROWS_PER_POST
            continue
        latencies.append(time.perf_counter() - sent)
        if response.status < 300:
            acked += ROWS_PER_POST
        else:
            failed += 1
        step += ROWS_PER_POST
    elapsed = max(time.perf_counter() - start, seconds)
    Path(out).write_text(
        json.dumps({"latencies": latencies, "acked": acked, "failed": failed, "elapsed": elapsed})
    )


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(pages: int, seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="svload-"))
    layout_file = scratch / "layout.json"
    layout_file.write_text(json.dumps(layout()))
    command = [str(Path(sys.executable).parent / "streamvis"), "serve", str(layout_file)]
    command += ["--port", str(port), "--store", str(scratch / "store.sqlite")]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 120)
        with sync_playwright() as playwright:
            browser, tabs = open_tabs(playwright, f"http://127.0.0.1:{port}/", pages, 800)
            for tab in tabs:
                tab.wait_for_function(  # the page is built (after load) and draws every plot
                    """(count) => { if (!window.Bokeh || !Bokeh.documents.length) return false;
                        const names = new Set();
                        for (const m of Bokeh.documents[0].all_models)
                            if (m.name && m.name.startsWith("sv-figure:")) names.add(m.name);
                        return names.size === count && Bokeh.documents[0].is_idle; }""",
                    arg=PRODUCERS,
                    timeout=300_000,
                    polling=200,
                )
            time.sleep(2)
            rss_before = rss_bytes(server.pid)
            cpu_before = cpu_seconds(server.pid)
            outs = [scratch / f"producer-{i}.json" for i in range(PRODUCERS)]
            profiler = None
            if os.environ.get("LOAD_PYSPY"):  # where the server's time goes (py-spy)
                profiler = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(server.pid)]
                    + ["-d", str(int(seconds)), "-f", "raw", "-o", os.environ["LOAD_PYSPY"]]
                    + ["--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            producers = [
                subprocess.Popen(
                    [sys.executable, __file__, "--produce", f"s{i}", "--port", str(port)]
                    + ["--seconds", str(seconds), "--out", str(outs[i])]
                )
                for i in range(PRODUCERS)
            ]
            for producer in producers:
                producer.wait(seconds * 10 + 120)
            if profiler is not None:
                profiler.wait(120)
            rss_after = rss_bytes(server.pid)
            cpu_after = cpu_seconds(server.pid)
            drawn = [
                tab.evaluate(
                    """() => { let n = 0; for (const m of Bokeh.documents[0].all_models)
                        if (m.data && m.data.v)
                            n = Math.max(n, m.data.step[m.data.step.length - 1] || 0);
                        return n; }"""
                )
                for tab in tabs
            ]
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    results = [json.loads(out.read_text()) for out in outs]
    latencies = np.concatenate([r["latencies"] for r in results]) * 1e3
    elapsed = max(r["elapsed"] for r in results)
    return {
        "pages": pages,
        "acked_per_s": sum(r["acked"] for r in results) / elapsed,
        "failed": sum(r["failed"] for r in results),
        "p50": float(np.percentile(latencies, 50)),
        "p99": float(np.percentile(latencies, 99)),
        "rss_growth_mb": (rss_after - rss_before) / 2**20,
        "server_cpu": (cpu_after - cpu_before) / elapsed,  # cores the server kept busy
        "newest_step_drawn": min(drawn) if drawn else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--produce")
    parser.add_argument("--port", type=int)
    parser.add_argument("--out")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pages", default="0,2,10")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if args.produce:
        return produce(args.port, args.produce, args.seconds, args.out)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    results = []
    for _ in range(args.rounds):
        for pages in [int(p) for p in args.pages.split(",")]:
            result = one_run(pages, args.seconds)
            print(json.dumps(result), flush=True)
            results.append(result)
    anchor = {r["pages"]: r for r in results if r["pages"] == 0}.get(0)
    print(
        f"{'pages':>5} {'acked rows/s':>12} {'x none':>7} {'ack p50 ms':>10} "
        f"{'ack p99 ms':>10} {'RSS +MB':>8} {'srv CPU':>7}"
    )
    for r in results:
        ratio = r["acked_per_s"] / anchor["acked_per_s"] if anchor else float("nan")
        print(
            f"{r['pages']:>5} {r['acked_per_s']:>12,.0f} {ratio:>7.2f} {r['p50']:>10.1f} "
            f"{r['p99']:>10.1f} {r['rss_growth_mb']:>8.1f} {r['server_cpu']:>7.2f}"
        )
    print(f"# load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
