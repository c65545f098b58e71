"""Remote producers: what `Client.stream` costs per call in steady state, what an idle client
costs, and sustained rows/s from one client process into a `streamvis_server` with a page open.

    python bench/remote.py                      # all of it (needs /usr/bin/chromium)
    python bench/remote.py --skip-sustained     # per-call and idle costs only
    python bench/remote.py --peers-python ~/.cache/peers-venv/bin/python   # + trackio, rerun
    python bench/remote.py --before ../main     # + the client of another checkout, same run

Per call: every system runs in a fresh process, `--warmup` calls first (then flushed), then
`--rows` timed calls of one sample (step + 3 floats, as /work/shared/bench-peers part A).
Reported per call: wall and CPU of the calling thread, CPU of every other thread of the
process (the sender), and wall including the final flush. Rounds are interleaved (every
system once per round) and each round includes the floor, a bare `queue.Queue.put` drained
by a consumer thread; ratios are taken within a round, then the median over rounds.
Idle: a client connected to a live server with nothing queued for 5 s, then 10 rows/s for
5 s: CPU of its sender thread and how often it woke.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import remote_costs
from chromium import CHROMIUM, CHROMIUM_ARGS
from ports import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
STORE_FOLDER = Path(tempfile.mkdtemp(prefix="streamvis-bench-"))
SERVER = str(Path(sys.executable).with_name("streamvis_server"))

PRODUCER = textwrap.dedent("""
    import json, sys, time
    from streamvis import Client
    url, rows, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client = Client(url, "bench")
    client.set_layout({"title": "bench", "plots": [{"id": "m", "kind": "line", "stream": "m",
                       "x": "step", "y": ["a", "b", "c"], "at": [0, 0, 1, 1]}]})
    calls = []
    start = time.perf_counter()
    if mode == "rows":
        for step in range(rows):
            client.stream("m", {"step": step, "a": 0.5, "b": 1.5, "c": 2.5})
    else:
        import numpy as np
        for first in range(0, rows, 1000):
            steps = np.arange(first, first + 1000)
            client.stream("m", {"step": steps, "a": steps * 0.5, "b": steps * 1.5,
                                "c": steps * 2.5})
    enqueued = time.perf_counter() - start
    client.flush(timeout=120)
    print(json.dumps({"enqueue_s": enqueued, "calls": rows if mode == "rows" else rows // 1000,
                      "dropped": client.dropped_rows, "errors": len(client.errors)}))
""")


def server_seq(rest: int) -> int:
    url = f"http://127.0.0.1:{rest}/api/v1/runs/bench/streams"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            streams = json.load(response)["streams"]
    except OSError:
        return 0
    return next((s["seq"] for s in streams if s["stream"] == "m"), 0)


def start_server(run: str) -> tuple[subprocess.Popen[bytes], int, int]:
    """streamvis_server for `run` on two free loopback ports: (process, rest, bokeh)."""
    rest, bokeh = free_port(), free_port()
    store = STORE_FOLDER / f"{run}-{rest}.db"  # the server's default: a durable store
    command = [SERVER, "--rest_port", str(rest), "--bokeh_port", str(bokeh), "--run_name", run]
    command += ["--store", str(store)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    return process, rest, bokeh


def sustained(rows: int, mode: str) -> dict[str, float]:
    """Rows/s from a separate producer process until the server holds them all, page open."""
    from playwright.sync_api import sync_playwright

    server, rest, bokeh = start_server("bench")
    script = ROOT / "bench" / ".remote_producer.py"
    script.write_text(PRODUCER)
    try:
        wait_port(rest)
        wait_port(bokeh)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{bokeh}/")
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
            start = time.perf_counter()
            producer = subprocess.run(
                [sys.executable, str(script), f"127.0.0.1:{rest}", str(rows), mode],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            while server_seq(rest) < rows and time.perf_counter() - start < 300:
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            drawn_js = """() => { const m = Bokeh.documents[0].get_model_by_name('sv:m:a');
                return m ? m.data.step[m.data.step.length - 1] + 1 : 0; }"""
            deadline = time.monotonic() + 30
            while page.evaluate(drawn_js) < rows and time.monotonic() < deadline:
                time.sleep(0.1)
            drawn = page.evaluate(drawn_js)
            browser.close()
        report = json.loads(producer.stdout.strip().splitlines()[-1])
        return {
            "rows": rows,
            "seconds": elapsed,
            "rows_per_s": rows / elapsed,
            "enqueue_s": report["enqueue_s"],
            "dropped": report["dropped"],
            "errors": report["errors"],
            "stored": server_seq(rest),
            "drawn": drawn,
        }
    finally:
        script.unlink(missing_ok=True)
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="timed calls per run")
    parser.add_argument("--warmup", type=int, default=20_000, help="untimed calls first")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--peers-python", help="a Python with trackio and rerun-sdk")
    parser.add_argument("--before", help="also run the client of this checkout's streamvis/")
    parser.add_argument("--skip-sustained", action="store_true")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    remote_costs.report(args, start_server)
    if args.skip_sustained:
        return
    print("sustained ingest, one producer process -> streamvis_server, page open")
    print(
        f"  {'producer calls':26} {'rows':>9} {'seconds':>8} {'rows/s':>10} {'stored':>9} "
        f"{'dropped':>8} {'errors':>6} {'last drawn':>10}"
    )
    for label, rows, mode in (
        ("Client.stream per row", 1_000_000, "rows"),
        ("Client.stream 1000-row batches", 1_000_000, "batches"),
    ):
        result = sustained(rows, mode)
        print(
            f"  {label:26} {rows:>9,} {result['seconds']:>8.2f} {result['rows_per_s']:>10,.0f} "
            f"{result['stored']:>9,} {result['dropped']:>8,} {result['errors']:>6} "
            f"{result['drawn']:>10,}"
        )
    print("target: >= 100,000 rows/s sustained")


if __name__ == "__main__":
    main()
