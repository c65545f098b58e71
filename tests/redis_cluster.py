"""A small real Redis Cluster for the tests: three `redis-server` masters (Debian's package)
on free loopback ports, each in its own directory with its own cluster config file, AOF on
with `appendfsync always`, joined by `redis-cli --cluster create` (no replicas)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import end_process, free_port, wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
MASTERS = 3


class ClusterNode:
    """One cluster-enabled redis-server: a client port and a bus port, both reserved free
    (`cluster-port` sets the bus port, else Redis takes port + 10000, which no test reserved)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.bus_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
            "--cluster-config-file", str(self.directory / "nodes.conf"),
            "--cluster-node-timeout", "15000",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--protected-mode", "no", "--daemonize", "no",
        ]  # fmt: skip
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def cli(self, *args: str) -> str:
        """A redis-cli command against this node; its output (a failure raises with it)."""
        done = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"redis-cli {' '.join(args)} on {self.port}: {done.stderr}")
        return done.stdout

    def answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.directory / "redis.log").read_text(errors="replace")
            raise AssertionError(f"redis-server on {self.port} exited early:\n{log}")
        try:
            return self.cli("PING").strip() == "PONG"
        except (AssertionError, subprocess.TimeoutExpired):
            return False

    def cluster_ok(self) -> bool:
        return "cluster_state:ok" in self.cli("CLUSTER", "INFO")

    def stop(self) -> None:
        if self.process is not None:
            end_process(self.process)
            self.process = None


class RedisCluster:
    """Three masters sharing the 16384 hash slots; `url` is streamvis's cluster address."""

    def __init__(self, directory: Path) -> None:
        self.nodes = [ClusterNode(directory / f"node{i}") for i in range(MASTERS)]
        self.url = f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            wait_until(node.answers, timeout=60, message=f"redis-server on {node.port}")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        created = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *addresses]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if created.returncode != 0:
            raise AssertionError(f"redis-cli --cluster create failed:\n{created.stdout}")
        for node in self.nodes:  # every node agrees once the gossip has spread
            wait_until(node.cluster_ok, timeout=120, message=f"cluster_state:ok on {node.port}")
        return self

    def node_of(self, key: str) -> ClusterNode:
        """The master holding `key`'s hash slot."""
        slot = int(self.nodes[0].cli("CLUSTER", "KEYSLOT", key))
        for node in self.nodes:
            if int(node.cli("CLUSTER", "COUNTKEYSINSLOT", str(slot))) > 0:
                return node
        raise AssertionError(f"no node holds a key in slot {slot} ({key})")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
