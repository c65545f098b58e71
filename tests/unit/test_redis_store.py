"""The Redis Streams store against a real redis-server (Debian's package, AOF on): it
satisfies the `Backend` protocol, numbers rows itself, checks schema and batch ids atomically
across writers, and every hub on it (each standing for a server process) converges to what
Redis holds: rows, clears, replaces, layouts, deleted runs, a late start, retention."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamvis.core.durable import Store
from streamvis.core.hub import Hub
from streamvis.core.storage import ANY_SEQ, AppendRows, Backend, StoreReads
from streamvis.errors import StoreError, StreamError
from streamvis.store import RedisStore, Retention, hub_from_store, open_store
from tests.conftest import ROOT, free_port, wait_until
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One redis-server for this file; each test starts on an empty database."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def url(redis_url: str) -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    return redis_url


@pytest.fixture
def hubs(url: str) -> Iterator[list[Hub]]:
    """Factory-made hubs on the same Redis, closed after the test (`make()` adds one)."""
    made: list[Hub] = []
    yield made
    for hub in made:
        if hub.store is not None:
            hub.store.close()


def make_hub(url: str, made: list[Hub], retention: Retention | None = None) -> Hub:
    hub = hub_from_store(open_store(url, retention))
    made.append(hub)
    return hub


def steps_of(hub: Hub, stream: str = "loss", run: str = "r") -> list[int]:
    table = hub.table(run, stream)
    if table is None:
        return []
    return [int(x) for x in hub.read(stream, run=run).get("step", [])]


def write(hub: Hub, first: int, count: int, **options: Any) -> int:
    steps = np.arange(first, first + count)
    data = {"step": steps, "loss": steps * 0.5}
    _, ticket = hub.write("loss", data, run="r", **options)
    return ticket


def durable(hub: Hub, ticket: int) -> None:
    future = hub.durable(ticket)
    assert future is not None
    future.result(60)


# -- the protocol ------------------------------------------------------------------------------
def test_redis_store_has_every_member_of_the_protocol_with_its_parameters(url: str) -> None:
    backend = RedisStore(url)
    try:
        typed: Backend = backend  # mypy checks RedisStore against the protocol here
        members = sorted(
            name
            for protocol in (Backend, StoreReads)
            for name in vars(protocol)
            if not name.startswith("_")
        )
        for name in members:
            wanted = getattr(Backend, name)
            found = getattr(typed, name)
            if isinstance(wanted, property):
                assert not callable(found), name
                continue
            expected = list(inspect.signature(wanted).parameters)[1:]
            assert list(inspect.signature(found).parameters) == expected, name
        assert backend.shared
        assert Store(backend).shared
    finally:
        backend.close()


def test_a_wrong_address_is_one_clear_store_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError, match=rf"redis://127.0.0.1:{port}/0: cannot reach Redis"):
        open_store(f"redis://127.0.0.1:{port}/0")


def test_a_redis_setting_that_is_not_a_redis_address_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamvis.store import configured_path

    with pytest.raises(StoreError, match=r"--redis='runs.db' is not a Redis address"):
        configured_path(None, ["app", "--args", "--redis", "runs.db"])
    monkeypatch.setenv("STREAMVIS_REDIS", "http://cache:6379")
    with pytest.raises(StoreError, match=r"STREAMVIS_REDIS='http://cache:6379' is not a Redis"):
        configured_path(None, [])


def test_a_byte_limit_is_refused_by_name(url: str) -> None:
    with pytest.raises(StoreError, match=r"--keep-bytes"):
        open_store(url, Retention(bytes=10**9))


def test_a_refused_password_is_named_and_the_password_is_not_shown(url: str) -> None:
    wrong = url.replace("redis://", "redis://someone:hunter2@")
    with pytest.raises(StoreError, match="credentials") as caught:
        open_store(wrong)
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


# -- rows numbered by the store, followed by every hub ------------------------------------------
def test_rows_written_through_one_hub_reach_every_hub(url: str, hubs: list[Hub]) -> None:
    one, two = make_hub(url, hubs), make_hub(url, hubs)
    for first in range(0, 3_000, 1_000):
        durable(one, write(one, first, 1_000))
    durable(two, write(two, 3_000, 500))
    wanted = list(range(3_500))
    for hub in (one, two):
        wait_until(lambda hub=hub: steps_of(hub) == wanted, message="every row on every hub")
    assert one.seq("loss", run="r") == two.seq("loss", run="r") == 3_500
    (record,) = one.store.streams("r")  # type: ignore[union-attr]
    assert (record.first_seq, record.next_seq, record.rows) == (0, 3_500, 3_500)
    assert record.columns == {"step": "i8", "loss": "f8"}


def test_writers_racing_share_one_numbering_with_no_row_lost(url: str, hubs: list[Hub]) -> None:
    """Two hubs (as two processes would) append to one stream at once: the store numbers
    every batch once, so both hubs end with the same 4,000 rows in the same order."""
    one, two = make_hub(url, hubs), make_hub(url, hubs)
    tickets: dict[int, int] = {}

    def produce(hub: Hub, offset: int) -> None:
        for batch in range(20):
            tickets[offset] = write(hub, offset + batch * 100, 100)

    threads = [threading.Thread(target=produce, args=(h, o)) for h, o in ((one, 0), (two, 10**6))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    durable(one, tickets[0])
    durable(two, tickets[10**6])
    wait_until(lambda: len(steps_of(one)) == len(steps_of(two)) == 4_000, message="4,000 rows")
    assert steps_of(one) == steps_of(two)
    assert sorted(steps_of(one)) == sorted([*range(2_000), *range(10**6, 10**6 + 2_000)])


def test_a_schema_conflict_only_the_store_sees_is_refused_and_changes_nothing(
    url: str, hubs: list[Hub]
) -> None:
    """Two hubs race the first write of a stream with different types: the store keeps the
    first and refuses the other, naming the column; nothing of it is stored anywhere."""
    one, two = make_hub(url, hubs), make_hub(url, hubs)
    assert one.store is not None
    assert two.store is not None
    two.store.journal._cond.acquire()  # hold two's writer until one's batch is stored
    try:
        _, held = two.write("loss", {"step": ["a", "b"]}, run="r")
        durable(one, write(one, 0, 10))
    finally:
        two.store.journal._cond.release()
    future = two.durable(held)
    assert future is not None
    with pytest.raises(StreamError, match=r"run 'r', stream 'loss', column 'step'") as caught:
        future.result(60)
    assert caught.value.column == "step"
    durable(one, write(one, 10, 5))
    for hub in (one, two):
        wait_until(lambda hub=hub: steps_of(hub) == list(range(15)), message="15 rows")
    (record,) = one.store.streams("r")
    assert record.columns["step"] == "i8"
    assert record.rows == 15


def test_queued_appends_share_an_entry_and_each_batch_id_is_kept(
    url: str, hubs: list[Hub]
) -> None:
    """Appends queued together become one entry (one transaction); a retry of any of their
    batch ids afterwards is still a duplicate."""
    hub = make_hub(url, hubs)
    assert hub.store is not None
    with hub.store.journal._cond:  # hold the writer: the three queue up together
        tickets = [write(hub, first, 10, batch_id=f"q{first}") for first in (0, 10, 20)]
    durable(hub, tickets[-1])
    entries = list(hub.store.backend.entries("r", "loss"))  # type: ignore[attr-defined]
    assert [(entry.first_seq, entry.rows) for entry in entries] == [(0, 30)]
    durable(hub, write(hub, 10, 10, batch_id="q10"))
    durable(hub, write(hub, 30, 1))
    wait_until(lambda: steps_of(hub) == list(range(31)), message="31 rows, none twice")


def test_a_batch_id_is_stored_once_whichever_process_sees_it(url: str, hubs: list[Hub]) -> None:
    one, two = make_hub(url, hubs), make_hub(url, hubs)
    durable(one, write(one, 0, 100, batch_id="b-1"))
    durable(two, write(two, 0, 100, batch_id="b-1"))  # a retry that reached another process
    durable(two, write(two, 100, 1, batch_id="b-2"))
    wait_until(lambda: steps_of(two) == list(range(101)), message="101 rows")
    assert one.store is not None
    outcome = one.store.backend.check_and_append(
        AppendRows("r", "loss", ANY_SEQ, 1, {"step": np.array([100])}, 1, batch_id="b-2")
    )
    assert outcome.status == "duplicate"


def test_clear_replace_layout_and_delete_reach_every_hub(url: str, hubs: list[Hub]) -> None:
    one, two = make_hub(url, hubs), make_hub(url, hubs)
    durable(one, write(one, 0, 50))
    wait_until(lambda: len(steps_of(two)) == 50, message="50 rows on two")
    generation = two.table("r", "loss").generation  # type: ignore[union-attr]

    durable(two, two.table("r", "loss").clear())  # type: ignore[union-attr]
    wait_until(lambda: steps_of(one) == [], message="the clear on one")
    durable(one, write(one, 1_000, 3))
    wait_until(lambda: steps_of(two) == [1_000, 1_001, 1_002], message="rows after the clear")
    assert two.seq("loss", run="r") == 53  # numbering goes on after a clear
    assert two.table("r", "loss").generation > generation  # type: ignore[union-attr]

    durable(two, write(two, 7, 2, mode="replace"))
    wait_until(lambda: steps_of(one) == [7, 8], message="the replace on one")

    layout = {"title": "shared", "plots": []}
    one.set_layout("r", layout, stored=layout)
    assert one.store is not None
    one.store.flush()
    wait_until(lambda: two.layout("r")[1] == layout, message="the layout on two")
    version = one.layout("r")[0]
    wait_until(lambda: one.store is not None and one.store.flush(), message="flushed")
    assert one.layout("r")[0] == version  # its own layout, read back, changes nothing

    one.delete_run("r")
    one.store.flush()
    wait_until(lambda: two.runs() == [] and one.runs() == [], message="the run gone everywhere")
    durable(two, write(two, 0, 4))  # the run made again: announced again to every process
    wait_until(lambda: steps_of(one) == [0, 1, 2, 3], message="the new run on one")


def test_a_process_started_late_replays_what_redis_holds(url: str, hubs: list[Hub]) -> None:
    one = make_hub(url, hubs)
    for first in range(0, 20_000, 2_000):
        ticket = write(one, first, 2_000)
    durable(one, ticket)
    layout = {"title": "late", "plots": []}
    one.set_layout("r", layout, stored=layout)
    assert one.store is not None
    assert one.store.flush()
    late = make_hub(url, hubs)  # catches up before it returns: nothing to wait for
    assert steps_of(late) == list(range(20_000))
    assert late.layout("r")[1] == layout
    assert late.store is not None
    assert late.store.integrity() == "ok"


def test_retention_trims_whole_entries_at_a_row_boundary(url: str, hubs: list[Hub]) -> None:
    hub = make_hub(url, hubs, Retention(rows=250))
    for first in range(0, 1_000, 100):
        durable(hub, write(hub, first, 100))  # one entry each: nothing queued to merge with
    assert hub.store is not None
    hub.store.backend.maintain()
    (record,) = hub.store.streams("r")
    assert (record.first_seq, record.next_seq, record.rows) == (700, 1_000, 300)
    late = make_hub(url, hubs)
    assert steps_of(late) == list(range(700, 1_000))


def test_views_read_rows_memory_dropped_back_from_redis(url: str, hubs: list[Hub]) -> None:
    """`pick` (a wide view's short ranges) and `segments` read entries back by row number."""
    hub = make_hub(url, hubs)
    for first in range(0, 10_000, 1_000):
        durable(hub, write(hub, first, 1_000))  # ten entries
    assert hub.store is not None
    (record,) = hub.store.streams("r")
    starts = np.array([0, 990, 5_500, 9_998])
    stops = np.array([3, 1_010, 5_502, 10_000])
    picked = hub.store.pick(record, starts, stops, ["step"], arrival=True)
    wanted = [0, 1, 2, *range(990, 1_010), 5_500, 5_501, 9_998, 9_999]
    assert picked.held.all()
    assert picked.batch["step"].tolist() == wanted
    assert picked.times is not None
    assert len(picked.times) == len(wanted)
    between = [s for seg in hub.store.segments(record, 2_500, 3_500) for s in seg.batch["step"]]
    assert between[0] <= 2_500
    assert between[-1] >= 3_499


def test_in_process_sv_stream_on_redis_is_seen_by_another_process(url: str) -> None:
    """`sv.use_store(url)` in a producer script: its rows reach a hub in another process."""
    script = (
        "import streamvis as sv\n"
        f"hub = sv.use_store({url!r})\n"
        "for step in range(300):\n"
        "    sv.stream('loss', {'step': step, 'loss': step / 10})\n"
        "assert hub.flush()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    hub = hub_from_store(open_store(url))
    try:
        assert [int(x) for x in hub.read("loss", run="default")["step"]] == list(range(300))
    finally:
        assert hub.store is not None
        hub.store.close()


def test_store_closes_its_follower(url: str) -> None:
    hub = hub_from_store(open_store(url))
    assert hub.store is not None
    follower = hub.store.backend.follower  # type: ignore[attr-defined]
    hub.store.close()
    assert follower._thread is not None
    assert not follower._thread.is_alive()


def test_the_documented_keys_are_the_ones_written(url: str, hubs: list[Hub]) -> None:
    hub = make_hub(url, hubs)
    durable(hub, write(hub, 0, 3, batch_id="b"))
    import redis

    keys = sorted(k.decode() for k in redis.Redis.from_url(url).keys("*"))
    assert keys == [
        "sv:events", "sv:format", "sv:runs", "sv:streams",
        "sv:{r/loss}:b:b", "sv:{r/loss}:log", "sv:{r/loss}:meta",
    ]  # fmt: skip
    assert Path(ROOT / "docs" / "scale-out.md").read_text().count("sv:{run/stream}:log") >= 1


def test_ls_export_and_rm_read_a_redis_store(url: str, hubs: list[Hub], tmp_path: Path) -> None:
    hub = make_hub(url, hubs)
    durable(hub, write(hub, 0, 5))
    command = [sys.executable, "-m", "streamvis.cli"]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = run("ls", "--store", url, "--json")
    assert '"run": "r"' in listed
    assert '"rows": 5' in listed
    target = str(tmp_path / "loss.csv")
    run("export", "--run", "r", "--stream", "loss", "-o", target, "--store", url)
    assert (tmp_path / "loss.csv").read_text().count("\n") == 6  # the header and 5 rows
    assert "deleted run 'r' (1 streams)" in run("rm", "r", "--yes", "--store", url)
    wait_until(lambda: hub.runs() == [], message="the run gone from the hub too")


def test_a_layout_feed_is_read_by_one_process_and_taken_over_when_it_stops(
    url: str, hubs: list[Hub], tmp_path: Path
) -> None:
    """Every process starts a layout's sources; on a shared store only the holder of the
    source's lease reads it, so the feed's rows are stored once, not once per process; when
    that process stops, another takes the lease over and goes on reading."""
    from streamvis.layout.spec import layout_from_dict
    from streamvis.sources import make_source

    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(f'{{"step": {i}}}\n' for i in range(5)))
    raw = {"name": "tail", "type": "file", "stream": "fed", "path": str(feed)}
    plot = {
        "id": "p",
        "kind": "line",
        "stream": "fed",
        "x": "step",
        "y": "step",
        "at": [0, 0, 1, 1],
    }
    source_spec = layout_from_dict({"plots": [plot], "sources": [raw]}).sources[0]
    one, two = make_hub(url, hubs), make_hub(url, hubs)
    first = make_source(source_spec, one, run="r", backoff=(0.05, 0.4)).start()
    wait_until(lambda: first.state.status == "running", message="the first process reads")
    second = make_source(source_spec, two, run="r", backoff=(0.05, 0.4)).start()
    try:
        wait_until(lambda: second.state.status == "standby", message="the second waits")
        wait_until(lambda: steps_of(two, "fed") == list(range(5)), message="five rows, once")
        first.stop()
        with feed.open("a") as appending:
            appending.write("".join(f'{{"step": {i}}}\n' for i in range(5, 8)))
        wait_until(lambda: second.state.status == "running", timeout=120, message="taken over")
        wait_until(lambda: steps_of(one, "fed")[-1:] == [7], message="the new rows")
        assert steps_of(one, "fed")[:5] == list(range(5))
        assert len(steps_of(one, "fed")) == len(set(steps_of(one, "fed")))
    finally:
        first.stop()
        second.stop()
