"""Level-of-detail costs (issue 12): memory per row, append cost with the summary, server time
per view (memory and store), and, with bench/lod_page.py, a 10-million-row page in Chromium.

    python bench/lod.py                          # 1e5, 1e6, 1e7, 1e8 rows; page at 1e7
    python bench/lod.py --sizes 1e5,1e6 --quick  # smoke run (numbers not for reporting)
    python bench/lod.py --parts append,view      # some parts only (memory, append, view, page)

Rows are {step: int64, y: float32 random walk}. Every measurement runs in a fresh process
(`--child ...`); ratios are taken between things measured in the same process or round,
then the median over rounds.

- memory: RSS of the process after streaming N rows minus before making the hub, per row,
  against the 12 raw bytes of a row (int64 + float32); the hub's own byte count
  (`Hub.nbytes`, rows and summary); whether every row is still in memory.
- append: seconds per row of `Hub.stream` filling a hub to N rows in 1,000-row batches, then
  per single-row dict written on top of N rows. Anchors, filled side by side in the same
  process (alternating every BLOCK batches / 1,000 single rows): the same hub with its
  summary's fold turned off (no switch exists: `Table._fold` and `_fold_soon`, the write's
  request to the background folder, are no-ops on that table and its summary is never
  due), and a plain numpy ring of the same rows (preallocated columns, slice or item
  assignment). Wall time of the stream calls (what the producer waits), and CPU: the
  writer thread's in those calls plus, for the hub, the folder thread's (core/folder.py
  `FOLDER.cpu_seconds`), the folder waited idle (untimed) before each variant's turn.
- view: `Table.view` for random new ranges (span log-uniform from 1,000 rows to the whole
  run) at widths 1,400-1,800, raw below 4 x width as the page asks; p50/p95 ms. With a store:
  a hub with a SQLite store and a memory budget of 10% of the rows' raw bytes (the summary
  counts in it), so most ranges are answered from rows only the store holds.
- page (bench/lod_page.py): open and one pan in headless Chromium vs a raw Bokeh page.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import streamvis as sv
from streamvis.core.hub import Hub

BATCH = 1_000
SINGLE_ROWS = 200_000  # single-row writes timed on top of the N rows
BLOCK = 64  # batches each variant writes before the next one's turn
RAW_BYTES = 12  # int64 step + float32 y
POINTS_PER_PIXEL = 4  # a range of at most 4 x width rows is answered raw, as the page asks
VIEW_SECONDS = 90.0  # at most this long per set of views (the brute-force placeholder is slow)
STORE_SHARE = 0.10  # the store hub keeps this share of the rows' bytes in memory
HERE = Path(__file__).resolve()


def rss_bytes() -> int:
    """Resident set size of this process, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def walk_pool(seed: int = 0, count: int = 256) -> list[np.ndarray]:
    """`count` float32 batches of a random walk, reused while filling (no data made in the
    timed loop, and the pool is allocated before the memory baseline)."""
    rng = np.random.default_rng(seed)
    start = 0.0
    pool = []
    for _ in range(count):
        values = start + np.cumsum(rng.standard_normal(BATCH))
        start = float(values[-1])
        pool.append(values.astype(np.float32))
    return pool


def hub_options() -> set[str]:
    """Names of the keyword arguments `Hub` takes in this checkout."""
    return set(inspect.signature(Hub).parameters)


def summary_switch() -> str | None:
    """How this bench turns the summary off for the anchor: the hub has no switch, so the
    anchor hub's table gets a no-op `_fold` (the summary's fold, run every few thousand
    rows). None when this checkout's Table has no summary."""
    from streamvis.core.table import Table

    if not hasattr(Table, "_fold"):
        return None
    if hasattr(Table, "_fold_soon"):
        return "the anchor hub's Table._fold and _fold_soon are no-ops (set on that table only)"
    return "the anchor hub's Table._fold is a no-op (set on that table only)"


def turn_summary_off(hub: Hub) -> None:
    """Make stream `s` of `hub` skip its summary's fold (see `summary_switch`)."""
    table = hub.table("default", "s")
    assert table is not None

    def skip() -> None:
        table._summary.due = 1 << 62

    table._fold = skip  # type: ignore[method-assign]
    table._fold_soon = skip  # type: ignore[method-assign]  # the background folder's request
    table._summary.due = 1 << 62


