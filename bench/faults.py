"""Fault bench: does what a producer was told is stored survive kill -9 and outages?

    python bench/faults.py                 # 5 kill -9 rounds, a 10 s outage
    python bench/faults.py --rounds 25 --outage 30

1. kill -9 under load: a real `streamvis serve` (its default SQLite store, in a temporary
   folder) takes batches from producers over HTTP and over the websocket, each batch with a
   batch id, each producer resending a batch until it is acknowledged. The server's process
   group is killed with SIGKILL at a random moment, restarted on the same port, N times.
2. outage under sv.Client: a Client sends 1,000 rows/s; the server is killed, stays down
   `--outage` seconds, is restarted; the Client must deliver everything.

Afterwards the store file is read back (sv.export): rows acknowledged, stored, lost
(acknowledged but not stored), duplicated (stored more than once), and SQLite's integrity
check. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ports import free_port

ROOT = Path(__file__).resolve().parents[1]
STREAMVIS = str(Path(sys.executable).with_name("streamvis"))
RUN = "faults"
RETRY_SECONDS = 0.1
CLIENT_ROWS_PER_SECOND = 1000


class Server:
    """`streamvis serve` on 127.0.0.1:`port` in `folder` (its default store
    ./.streamvis/streamvis.db), in a process group of its own so kill -9 reaches the
    `panel serve` child that holds the store."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = open(folder / "server.log", "ab")  # noqa: SIM115 - closed in close()

    def start(self, timeout: float = 120) -> float:
        """Start and wait until the API answers; seconds it took."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            [STREAMVIS, "serve", "--address", "127.0.0.1", "--port", str(self.port)],
            cwd=self.folder,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("STREAMVIS_")},
        )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamvis serve exited; see {self.folder / 'server.log'}")
            if self.answers():
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"streamvis serve did not answer in {timeout} s")

    def answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/api/v1/runs")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def kill(self) -> None:
        """SIGKILL the whole group: the wrapper and the `panel serve` holding the store."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(60)

    def stop(self) -> None:
        """A clean stop (SIGTERM to the group), so the store is checkpointed and closed."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()

    def close(self) -> None:
        self.log.close()


@dataclass
class Producer:
    """One producer's stream and what it was told: batches acknowledged (0..acked-1)."""

    stream: str
    batch_rows: int
    acked: int = 0
    attempts: int = 0
    refused: list[str] = field(default_factory=list)

    def batch(self, index: int) -> dict[str, list[int]]:
        first = index * self.batch_rows
        return {"v": list(range(first, first + self.batch_rows))}

    def batch_id(self, index: int) -> str:
        return f"{self.stream}:{index}"


def http_producer(port: int, producer: Producer, stop: threading.Event) -> None:
    """POST batches one after another, each resent (same batch id) until acknowledged."""
    connection: http.client.HTTPConnection | None = None
    while not stop.is_set():
        index = producer.acked
        body = json.dumps(producer.batch(index))
        headers = {
            "Content-Type": "application/json",
            "X-Streamvis-Batch": producer.batch_id(index),
        }
        while True:
            producer.attempts += 1
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                path = f"/api/v1/runs/{RUN}/streams/{producer.stream}"
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                reply = response.read()
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(RETRY_SECONDS)
                continue
            if response.status == 200:
                break
            if response.status < 500 and response.status != 429:
                producer.refused.append(f"{response.status} {reply[:200]!r}")
                return
            time.sleep(RETRY_SECONDS)
        producer.acked += 1
    if connection is not None:
        connection.close()


async def _ws_producer(port: int, producer: Producer, stop: threading.Event) -> None:
    from tornado.websocket import WebSocketClosedError, websocket_connect

    connection = None
    while not stop.is_set():
        index = producer.acked
        message = json.dumps(
            {
                "id": index,
                "run": RUN,
                "stream": producer.stream,
                "data": producer.batch(index),
                "batch": producer.batch_id(index),
            }
        )
        while True:
            producer.attempts += 1
            try:
                if connection is None:
                    url = f"ws://127.0.0.1:{port}/api/v1/ws"
                    connection = await asyncio.wait_for(websocket_connect(url), 30)
                await connection.write_message(message)
                text = await asyncio.wait_for(connection.read_message(), 30)
                if text is None:
                    raise ConnectionError("closed")
            except (OSError, ConnectionError, TimeoutError, WebSocketClosedError):
                if connection is not None:
                    connection.close()
                connection = None
                await asyncio.sleep(RETRY_SECONDS)
                continue
            reply = json.loads(text)
            if reply.get("ok"):
                break
            if reply.get("error") not in ("store_failed", "busy", "unavailable"):
                producer.refused.append(str(reply)[:200])
                return
            await asyncio.sleep(RETRY_SECONDS)
        producer.acked += 1
    if connection is not None:
        connection.close()


