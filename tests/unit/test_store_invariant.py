"""What the hub holds equals what the store holds, after every write whatever its outcome:
empty batches, values the store could not encode, a change the store refuses inside a group
commit, a full disk that frees up again, and a damaged segment. Each test ends by opening the
store in a fresh hub (a restart) and comparing it with the hub that wrote it."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamvis.core.hub import Hub
from streamvis.core.journal import StoreFailing
from streamvis.errors import StreamError
from streamvis.store import Op, open_store
from tests.conftest import wait_until


def reopened(path: Path) -> Hub:
    """A fresh hub on the store at `path`: what a restarted server would show."""
    store = open_store(path)
    assert store is not None
    return Hub(store=store)


def contents(hub: Hub) -> dict[tuple[str, str], dict[str, list[object]]]:
    """Every stream's kept rows as plain lists (NaN as None), keyed by (run, stream)."""
    shown = {}
    for table in hub.tables():
        batch = hub.read(table.name, run=table.run)
        shown[(table.run, table.name)] = {
            name: [None if isinstance(v, float) and v != v else v for v in values.tolist()]
            for name, values in batch.items()
        }
    return shown


def assert_store_matches(hub: Hub, path: Path) -> None:
    assert hub.flush(60), "the store did not catch up"
    hub.store.close()  # type: ignore[union-attr]
    again = reopened(path)
    try:
        assert contents(again) == contents(hub)
        assert {t.name: t.next_seq for t in again.tables()} == {
            t.name: t.next_seq for t in hub.tables()
        }
    finally:
        again.store.close()  # type: ignore[union-attr]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.mark.parametrize("empty", [[], {}, {"a": []}], ids=["list", "dict", "no-rows"])
def test_an_empty_first_batch_is_a_no_op_and_the_stream_stays_writable(
    store_path: Path, empty: object
) -> None:
    hub = reopened(store_path)
    assert hub.write("fresh", empty) == (0, 0)
    assert hub.table("default", "fresh") is None  # nothing made, nothing stored
    hub.stream("fresh", {"a": [1, 2]})
    hub.stream("fresh", [])
    hub.stream("fresh", {"a": 3})
    assert hub.flush(60)
    assert hub.read("fresh")["a"].tolist() == [1, 2, 3]
    assert_store_matches(hub, store_path)


def test_an_empty_replace_empties_the_stream_in_memory_and_store(store_path: Path) -> None:
    hub = reopened(store_path)
    hub.stream("cloud", {"x": [1.0, 2.0, 3.0]})
    hub.stream("cloud", [], mode="replace")
    assert hub.read("cloud") == {}
    assert hub.table("default", "cloud").mode == "replace"  # type: ignore[union-attr]
    hub.stream("cloud", {"x": [4.0]}, mode="replace")
    hub.stream("cloud", [], mode="replace")
    hub.stream("cloud", {"x": [5.0, 6.0]})
    assert hub.read("cloud")["x"].tolist() == [5.0, 6.0]
    hub.write("never-written", [], mode="replace")
    assert hub.table("default", "never-written") is None
    assert_store_matches(hub, store_path)


def test_text_the_store_cannot_encode_is_refused_up_front(store_path: Path) -> None:
    hub = reopened(store_path)
    hub.stream("victim", {"v": 1.0})
    hub.stream("bad", {"a": "fine"})
    for data in ({"a": "\ud800"}, [{"a": "ok"}, {"a": "x\udfffy"}], {"a": ["\ud83d"]}):
        with pytest.raises(StreamError, match=r"stream 'bad', column 'a': text .* not valid"):
            hub.stream("bad", data)
    with pytest.raises(StreamError, match=r"stream 'new', column 'a': text"):
        hub.stream("new", {"a": "\ud800"})
    hub.stream("victim", {"v": 2.0})
    hub.stream("bad", {"a": "naïve ☃ 𝄞"})
    assert hub.table("default", "new") is None
    assert hub.read("bad")["a"].tolist() == ["fine", "naïve ☃ 𝄞"]
    assert_store_matches(hub, store_path)


def test_bytes_and_odd_columns_arguments_are_stream_errors(store_path: Path) -> None:
    hub = reopened(store_path)
    with pytest.raises(StreamError, match=r"column 'b': cannot store bytes"):
        hub.stream("m", {"b": np.array([b"\xff"])})
    with pytest.raises(StreamError, match=r"column 'b': cannot store bytes"):
        hub.stream("m", {"b": np.array([b"ascii"])})
    with pytest.raises(StreamError, match=r"columns must be a list of column names, not int"):
        hub.stream("m", [[1, 2]], columns=5)  # type: ignore[arg-type]
    with pytest.raises(StreamError, match=r"columns must be a list of column names, not str"):
        hub.stream("m", [[1, 2]], columns="ab")  # type: ignore[arg-type]
    assert list(hub.tables()) == []
    assert_store_matches(hub, store_path)


def bad_op(run: str, stream: str, seq: int) -> Op:
    """A change the SQLite backend cannot encode (text with a lone surrogate), queued behind
    the hub's back: what a gap in the up-front checks would let through."""
    text = np.empty(1, dtype=object)
    text[0] = "\ud800"
    return Op("append", run, stream, seq, 1, {"a": text}, 0)


