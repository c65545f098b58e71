"""What the pre-parse bounds scan (wire.check_bounds) costs next to parsing the same body.

    python bench/wire.py        # prints ms per body for the scan and for json.loads

Bodies of about 8 MiB (the default STREAMVIS_MAX_BODY): typical rows, plain numbers, text
that forces the careful path (brackets and long digit runs inside strings), and the
refused shapes (3,000-deep nesting, a 5,000-digit number), which must cost next to nothing.
Target: the scan of an ordinary accepted body costs well under the parse it guards. Text
whose strings hold brackets or long digit runs takes the careful path (strings blanked by a
regex, then measured again): linear, but it can cost a few times json.loads on such text,
which parses long strings quickly.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable

from streamvis.wire.codec import WireError, check_bounds
from streamvis.wire.limits import Limits

REPEATS = 5


def median_ms(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def scan(body: bytes) -> Callable[[], object]:
    def run() -> object:
        try:
            check_bounds(body, Limits())
        except WireError as exc:
            return exc.code
        return None

    return run


def bodies() -> dict[str, bytes]:
    rows = [{"step": i, "loss": i * 0.001, "tag": f"run-{i % 7}"} for i in range(170_000)]
    strings = ["[[[[" * 10 + "1" * 120] * 60_000
    return {
        "rows (list of row dicts)": json.dumps(rows).encode(),
        "columns of numbers": json.dumps({"x": [i * 0.5 for i in range(700_000)]}).encode(),
        "strings with brackets and digits": json.dumps({"s": strings}).encode(),
        "3,000 deep (refused)": b"[" * 3000 + b"]" * 3000,
        "5,000-digit number (refused)": b'{"x": ' + b"7" * 5000 + b"}",
    }


def main() -> None:
    print(f"python {platform.python_version()}, {platform.machine()}")
    print(f"{'body':36} {'MiB':>6} {'scan ms':>9} {'json.loads ms':>14}")
    for name, body in bodies().items():
        refused = scan(body)() is not None
        parse = float("nan") if refused else median_ms(lambda b=body: json.loads(b))
        size = len(body) / 2**20
        print(f"{name:36} {size:6.2f} {median_ms(scan(body)):9.1f} {parse:14.1f}")


if __name__ == "__main__":
    main()