def ws_producer(port: int, producer: Producer, stop: threading.Event) -> None:
    asyncio.run(_ws_producer(port, producer, stop))


def stored_values(store: Path, streams: list[str]) -> tuple[dict[str, np.ndarray], str]:
    """Each stream's column v as the store file holds it, and SQLite's integrity check."""
    from streamvis.store import SQLiteStore
    from streamvis.store.export import export

    backend = SQLiteStore(store, readonly=True)
    try:
        values = {}
        for stream in streams:
            try:
                frame = export(RUN, stream, store=backend)
                values[stream] = frame["v"].to_numpy(dtype=np.int64)
            except Exception:  # a stream never stored: nothing of it survived
                values[stream] = np.empty(0, dtype=np.int64)
        return values, backend.integrity()
    finally:
        backend.close()


@dataclass
class Tally:
    """Rows acknowledged, stored, lost, duplicated (and stored without acknowledgement)."""

    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    unacknowledged: int = 0
    out_of_order: int = 0

    def add(self, acknowledged: np.ndarray, stored: np.ndarray) -> None:
        unique, counts = np.unique(stored, return_counts=True)
        self.acknowledged += len(acknowledged)
        self.stored += len(stored)
        self.lost += int(np.count_nonzero(~np.isin(acknowledged, unique)))
        self.duplicated += int((counts - 1).sum())
        self.unacknowledged += int(np.count_nonzero(~np.isin(unique, acknowledged)))
        self.out_of_order += int(np.count_nonzero(np.diff(stored) <= 0))


def kill_rounds(folder: Path, args: argparse.Namespace) -> tuple[dict[str, Tally], dict]:
    """kill -9 the server `args.rounds` times while HTTP and websocket producers write."""
    port = free_port()
    server = Server(folder, port)
    rng = random.Random(args.seed)
    producers = {
        "http": [Producer(f"http-{i}", args.batch_rows) for i in range(args.producers)],
        "websocket": [Producer(f"ws-{i}", args.batch_rows) for i in range(args.producers)],
    }
    stop = threading.Event()
    starts = [server.start()]
    threads = [
        threading.Thread(target=target, args=(port, producer, stop), daemon=True)
        for kind, target in (("http", http_producer), ("websocket", ws_producer))
        for producer in producers[kind]
    ]
    for thread in threads:
        thread.start()
    for round_number in range(1, args.rounds + 1):
        time.sleep(rng.uniform(args.min_up, args.max_up))
        server.kill()
        acked = acknowledged_rows(producers)
        print(f"  round {round_number}: killed (-9) at {acked:,} acknowledged rows", flush=True)
        starts.append(server.start())
    time.sleep(args.min_up)
    stop.set()  # each producer finishes (acknowledges) its current batch, then stops
    for thread in threads:
        thread.join(120)
    server.stop()
    server.close()
    streams = [p.stream for group in producers.values() for p in group]
    values, integrity = stored_values(folder / ".streamvis" / "streamvis.db", streams)
    tallies = {}
    for kind, group in producers.items():
        tally = Tally()
        for producer in group:
            acknowledged = np.arange(producer.acked * producer.batch_rows, dtype=np.int64)
            tally.add(acknowledged, values[producer.stream])
        tallies[kind] = tally
    refused = [r for group in producers.values() for p in group for r in p.refused]
    info = {"integrity": integrity, "start_s": starts, "refused": refused}
    return tallies, info


def acknowledged_rows(producers: dict[str, list[Producer]]) -> int:
    return sum(p.acked * p.batch_rows for group in producers.values() for p in group)


