"""Import cost of streamvis, before vs after a change, interleaved on one machine (issue 11).

    git worktree add /tmp/streamvis-before f730950      # the tree to compare against
    python bench/import_time.py --before /tmp/streamvis-before [--rounds 15] [--ingest 3]

Each sample is a fresh interpreter with PYTHONPATH set to one tree; the trees alternate
(before, after, then after, before, ...) so a machine that gets busier or quieter mid-run
affects both alike. A sample times, inside the child, the wall and CPU time of the case's
code (interpreter start-up excluded), and, from outside, the whole process's wall time.
`--ingest N` also runs each tree's bench/ingest.py N times, interleaved the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Result = TypeVar("Result")
HERE = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "panel", "holoviews", "bokeh", "streamz", "tornado")
CASES = {
    "import streamvis": "import streamvis as sv",
    "import + sv.stream (memory)": (
        "import streamvis as sv\nsv.stream('loss', {'step': 1, 'loss': 0.5})"
    ),
    "import + use_store + sv.stream + flush": (
        "import streamvis as sv\nsv.use_store('run.db')\n"
        "sv.stream('loss', {'step': 1, 'loss': 0.5})\nassert sv.default_hub().flush()"
    ),
}
# The child measures its own case and says which tree it imported and what got loaded.
CHILD = """\
import json, sys, time
wall, cpu = time.perf_counter(), time.process_time()
{code}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({{"wall": wall, "cpu": cpu, "file": sv.__file__,
    "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def child_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STREAMVIS_STORE"}
    return {**env, "PYTHONPATH": str(tree)}


def sample(tree: Path, code: str) -> dict[str, Any]:
    """One fresh interpreter running `code` against `tree`; its times and heavy modules."""
    with tempfile.TemporaryDirectory(prefix="sv-import-") as workdir:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CHILD.format(code=code, heavy=HEAVY)],
            cwd=workdir,
            env=child_env(tree),
            capture_output=True,
            text=True,
            check=False,
        )
        process = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{tree}: the case failed:\n{result.stderr}")
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    if not str(Path(seen["file"]).resolve()).startswith(str(tree.resolve())):
        raise SystemExit(f"{tree}: imported streamvis from {seen['file']} instead")
    return {"wall": seen["wall"], "cpu": seen["cpu"], "process": process, "heavy": seen["heavy"]}


def interleaved(
    trees: dict[str, Path], rounds: int, run: Callable[[Path], Result]
) -> dict[str, list[Result]]:
    """`run(tree)` `rounds` times per tree, alternating which tree goes first."""
    results: dict[str, list[Result]] = {name: [] for name in trees}
    names = list(trees)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            results[name].append(run(trees[name]))
    return results


def median_ms(samples: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(s[key]) for s in samples) * 1e3


def import_table(trees: dict[str, Path], rounds: int) -> None:
    print(f"{'case':40} {'measure':14} {'before ms':>10} {'after ms':>10} {'after/before':>13}")
    for label, code in CASES.items():
        results = interleaved(trees, rounds, lambda tree, code=code: sample(tree, code))
        for key, shown in (("wall", "in-child wall"), ("cpu", "in-child CPU"),
                           ("process", "process wall")):  # fmt: skip
            before, after = median_ms(results["before"], key), median_ms(results["after"], key)
            print(f"{label:40} {shown:14} {before:10.1f} {after:10.1f} {after / before:13.2f}")
        for name in trees:
            print(f"{'':40} heavy modules loaded ({name}): {results[name][0]['heavy'] or 'none'}")


INGEST_LINE = re.compile(r"^(?P<case>.{40}) +(?P<best>[\d.]+) +(?P<median>[\d.]+)  (?P<unit>\S+)")


def ingest_run(tree: Path) -> dict[str, tuple[float, str]]:
    """One run of bench/ingest.py against `tree`: {case: (median, unit)}."""
    result = subprocess.run(
        [sys.executable, str(HERE / "bench" / "ingest.py")],
        env=child_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in result.stdout.splitlines():
        match = INGEST_LINE.match(line)
        if match:
            found[match["case"].strip()] = (float(match["median"]), match["unit"])
    return found


def ingest_table(trees: dict[str, Path], rounds: int) -> None:
    results = interleaved(trees, rounds, ingest_run)
    print(f"\nbench/ingest.py, {rounds} interleaved runs per tree (median of the runs' medians)")
    print(f"{'case':40} {'unit':8} {'before':>9} {'after':>9} {'after/before':>13}")
    for case, (_, unit) in results["before"][0].items():
        before = statistics.median(run[case][0] for run in results["before"])
        after = statistics.median(run[case][0] for run in results["after"])
        print(f"{case:40} {unit:8} {before:9.2f} {after:9.2f} {after / before:13.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=Path("/tmp/streamvis-before"))
    parser.add_argument("--after", type=Path, default=HERE)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ingest", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if not (args.before / "streamvis" / "__init__.py").is_file():
        raise SystemExit(f"{args.before}: no streamvis tree there (git worktree add ...)")
    trees = {"before": args.before, "after": args.after}
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.rounds} interleaved samples per tree, medians"
    )
    import_table(trees, args.rounds)
    if args.ingest:
        ingest_table(trees, args.ingest)


if __name__ == "__main__":
    main()