def make_hub(rows: int, store_path: str | None = None) -> Hub:
    """A hub with this checkout's defaults (a row cap of `rows` + room where Hub caps rows
    by default), or with a store and a budget of STORE_SHARE of the rows' raw bytes."""
    options: dict[str, Any] = {}
    if inspect.signature(Hub).parameters["retain"].default is not None:  # a row cap by default
        options["retain"] = rows + SINGLE_ROWS + BATCH
    if store_path is not None:
        from streamvis.store import open_store

        options["store"] = open_store(store_path)
        options["memory"] = max(int(rows * STORE_SHARE) * RAW_BYTES, 1 << 20)
        options.pop("retain", None)
    return Hub(**options)


class NumpyRing:
    """The floor: preallocated numpy columns, a batch copied in by slice assignment, a row
    dict by item assignment. No schema checks, no arrival times, no summary."""

    def __init__(self, capacity: int) -> None:
        self.step = np.empty(capacity, dtype=np.int64)
        self.y = np.empty(capacity, dtype=np.float32)
        self.size = 0

    def stream(self, name: str, data: dict[str, Any]) -> int:
        step = data["step"]
        if isinstance(step, np.ndarray):
            stop = self.size + len(step)
            self.step[self.size : stop] = step
            self.y[self.size : stop] = data["y"]
            self.size = stop
            return len(step)
        self.step[self.size] = step
        self.y[self.size] = data["y"]
        self.size += 1
        return 1


def fill(sink: Any, rows: int, pool: list[np.ndarray], first: int = 0) -> float:
    """Stream rows [first, rows) in 1,000-row batches; seconds spent in the stream calls."""
    return fill_timed(sink, rows, pool, first)[0]


