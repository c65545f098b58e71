"""The parts bench/scale_out.py starts: a real redis-server in a temp dir, `panel serve`
processes on a store (SQLite file or Redis URL), and producer processes using `sv.Client`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from ports import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
LAYOUT = textwrap.dedent("""\
    title: scale-out
    refresh_ms: 50
    plots:
      - {id: m, kind: line, stream: m0, x: step, y: [a, b, c], at: [0, 0, 1, 1]}
""")


class Redis:
    """redis-server on a free loopback port in its own temp dir: AOF on with `appendfsync
    always` (what the issue's durability claims assume) or `everysec`, no RDB snapshots."""

    def __init__(self, fsync: str = "always") -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="svbench-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", fsync,
            "--save", "", "--protected-mode", "no", "--daemonize", "no",
        ]  # fmt: skip
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.directory / "redis.log").read_text(errors="replace"))
            time.sleep(0.05)

    def _answers(self) -> bool:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                return False
            probe.sendall(b"PING\r\n")
            return probe.recv(64).startswith(b"+PONG")

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)

    def used_memory(self) -> int:
        client = self.client()
        try:
            return int(client.info("memory")["used_memory"])
        finally:
            client.close()

    def aof_bytes(self) -> int:
        """Bytes of the append-only file(s) on disk (Redis 7 keeps them in a folder)."""
        return sum(p.stat().st_size for p in self.directory.rglob("*.aof"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        shutil.rmtree(self.directory, ignore_errors=True)


class Server:
    """`panel serve apps/dashboard.py --plugins streamvis.ingest --args LAYOUT --store S`
    on 127.0.0.1 (the command tests/conftest.py's PanelServer runs); `port` may be reused
    after a kill, so a producer's URL stays valid across restarts."""

    def __init__(self, store: str, folder: Path, port: int | None = None) -> None:
        self.store, self.folder = store, folder
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        layout = folder / "layout.yaml"
        if not layout.exists():
            layout.write_text(LAYOUT)
        command = [
            sys.executable, "-m", "panel", "serve", str(ROOT / "apps" / "dashboard.py"),
            "--address", "127.0.0.1", "--port", str(self.port),
            "--allow-websocket-origin", f"127.0.0.1:{self.port}",
            "--plugins", "streamvis.ingest", "--args", str(layout), "--store", store,
        ]  # fmt: skip
        self.log = folder / f"server-{self.port}.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
            )
        try:
            wait_port(self.port, 180)
        except RuntimeError:
            self.stop()
            raise RuntimeError(self.log.read_text(errors="replace")[-3000:]) from None

    def kill_hard(self) -> None:
        """SIGKILL: no shutdown hook runs, only what Redis (or SQLite) already holds stays."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def seq(self, stream: str, run: str = "default") -> int:
        """The stream's next row number as this process's hub holds it (0: not there)."""
        import urllib.request

        url = f"{self.url}/api/v1/runs/{run}/streams"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                streams = json.load(response)["streams"]
        except OSError:
            return 0
        return next((s["seq"] for s in streams if s["stream"] == stream), 0)


PRODUCER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import numpy as np
    from streamvis import Client
    url, stream, rows, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    # one request per 1,000-row batch: the client joins queued batches up to batch_rows
    client = Client(url, "default", when_full="block", batch_rows=1000, queue_rows=20_000)
    client.stream("warm_" + stream, {"step": 0, "a": 0.0, "b": 0.0, "c": 0.0})
    client.flush(120)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    start = time.time()
    for first in range(0, rows, 1000):
        steps = np.arange(first, first + 1000)
        client.stream(stream, {"step": steps, "a": steps * 0.5, "b": steps * 1.5,
                               "c": steps * 2.5})
    ok = client.flush(timeout=600)
    end = time.time()
    client.close()
    print(json.dumps({"start": start, "end": end, "ok": ok, "errors": len(client.errors),
                      "dropped": client.dropped_rows, "sent": client.sent_rows}))
""")


def produce(targets: list[tuple[str, str]], rows: int, folder: Path) -> list[dict[str, Any]]:
    """One producer process per (server URL, stream), all started together once each has
    connected; each sends `rows` rows in 1,000-row batches and reports its wall clock from
    the first batch to the last acknowledgement."""
    script = folder / "producer.py"
    script.write_text(PRODUCER)
    go = folder / f"go-{time.monotonic_ns()}"
    children = [
        subprocess.Popen(
            [sys.executable, str(script), url, stream, str(rows), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for url, stream in targets
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a producer did not connect")
    go.write_text("go")
    reports = []
    for child in children:
        out, _ = child.communicate(timeout=900)
        report = json.loads(out.strip().splitlines()[-1])
        if not report["ok"] or report["errors"] or report["dropped"]:
            raise RuntimeError(f"a producer did not deliver everything: {report}")
        reports.append(report)
    return reports
