"""The Redis store on a real Redis Cluster (three masters of Debian's redis-server on loopback
ports, AOF on): streams spread over the nodes, each stream's keys on one node, appends racing
from two hubs numbered once (WATCH/MULTI on one slot), rows, clears and layouts reach every
hub, and a hub started late replays what the cluster holds."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamvis.core.hub import Hub
from streamvis.errors import StoreError
from streamvis.store import hub_from_store, open_store
from tests.conftest import free_port, wait_until
from tests.redis_cluster import RedisCluster
from tests.redis_server import RedisServer

STREAMS = [f"s{i}" for i in range(6)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One three-master cluster for this file (about two seconds to start and join)."""
    started = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture
def hubs() -> Iterator[list[Hub]]:
    """Hubs on the cluster, each standing for a server process; closed after the test."""
    made: list[Hub] = []
    yield made
    closing = [threading.Thread(target=hub.store.close) for hub in made if hub.store is not None]
    for thread in closing:  # at once: each follower waits out its readers' blocking reads
        thread.start()
    for thread in closing:
        thread.join()


def make_hub(cluster: RedisCluster, made: list[Hub]) -> Hub:
    hub = hub_from_store(open_store(cluster.url))
    made.append(hub)
    return hub


def steps_of(hub: Hub, stream: str, run: str) -> list[int]:
    if hub.table(run, stream) is None:
        return []
    return [int(x) for x in hub.read(stream, run=run).get("step", [])]


def write(hub: Hub, stream: str, run: str, first: int, count: int) -> int:
    steps = np.arange(first, first + count)
    return hub.write(stream, {"step": steps, "loss": steps * 0.5}, run=run)[1]


def durable(hub: Hub, ticket: int) -> None:
    future = hub.durable(ticket)
    assert future is not None
    future.result(60)


def test_streams_spread_over_the_nodes_and_reach_every_hub(
    cluster: RedisCluster, hubs: list[Hub]
) -> None:
    one, two = make_hub(cluster, hubs), make_hub(cluster, hubs)
    for stream in STREAMS:
        durable(one, write(one, stream, "spread", 0, 300))
    durable(two, write(two, "s0", "spread", 300, 200))
    for hub in (one, two):
        for stream in STREAMS:
            wanted = list(range(500 if stream == "s0" else 300))
            wait_until(
                lambda h=hub, s=stream, w=wanted: steps_of(h, s, "spread") == w,
                message=f"stream {stream} on every hub",
            )
    holders = {cluster.node_of(f"sv:{{spread/{s}}}:log").port for s in STREAMS}
    assert len(holders) > 1, f"every stream landed on one node: {holders}"
    for stream in STREAMS:  # a stream's log, meta and batch ids: one slot, one transaction
        node = cluster.node_of(f"sv:{{spread/{stream}}}:log")
        keys = node.cli("--scan", "--pattern", f"sv:{{spread/{stream}}}:*").split()
        assert any(key.endswith(":meta") for key in keys)
        assert any(":b:" in k for k in keys)
        slots = {node.cli("CLUSTER", "KEYSLOT", key).strip() for key in keys}
        assert len(slots) == 1, f"{stream}'s keys are in slots {slots}"


def test_racing_writers_layouts_clears_and_a_late_start(
    cluster: RedisCluster, hubs: list[Hub]
) -> None:
    """Two hubs append to one stream at once: one numbering, no row lost. A layout set and
    a clear through either reach the other; a hub started late holds all of it at once; a
    run deleted through it goes everywhere, and made again, is followed again."""
    one, two = make_hub(cluster, hubs), make_hub(cluster, hubs)
    last: dict[int, int] = {}

    def produce(hub: Hub, offset: int) -> None:
        for batch in range(10):
            last[offset] = write(hub, "loss", "race", offset + batch * 100, 100)

    threads = [threading.Thread(target=produce, args=(h, o)) for h, o in ((one, 0), (two, 10**6))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    durable(one, last[0])
    durable(two, last[10**6])
    wanted = sorted([*range(1_000), *range(10**6, 10**6 + 1_000)])
    wait_until(
        lambda: (
            sorted(steps_of(one, "loss", "race"))
            == sorted(steps_of(two, "loss", "race"))
            == wanted
        ),
        message="2,000 raced rows on both hubs",
    )
    assert steps_of(one, "loss", "race") == steps_of(two, "loss", "race")  # one order

    layout: dict[str, Any] = {"title": "on a cluster", "plots": []}
    two.set_layout("race", layout, stored=layout)
    assert two.store is not None
    assert two.store.flush()
    wait_until(lambda: one.layout("race")[1] == layout, message="the layout on one")
    durable(one, write(one, "other", "race", 0, 5))
    table = one.table("race", "other")
    assert table is not None
    durable(one, table.clear())
    durable(one, write(one, "other", "race", 50, 2))
    wait_until(lambda: steps_of(two, "other", "race") == [50, 51], message="the clear on two")

    late = make_hub(cluster, hubs)  # catches up before it returns: nothing to wait for
    assert steps_of(late, "loss", "race") == steps_of(one, "loss", "race")
    assert steps_of(late, "other", "race") == [50, 51]
    assert late.layout("race")[1] == layout
    assert late.store is not None
    assert late.store.integrity() == "ok"
    durable(two, write(two, "new", "race", 0, 3))  # a stream made after it started
    wait_until(lambda: steps_of(late, "new", "race") == [0, 1, 2], message="a new stream")

    late.delete_run("race")  # each hub's reader of a deleted stream stops; made again: anew
    assert late.store.flush()
    wait_until(lambda: "race" not in one.runs() + two.runs(), message="the run gone everywhere")
    durable(two, write(two, "loss", "race", 7, 2))
    for hub in (one, late):
        wait_until(
            lambda h=hub: steps_of(h, "loss", "race") == [7, 8], message="the run made again"
        )


def test_cluster_addresses(cluster: RedisCluster, tmp_path: Path) -> None:
    """Any listed seed that answers will do; a wrong address is one StoreError naming it."""
    seeds = f"127.0.0.1:{free_port()},127.0.0.1:{cluster.nodes[2].port}"  # the first is down
    store = open_store(f"redis+cluster://{seeds}")
    try:
        assert store.integrity() == "ok"  # it reads every stream on every node
    finally:
        store.close()
    with pytest.raises(StoreError, match=re.escape("seed must be HOST:PORT, not 'nohost'")):
        open_store(f"redis+cluster://127.0.0.1:{cluster.nodes[0].port},nohost")
    with pytest.raises(StoreError, match="only database 0, the address names '3'"):
        open_store(cluster.url + "/3")
    nobody = f"redis+cluster://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match=re.escape(f"{nobody}: no usable Redis Cluster")):
        open_store(nobody)
    node = f"redis://127.0.0.1:{cluster.nodes[1].port}/0"  # a node, addressed as one Redis
    with pytest.raises(StoreError, match=re.escape(f"{node}: this is a node of a Redis Cl")):
        open_store(node)
    single = RedisServer(tmp_path / "single").start()  # one Redis, not a cluster
    try:
        address = single.url.replace("redis://", "redis+cluster://")
        with pytest.raises(StoreError, match="Cluster mode is not enabled"):
            open_store(address)
    finally:
        single.stop()
