"""The store's typed interface against a real SQLite file: SQLiteStore satisfies the
`Backend` protocol (checked by mypy here, and member by member at run time), `Store`
re-exposes every read, follow reads catch a second reader up, `check_and_append` checks
batch id, schema and position in one transaction, and layout changes show in a version
another reader polls. Also: a hub is built from a store in one place (`hub_from_store`)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamvis.core.durable import Store
from streamvis.core.hub import Hub
from streamvis.core.storage import (
    ANY_SEQ,
    AppendRow,
    AppendRows,
    Backend,
    ClearStream,
    DeleteRun,
    SetLayout,
    StoreReads,
)
from streamvis.errors import StreamError
from streamvis.store import SQLiteStore, hub_from_store, open_store
from tests.conftest import ROOT


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "backend.db")
    yield store
    store.close()


def rows(
    first: int, count: int, batch_id: str | None = None, seq: int | None = None
) -> AppendRows:
    """`count` rows of stream r/s with steps `first`... and values step / 2, numbered from
    `seq` (default: `first`; ANY_SEQ lets check_and_append number them)."""
    steps = np.arange(first, first + count, dtype=np.int64)
    columns = {"step": steps, "v": steps * 0.5}
    seq = first if seq is None else seq
    return AppendRows("r", "s", seq, count, columns, 1_000 + first, batch_id=batch_id)


def steps(backend: StoreReads, since: int = 0, run: str = "r") -> list[int]:
    (record,) = backend.streams(run)
    return [int(x) for segment in backend.segments(record, since) for x in segment.batch["step"]]


# -- the protocol ------------------------------------------------------------------------------
def protocol_members(protocol: type) -> list[str]:
    return sorted(name for name in vars(protocol) if not name.startswith("_"))


def test_sqlite_store_has_every_member_of_the_protocol_with_its_parameters(
    backend: SQLiteStore,
) -> None:
    typed: Backend = backend  # mypy checks SQLiteStore against the protocol here
    members = protocol_members(Backend) + protocol_members(StoreReads)
    assert {"commit", "check_and_append", "follow", "layout_version", "segments"} <= set(members)
    for name in members:
        wanted = getattr(Backend, name)
        found = getattr(typed, name)  # an attribute or a bound method
        if isinstance(wanted, property):
            assert not callable(found), name
            continue
        expected = list(inspect.signature(wanted).parameters)[1:]  # without self
        assert list(inspect.signature(found).parameters) == expected, name


def test_store_re_exposes_every_read(tmp_path: Path) -> None:
    store = open_store(tmp_path / "reads.db")
    assert store is not None
    try:
        for name in protocol_members(StoreReads):
            assert hasattr(Store, name), name
        store.put(rows(0, 3, batch_id="b1"))
        store.put(SetLayout("r", {"title": "t"}))
        assert store.flush()
        (record,) = store.streams()
        assert [r["run"] for r in store.runs()] == ["r"]
        assert [s.first_seq for s in store.segments(record)] == [0]
        assert store.batch_ids() == [("r", "s", "b1", 3)]
        assert store.layouts() == {"r": {"title": "t"}}
        assert store.layout_version() == 1
        assert store.integrity() == "ok"
        assert list(store.damaged) == []
        assert store.location == str(tmp_path / "reads.db")
        followed = store.follow("r", "s", record.generation, 1)
        assert followed is not None
        assert followed.next_seq == 3
    finally:
        store.close()


def test_every_change_kind_commits_and_reads_back(backend: SQLiteStore) -> None:
    dtypes = {"step": np.dtype(np.int64), "v": np.dtype(np.float64)}
    backend.commit([rows(0, 2), AppendRow("r", "s", 2, {"step": 2, "v": 1.0}, 5, dtypes)])
    assert steps(backend) == [0, 1, 2]
    backend.commit([ClearStream("r", "s", 3, 1)])
    (record,) = backend.streams("r")
    assert (record.rows, record.next_seq, record.generation) == (0, 3, 1)
    backend.commit([SetLayout("r", {"title": "x"}), DeleteRun("r")])
    assert backend.streams() == []
    assert backend.layouts() == {}


# -- follow reads ------------------------------------------------------------------------------
def test_a_follower_reads_only_rows_it_has_not_seen(tmp_path: Path, backend: SQLiteStore) -> None:
    backend.commit([rows(0, 5)])
    backend.commit([rows(5, 5)])
    follower = SQLiteStore(tmp_path / "backend.db", readonly=True)  # another process's view
    try:
        first = follower.follow("r", "s", 0, 0)
        assert first is not None
        assert not first.reset
        assert [int(x) for s in first.segments for x in s.batch["step"]] == list(range(10))
        backend.commit([rows(10, 3)])
        later = follower.follow("r", "s", first.generation, first.next_seq)
        assert later is not None
        assert later.next_seq == 13
        assert [(s.first_seq, s.batch["step"].tolist()) for s in later.segments] == [
            (10, [10, 11, 12])
        ]
        assert len(later.segments[0].times) == 3
        cut = follower.follow("r", "s", 0, 7)  # a position inside a stored segment
        assert cut is not None
        assert [s.first_seq for s in cut.segments] == [7, 10]
        assert [int(x) for s in cut.segments for x in s.batch["step"]] == list(range(7, 13))
        newest = follower.follow("r", "s", 0, 0, limit=2)
        assert newest is not None
        assert [int(x) for s in newest.segments for x in s.batch["v"] * 2] == [11, 12]
        assert follower.follow("r", "s", 0, 13) == (False, 0, 13, [])
        assert follower.follow("r", "nope", 0, 0) is None
    finally:
        follower.close()


def test_a_follower_is_told_to_reset_after_a_clear_or_replace(backend: SQLiteStore) -> None:
    backend.commit([rows(0, 4)])
    backend.commit([ClearStream("r", "s", 4, 1)])
    cleared = backend.follow("r", "s", 0, 4)
    assert cleared == (True, 1, 4, [])
    replaced = AppendRows("r", "s", 4, 2, {"step": np.array([7, 8])}, 9, "replace", 2)
    backend.commit([replaced])
    again = backend.follow("r", "s", 1, 4)
    assert again is not None
    assert again[:3] == (True, 2, 6)
    assert [s.batch["step"].tolist() for s in again.segments] == [[7, 8]]


# -- check and append --------------------------------------------------------------------------
def test_check_and_append_numbers_rows_where_the_stream_ends(backend: SQLiteStore) -> None:
    assert backend.check_and_append(rows(0, 3, seq=ANY_SEQ)) == ("stored", 0, 3)
    assert backend.check_and_append(rows(3, 2)) == ("stored", 3, 5)
    assert backend.check_and_append(rows(5, 1, seq=ANY_SEQ)) == ("stored", 5, 6)
    assert steps(backend) == [0, 1, 2, 3, 4, 5]
    (record,) = backend.streams("r")
    assert (record.next_seq, record.rows) == (6, 6)


def test_check_and_append_refuses_a_position_another_writer_took(backend: SQLiteStore) -> None:
    backend.check_and_append(rows(0, 4))
    assert backend.check_and_append(rows(2, 4)) == ("moved", 4, 4)
    assert steps(backend) == [0, 1, 2, 3]


def test_check_and_append_stores_a_batch_id_once(backend: SQLiteStore) -> None:
    assert backend.check_and_append(rows(0, 3, batch_id="b")) == ("stored", 0, 3)
    assert backend.check_and_append(rows(0, 3, "b", seq=ANY_SEQ)) == ("duplicate", 0, 3)
    assert steps(backend) == [0, 1, 2]
    assert backend.batch_ids() == [("r", "s", "b", 3)]


def test_check_and_append_refuses_a_column_of_another_type(backend: SQLiteStore) -> None:
    backend.check_and_append(rows(0, 2))
    widened = AppendRows("r", "s", ANY_SEQ, 1, {"step": np.array([2.5])}, 7)
    assert backend.check_and_append(widened).status == "stored"  # numbers widen
    text = np.array(["x"], dtype=object)
    bad = AppendRows("r", "s", ANY_SEQ, 1, {"step": np.array([3]), "v": text}, 8, batch_id="t")
    with pytest.raises(StreamError, match=r"run 'r', stream 's', column 'v': the store holds f8"):
        backend.check_and_append(bad)
    (record,) = backend.streams("r")
    assert (record.next_seq, record.rows, record.columns["v"]) == (3, 3, "f8")
    assert backend.batch_ids() == []  # nothing of the refused batch was kept
    assert backend.check_and_append(rows(3, 1)) == ("stored", 3, 4)  # and the store goes on


def test_check_and_append_replace_starts_a_new_generation(backend: SQLiteStore) -> None:
    backend.check_and_append(rows(0, 3))
    text = np.array(["a", "b"], dtype=object)
    replace = AppendRows("r", "s", ANY_SEQ, 2, {"label": text}, 9, mode="replace")
    assert backend.check_and_append(replace) == ("stored", 3, 5)
    (record,) = backend.streams("r")
    assert (record.generation, record.mode, record.first_seq, record.rows) == (1, "replace", 3, 2)


# -- layouts other processes see ---------------------------------------------------------------
def test_layout_changes_move_a_version_another_reader_sees(
    tmp_path: Path, backend: SQLiteStore
) -> None:
    reader = SQLiteStore(tmp_path / "backend.db", readonly=True)
    try:
        assert reader.layout_version() == 0
        backend.commit([SetLayout("a", {"title": "one"})])
        assert (reader.layout_version(), reader.layouts()) == (1, {"a": {"title": "one"}})
        backend.commit([SetLayout("a", {"title": "two"}), SetLayout("b", {"title": "b"})])
        assert reader.layout_version() == 3
        backend.commit([DeleteRun("a")])
        assert (reader.layout_version(), reader.layouts()) == (4, {"b": {"title": "b"}})
    finally:
        reader.close()


# -- building a hub from a store ---------------------------------------------------------------
def test_a_hub_is_built_from_its_store_in_one_place(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    first = hub_from_store(open_store(path), retain=10)
    first.stream("s", {"step": list(range(15))})
    first.set_layout("default", object(), stored={"title": "kept"})
    assert first.store is not None
    first.store.close()
    store = open_store(path)
    assert store is not None
    try:
        plain = Hub(store=store)  # the constructor only attaches: it reads nothing
        assert list(plain.tables()) == []
        assert plain.layout("default") == (0, None)
        assert store.layouts() == {"default": {"title": "kept"}}
    finally:
        store.close()
    again = hub_from_store(open_store(path), retain=10)
    try:
        assert again.retain == 10
        assert again.read("s")["step"].tolist() == list(range(5, 15))
        assert again.seq("s") == 15
    finally:
        assert again.store is not None
        again.store.close()
    assert hub_from_store(None).store is None


SCRIPT = """
import streamvis as sv
hub = sv.default_hub()  # built by the factory `import streamvis` registered
before = hub.seq("s")
sv.stream("s", {"step": before})
assert hub.flush(60)
print(before)
"""


def test_the_default_hub_opens_and_replays_the_store_streamvis_store_names(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "STREAMVIS_STORE": str(tmp_path / "env.db"), "PYTHONPATH": str(ROOT)}
    seen = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        seen.append(int(done.stdout))
    assert seen == [0, 1]  # the second process continued the first one's numbering
    reader = SQLiteStore(tmp_path / "env.db", readonly=True)
    try:
        assert steps(reader, run="default") == [0, 1]
    finally:
        reader.close()
