"""Merge runs of small segments into large ones, so a slow producer (one row per commit)
does not pay a segment's header and SQLite row for every row it writes.

Runs in the store's maintenance pass, on the writer's thread between commits, a bounded
amount of work at a time. Merged rows keep their seq numbers and arrival times; only the
packaging changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import numpy as np

from streamvis.store.codec import CorruptSegment, decode, dtype_code, encode_parts, time_runs

if TYPE_CHECKING:
    from streamvis.core.storage import StreamRecord

SMALL_ROWS = 1_024  # a segment with fewer rows is worth merging
MIN_SMALL_SEGMENTS = 64  # merge once a stream has this many small segments in a row
MAX_MERGED_ROWS = 65_536
Transaction = Callable[[sqlite3.Connection], AbstractContextManager[None]]


def _runs(rows: list[tuple[int, int, int]]) -> Iterator[list[tuple[int, int, int]]]:
    """Groups of consecutive (id, first_seq, rows) segments to merge, each within limits."""
    group: list[tuple[int, int, int]] = []
    for segment in rows:
        _, first_seq, count = segment
        if group and (
            first_seq != group[-1][1] + group[-1][2]
            or sum(g[2] for g in group) + count > MAX_MERGED_ROWS
        ):
            if len(group) > 1:
                yield group
            group = []
        group.append(segment)
    if len(group) > 1:
        yield group


def compact(connection: sqlite3.Connection, record: StreamRecord, transaction: Transaction) -> int:
    """Merge the stream's small consecutive segments; returns how many segments went away.
    Segments whose columns differ (a column added, a type widened) stay apart."""
    small = connection.execute(
        "SELECT id, first_seq, rows FROM segments WHERE stream_id=? AND rows < ? "
        "ORDER BY first_seq LIMIT ?",
        (record.id, SMALL_ROWS, MAX_MERGED_ROWS),
    ).fetchall()
    if len(small) < MIN_SMALL_SEGMENTS:
        return 0
    removed = 0
    for group in _runs(small):
        removed += _merge(connection, record, group, transaction)
    return removed


def _merge(
    connection: sqlite3.Connection,
    record: StreamRecord,
    group: list[tuple[int, int, int]],
    transaction: Transaction,
) -> int:
    ids = [segment_id for segment_id, _, _ in group]
    marks = ",".join("?" * len(ids))
    blobs = connection.execute(
        f"SELECT data FROM segments WHERE id IN ({marks}) ORDER BY first_seq", ids
    ).fetchall()
    try:
        pieces = [decode(blob) for (blob,) in blobs]
    except CorruptSegment:
        return 0  # a damaged segment stays as it is (reads skip and report it)
    merged = 0
    start = 0
    with transaction(connection):
        # split where the columns change, so each merged segment has one schema
        for end in range(1, len(pieces) + 1):
            if end < len(pieces) and _codes(pieces[end][0]) == _codes(pieces[start][0]):
                continue
            if end - start > 1:
                _replace(connection, record, group[start:end], pieces[start:end])
                merged += end - start - 1
            start = end
    return merged


def _codes(batch: dict[str, np.ndarray]) -> dict[str, str]:
    return {name: dtype_code(values.dtype) for name, values in batch.items()}


def _replace(
    connection: sqlite3.Connection,
    record: StreamRecord,
    group: list[tuple[int, int, int]],
    pieces: list[tuple[dict[str, np.ndarray], np.ndarray]],
) -> None:
    times = np.concatenate([t for _, t in pieces])
    values, counts = time_runs(times)
    columns = {name: [batch[name] for batch, _ in pieces] for name in pieces[0][0]}
    blob = encode_parts(columns, values, counts)
    ids = [segment_id for segment_id, _, _ in group]
    connection.execute(f"DELETE FROM segments WHERE id IN ({','.join('?' * len(ids))})", ids)
    connection.execute(
        "INSERT INTO segments(stream_id, first_seq, rows, written, data) VALUES (?,?,?,?,?)",
        (record.id, group[0][1], len(times), int(times.max()) if len(times) else 0, blob),
    )
