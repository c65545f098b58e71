"""What a long stream costs in memory: resident size after N rows of an int64 step and a
float32 value, written as numpy arrays through `Hub.write` in batches of 1,000,000 rows.

    python bench/memory.py            # 1e7 and 1e8 rows
    python bench/memory.py 1e6 1e7    # other sizes

Each size runs in a fresh process (memory-only hub, default byte budget) and prints: rows
kept, the hub's own byte count, RSS after the writes minus RSS before, bytes per row, the
raw column bytes (12 a row), peak RSS, and the write rate. Until float32 stays float32 end
to end, the value column is widened to float64 on the way in (16 bytes a row, not 12).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

BATCH = 1_000_000


def rss() -> int:
    """This process's resident set size in bytes (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(rows: int) -> None:
    """Write `rows` rows into a new hub and print one line of the table."""
    import numpy as np

    from streamvis.core.hub import Hub

    hub = Hub()
    batch_y = np.random.default_rng(1).random(BATCH, dtype=np.float32)
    hub.write("warm", {"step": np.arange(10), "y": batch_y[:10]})  # imports, first chunk
    before = rss()
    started = time.perf_counter()
    for first in range(0, rows, BATCH):
        count = min(BATCH, rows - first)
        hub.write("y", {"step": np.arange(first, first + count), "y": batch_y[:count]})
    seconds = time.perf_counter() - started
    table = hub.table("default", "y")
    assert table is not None
    grown = rss() - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"{rows:>13,} {table.row_count:>13,} {table.nbytes / 2**30:>9.2f} "
        f"{grown / 2**30:>9.2f} {grown / rows:>8.1f} {12 * rows / 2**30:>9.2f} "
        f"{peak / 2**30:>9.2f} {rows / seconds / 1e6:>9.1f}   budget {hub.memory / 2**30:.1f} GiB",
        flush=True,
    )


def main(argv: list[str]) -> None:
    sizes = [int(float(a)) for a in argv] or [10**7, 10**8]
    print(
        f"{'rows written':>13} {'rows kept':>13} {'hub GiB':>9} {'RSS GiB':>9} {'B/row':>8} "
        f"{'raw GiB':>9} {'peak GiB':>9} {'Mrows/s':>9}"
    )
    for size in sizes:
        code = f"import sys; sys.path.insert(0, 'bench'); import memory; memory.measure({size})"
        subprocess.run([sys.executable, "-c", code], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
