"""Picking scattered rows from a real SQLite store (`SQLiteStore.pick`, store/pick.py): the
same values and arrival times as decoding the segments whole, for every column type and
time coding, across segments whose columns differ; rows the store lacks left out; a damaged
segment costing only its own rows."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamvis.core.storage import AppendRow, AppendRows, Picked
from streamvis.store import Retention, SQLiteStore
from streamvis.store import pick as pick_module

RUN, STREAM = "r", "s"
BASE = 1_700_000_000_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "pick.db")
    yield opened
    opened.close()


def every_type(first: int, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Rows of each column type a segment stores, with missing values among them."""
    f = rng.normal(size=rows)
    f[rng.random(rows) < 0.2] = np.nan
    text = np.empty(rows, dtype=object)
    text[:] = [None if k % 7 == 0 else f"row {first + k} ☃" for k in range(rows)]
    times = BASE + rng.integers(0, 10**12, rows)
    stamps = times.astype("datetime64[ns]")
    stamps[rng.random(rows) < 0.1] = np.datetime64("NaT")
    return {
        "step": np.arange(first, first + rows, dtype=np.int64),
        "f": f,
        "f32": f.astype(np.float32),
        "flag": rng.random(rows) < 0.5,
        "when": stamps,
        "name": text,
    }


def fill(store: SQLiteStore) -> int:
    """Segments with run-length, step and plain arrival times, a column widened from int to
    float, and a column added later; returns the stream's next seq."""
    rng = np.random.default_rng(5)
    seq = 0
    for rows, times in [
        (300, BASE + 7),  # one time for the batch: run-length coded
        (250, BASE + np.arange(250) * 1_000),  # rows a moment apart: int32 steps
        (200, BASE + np.arange(200) * 2**33),  # far apart: plain int64
        (180, np.repeat(BASE + np.arange(6) * 10**9, 30)),  # six runs
    ]:
        batch = every_type(seq, rows, rng)
        store.commit([AppendRows(RUN, STREAM, seq, rows, batch, times)])
        seq += rows
    widened = every_type(seq, 90, rng)
    widened["step"] = widened["step"].astype(np.float64)  # i8 -> f8 from here on
    widened["extra"] = np.arange(90) * 0.25  # a column older segments lack
    store.commit([AppendRows(RUN, STREAM, seq, 90, widened, BASE + np.arange(90))])
    seq += 90
    dtypes = {"step": np.dtype(np.int64), "f": np.dtype(np.float64)}
    singles = [
        AppendRow(RUN, STREAM, seq + k, {"step": seq + k, "f": k * 0.5}, BASE + 3 * k, dtypes)
        for k in range(40)
    ]
    store.commit(singles)  # the scalar fast path: one segment of single rows
    return seq + 40


Row = tuple[dict[str, tuple[object, np.dtype]], int]


def whole(store: SQLiteStore) -> dict[int, Row]:
    """Every stored row by seq: ({column: (value, its segment's dtype)}, arrival ns),
    decoded segment by segment."""
    (record,) = store.streams(RUN)
    rows: dict[int, Row] = {}
    for segment in store.segments(record):
        for k in range(len(segment.times)):
            values = {name: (column[k], column.dtype) for name, column in segment.batch.items()}
            rows[segment.first_seq + k] = (values, int(segment.times[k]))
    return rows


def same(got: object, want: object) -> bool:
    if isinstance(want, float | np.floating) and np.isnan(want):
        return bool(np.isnan(got))  # type: ignore[arg-type]
    if isinstance(want, np.datetime64) and np.isnat(want):
        return bool(np.isnat(got))  # type: ignore[arg-type]
    return bool(got == want)


def check(found: Picked, starts: list[int], stops: list[int], expected: dict[int, Row]) -> None:
    """`found` holds, for the concatenated ranges, exactly the rows the store holds, with
    their values (in the type the ring would widen to) and arrival times."""
    seqs = [seq for a, b in zip(starts, stops, strict=True) for seq in range(a, b)]
    assert found.held.tolist() == [seq in expected for seq in seqs]
    assert found.times is not None
    assert found.times.dtype == np.int64
    assert found.times.tolist() == [expected[seq][1] for seq in seqs if seq in expected]
    for name in COLUMNS:
        having = [seq in expected and name in expected[seq][0] for seq in seqs]
        if not any(having):
            assert name not in found.batch
            continue
        assert found.has[name].tolist() == having, name
        values = found.batch[name]
        dtypes = {
            expected[seq][0][name][1] for seq, have in zip(seqs, having, strict=False) if have
        }
        assert values.dtype == np.result_type(*dtypes), name  # widened as the ring does
        for k, seq in enumerate(seqs):
            if having[k]:
                want = expected[seq][0][name][0]
                assert same(values[k], want), (name, seq, values[k], want)


def pick(store: SQLiteStore, starts: list[int], stops: list[int], arrival: bool = True) -> Picked:
    (record,) = store.streams(RUN)
    return store.pick(record, np.array(starts), np.array(stops), COLUMNS, arrival)


COLUMNS = ["step", "f", "f32", "flag", "when", "name", "extra", "absent"]


