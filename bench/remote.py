"""Remote producers: cost of `Client.stream` on the producer thread, and sustained rows/s from
one client process into a `streamvis_server` over loopback while a page shows the stream.

    python bench/remote.py            # needs /usr/bin/chromium (make test installs it)

Targets (2-core machine): <= 5 us per `Client.stream` call; >= 100,000 rows/s sustained.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

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


def call_cost_us(calls: int = 200_000) -> float:
    """Client.stream per call while its sender thread ships to a live server."""
    from streamvis import Client

    server, rest, bokeh = start_server("cost")
    try:
        wait_port(rest)
        client = Client(f"127.0.0.1:{rest}", "cost")
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for step in range(calls):
                client.stream("m", {"step": step, "a": 0.5, "b": 1.5, "c": 2.5})
            best = min(best, (time.perf_counter() - start) / calls)
            client.flush(timeout=120)
        client.close()
        return best * 1e6
    finally:
        server.terminate()
        server.wait(10)


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
    print("Client.stream, scalar dict of 4 numbers, server running")
    print(f"  {call_cost_us():.2f} us per call (target <= 5 us)")
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