def test_a_refused_change_costs_only_its_own_stream(store_path: Path) -> None:
    hub = reopened(store_path)
    store = hub.store
    assert store is not None
    hub.stream("victim", {"v": [1.0, 2.0]})
    assert hub.flush(60)
    # one group commit: a good write, the bad change, more good writes after it
    hub.stream("fine", {"a": ["x"]})
    bad_ticket = store.put(bad_op("default", "refused", 0))
    _, after = hub.write("victim", {"v": [3.0]})
    hub.stream("fine", {"a": ["z"]})
    hub.stream("created-later", {"w": [7]})
    with pytest.raises(UnicodeEncodeError):
        store.when_durable(bad_ticket).result(60)
    assert store.when_durable(after).result(60) == after  # no spurious refusal
    assert hub.flush(60)
    assert_store_matches(hub, store_path)
    again = reopened(store_path)
    try:
        shown = contents(again)
        assert shown[("default", "victim")] == {"v": [1.0, 2.0, 3.0]}
        assert shown[("default", "fine")] == {"a": ["x", "z"]}
        assert shown[("default", "created-later")] == {"w": [7]}
        assert ("default", "refused") not in shown
    finally:
        again.store.close()  # type: ignore[union-attr]


def test_rows_the_store_refused_are_shown_as_missing_like_a_replay_shows_them() -> None:
    hub = Hub()
    hub.stream("m", {"step": [0, 1, 2, 3, 4], "ok": [True] * 5, "s": list("abcde")})
    table = hub.table("default", "m")
    assert table is not None
    generation = table.generation
    table.lose(1, 2)
    batch = hub.read("m")
    assert [v if v == v else None for v in batch["step"].tolist()] == [0, None, None, 3, 4]
    assert batch["s"].tolist() == ["a", None, None, "d", "e"]
    assert table.generation == generation + 1  # pages redraw from scratch
    table.lose(100, 5)  # rows no longer (or never) kept: nothing to do
    assert hub.seq("m") == 5


def test_a_stream_created_in_a_refused_commit_gets_a_fresh_id(store_path: Path) -> None:
    hub = reopened(store_path)
    store = hub.store
    assert store is not None
    hub.stream("first", {"v": 1.0})
    assert hub.flush(60)
    # the bad change creates stream "ghost" inside the transaction that is rolled back
    ghost = store.put(bad_op("default", "ghost", 0))
    with pytest.raises(UnicodeEncodeError):
        store.when_durable(ghost).result(60)
    hub.stream("second", {"w": 2.0})
    assert hub.flush(60)
    ids = {record.stream: record.id for record in store.backend.streams()}
    assert set(ids) == {"first", "second"}
    assert len(set(ids.values())) == 2
    assert_store_matches(hub, store_path)


# -- a full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that can really fill up (needs root to mount, as CI has)."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    mountpoint = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with a filler file; returns it (delete it to free)."""
    filler = disk / "filler"
    with open(filler, "wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    return filler


def test_a_full_disk_keeps_changes_pending_and_recovers_when_space_returns(
    small_disk: Path,
) -> None:
    path = small_disk / "store.db"
    hub = reopened(path)
    hub.stream("loss", {"step": np.arange(100), "v": np.linspace(0, 1, 100)})
    assert hub.flush(60)
    filler = fill(small_disk)
    big = {"step": np.arange(100, 60_100), "v": np.random.default_rng(1).random(60_000)}
    _, ticket = hub.write("loss", big)
    wait_until(lambda: hub.store_failure() is not None, 60, message="the store to fail")
    pending = hub.durable(ticket)
    assert pending is not None
    assert not pending.done()  # kept, not refused
    _, later = hub.write("other", {"x": [1, 2, 3]})
    assert not hub.flush(0.5)
    filler.unlink()  # space returns
    assert hub.durable(ticket).result(60) == ticket  # type: ignore[union-attr]
    assert hub.durable(later).result(60) == later  # type: ignore[union-attr]
    assert hub.store_failure() is None
    hub.stream("loss", {"step": 60_100, "v": 0.5})
    assert_store_matches(hub, path)


# -- damage -----------------------------------------------------------------------------


def test_a_damaged_segment_costs_only_its_rows(store_path: Path) -> None:
    hub = reopened(store_path)
    for start in (0, 10, 20):
        hub.stream("m", {"step": np.arange(start, start + 10), "v": np.ones(10)})
        assert hub.flush(60)
    hub.stream("other", {"x": [1.0]})
    hub.store.close()  # type: ignore[union-attr]
    with contextlib.closing(sqlite3.connect(store_path)) as connection:
        connection.execute("UPDATE segments SET data = x'00010203' WHERE first_seq = 10")
        connection.commit()
    again = reopened(store_path)
    try:
        steps = again.read("m")["step"]
        assert again.seq("m") == 30
        assert np.isnan(steps[10:20]).all()  # the damaged rows are missing values...
        assert steps[:10].tolist() == list(range(10))  # ...every other row is kept
        assert steps[20:].tolist() == list(range(20, 30))
        assert again.read("other")["x"].tolist() == [1.0]
        damaged = again.store.backend.damaged  # type: ignore[union-attr]
        assert [(d[1], d[2], d[3]) for d in damaged] == [("m", 10, 10)]
        from streamvis.store.export import export

        frame = export(store=again.store.backend, stream="m")  # type: ignore[union-attr]
        assert len(frame) == 20
    finally:
        again.store.close()  # type: ignore[union-attr]


def test_a_closed_store_refuses_with_a_streamvis_error(store_path: Path) -> None:
    hub = reopened(store_path)
    hub.store.close()  # type: ignore[union-attr]
    with pytest.raises(StoreFailing, match="closed"):
        hub.store.put(Op("clear", "default", "x"))  # type: ignore[union-attr]
