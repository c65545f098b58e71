"""Several server processes on one Redis (issue 14), each figure next to its anchor measured
in the same run: the single-process SQLite path.

    .venv/bin/python bench/scale_out.py                       # every part (~15 min)
    .venv/bin/python bench/scale_out.py --parts ingest,replay --rounds 5

Parts (a real redis-server from Debian, AOF on with `appendfsync always`, in a temp dir;
real `panel serve apps/dashboard.py --plugins streamvis.ingest` processes):
  appends  one committed 1,000-row append in process: SQLite (synchronous NORMAL, the
           default, and FULL) and Redis (appendfsync always and everysec), and a PING.
  ingest   rows/s of 1,000-row batches from `sv.Client` producer processes (one request per
           batch; a batch counts once the server answered, which it does only after the
           store took it): SQLite, 1 process; Redis, 1 process; Redis, 2 processes with a
           producer each (own streams, then one shared stream). Rounds interleave the
           systems; ratios against SQLite within a round, then the median.
  latency  sample -> page in headless Chromium (bench/latency.py's method): the producer
           and the page on one process (SQLite, Redis) vs producer on A, page on B.
  memory   Redis used_memory (INFO) per stored float sample, 1,000-row batches, next to
           SQLite's file bytes per sample.
  replay   a fresh Python process: open_store + hub_from_store until its hub holds all
           1,000,000 rows x 4 columns of a stream (timed inside it, imports excluded).
  kill     20 rounds of kill -9 of server A (and a restart on its port) while an
           `sv.Client` writes to it; then every acknowledged row must be in Redis once.
Targets: Redis 1 process >= 50% of SQLite's rows/s; A -> B within 50 ms of one process;
replay <= 2 s; 0 acknowledged rows lost or duplicated. On two cores, two processes are
reported per process and in total, with no claim of scaling.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from scale_parts import Redis, Server, produce

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1_000


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


# -- ingest ------------------------------------------------------------------------------------
SYSTEMS = (
    "sqlite-1",
    "redis-1",
    "redis-2",
    "redis-2-one-stream",
    "redis-1-everysec",
    "redis-2-everysec",
)


def ingest_once(system: str, rows: int, folder: Path) -> dict[str, Any]:
    """Rows/s of one system: per producer (its first batch to its last answer) and in total
    (all rows over the span from the first start to the last answer)."""
    fsync = "everysec" if system.endswith("everysec") else "always"
    redis = Redis(fsync) if system.startswith("redis") else None
    store = redis.url if redis else str(folder / f"ingest-{time.monotonic_ns()}.db")
    servers = [Server(store, folder)]
    try:
        if system.startswith("redis-2"):
            servers.append(Server(store, folder))
        streams = (["m0", "m0"] if "one-stream" in system else ["m0", "m1"])[: len(servers)]
        targets = [(server.url, stream) for server, stream in zip(servers, streams, strict=True)]
        reports = produce(targets, rows, folder)
        stored = {stream: servers[-1].seq(stream) for stream in set(streams)}
        expected = {stream: rows * streams.count(stream) for stream in set(streams)}
        if stored != expected:  # read through the last process: every row reached it
            raise RuntimeError(f"{system}: {stored} rows stored, {expected} expected")
    finally:
        for server in servers:
            server.stop()
        if redis:
            redis.stop()
    span = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return {
        "system": system,
        "per_process": [rows / (r["end"] - r["start"]) for r in reports],
        "total": rows * len(reports) / span,
        "load": load(),
    }


def ingest(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    print(f"\n## ingest: {args.rows:,} rows per producer in 1,000-row batches, acknowledged")
    print(
        f"{'round':>5} {'system':20} {'rows/s per process':>28} {'total':>10} "
        f"{'x sqlite':>8}  load"
    )
    results = []
    for round_ in range(args.rounds):
        order = list(SYSTEMS[round_ % len(SYSTEMS) :] + SYSTEMS[: round_ % len(SYSTEMS)])
        done = {system: ingest_once(system, args.rows, folder) for system in order}
        anchor = done["sqlite-1"]["total"]
        for system in SYSTEMS:
            result = done[system] | {"round": round_, "ratio": done[system]["total"] / anchor}
            per = ", ".join(f"{value:,.0f}" for value in result["per_process"])
            print(
                f"{round_:>5} {system:20} {per:>28} {result['total']:>10,.0f} "
                f"{result['ratio']:>8.2f}  {result['load']}",
                flush=True,
            )
            results.append(result)
    print("median over rounds (ratio: total rows/s over SQLite's in the same round)")
    for system in SYSTEMS:
        mine = [r for r in results if r["system"] == system]
        ratios = [r["ratio"] for r in mine]
        totals = [r["total"] for r in mine]
        per = [statistics.median(r["per_process"]) for r in mine]
        print(
            f"  {system:20} total {statistics.median(totals):>9,.0f} rows/s "
            f"(per process {statistics.median(per):>9,.0f}), x sqlite "
            f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
        )
    print("  target: redis-1 >= 0.50 x sqlite-1")
    return results


# -- one append, in process -------------------------------------------------------------------
def append_seconds(backend: Any, appends: int) -> float:
    """Median seconds of one committed 1,000-row append of {step, a, b, c} to `backend`."""
    from streamvis.core.storage import ANY_SEQ, AppendRows

    shared = getattr(backend, "shared", False)
    taken = []
    for index in range(appends):
        steps = np.arange(index * BATCH, (index + 1) * BATCH)
        columns = {"step": steps, "a": steps * 0.5, "b": steps * 1.5, "c": steps * 2.5}
        seq = ANY_SEQ if shared else index * BATCH
        op = AppendRows("default", "m", seq, BATCH, columns, time.time_ns(), batch_id=f"b{index}")
        start = time.perf_counter()
        backend.commit([op])
        taken.append(time.perf_counter() - start)
    return statistics.median(taken)


def appends(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """Where an acknowledgement's time goes in the store: one append, committed, per backend
    (SQLite's default synchronous=NORMAL and FULL; Redis AOF always and everysec)."""
    from streamvis.store.redis_streams import RedisStore
    from streamvis.store.sqlite import SQLiteStore

    print("\n## one committed 1,000-row append of 4 columns, in process (median of 200, ms)")
    results = []
    for round_ in range(args.rounds):
        row: dict[str, Any] = {"round": round_}
        for synchronous in ("NORMAL", "FULL"):
            path = folder / f"append-{round_}-{synchronous}.db"
            backend = SQLiteStore(path, synchronous=synchronous)
            row[f"sqlite {synchronous}"] = append_seconds(backend, 200) * 1e3
            backend.close()
        for fsync in ("always", "everysec"):
            redis = Redis(fsync)
            try:
                backend = RedisStore(redis.url)
                row[f"redis {fsync}"] = append_seconds(backend, 200) * 1e3
                client = backend.client
                started = time.perf_counter()
                for _ in range(200):
                    client.ping()
                row[f"ping ({fsync})"] = (time.perf_counter() - started) / 200 * 1e3
                backend.close()
            finally:
                redis.stop()
        row["load"] = load()
        print(
            f"{round_:>5} "
            + "  ".join(
                f"{name} {value:.2f}"
                for name, value in row.items()
                if name not in ("round", "load")
            )
            + f"  load {row['load']}",
            flush=True,
        )
        results.append(row)
    return results


# -- latency -----------------------------------------------------------------------------------
def latency(args: argparse.Namespace, redis: Redis) -> list[dict[str, Any]]:
    """bench/latency.py's runs, its systems interleaved per round."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import latency as page_latency

    systems = ["streamvis-remote", "streamvis-redis", "streamvis-redis-ab"]
    options = argparse.Namespace(
        duration=args.latency_seconds, period_ms=50, redis=redis.url, json_wire=False
    )
    rates = [float(rate) for rate in args.latency_rates.split(",")]
    print(f"\n## sample -> page, 1 page, {args.latency_seconds:g} s per run, 50 ms tick")
    results = []
    for round_ in range(args.rounds):
        for rate in rates:
            for system in systems[round_ % 3 :] + systems[: round_ % 3]:
                result = page_latency.one_run(system, rate, 1, options)
                result.update(round=round_, load=load())
                print(
                    f"{round_:>5} {system:20} {rate:>8,.0f}/s p50 {result.get('p50', 0):7.1f} "
                    f"p95 {result.get('p95', 0):7.1f} ms delivered {result['delivered']:.1%} "
                    f" load {result['load']}",
                    flush=True,
                )
                results.append(result)
    print(
        "median over rounds; p50 minus the one-process p50 of the same round: streamvis-remote "
        "(SQLite) and streamvis-redis"
    )
    for rate in rates:
        anchor = {
            r["round"]: r for r in results if r["rate"] == rate and r["system"] == systems[0]
        }
        single = {
            r["round"]: r for r in results if r["rate"] == rate and r["system"] == systems[1]
        }
        for system in systems:
            mine = [r for r in results if r["rate"] == rate and r["system"] == system]
            p50 = statistics.median(r.get("p50", float("nan")) for r in mine)
            p95 = statistics.median(r.get("p95", float("nan")) for r in mine)
            diff = [r.get("p50", float("nan")) - anchor[r["round"]].get("p50", 0) for r in mine]
            local = [r.get("p50", float("nan")) - single[r["round"]].get("p50", 0) for r in mine]
            print(
                f"  {rate:>8,.0f}/s {system:20} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                f"p50 - SQLite {statistics.median(diff):+6.1f} ms "
                f"({min(diff):+.1f}..{max(diff):+.1f}), - Redis one process "
                f"{statistics.median(local):+6.1f} ms ({min(local):+.1f}..{max(local):+.1f})"
            )
    print("  target: streamvis-redis-ab within 50 ms of the one-process figures")
    return results


# -- memory ------------------------------------------------------------------------------------
def redis_bytes_per_sample(samples: int) -> dict[str, float]:
    """INFO used_memory after storing `samples` floats (one column, 1,000-row batches)
    minus before, per sample; and the AOF's growth per sample."""
    from streamvis.store import hub_from_store, open_store

    redis = Redis()
    try:
        store = open_store(redis.url)
        hub = hub_from_store(store)
        values = np.random.default_rng(0).random(samples)
        memory_before, aof_before = redis.used_memory(), redis.aof_bytes()
        for first in range(0, samples, BATCH):
            hub.stream("v", {"v": values[first : first + BATCH]})
        if not hub.flush(300):
            raise RuntimeError("the store did not take every batch")
        backend = store.backend
        stored = {r.stream: r.rows for r in backend.streams()}
        if stored.get("v") != samples:
            raise RuntimeError(f"Redis holds {stored}, not {samples} rows")
        store.close()
        time.sleep(0.5)  # client buffers of the closed connections released
        memory = (redis.used_memory() - memory_before) / samples
        aof = (redis.aof_bytes() - aof_before) / samples
    finally:
        redis.stop()
    return {"memory": memory, "aof": aof}


def memory(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    from store import bytes_per_sample

    samples = 1_000_000
    print(
        f"\n## bytes per stored float sample ({samples:,} samples in 1,000-row batches; "
        "each row also stores its arrival time)"
    )
    results = []
    for round_ in range(min(args.rounds, 3)):
        redis = redis_bytes_per_sample(samples)
        sqlite = bytes_per_sample(folder / f"bytes-{round_}.db", samples, False)
        result = {"round": round_, "redis_memory": redis["memory"], "redis_aof": redis["aof"]}
        result.update(sqlite_file=sqlite, load=load())
        print(
            f"{round_:>5} Redis used_memory {redis['memory']:6.2f}  Redis AOF "
            f"{redis['aof']:6.2f}  SQLite file {sqlite:6.2f}  ratio memory/SQLite "
            f"{redis['memory'] / sqlite:5.2f}  load {result['load']}",
            flush=True,
        )
        results.append(result)
    return results


# -- replay ------------------------------------------------------------------------------------
REPLAY = textwrap.dedent("""
    import json, sys, time
    if sys.argv[2] == "python-parser":
        sys.modules["hiredis"] = None  # redis-py then parses replies in Python
    if sys.argv[2] != "sqlite":
        import redis  # an import, not replay: outside the timed part
    from streamvis.store import hub_from_store, open_store
    start, cpu = time.perf_counter(), time.process_time()
    store = open_store(sys.argv[1])
    hub = hub_from_store(store)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = hub.table("default", "m").row_count
    store.close()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows}))
""")


def has_hiredis() -> bool:
    """True when redis-py parses replies with hiredis (C) here, not in Python."""
    try:
        import hiredis  # noqa: F401
    except ImportError:
        return False
    return True


HIREDIS = has_hiredis()


def fill(target: str, rows: int) -> None:
    """Store `rows` rows of {step, a, b, c} in 1,000-row batches through a hub on `target`."""
    from store import batches

    from streamvis.store import hub_from_store, open_store

    store = open_store(target)
    hub = hub_from_store(store)
    for batch in batches(rows // BATCH):
        hub.stream("m", batch)
    if not hub.flush(600):
        raise RuntimeError(f"{target}: the store did not take every batch")
    store.close()


def replay(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    rows = 1_000_000
    print(f"\n## a fresh process until its hub holds {rows:,} rows x 4 columns of a stream")
    parser = "hiredis" if HIREDIS else "its Python parser"
    print(f"(redis: redis-py with {parser}; python-parser: the same, hiredis kept out)")
    redis = Redis()
    sqlite = str(folder / "replay.db")
    script = folder / "replay.py"
    script.write_text(REPLAY)
    results = []
    try:
        fill(redis.url, rows)
        fill(sqlite, rows)
        for round_ in range(args.rounds):
            systems = [("redis", redis.url), ("sqlite", sqlite)]
            if HIREDIS:
                systems.insert(1, ("python-parser", redis.url))
            shift = round_ % len(systems)
            for system, target in systems[shift:] + systems[:shift]:
                done = subprocess.run(
                    [sys.executable, str(script), target, system],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=True,
                    cwd=ROOT,
                )
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if result["rows"] != rows:
                    raise RuntimeError(f"{system}: the hub holds {result['rows']} rows")
                result.update(system=system, round=round_, load=load())
                print(
                    f"{round_:>5} {system:13} {result['seconds']:6.2f} s (CPU of the process "
                    f"{result['cpu']:.2f} s)  load {result['load']}",
                    flush=True,
                )
                results.append(result)
    finally:
        redis.stop()
    for system in dict.fromkeys(r["system"] for r in results):
        seconds = [r["seconds"] for r in results if r["system"] == system]
        print(
            f"  {system:13} median {statistics.median(seconds):.2f} s "
            f"(range {min(seconds):.2f}-{max(seconds):.2f})"
        )
    print("  target: redis <= 2 s")
    return results


# -- kill -9 -----------------------------------------------------------------------------------
def kill_loop(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Server A and B on one Redis; an `sv.Client` writes 1,000-row batches to A as fast as
    it is answered; A is killed with SIGKILL and restarted on its port `args.kills` times.
    Then the client must have every batch acknowledged, and Redis (read through the store
    and through B) must hold steps 0..N-1 exactly once each."""
    import streamvis as sv
    from streamvis.store import open_store

    print(f"\n## kill -9 of server A, {args.kills} rounds, producer writing to A")
    redis = Redis()
    a, b = Server(redis.url, folder), Server(redis.url, folder)
    client = sv.Client(a.url, "default", when_full="block", batch_rows=BATCH, queue_rows=20_000)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            steps = np.arange(written[0], written[0] + BATCH)
            client.stream("k", {"step": steps, "v": steps * 0.5})
            written[0] += BATCH

    producer = threading.Thread(target=write, daemon=True)
    producer.start()
    rounds = []
    try:
        for round_ in range(args.kills):
            before = b.seq("k")
            deadline = time.monotonic() + 60
            while b.seq("k") < before + 20 * BATCH and time.monotonic() < deadline:
                time.sleep(0.05)  # the producer is writing again, through the new A
            time.sleep(random.uniform(0.0, 0.3))
            at_kill = client.sent_rows
            a.kill_hard()
            a = Server(redis.url, folder, port=a.port)
            rounds.append({"round": round_, "acknowledged_at_kill": at_kill})
            print(
                f"{round_:>5} killed A after {at_kill:,} acknowledged rows; restarted  "
                f"load {load()}",
                flush=True,
            )
        stop.set()
        producer.join(120)
        flushed = client.flush(300)
        client.close(10)
        acknowledged, total = client.sent_rows, written[0]
        store = open_store(redis.url)
        record = next(r for r in store.backend.streams() if r.stream == "k")
        steps = np.concatenate([s.batch["step"] for s in store.backend.segments(record)])
        store.close()
        through_b = b.seq("k")
    finally:
        stop.set()
        a.stop()
        b.stop()
        redis.stop()
    unique = np.unique(steps)
    result = {
        "kills": args.kills,
        "written": total,
        "acknowledged": acknowledged,
        "flushed": flushed,
        "dropped": client.dropped_rows,
        "errors": len(client.errors),
        "stored": int(len(steps)),
        "duplicated": int(len(steps) - len(unique)),
        "lost": int(np.setdiff1d(np.arange(total), unique).size),
        "in_order": bool(np.all(np.diff(steps) > 0)),
        "seq_through_b": through_b,
        "load": load(),
    }
    print(
        f"  written {total:,}, acknowledged {acknowledged:,}, stored {len(steps):,} "
        f"(through B: {through_b:,}); lost {result['lost']}, duplicated "
        f"{result['duplicated']}, in order {result['in_order']}; client errors "
        f"{result['errors']}, dropped {result['dropped']}"
    )
    print("  target: 0 acknowledged rows lost or duplicated")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="appends,ingest,latency,memory,replay,kill")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=300_000, help="rows per producer")
    parser.add_argument("--latency-rates", default="1000")
    parser.add_argument("--latency-seconds", type=float, default=8)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--json", help="also write every result here")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    print(
        f"# {started}, at {commit}, {os.cpu_count()} cores, load {load()}, redis-server "
        f"{version.stdout.split()[2]}, python {sys.version.split()[0]}"
    )
    everything: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="svbench-scale-") as name:
        folder = Path(name)
        parts = args.parts.split(",")
        if "appends" in parts:
            everything["appends"] = appends(args, folder)
        if "ingest" in parts:
            everything["ingest"] = ingest(args, folder)
        if "latency" in parts:
            redis = Redis()
            try:
                everything["latency"] = latency(args, redis)
            finally:
                redis.stop()
        if "memory" in parts:
            everything["memory"] = memory(args, folder)
        if "replay" in parts:
            everything["replay"] = replay(args, folder)
        if "kill" in parts:
            everything["kill"] = kill_loop(args, folder)
    print(f"# done {time.strftime('%H:%M UTC', time.gmtime())}, load {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1, default=str))


if __name__ == "__main__":
    main()