def outage(folder: Path, args: argparse.Namespace) -> tuple[Tally, dict]:
    """A Client sending 1,000 rows/s through a server that is down for `args.outage` s."""
    from streamvis import Client

    port = free_port()
    server = Server(folder, port)
    server.start()
    client = Client(f"http://127.0.0.1:{port}", RUN, exit_timeout=120)
    calls: list[float] = []
    sent = 0
    timeline_done = threading.Event()
    down: dict[str, float] = {}

    def timeline() -> None:  # on its own thread: the producer never pauses for it
        time.sleep(args.outage_lead)
        killed = time.monotonic()
        server.kill()
        time.sleep(args.outage)
        down["restart_s"] = server.start()
        down["down_s"] = time.monotonic() - killed
        time.sleep(args.outage_lead)
        timeline_done.set()

    threading.Thread(target=timeline, daemon=True).start()
    began = time.monotonic()
    while not timeline_done.is_set():
        due = began + sent / CLIENT_ROWS_PER_SECOND
        if due > (now := time.monotonic()):
            time.sleep(due - now)
        tick = time.perf_counter()
        client.stream("client", {"v": sent})
        calls.append(time.perf_counter() - tick)
        sent += 1
    delivered = client.flush(timeout=120)
    client.close()
    server.stop()
    server.close()
    values, integrity = stored_values(folder / ".streamvis" / "streamvis.db", ["client"])
    tally = Tally()
    tally.add(np.arange(client.sent_rows, dtype=np.int64), values["client"])
    info = {
        "produced": sent,
        "delivered": delivered,
        "errors": client.errors,
        "dropped": client.dropped_rows,
        "integrity": integrity,
        "down_s": down["down_s"],
        "restart_s": down["restart_s"],
        "missing_of_produced": int(np.count_nonzero(~np.isin(np.arange(sent), values["client"]))),
        "p99_us": float(np.percentile(np.array(calls), 99) * 1e6),
        "max_us": float(max(calls) * 1e6),
    }
    return tally, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="kill -9 rounds (full run: 25)")
    parser.add_argument("--producers", type=int, default=2, help="per transport (HTTP, ws)")
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--min-up", type=float, default=1.0, help="seconds up before a kill")
    parser.add_argument("--max-up", type=float, default=4.0)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds the server is down")
    parser.add_argument("--outage-lead", type=float, default=5.0, help="seconds up around it")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="streamvis-faults-") as temporary:
        folder = Path(temporary)
        (folder / "kills").mkdir()
        (folder / "outage").mkdir()
        print(f"kill -9 rounds: {args.rounds}, {args.producers} producers per transport")
        started = time.monotonic()
        tallies, info = kill_rounds(folder / "kills", args)
        kill_seconds = time.monotonic() - started
        print(f"outage under sv.Client: {args.outage:g} s down, 1,000 rows/s")
        client_tally, client_info = outage(folder / "outage", args)
    print()
    header = f"{'scenario':<26}{'acknowledged':>13}{'stored':>11}{'lost':>6}{'duplicated':>11}"
    print(header + f"{'unacked stored':>15}{'out of order':>13}")
    rows = [(f"kill -9 x{args.rounds}, HTTP", tallies["http"])]
    rows += [(f"kill -9 x{args.rounds}, websocket", tallies["websocket"])]
    rows += [(f"{args.outage:g} s outage, sv.Client", client_tally)]
    for name, tally in rows:
        print(
            f"{name:<26}{tally.acknowledged:>13,}{tally.stored:>11,}{tally.lost:>6}"
            f"{tally.duplicated:>11}{tally.unacknowledged:>15}{tally.out_of_order:>13}"
        )
    starts = info["start_s"]
    print(
        f"\nkill rounds: {kill_seconds:.0f} s in all; server start {min(starts):.1f}-"
        f"{max(starts):.1f} s; integrity check: {info['integrity']}; "
        f"refused batches: {len(info['refused'])}"
    )
    print(
        f"outage: {client_info['produced']:,} rows produced, "
        f"{client_info['missing_of_produced']} of them not stored, client errors "
        f"{len(client_info['errors'])}, dropped {client_info['dropped']}, flush "
        f"{'ok' if client_info['delivered'] else 'timed out'}; Client.stream p99 "
        f"{client_info['p99_us']:.0f} us, max {client_info['max_us']:.0f} us; down "
        f"{client_info['down_s']:.1f} s (of which restarting {client_info['restart_s']:.1f} s); "
        f"integrity check: {client_info['integrity']}"
    )
    bad = sum(t.lost + t.duplicated for _, t in rows) + client_info["missing_of_produced"]
    return 1 if bad or info["refused"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
