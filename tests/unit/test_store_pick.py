"""Picking scattered rows from a real SQLite store (`SQLiteStore.pick`, store/pick.py): the
same values and arrival times as decoding the segments whole, for every column type and
time coding, across segments whose columns differ; rows the store lacks left out; a damaged
segment costing only its own rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamvis.core.storage import AppendRow, AppendRows, Picked
from streamvis.store import SQLiteStore
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


def check(found: Picked, seqs: np.ndarray, expected: dict, columns: list[str]) -> None:
    """`found` holds exactly the asked rows the store holds, with their values and times."""
    held = [k for k, seq in enumerate(seqs.tolist()) if seq in expected]
    assert found.held.tolist() == held
    assert found.times is not None
    assert found.times.dtype == np.int64
    assert found.times.tolist() == [expected[int(seqs[k])][1] for k in held]
    for name in columns:
        having = [k for k in held if name in expected[int(seqs[k])][0]]
        if not having:
            assert name not in found.batch
            continue
        assert found.at[name].tolist() == having, name
        values = found.batch[name]
        dtypes = {expected[int(seqs[k])][0][name][1] for k in having}
        assert values.dtype == np.result_type(*dtypes), name  # widened as the ring does
        for k, got in zip(having, values, strict=True):
            want = expected[int(seqs[k])][0][name][0]
            assert same(got, want), (name, int(seqs[k]), got, want)


@pytest.mark.parametrize("gap", [0, 3, pick_module.GAP_ROWS])
def test_picked_rows_equal_whole_segments(
    store: SQLiteStore, gap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any scattered rows, as one range per row, per few rows or per segment."""
    monkeypatch.setattr(pick_module, "GAP_ROWS", gap)
    end = fill(store)
    expected = whole(store)
    assert len(expected) == end
    (record,) = store.streams(RUN)
    columns = ["step", "f", "f32", "flag", "when", "name", "extra", "absent"]
    rng = np.random.default_rng(gap)
    for count in (1, 5, 60, 400, end):
        seqs = np.sort(rng.choice(np.arange(-3, end + 5), size=count, replace=False))
        check(store.pick(record, seqs, columns, True), seqs, expected, columns)
    edges = np.concatenate([np.arange(k, k + 65) for k in (0, 236, 530, 749, 930)])
    check(store.pick(record, edges, columns, True), edges, expected, columns)


def test_a_widened_column_comes_back_in_the_wider_type(store: SQLiteStore) -> None:
    end = fill(store)
    (record,) = store.streams(RUN)
    seqs = np.array([0, 299, 1000, end - 1])  # int segments, then float ones
    found = store.pick(record, seqs, ["step"], False)
    assert found.times is None
    assert found.batch["step"].dtype == np.float64
    assert found.batch["step"].tolist() == [0.0, 299.0, 1000.0, end - 1]


def test_nothing_asked_or_nothing_held(store: SQLiteStore) -> None:
    end = fill(store)
    (record,) = store.streams(RUN)
    for seqs in (np.empty(0, np.int64), np.array([end, end + 10])):
        found = store.pick(record, seqs, ["step"], True)
        assert found.held.tolist() == [] and found.batch == {} and found.at == {}
        assert found.times is not None and found.times.tolist() == []


def test_a_damaged_segment_costs_only_its_own_rows(store: SQLiteStore) -> None:
    fill(store)
    expected = whole(store)
    (record,) = store.streams(RUN)
    with sqlite3.connect(store.path) as other:  # a disk error, as another writer would see it
        other.execute(
            "UPDATE segments SET data = ? WHERE stream_id = ? AND first_seq = 300",
            (b"SVB1" + b"\xff" * 40, record.id),
        )
    seqs = np.array([10, 299, 300, 400, 549, 550, 600])
    found = store.pick(record, seqs, ["step", "f"], True)
    kept = {seq: row for seq, row in expected.items() if not 300 <= seq < 550}
    check(found, seqs, kept, ["step", "f"])
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
    found = store.pick(record, np.array([5, 305]), ["step"], True)
    assert found.held.tolist() == [1]
    assert found.batch["step"].tolist() == [305]
    assert [(d.first_seq, d.rows) for d in store.damaged] == [(0, 300)]
