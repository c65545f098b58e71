"""The durable store: what keeping every row on disk costs, and how fast it comes back.

    python bench/store.py

Prints, for 1,000-row batches of {step, a, b, c}:
  - in-process ingest (`Hub.stream`, write-behind; the clock stops once the store has
    committed everything), memory-only vs SQLite store, and the ratio;
  - remote ingest (a `Client` in another process -> `streamvis_server`, acknowledged only
    after the commit), memory-only vs SQLite store, and the ratio;
  - replay: seconds for a new hub to load 1,000,000 stored rows;
  - bytes on disk per float sample (one float column; batches and single rows).
Targets: durable >= 50% of memory-only; replay of 1M rows <= 2 s. A plain-file write of the
same bytes is printed as the ceiling any durable in-process path has on this machine.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from ports import free_port, wait_port

from streamvis.core.hub import Hub
from streamvis.store import open_store

ROOT = Path(__file__).resolve().parents[1]
SERVER = str(Path(sys.executable).with_name("streamvis_server"))
BATCH = 1_000

PRODUCER = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from streamvis import Client
    url, rows = sys.argv[1], int(sys.argv[2])
    client = Client(url, "bench", when_full="block")
    start = time.perf_counter()
    for first in range(0, rows, 1000):
        steps = np.arange(first, first + 1000)
        client.stream("m", {"step": steps, "a": steps * 0.5, "b": steps * 1.5, "c": steps * 2.5})
    ok = client.flush(timeout=300)
    elapsed = time.perf_counter() - start
    client.close()
    print(json.dumps({"seconds": elapsed, "ok": ok, "errors": len(client.errors)}))
""")


def batches(count: int) -> list[dict[str, np.ndarray]]:
    out = []
    for index in range(count):
        steps = np.arange(index * BATCH, (index + 1) * BATCH)
        out.append({"step": steps, "a": steps * 0.5, "b": steps * 1.5, "c": steps * 2.5})
    return out


def in_process(path: Path | None, data: list[dict[str, np.ndarray]]) -> float:
    """Rows/s of Hub.stream for `data`, until the store (if any) has committed it all."""
    store = open_store(path) if path is not None else None
    hub = Hub(store=store)
    start = time.perf_counter()
    for batch in data:
        hub.stream("m", batch)
    assert hub.flush(120)
    elapsed = time.perf_counter() - start
    if store is not None:
        store.close()
    return len(data) * BATCH / elapsed


def plain_file_rows_per_s(path: Path, data: list[dict[str, np.ndarray]]) -> float:
    """Rows/s of appending the same column bytes to a plain file (no fsync): what this
    machine's disk path allows at best, before any database work."""
    start = time.perf_counter()
    with open(path, "wb") as handle:
        for batch in data:
            for values in batch.values():
                handle.write(memoryview(values.view(np.uint8)))
    elapsed = time.perf_counter() - start
    path.unlink()
    return len(data) * BATCH / elapsed


def remote(store: str, rows: int, folder: Path) -> float:
    """Rows/s from a Client process into streamvis_server until every batch is acked."""
    rest, bokeh = free_port(), free_port()
    command = [SERVER, "--rest_port", str(rest), "--bokeh_port", str(bokeh), "--store", store]
    server = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    script = folder / "producer.py"
    script.write_text(PRODUCER)
    try:
        wait_port(rest)
        done = subprocess.run(
            [sys.executable, str(script), f"127.0.0.1:{rest}", str(rows)],
            capture_output=True, text=True, timeout=600, check=True,
        )  # fmt: skip
        report = json.loads(done.stdout.strip().splitlines()[-1])
        if not report["ok"] or report["errors"]:
            raise RuntimeError(f"the producer did not deliver everything: {report}")
        return rows / report["seconds"]
    finally:
        server.terminate()
        server.wait(10)


def replay_seconds(path: Path, rows: int) -> float:
    store = open_store(path)
    hub = Hub(store=store)
    for batch in batches(rows // BATCH):
        hub.stream("m", batch)
    hub.flush(120)
    store.close()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        store = open_store(path)
        replayed = Hub(store=store)
        best = min(best, time.perf_counter() - start)
        assert replayed.table("default", "m").row_count == rows
        store.close()
    return best


def bytes_per_sample(path: Path, rows: int, single_rows: bool) -> float:
    store = open_store(path)
    hub = Hub(store=store)
    values = np.random.default_rng(0).random(rows)
    if single_rows:
        for value in values.tolist():
            hub.stream("v", {"v": value})
    else:
        for first in range(0, rows, BATCH):
            hub.stream("v", {"v": values[first : first + BATCH]})
    hub.flush(120)
    store.close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size / rows


def main() -> None:
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        data = batches(6_000)  # 192 MB of rows: longer than one WAL's worth, so checkpoints count
        print("ingest, 1,000-row batches of {step, a, b, c}")
        print(f"  {'path':34} {'memory rows/s':>14} {'durable rows/s':>15} {'ratio':>6}")
        memory = max(in_process(None, data) for _ in range(3))
        durable = max(in_process(folder / f"in-process-{i}.db", data) for i in range(3))
        print(f"  {'in-process Hub.stream (6M rows)':34} {memory:>14,.0f} {durable:>15,.0f} "
              f"{durable / memory:>6.2f}")  # fmt: skip
        long_data = batches(20_000)  # 640 MB: far past the page cache's dirty limits
        memory = max(in_process(None, long_data) for _ in range(2))
        durable = in_process(folder / "in-process-long.db", long_data)
        print(f"  {'in-process Hub.stream (20M rows)':34} {memory:>14,.0f} {durable:>15,.0f} "
              f"{durable / memory:>6.2f}")  # fmt: skip
        ceiling = plain_file_rows_per_s(folder / "plain.bin", data)
        print(f"  {'(6M rows as a plain file write)':34} {'':>14} {ceiling:>15,.0f}")
        ceiling = plain_file_rows_per_s(folder / "plain.bin", long_data)
        print(f"  {'(20M rows as a plain file write)':34} {'':>14} {ceiling:>15,.0f}")
        del long_data
        memory = remote("none", 1_000_000, folder)
        durable = remote(str(folder / "remote.db"), 1_000_000, folder)
        print(f"  {'Client -> server, acked (1M rows)':34} {memory:>14,.0f} {durable:>15,.0f} "
              f"{durable / memory:>6.2f}")  # fmt: skip
        print("  target: durable >= 0.50 of memory-only")
        seconds = replay_seconds(folder / "replay.db", 1_000_000)
        print(f"replay of 1,000,000 rows x 4 columns: {seconds:.2f} s (target <= 2 s)")
        batched = bytes_per_sample(folder / "bytes-batched.db", 1_000_000, False)
        single = bytes_per_sample(folder / "bytes-single.db", 200_000, True)
        print("bytes on disk per float sample (file size after checkpoint / samples)")
        print(f"  1,000-row batches: {batched:.2f}   single rows: {single:.2f}")


if __name__ == "__main__":
    main()
