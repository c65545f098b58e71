"""Per-call and idle costs of `Client.stream` for bench/remote.py, beside a bare queue.put and,
when a Python with them is given, trackio and rerun measured the way
/work/shared/bench-peers/bench_a_producer.py measures them.

Each (system, round) runs in a fresh process: `python bench/remote_costs.py SYSTEM ...`
prints one `RESULT {json}` line. Module-level imports are the standard library only, so a
peers' Python without streamvis can run the trackio and rerun workers.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
IDLE_SECONDS = 5.0
SLOW_RATE = 10  # rows/s in the "slow producer" idle case


# --------------------------------------------------------------------------- worker side
def _floor() -> tuple[Callable[..., None], Callable[[], None], dict[str, Any]]:
    """The floor: put the sample dict on a queue.Queue that a consumer thread drains."""
    samples: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def consume() -> None:
        while samples.get() is not None:
            samples.task_done()
        samples.task_done()

    threading.Thread(target=consume, daemon=True).start()

    def call(i: int, a: float, b: float, c: float) -> None:
        samples.put({"step": i, "loss": a, "acc": b, "lr": c})

    return call, samples.join, {}


def _streamvis(url: str, run: str) -> tuple[Callable[..., None], Callable[[], None], dict]:
    """`Client.stream` of the sample to a live streamvis_server; counts the requests sent."""
    from streamvis import Client

    client = Client(url, run)
    facts: dict[str, Any] = {"requests": 0}
    send = client._send

    def counted(*args: Any) -> Any:
        facts["requests"] += 1
        return send(*args)

    client._send = counted  # type: ignore[method-assign]

    def call(i: int, a: float, b: float, c: float) -> None:
        client.stream("m", {"step": i, "loss": a, "acc": b, "lr": c})

    def flush() -> None:
        if not client.flush(timeout=600):
            raise RuntimeError("flush timed out")

    return call, flush, facts


def _trackio(work: Path) -> tuple[Callable[..., None], Callable[[], None], dict]:
    """trackio.log of the sample (local SQLite, background thread); finish() flushes."""
    os.environ["TRACKIO_DIR"] = str(work / "trackio")
    import trackio

    trackio.init(project=f"bench_{os.getpid()}", name="run")

    def call(i: int, a: float, b: float, c: float) -> None:
        trackio.log({"loss": a, "acc": b, "lr": c}, step=i)

    return call, trackio.finish, {"flush_only_at_end": True}


def _rerun(work: Path) -> tuple[Callable[..., None], Callable[[], None], dict]:
    """rerun to an .rrd file, one entity holding the 3 scalars per step (bench-peers'
    `rerun_file_vec`)."""
    import rerun as rr

    rr.init(f"bench_{os.getpid()}", spawn=False)
    rr.save(str(work / "rec.rrd"))

    def call(i: int, a: float, b: float, c: float) -> None:
        rr.set_time("step", sequence=i)
        rr.log("train", rr.Scalars([a, b, c]))

    def flush() -> None:
        rr.get_global_data_recording().flush()

    return call, flush, {}


def per_call(system: str, rows: int, warmup: int, url: str | None) -> dict[str, Any]:
    """Steady-state cost per call: `warmup` calls (then a flush), then `rows` timed calls
    and the final flush."""
    work = Path(tempfile.mkdtemp(prefix="streamvis-costs-"))
    try:
        if system == "queue.put":
            call, flush, facts = _floor()
        elif system.startswith("streamvis"):
            call, flush, facts = _streamvis(url or "", f"cost-{os.getpid()}")
        elif system == "trackio":
            call, flush, facts = _trackio(work)
        elif system == "rerun":
            call, flush, facts = _rerun(work)
        else:
            raise SystemExit(f"unknown system {system}")
        rng = random.Random(0)
        values = [(rng.random(), rng.random(), rng.random()) for _ in range(1000)]
        for i in range(warmup):
            call(i, *values[i % 1000])
        if not facts.get("flush_only_at_end"):
            flush()
        requests_before = facts.get("requests", 0)
        process0, caller0, start = time.process_time(), time.thread_time(), time.perf_counter()
        for i in range(warmup, warmup + rows):
            call(i, *values[i % 1000])
        looped, caller1 = time.perf_counter(), time.thread_time()
        flush()
        done, caller2, process2 = time.perf_counter(), time.thread_time(), time.process_time()
        result = {
            "system": system,
            "rows": rows,
            "wall_us": (looped - start) / rows * 1e6,
            "cpu_us": (caller1 - caller0) / rows * 1e6,
            "background_cpu_us": ((process2 - process0) - (caller2 - caller0)) / rows * 1e6,
            "total_wall_us": (done - start) / rows * 1e6,
            "flush_s": done - looped,
        }
        if "requests" in facts:
            result["rows_per_request"] = rows / max(1, facts["requests"] - requests_before)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def idle(url: str) -> dict[str, Any]:
    """A client with nothing queued for IDLE_SECONDS, then SLOW_RATE rows/s as long: CPU
    of its sender thread (ms per second, and per row) and how often it woke."""
    from streamvis import Client

    client = Client(url, f"idle-{os.getpid()}")
    client.stream("m", {"step": 0, "v": 0.0})
    client.flush(timeout=60)
    sender = time.pthread_getcpuclockid(client._thread.ident)  # type: ignore[arg-type]
    woke0, cpu0 = getattr(client, "wakeups", None), time.clock_gettime(sender)
    time.sleep(IDLE_SECONDS)
    woke1, cpu1 = getattr(client, "wakeups", None), time.clock_gettime(sender)
    rows = int(IDLE_SECONDS * SLOW_RATE)
    began = time.monotonic()
    for step in range(rows):
        time.sleep(max(0.0, began + step / SLOW_RATE - time.monotonic()))
        client.stream("m", {"step": step + 1, "v": step * 0.5})
    time.sleep(max(0.0, began + IDLE_SECONDS - time.monotonic()))
    client.flush(timeout=60)
    elapsed, cpu2 = time.monotonic() - began, time.clock_gettime(sender)
    client.close()
    return {
        "idle_ms_per_s": (cpu1 - cpu0) / IDLE_SECONDS * 1e3,
        "idle_wakeups": None if woke0 is None else woke1 - woke0,
        "slow_ms_per_s": (cpu2 - cpu1) / elapsed * 1e3,
        "slow_ms_per_row": (cpu2 - cpu1) / rows * 1e3,
    }


# --------------------------------------------------------------------------- orchestrator
def _run_worker(python: str, args: list[str], pythonpath: str | None = None) -> dict[str, Any]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [python, str(HERE / "remote_costs.py"), *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
        cwd=HERE.parent,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    return {"error": (done.stderr or done.stdout)[-800:]}


def _has_modules(python: str, *modules: str) -> bool:
    probe = subprocess.run([python, "-c", f"import {', '.join(modules)}"], capture_output=True)
    return probe.returncode == 0


def report(args: argparse.Namespace, start_server: Callable[[str], tuple[Any, int, int]]) -> None:
    """Run the per-call rounds and the idle case; print both tables."""
    from ports import wait_port

    systems: list[tuple[str, str, str | None]] = [("queue.put", sys.executable, None)]
    systems.append(("streamvis", sys.executable, None))
    if args.before:
        systems.append(("streamvis (before)", sys.executable, str(Path(args.before).resolve())))
    missing = ""
    if args.peers_python and _has_modules(args.peers_python, "trackio", "rerun"):
        systems += [("trackio", args.peers_python, None), ("rerun", args.peers_python, None)]
    else:
        missing = "trackio and rerun not measured: no --peers-python with both installed"
    server, rest, _ = start_server("cost")
    url = f"http://127.0.0.1:{rest}"
    runs: list[dict[str, Any]] = []
    try:
        wait_port(rest)
        for round_ in range(args.reps):
            for name, python, path in systems:
                worker = [name, "--rows", str(args.rows), "--warmup", str(args.warmup)]
                result = _run_worker(python, [*worker, "--url", url], path)
                result.update(system=name, round=round_, load=os.getloadavg()[0])
                runs.append(result)
                shown = result.get("error") or f"{result['total_wall_us']:.2f} us/call"
                print(f"  round {round_ + 1} {name:20} {shown}", flush=True)
        idles = [
            (name, _run_worker(python, ["idle", "--url", url], path))
            for name, python, path in systems
            if name.startswith("streamvis")
        ]
    finally:
        server.terminate()
        server.wait(10)
    _print_per_call(args, systems, runs, missing)
    _print_idle(idles)


def _print_per_call(
    args: argparse.Namespace, systems: list[tuple[str, str, str | None]], runs: list, missing: str
) -> None:
    floor = {r["round"]: r for r in runs if r["system"] == "queue.put" and "error" not in r}
    print(
        f"Client.stream per call in steady state: {args.warmup:,} calls of warm-up, then "
        f"{args.rows:,} timed calls; median of {args.reps} interleaved rounds"
    )
    header = (
        f"  {'system':20} {'wall us':>8} {'CPU us':>7} {'bg CPU us':>9} {'total us':>9} "
        f"{'x floor total':>13} {'x floor CPU':>11} {'rows/req':>8}"
    )
    print(header)
    for name, _, _ in systems:
        mine = [r for r in runs if r["system"] == name and "error" not in r]
        if not mine:
            errors = [r.get("error", "") for r in runs if r["system"] == name]
            print(f"  {name:20} failed: {errors[:1]}")
            continue

        def median(key: str, rows: list[dict[str, Any]] = mine) -> float:
            return statistics.median(r[key] for r in rows)

        total_ratio = statistics.median(
            r["total_wall_us"] / floor[r["round"]]["total_wall_us"]
            for r in mine
            if r["round"] in floor
        )
        cpu_ratio = statistics.median(
            (r["cpu_us"] + r["background_cpu_us"])
            / (floor[r["round"]]["cpu_us"] + floor[r["round"]]["background_cpu_us"])
            for r in mine
            if r["round"] in floor
        )
        batched = "rows_per_request" in mine[0]
        per_request = f"{median('rows_per_request'):8,.0f}" if batched else ""
        print(
            f"  {name:20} {median('wall_us'):8.2f} {median('cpu_us'):7.2f} "
            f"{median('background_cpu_us'):9.2f} {median('total_wall_us'):9.2f} "
            f"{total_ratio:13.2f} {cpu_ratio:11.2f} {per_request:>8}"
        )
    print(
        "  wall/CPU us: the calling thread per call; bg CPU: all other threads of the process"
        " per call;\n  total: wall per call including the final flush; x floor: ratio to"
        " queue.put in the same round\n  (CPU: caller + background)"
    )
    if missing:
        print(f"  {missing}")


def _print_idle(idles: list[tuple[str, dict[str, Any]]]) -> None:
    print(
        f"Idle client: nothing queued for {IDLE_SECONDS:g} s, then {SLOW_RATE} rows/s for "
        f"{IDLE_SECONDS:g} s (sender thread CPU)"
    )
    print(f"  {'client':20} {'idle ms/s':>9} {'wake-ups':>8} {'10/s ms/s':>9} {'ms/row':>7}")
    for name, result in idles:
        if "error" in result:
            print(f"  {name:20} failed: {result['error']}")
            continue
        woke = "-" if result["idle_wakeups"] is None else f"{result['idle_wakeups']:,}"
        print(
            f"  {name:20} {result['idle_ms_per_s']:9.3f} {woke:>8} "
            f"{result['slow_ms_per_s']:9.3f} {result['slow_ms_per_row']:7.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("system")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.system == "idle":
        result = idle(args.url)
    else:
        result = per_call(args.system, args.rows, args.warmup, args.url)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