def fill_timed(
    sink: Any, rows: int, pool: list[np.ndarray], first: int = 0
) -> tuple[float, float]:
    """`fill`, returning (wall seconds, this thread's CPU seconds) spent in the stream calls."""
    spent = cpu = 0.0
    for start in range(first, rows, BATCH):
        batch = {"step": np.arange(start, start + BATCH, dtype=np.int64)}
        batch["y"] = pool[(start // BATCH) % len(pool)]
        began, cpu_began = time.perf_counter(), time.thread_time()
        sink.stream("s", batch)
        spent += time.perf_counter() - began
        cpu += time.thread_time() - cpu_began
    return spent, cpu


def folder_cpu() -> float:
    """CPU seconds the background folder thread spent folding so far (0 without one)."""
    try:
        from streamvis.core.folder import FOLDER
    except ImportError:
        return 0.0
    FOLDER.wait_idle(600)
    return FOLDER.cpu_seconds


def y_dtype(hub: Hub) -> str:
    """The dtype stream `s` keeps its y column in."""
    table = hub.table("default", "s")
    assert table is not None
    return str(hub.read("s", since=table.next_seq - 1)["y"].dtype)


def child_memory(rows: int) -> dict[str, Any]:
    """RSS after streaming `rows` rows into a fresh hub, minus before; the hub's own count."""
    pool = walk_pool()
    gc.collect()
    before = rss_bytes()
    hub = make_hub(rows)
    fill(hub, rows, pool)
    gc.collect()
    table = hub.table("default", "s")
    assert table is not None
    held = getattr(hub, "nbytes", None)
    return {
        "rss_bytes": rss_bytes() - before,
        "hub_bytes": held if isinstance(held, int) else None,
        "first_seq": table.first_seq,
        "y_dtype": y_dtype(hub),
        "memory_budget": getattr(hub, "memory", None),
    }


def child_append(rows: int) -> dict[str, Any]:
    """The hub, the same hub with its summary off (when switchable) and the numpy floor,
    filled side by side in blocks of BLOCK batches, then SINGLE_ROWS single-row dicts each
    in blocks of 1,000: seconds per row of the stream calls only, per variant."""
    pool = walk_pool()
    sinks: dict[str, Any] = {"hub": make_hub(rows), "floor": NumpyRing(rows + SINGLE_ROWS)}
    if summary_switch():
        sinks["off"] = make_hub(rows)
    for sink in sinks.values():
        fill(sink, BATCH, pool)
    if "off" in sinks:
        turn_summary_off(sinks["off"])
    spent, cpu = dict.fromkeys(sinks, 0.0), dict.fromkeys(sinks, 0.0)
    step = BLOCK * BATCH
    folded_before = folder_cpu()
    for start in range(BATCH, rows, step):
        for name, sink in sinks.items():
            wall, used = fill_timed(sink, min(rows, start + step), pool, start)
            spent[name] += wall
            cpu[name] += used
            folder_cpu()  # the next variant is timed with the folder idle (untimed wait)
    folded = folder_cpu() - folded_before  # only the hub's table asks the folder
    cpu["hub"] += folded
    result: dict[str, Any] = {
        name: {"batch_s_per_row": spent[name] / rows, "batch_cpu_per_row": cpu[name] / rows}
        for name in sinks
    }
    result["folder"] = {"batch_cpu_per_row": folded / rows}
    float32 = y_dtype(sinks["hub"]) == "float32"
    values = list(pool[0]) if float32 else pool[0].tolist()  # np.float32 keeps float32
    single = [{"step": rows + index, "y": values[index % BATCH]} for index in range(SINGLE_ROWS)]
    spent, cpu = dict.fromkeys(sinks, 0.0), dict.fromkeys(sinks, 0.0)
    folded_before = folder_cpu()
    for start in range(0, SINGLE_ROWS, BATCH):
        block = single[start : start + BATCH]
        for name, sink in sinks.items():
            write = sink.stream
            began, cpu_began = time.perf_counter(), time.thread_time()
            for row in block:
                write("s", row)
            spent[name] += time.perf_counter() - began
            cpu[name] += time.thread_time() - cpu_began
            folder_cpu()
    folded = folder_cpu() - folded_before
    cpu["hub"] += folded
    result["folder"]["single_cpu_per_row"] = folded / SINGLE_ROWS
    for name in sinks:
        result[name]["single_s_per_row"] = spent[name] / SINGLE_ROWS
        result[name]["single_cpu_per_row"] = cpu[name] / SINGLE_ROWS
    result["dtypes"] = [y_dtype(sinks["hub"]), "float32" if float32 else "float64"]
    return result


def random_ranges(rows: int, count: int, seed: int, store_rows: int = 0) -> list[tuple]:
    """(lo, hi, width) for random ranges of step; with `store_rows`, every other range
    starts among the first `store_rows` rows (held only by the store)."""
    rng = np.random.default_rng(seed)
    ranges = []
    for index in range(count):
        span = int(np.exp(rng.uniform(np.log(1_000), np.log(rows))))
        top = max(1, (store_rows if store_rows and index % 2 == 0 else rows) - 1)
        lo = float(rng.uniform(0, min(top, rows - span)))
        ranges.append((lo, lo + span, int(rng.integers(1400, 1801))))
    return ranges


def child_view(rows: int, count: int, with_store: bool) -> dict[str, Any]:
    """Fill a hub (or a store hub with a small budget), then time `count` random views."""
    pool = walk_pool()
    folder = tempfile.mkdtemp(prefix="streamvis-lod-bench-")
    store_path = str(Path(folder) / "store.db") if with_store else None
    if with_store and "memory" not in hub_options():
        return {"skipped": "this checkout's Hub has no memory budget (Hub(memory=...))"}
    hub = make_hub(rows, store_path)
    began = time.perf_counter()
    for first in range(0, rows, BATCH):
        hub.stream("s", {"step": np.arange(first, first + BATCH), "y": pool[first // BATCH % 256]})
    hub.flush(timeout=3600)
    fill_s = time.perf_counter() - began
    table = hub.table("default", "s")
    assert table is not None
    in_memory_from = table.first_seq
    timings: list[tuple[float, bool, int, bool, int, float]] = []
    first = table.view(
        "step", ["y"], None, None, 1600, 1600 * POINTS_PER_PIXEL
    )  # the whole run, first ask
    deadline = time.monotonic() + VIEW_SECONDS
    for lo, hi, width in random_ranges(rows, count, seed=rows, store_rows=in_memory_from):
        started, cpu = time.perf_counter(), time.thread_time()
        view = table.view("step", ["y"], lo, hi, width, width * POINTS_PER_PIXEL)
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
        timings.append((elapsed, lo < in_memory_from, view.drawn, view.raw, view.rows, cpu))
        if time.monotonic() > deadline:
            break
    if store_path is not None and hub.store is not None:
        hub.store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "fill_s": fill_s,
        "first_rows_in_memory": in_memory_from,
        "whole_run_drawn": first.drawn,
        "whole_run_rows": first.rows,
        "views": [list(item) for item in timings],
    }


def run_child(*args: str) -> dict[str, Any]:
    """Run this script as a fresh child process; its last stdout line is JSON."""
    command = [sys.executable, str(HERE), "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(np.ceil(share * len(ordered))) - 1)]


def median_ratio(rounds: list[dict[str, Any]], key: str, top: str, bottom: str) -> float:
    """Median over rounds of top/bottom for `key`, both measured in the same round."""
    ratios = [r[top][key] / r[bottom][key] for r in rounds if top in r and bottom in r]
    if top == bottom:
        return 1.0 if ratios else float("nan")
    return statistics.median(ratios) if ratios else float("nan")


def part_memory(sizes: list[int]) -> None:
    """Memory per row of a hub holding N rows (a fresh process per size)."""
    print("\nmemory: RSS of a fresh process after streaming N rows minus before the hub")
    print(
        f"  {'rows':>11} {'RSS B/row':>9} {'x raw':>6} {'hub B/row':>9} {'x raw':>6} "
        f"{'all kept':>8} {'y dtype':>8} {'budget':>14}"
    )
    for rows in sizes:
        found = run_child("memory", str(rows))
        if "error" in found:
            print(f"  {rows:>11,} error: {found['error']}")
            continue
        rss = found["rss_bytes"] / rows
        held = found["hub_bytes"]
        shown = f"{held / rows:>9.1f} {held / rows / RAW_BYTES:>6.2f}" if held else f"{'-':>16}"
        budget = found["memory_budget"]
        print(
            f"  {rows:>11,} {rss:>9.1f} {rss / RAW_BYTES:>6.2f} {shown} "
            f"{str(found['first_seq'] == 0):>8} {found['y_dtype']:>8} "
            f"{budget if budget is not None else '-':>14}",
            flush=True,
        )


def part_append(sizes: list[int], rounds: int) -> None:
    """Append cost: hub, hub without summary (if switchable) and the numpy floor."""
    print("\nappend cost: the variants filled side by side in one process, a fresh one per round")
    print(f"  summary switch: {summary_switch() or 'none in this checkout'}")
    print(
        "  wall: time in the stream calls; CPU: the writer thread's CPU in them plus, for the\n"
        "  hub, the background folder thread's CPU (core/folder.py), per row"
    )
    print(
        f"  {'rows':>11} {'variant':8} {'batch ns/row':>12} {'x off':>6} {'x floor':>7} "
        f"{'CPU ns/row':>10} {'x off':>6} {'single us/row':>13} {'x off':>6} {'x floor':>7} "
        f"{'CPU us/row':>10} {'x off':>6}"
    )
    keys = ("batch_s_per_row", "batch_cpu_per_row", "single_s_per_row", "single_cpu_per_row")
    for rows in sizes:
        results = [run_child("append", str(rows)) for _ in range(rounds)]
        good = [r for r in results if "error" not in r]
        if not good:
            print(f"  {rows:>11,} error: {results[0]['error']}")
            continue
        for variant in [name for name in ("hub", "off", "floor") if name in good[0]]:
            value = {
                key: statistics.median(r[variant].get(key, 0.0) for r in good) for key in keys
            }
            ratio = {
                (key, anchor): median_ratio(good, key, variant, anchor)
                for key in keys
                for anchor in ("off", "floor")
            }
            shown = {k: f"{v:.2f}" if v == v else "-" for k, v in ratio.items()}
            print(
                f"  {rows:>11,} {variant:8} {value[keys[0]] * 1e9:>12.1f} "
                f"{shown[keys[0], 'off']:>6} {shown[keys[0], 'floor']:>7} "
                f"{value[keys[1]] * 1e9:>10.1f} {shown[keys[1], 'off']:>6} "
                f"{value[keys[2]] * 1e6:>13.3f} {shown[keys[2], 'off']:>6} "
                f"{shown[keys[2], 'floor']:>7} {value[keys[3]] * 1e6:>10.3f} "
                f"{shown[keys[3], 'off']:>6}",
                flush=True,
            )
        folder = [r.get("folder", {}) for r in good]
        batch_fold = statistics.median(f.get("batch_cpu_per_row", 0.0) for f in folder)
        single_fold = statistics.median(f.get("single_cpu_per_row", 0.0) for f in folder)
        print(
            f"  {rows:>11,} of the hub's CPU, the folder thread's: {batch_fold * 1e9:.1f} ns/row "
            f"(batches), {single_fold * 1e6:.3f} us/row (single rows)"
        )
        print(f"  {rows:>11,} y dtype (hub after batches, single-row values): {good[0]['dtypes']}")


def part_view(sizes: list[int], count: int) -> None:
    """p95 server time of one view, memory hub and store hub (fresh process each)."""
    print(
        f"\nserver time per view: Table.view, random ranges, widths 1400-1800, raw_limit "
        f"{POINTS_PER_PIXEL} x width; up to {count} views or {VIEW_SECONDS:.0f} s per set"
    )
    print(
        f"  {'rows':>11} {'hub':6} {'from':7} {'views':>5} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p95 CPU':>8} {'max ms':>8} {'max pts':>7} {'raw':>4} {'empty':>5} {'fill s':>7}"
    )
    for rows in sizes:
        for kind in ("memory", "store"):
            result = run_child("view", str(rows), str(count), kind)
            if "views" not in result:
                print(f"  {rows:>11,} {kind:6} {result.get('skipped') or result.get('error')}")
                continue
            views = result["views"]
            groups = [("all", views)]
            if kind == "store":
                groups += [("store", [v for v in views if v[1]]),
                           ("memory", [v for v in views if not v[1]])]  # fmt: skip
            for label, chosen in groups:
                ms = [v[0] * 1000 for v in chosen]
                cpu_ms = [v[5] * 1000 for v in chosen]
                print(
                    f"  {rows:>11,} {kind:6} {label:7} {len(ms):>5} {percentile(ms, 0.5):>8.2f} "
                    f"{percentile(ms, 0.95):>8.2f} {percentile(cpu_ms, 0.95):>8.2f} "
                    f"{max(ms, default=float('nan')):>8.2f} "
                    f"{max((v[2] for v in chosen), default=0):>7,} "
                    f"{sum(1 for v in chosen if v[3]):>4} {sum(1 for v in chosen if not v[4]):>5} "
                    f"{result['fill_s']:>7.1f}",
                    flush=True,
                )
            print(
                f"  {rows:>11,} {kind:6} whole-run view: {result['whole_run_rows']:,} rows, "
                f"{result['whole_run_drawn']:,} drawn; rows in memory from seq "
                f"{result['first_rows_in_memory']:,}"
            )


def child_main(args: list[str]) -> None:
    """Entry of a child process: one measurement, printed as one JSON line."""
    what, rows = args[0], int(float(args[1]))
    if what == "append":
        result = child_append(rows)
    elif what == "memory":
        result = child_memory(rows)
    elif what == "view":
        result = child_view(rows, int(args[2]), args[3] == "store")
    else:
        raise SystemExit(f"unknown child {what!r}")
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7,1e8", help="rows, comma separated")
    parser.add_argument("--parts", default="memory,append,view,page")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--views", type=int, default=200, help="random views per set")
    parser.add_argument("--page-rows", type=float, default=1e7)
    parser.add_argument(
        "--page-small", type=float, default=0, help="also a streamvis page of this many rows"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, 20 views")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    sizes = [int(float(size)) for size in args.sizes.split(",")]
    rounds, views = (1, 20) if args.quick else (args.rounds, args.views)
    parts = set(args.parts.split(","))
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"streamvis {sv.__version__} level-of-detail bench, Python {platform.python_version()}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, {now}"
    )
    print(f"load average at start: {os.getloadavg()}")
    if "memory" in parts:
        part_memory(sizes)
    if "append" in parts:
        part_append(sizes, rounds)
    if "view" in parts:
        part_view(sizes, views)
    if "page" in parts:
        from lod_page import part_page

        part_page(int(args.page_rows), rounds, int(args.page_small))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
