"""CPU per request of what a remote producer's rows cost on the wire: the client's encode and
the server's decode (to the batch `Hub.write` takes), JSON next to binary columns.

    .venv/bin/python bench/wire_columns.py    # 10,000-row requests, median of 5 rounds

Rows as bench/latency.py sends them (`step` int64, `t` float64), as one batch of numpy
columns (a producer sending batches) and as scalar row dicts (one `Client.stream` call per
row). CPU time of this thread (`thread_time`), so a loaded machine slows it little.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from streamvis.client.transport import rows_request
from streamvis.core.normalize import normalize
from streamvis.wire import columns
from streamvis.wire.codec import parse_body
from streamvis.wire.limits import Limits


def cpu_ms(action: Callable[[], Any], repeat: int) -> float:
    """Median CPU milliseconds of `action` over `repeat` calls (after one warm-up call)."""
    action()
    spent = []
    for _ in range(repeat):
        start = time.thread_time()
        action()
        spent.append(time.thread_time() - start)
    return statistics.median(spent) * 1e3


def server_side(body: bytes, content_type: str, limits: Limits) -> Any:
    """What the ingest handler does with a body before `Hub.write`: parse it, normalize."""
    if content_type == columns.MEDIA_TYPE:
        return normalize(columns.decode(body, limits), where="bench")
    return normalize(parse_body(body, content_type, limits), where="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    now = time.time()
    shapes = {
        "batch": {"step": np.arange(args.rows), "t": np.full(args.rows, now)},
        "scalar rows": [{"step": i, "t": now + i * 1e-5} for i in range(args.rows)],
    }
    limits = Limits()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.rows:,} rows/request")
    print(f"{'rows as':<12} {'wire':<7} {'bytes':>9} {'encode ms':>10} {'decode ms':>10}")
    for shape, appended in shapes.items():
        for binary in (False, True):
            request = rows_request("/api/v1/runs/r", "s", appended, binary=binary)
            encode = cpu_ms(
                lambda b=binary, a=appended: rows_request("/p", "s", a, binary=b), args.repeat
            )
            decode = cpu_ms(
                lambda r=request: server_side(r.body or b"", r.content_type, limits), args.repeat
            )
            wire = "binary" if request.binary else "JSON"
            print(
                f"{shape:<12} {wire:<7} {len(request.body or b''):>9,} "
                f"{encode:>10.2f} {decode:>10.2f}"
            )


if __name__ == "__main__":
    main()