@pytest.mark.parametrize("gap", [0, 3, pick_module.GAP_ROWS])
def test_picked_rows_equal_whole_segments(
    store: SQLiteStore, gap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any short ranges, read one per range, a few together or a segment's together; ranges
    crossing segments and reaching past either end of the stored rows."""
    monkeypatch.setattr(pick_module, "GAP_ROWS", gap)
    end = fill(store)
    expected = whole(store)
    assert len(expected) == end
    rng = np.random.default_rng(gap)
    for count in (1, 5, 60, 300):
        cuts = np.sort(rng.choice(np.arange(-3, end + 5), size=2 * count, replace=False))
        starts, stops = cuts[0::2].tolist(), cuts[1::2].tolist()
        check(pick(store, starts, stops), starts, stops, expected)
    edges = [0, 236, 530, 749, 930, 1019]  # 65-row ranges at and across segment bounds
    starts, stops = edges, [k + 65 for k in edges]
    check(pick(store, starts, stops), starts, stops, expected)
    check(pick(store, [-5], [end + 5]), [-5], [end + 5], expected)  # everything


def test_a_widened_column_comes_back_in_the_wider_type(store: SQLiteStore) -> None:
    end = fill(store)
    found = pick(store, [0, 299, 1000, end - 1], [1, 300, 1001, end], arrival=False)
    assert found.times is None
    assert found.batch["step"].dtype == np.float64
    assert found.batch["step"].tolist() == [0.0, 299.0, 1000.0, end - 1]


def test_nothing_asked_or_nothing_held(store: SQLiteStore) -> None:
    end = fill(store)
    for starts, stops in (([], []), ([end], [end + 10]), ([5], [5])):
        found = pick(store, starts, stops)
        assert found.held.tolist() == [False] * (10 if starts == [end] else 0)
        assert found.batch == {}
        assert found.has == {}
        assert found.times is not None
        assert found.times.tolist() == []


def test_a_gap_in_the_stored_rows(tmp_path: Path) -> None:
    """Retention by age dropped a middle segment: rows are read off the table's counts."""
    store = SQLiteStore(tmp_path / "gap.db", retention=Retention(age=3600))
    try:
        now = time.time_ns()
        for seq, written in [(0, now), (100, now - 2 * 3600 * 10**9), (200, now), (300, now)]:
            steps = {"step": np.arange(seq, seq + 100, dtype=np.int64)}
            store.commit([AppendRows(RUN, STREAM, seq, 100, steps, written)])
        store.maintain()
        expected = whole(store)
        assert sorted(expected) == [*range(100), *range(200, 400)]
        starts, stops = [50, 190, 390], [120, 210, 420]
        check(pick(store, starts, stops), starts, stops, expected)
        with sqlite3.connect(store.path) as other:  # counts that hide the gap: still right
            other.execute("UPDATE streams SET rows = next_seq - first_seq")
        check(pick(store, starts, stops), starts, stops, expected)
        assert list(store.damaged) == []
    finally:
        store.close()


def test_a_damaged_segment_costs_only_its_own_rows(store: SQLiteStore) -> None:
    fill(store)
    expected = whole(store)
    (record,) = store.streams(RUN)
    with sqlite3.connect(store.path) as other:  # a disk error, as another writer would see it
        other.execute(
            "UPDATE segments SET data = ? WHERE stream_id = ? AND first_seq = 300",
            (b"SVB1" + b"\xff" * 40, record.id),
        )
    starts, stops = [10, 299, 400, 549, 600], [11, 301, 401, 551, 601]
    kept = {seq: row for seq, row in expected.items() if not 300 <= seq < 550}
    check(pick(store, starts, stops), starts, stops, kept)
    assert [(d.first_seq, d.rows) for d in store.damaged] == [(300, 250)]
    assert "header claims" in store.damaged[0].why


def test_a_segment_cut_short_is_damage_not_a_crash(store: SQLiteStore) -> None:
    fill(store)
    (record,) = store.streams(RUN)
    with sqlite3.connect(store.path) as other:
        blob = other.execute(
            "SELECT data FROM segments WHERE stream_id = ? AND first_seq = 0", (record.id,)
        ).fetchone()[0]
        other.execute(
            "UPDATE segments SET data = ? WHERE stream_id = ? AND first_seq = 0",
            (blob[: len(blob) // 2], record.id),
        )
    found = pick(store, [5, 305], [6, 306])
    assert found.held.tolist() == [False, True]
    assert found.has["step"].tolist() == [False, True]
    assert found.batch["step"][1] == 305
    assert [(d.first_seq, d.rows) for d in store.damaged] == [(0, 300)]


def test_a_header_longer_than_the_first_read(store: SQLiteStore) -> None:
    """Many long column names: the header is read in a second, longer read."""
    names = [f"a rather long column name number {k:03d}" for k in range(30)]
    batch = {name: np.arange(100) * float(k) for k, name in enumerate(names)}
    store.commit([AppendRows(RUN, STREAM, 0, 100, batch, BASE)])
    (record,) = store.streams(RUN)
    (segment,) = store.segments(record)
    assert list(segment.batch) == names
    found = store.pick(record, np.array([3, 90]), np.array([5, 92]), names[-2:], True)
    assert found.held.all()
    assert found.batch[names[-1]].tolist() == [3 * 29.0, 4 * 29.0, 90 * 29.0, 91 * 29.0]
    assert found.times is not None
    assert found.times.tolist() == [BASE] * 4
