"""Small segments (a slow producer: one row per commit) are merged by maintenance without
changing a row, a seq number or an arrival time."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from streamvis.core.storage import AppendRow, AppendRows
from streamvis.store import SQLiteStore, hub_from_store
from streamvis.store.compact import MIN_SMALL_SEGMENTS


def segment_count(store: SQLiteStore) -> int:
    return store._query("SELECT count(*) FROM segments")[0][0]


def everything(store: SQLiteStore) -> tuple[list[int], list[float], list[int]]:
    (record,) = store.streams("r")
    steps, values, times = [], [], []
    for first_seq, batch, arrival in store.segments(record):
        assert batch["step"][0] == first_seq
        steps += batch["step"].tolist()
        values += batch["v"].tolist()
        times += arrival.tolist()
    return steps, values, times


def test_one_row_commits_are_merged_into_one_segment(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "slow.db")
    try:
        now = time.time_ns()
        rows = 3 * MIN_SMALL_SEGMENTS
        for seq in range(rows):  # one commit per row, each its own arrival time
            row = {"step": seq, "v": seq / 4}
            dtypes = {"step": np.dtype(np.int64), "v": np.dtype(np.float64)}
            store.commit([AppendRow("r", "s", seq, row, now + seq * 1000, dtypes)])
        assert segment_count(store) == rows
        before = everything(store)
        size_before = store.streams("r")[0].bytes

        store.maintain()

        assert segment_count(store) == 1
        assert everything(store) == before
        (record,) = store.streams("r")
        assert (record.first_seq, record.next_seq, record.rows) == (0, rows, rows)
        assert record.bytes < size_before / 4, "merging should shed the per-segment overhead"
        assert store.integrity() == "ok"
    finally:
        store.close()


def test_segments_with_different_columns_stay_apart_and_replay_the_same(tmp_path: Path) -> None:
    path = tmp_path / "mixed.db"
    store = SQLiteStore(path)
    half = MIN_SMALL_SEGMENTS
    try:
        for seq in range(2 * half):  # the second half adds a column
            data = {"step": np.array([seq]), "v": np.array([float(seq)])}
            if seq >= half:
                data["extra"] = np.array(["x"], dtype=object)
            store.commit([AppendRows("r", "s", seq, 1, data, 1_000 + seq)])
        store.maintain()
        assert segment_count(store) == 2
    finally:
        store.close()
    from streamvis.store import Store

    replayed = Store(SQLiteStore(path))
    try:
        hub = hub_from_store(replayed)
        batch = hub.read("s", run="r")
        assert batch["step"].tolist() == list(range(2 * half))
        assert batch["extra"].tolist() == [None] * half + ["x"] * half
    finally:
        replayed.close()


def test_few_small_segments_are_left_alone(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "few.db")
    try:
        for seq in range(MIN_SMALL_SEGMENTS - 1):
            data = {"step": np.array([seq]), "v": np.array([1.0])}
            store.commit([AppendRows("r", "s", seq, 1, data, seq)])
        store.maintain()
        assert segment_count(store) == MIN_SMALL_SEGMENTS - 1
    finally:
        store.close()
