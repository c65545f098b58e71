"""A bounded ring of numpy columns addressed by sequence number.

Row number `seq` lives at position `seq % capacity`; memory grows geometrically until it
holds `retain` rows, after which the oldest rows are overwritten. Reads copy out the rows
newer than a cursor, so readers never hold references into the ring. Beside the columns the
ring keeps each row's arrival time (int64 nanoseconds since the epoch), which is not a
column: it drives wall-time axes and age-based retention. Not thread-safe on
its own: the hub holds a lock around every call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamvis.core.normalize import BOOL, FLOAT, FLOAT32, INT, TEXT, TIME, Batch

_MIN_CAPACITY = 1024
_NUMERIC = (BOOL, INT, FLOAT, FLOAT32)


def missing_value(dtype: np.dtype) -> Any:
    """The value that marks 'no data' in a column of this dtype."""
    if dtype == TEXT:
        return None
    if dtype == TIME:
        return np.datetime64("NaT")
    return np.nan


def holds_missing(dtype: np.dtype) -> np.dtype:
    """The dtype a column must have to also hold missing values (ints and bools widen)."""
    return FLOAT if dtype in (BOOL, INT) else dtype


def merged_dtype(stored: np.dtype, incoming: np.dtype) -> np.dtype | None:
    """The dtype a column needs to hold both, or None when they cannot share a column."""
    if stored == incoming:
        return stored
    if stored in _NUMERIC and incoming in _NUMERIC:
        return np.result_type(stored, incoming)
    return None


class Ring:
    """Columns of one stream with sequence numbers `lo` (oldest kept) to `hi` (next)."""

    def __init__(self, retain: int) -> None:
        if retain < 1:
            raise ValueError(f"retain must be at least 1, not {retain}")
        self.retain = retain
        self.capacity = 0
        self.columns: dict[str, np.ndarray] = {}
        self.times = np.empty(0, dtype=np.int64)
        self.lo = 0
        self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    @property
    def dtypes(self) -> dict[str, np.dtype]:
        return {name: column.dtype for name, column in self.columns.items()}

    def reset(self) -> None:
        """Drop every row and the schema; sequence numbers keep counting up."""
        self.columns = {}
        self.times = np.empty(0, dtype=np.int64)
        self.capacity = 0
        self.lo = self.hi

    def restart_at(self, seq: int) -> None:
        """Empty the ring and number the next row `seq` (replaying a stored stream)."""
        self.reset()
        self.lo = self.hi = seq

    def _positions(self, start: int, stop: int, capacity: int) -> np.ndarray:
        return np.arange(start, stop) % capacity

    def _grow(self, needed_rows: int) -> None:
        new_capacity = min(self.retain, max(_MIN_CAPACITY, 2 * self.capacity, needed_rows))
        if new_capacity <= self.capacity:
            return
        old = self.positions_of_live_rows()
        new = self._positions(self.lo, self.hi, new_capacity)
        for name, column in self.columns.items():
            grown = np.empty(new_capacity, dtype=column.dtype)
            grown[new] = column[old]
            self.columns[name] = grown
        times = np.zeros(new_capacity, dtype=np.int64)
        if len(self.times):
            times[new] = self.times[old]
        self.times = times
        self.capacity = new_capacity

    def positions_of_live_rows(self) -> np.ndarray:
        return self._positions(self.lo, self.hi, max(self.capacity, 1))

    def _replace_column(self, name: str, dtype: np.dtype) -> None:
        """Give column `name` a new dtype (new columns start with every live row missing)."""
        fresh = np.empty(self.capacity, dtype=dtype)
        old = self.columns.get(name)
        live = self.positions_of_live_rows()
        if old is None:
            fresh[live] = missing_value(dtype)
        else:
            fresh[live] = old[live].astype(dtype)
        self.columns[name] = fresh

    def conform(self, batch: Batch, rows: int) -> dict[str, np.dtype]:
        """The dtype each column will have after appending `batch`; raises nothing, mutates
        nothing. Conflicts come back as a stored dtype paired with an unmergeable one."""
        plan: dict[str, np.dtype] = {}
        live = len(self) > 0
        for name, column in self.columns.items():
            stored = column.dtype
            if name in batch:
                plan[name] = merged_dtype(stored, batch[name].dtype) or stored
            else:
                plan[name] = holds_missing(stored) if rows else stored
        for name, values in batch.items():
            if name not in self.columns:
                plan[name] = holds_missing(values.dtype) if live else values.dtype
        return plan

    def append(self, batch: Batch, rows: int, when: int | np.ndarray = 0) -> None:
        """Append `rows` rows that arrived at `when` (ns, one for all or one per row); the
        caller has checked the dtypes with `conform`."""
        if rows == 0:
            return
        for name, dtype in self.conform(batch, rows).items():
            if name not in self.columns or self.columns[name].dtype != dtype:
                if self.capacity == 0:
                    self.columns[name] = np.empty(0, dtype=dtype)
                else:
                    self._replace_column(name, dtype)
        if len(self) + rows > self.capacity and self.capacity < self.retain:
            self._grow(len(self) + rows)
        skip = max(0, rows - self.capacity)
        kept = rows - skip
        start = self.hi + skip
        position = start % self.capacity
        first = min(kept, self.capacity - position)
        for name, column in self.columns.items():
            values = batch.get(name)
            if values is None:
                column[position : position + first] = missing_value(column.dtype)
                column[: kept - first] = missing_value(column.dtype)
                continue
            values = values[skip:]
            column[position : position + first] = values[:first]
            column[: kept - first] = values[first:]
        if isinstance(when, np.ndarray):
            when = when[skip:]
            self.times[position : position + first] = when[:first]
            self.times[: kept - first] = when[first:]
        else:
            self.times[position : position + first] = when
            self.times[: kept - first] = when
        self.hi += rows
        self.lo = max(self.lo, self.hi - self.capacity)

    def append_row(self, row: dict[str, Any], when: int = 0) -> None:
        """Append one row whose keys and value types match the schema exactly (fast path)."""
        if self.hi - self.lo >= self.capacity and self.capacity < self.retain:
            self._grow(self.capacity + 1)
        position = self.hi % self.capacity
        columns = self.columns
        for name, value in row.items():
            columns[name][position] = value
        self.times[position] = when
        self.hi += 1
        if self.hi - self.lo > self.capacity:
            self.lo += 1

    def _window(self, since: int, limit: int | None) -> tuple[int, int]:
        start = max(since, self.lo)
        if limit is not None:
            start = max(start, self.hi - limit)
        return start, self.hi - start

    def _copy(self, column: np.ndarray, start: int, count: int) -> np.ndarray:
        if count <= 0:
            return column[:0].copy()
        position = start % self.capacity
        end = position + count
        if end <= self.capacity:
            return column[position:end].copy()
        return np.concatenate((column[position:], column[: end - self.capacity]))

    def read(self, since: int, limit: int | None = None) -> tuple[int, Batch]:
        """Copies of the rows with seq >= `since` (at most the newest `limit`), and the first
        seq returned."""
        start, count = self._window(since, limit)
        if count <= 0:
            start = self.hi
        return start, {name: self._copy(c, start, count) for name, c in self.columns.items()}

    def read_times(self, since: int, limit: int | None = None) -> np.ndarray:
        """Arrival times (ns) of the rows `read(since, limit)` returns."""
        start, count = self._window(since, limit)
        return self._copy(self.times, start, count)
