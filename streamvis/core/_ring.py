"""The rows of one stream kept in memory: numpy columns in fixed-size chunks, by seq number.

Rows are numbered from 0 (`seq`) and kept in chunks of consecutive rows (CHUNK_ROWS each once
a stream is past its first few small chunks), so memory grows without a doubling copy and the
oldest rows go a chunk at a time (`drop_oldest_chunk`, what the hub's byte budget calls) or,
with an optional row cap `retain`, row by row. Reads copy rows out, so readers never hold
references into the ring. Beside the columns each row has an arrival time (int64 ns since the
epoch), not a column: it drives wall-time axes; rows of one batch share one time, so a chunk
written in batches keeps a short list of (offset, time) runs instead of 8 bytes a row.
Not thread-safe on its own: the table holds its lock around every call.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from streamvis.core.lod import ARRIVAL
from streamvis.core.normalize import BOOL, FLOAT, FLOAT32, INT, TEXT, TIME, Batch

CHUNK_ROWS = 65_536  # rows per chunk once a stream has grown past its first chunks
_FIRST_CHUNK_ROWS = 1024
_NUMERIC = (BOOL, INT, FLOAT, FLOAT32)
_TIMES = np.dtype(np.int64)


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


def text_bytes(values: Iterable[Any]) -> int:
    """An estimate of the memory the Python objects of a text column hold (beyond the
    array's own pointers): each string's size; shared strings are counted each time."""
    return sum(sys.getsizeof(value) for value in values if value is not None)


class _Chunk:
    """Rows `first` .. `first + used - 1` of a stream, with room for `size` rows."""

    __slots__ = ("first", "size", "used", "columns", "times", "runs", "text", "nbytes", "ticket")

    def __init__(self, first: int, size: int, dtypes: dict[str, np.dtype], per_row: bool):
        self.first = first
        self.size = size
        self.used = 0
        self.columns = {name: np.empty(size, dtype=dtype) for name, dtype in dtypes.items()}
        # arrival times: one per row, or (offset, time) runs while every write shared one
        self.times: np.ndarray | None = np.empty(size, _TIMES) if per_row else None
        self.runs: list[tuple[int, int]] = []
        self.text = 0  # estimated bytes of the strings in its text columns, once it is full
        self.nbytes = 0
        self.ticket = 0  # the store ticket of the last write into it (0: nothing pending)

    def measure(self) -> int:
        """Bytes this chunk holds now (arrays, time runs, strings counted at sealing)."""
        arrays = sum(column.nbytes for column in self.columns.values())
        times = self.times.nbytes if self.times is not None else 16 * len(self.runs)
        return arrays + times + self.text

    def stamp(self, offset: int, count: int, when: int | np.ndarray) -> None:
        """Record the arrival time of rows offset .. offset + count - 1."""
        if isinstance(when, np.ndarray) and len(when) and (when == when[0]).all():
            when = int(when[0])  # a replayed batch: one time for all, kept as one run
        if self.times is None and isinstance(when, np.ndarray):
            self.times = self.times_of(0, offset, self.size)
        if self.times is not None:
            self.times[offset : offset + count] = when
        elif not self.runs or self.runs[-1][1] != when:
            self.runs.append((offset, int(when)))

    def times_of(self, start: int, stop: int, size: int | None = None) -> np.ndarray:
        """Arrival times of rows at offsets start .. stop - 1 (a new array of `size`)."""
        out = np.empty(size if size is not None else stop - start, _TIMES)
        if self.times is not None:
            out[: stop - start] = self.times[start:stop]
        elif self.runs and stop > start:  # each run's time repeated over its rows
            offsets = np.fromiter((o for o, _ in self.runs), _TIMES, len(self.runs))
            stamps = np.fromiter((t for _, t in self.runs), _TIMES, len(self.runs))
            lows = np.clip(offsets, start, stop)
            lows[0] = start  # rows before the first run (none written so) take its time
            highs = np.clip(np.append(offsets[1:], stop), start, stop)
            out[: stop - start] = np.repeat(stamps, np.maximum(highs - lows, 0))
        return out

    def seal(self) -> None:
        """The chunk is full: count the strings its text columns hold."""
        self.text = sum(
            text_bytes(column[: self.used])
            for column in self.columns.values()
            if column.dtype == TEXT
        )


class Ring:
    """Columns of one stream with sequence numbers `lo` (oldest kept) to `hi` (next)."""

    def __init__(
        self,
        retain: int | None = None,
        chunk_rows: int | None = None,
        on_resize: Callable[[int], None] | None = None,
    ) -> None:
        if retain is not None and retain < 1:
            raise ValueError(f"retain must be at least 1, not {retain}")
        self.retain = retain  # an optional cap on rows kept (None: the byte budget decides)
        self.chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
        self.on_resize = on_resize  # told each change of `nbytes` (the hub's byte count)
        self._dtypes: dict[str, np.dtype] = {}
        self._chunks: list[_Chunk] = []
        self._firsts: list[int] = []  # each chunk's first seq, for bisecting
        self.capacity = 0  # rows the allocated chunks have room for
        self.nbytes = 0
        self.lo = 0
        self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    @property
    def dtypes(self) -> dict[str, np.dtype]:
        return dict(self._dtypes)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in the order they first arrived."""
        return tuple(self._dtypes)

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    def _resized(self, delta: int) -> None:
        if delta:
            self.nbytes += delta
            if self.on_resize is not None:
                self.on_resize(delta)

    def _remeasure(self, chunk: _Chunk) -> None:
        before, chunk.nbytes = chunk.nbytes, chunk.measure()
        self._resized(chunk.nbytes - before)

    def reset(self) -> None:
        """Drop every row and the schema; sequence numbers keep counting up."""
        self._dtypes = {}
        self._chunks, self._firsts = [], []
        self.capacity = 0
        self._resized(-self.nbytes)
        self.lo = self.hi

    def restart_at(self, seq: int) -> None:
        """Empty the ring and number the next row `seq` (replaying a stored stream)."""
        self.reset()
        self.lo = self.hi = seq

    def _new_chunk(self, wanted: int, per_row: bool) -> _Chunk:
        """A chunk after the last one, sized for `wanted` rows: small for a new stream,
        growing geometrically to `chunk_rows` (and never past the row cap)."""
        if self._chunks:
            self._chunks[-1].seal()
            self._remeasure(self._chunks[-1])
        size = min(self.chunk_rows, max(_FIRST_CHUNK_ROWS, self.capacity, wanted))
        if self.retain is not None:
            size = min(size, max(self.retain, 1))
        chunk = _Chunk(self.hi, size, self._dtypes, per_row)
        self._chunks.append(chunk)
        self._firsts.append(chunk.first)
        self.capacity += size
        self._remeasure(chunk)
        return chunk

    def mark(self, since: int, ticket: int) -> None:
        """Note the store ticket of the write of rows `since` .. `hi - 1` on their chunks."""
        for chunk in reversed(self._chunks):
            chunk.ticket = ticket
            if chunk.first <= since:
                break

    def oldest_chunk_end(self) -> int:
        """The seq after the oldest chunk's rows (what `drop_oldest_chunk` would drop)."""
        return self._firsts[1] if len(self._firsts) > 1 else self.lo

    def drop_oldest_chunk(self, settled: int | None = None) -> int:
        """Forget the oldest chunk's rows, never the newest chunk, and with `settled` (the
        store's settled ticket) only once the store has them; returns bytes freed."""
        if len(self._chunks) < 2:
            return 0
        if settled is not None and self._chunks[0].ticket > settled:
            return 0
        chunk = self._chunks.pop(0)
        self._firsts.pop(0)
        self.capacity -= chunk.size
        self.lo = max(self.lo, self._chunks[0].first)
        self._resized(-chunk.nbytes)
        return chunk.nbytes

    def first_time(self) -> int | None:
        """Arrival time (ns) of the oldest row kept; None when none is."""
        if self.hi == self.lo or not self._chunks:
            return None
        chunk = self._chunks[self._index(self.lo)]
        offset = self.lo - chunk.first
        return int(chunk.times_of(offset, offset + 1)[0])

    def _trim(self) -> None:
        """Apply the row cap: keep the newest `retain` rows, drop chunks wholly older."""
        if self.retain is not None and self.hi - self.lo > self.retain:
            self.lo = self.hi - self.retain
        self.drop_before(self.lo)

    def drop_before(self, seq: int) -> int:
        """Drop the chunks whose rows are all older than `seq` (never the newest chunk);
        returns the bytes freed."""
        freed = 0
        while len(self._chunks) > 1 and self._firsts[1] <= seq:
            freed += self.drop_oldest_chunk()
        return freed

    def _replace_column(self, name: str, dtype: np.dtype) -> None:
        """Give column `name` a new dtype (new columns start with every kept row missing)."""
        for chunk in self._chunks:
            fresh = np.empty(chunk.size, dtype=dtype)
            old = chunk.columns.get(name)
            if old is None:
                fresh[: chunk.used] = missing_value(dtype)
            else:
                fresh[: chunk.used] = old[: chunk.used].astype(dtype)
            chunk.columns[name] = fresh
            self._remeasure(chunk)
        self._dtypes[name] = dtype

    def fill_missing(self, start: int, stop: int) -> None:
        """Make rows `start` .. `stop - 1` missing in every column (ints and bools widen)."""
        for name, dtype in list(self._dtypes.items()):
            if holds_missing(dtype) != dtype:
                self._replace_column(name, holds_missing(dtype))
        for chunk, a, b in self._spans(start, stop):
            for name, column in chunk.columns.items():
                column[a:b] = missing_value(self._dtypes[name])

    def conform(self, batch: Batch, rows: int) -> dict[str, np.dtype]:
        """The dtype each column will have after appending `batch`; raises nothing, mutates
        nothing. Conflicts come back as a stored dtype paired with an unmergeable one."""
        plan: dict[str, np.dtype] = {}
        live = len(self) > 0
        for name, stored in self._dtypes.items():
            if name in batch:
                plan[name] = merged_dtype(stored, batch[name].dtype) or stored
            else:
                plan[name] = holds_missing(stored) if rows else stored
        for name, values in batch.items():
            if name not in self._dtypes:
                plan[name] = holds_missing(values.dtype) if live else values.dtype
        return plan

    def append(self, batch: Batch, rows: int, when: int | np.ndarray = 0) -> None:
        """Append `rows` rows that arrived at `when` (ns, one for all or one per row); the
        caller has checked the dtypes with `conform`."""
        if rows == 0:
            return
        for name, dtype in self.conform(batch, rows).items():
            if name not in self._dtypes or self._dtypes[name] != dtype:
                self._replace_column(name, dtype)
        done = 0
        if self.retain is not None and rows > self.retain:
            done = rows - self.retain  # only the batch's tail is kept: start afresh there
            schema = self._dtypes
            self.restart_at(self.hi + done)
            self._dtypes = schema
        per_row = isinstance(when, np.ndarray)
        while done < rows:
            chunk = self._chunks[-1] if self._chunks else None
            if chunk is None or chunk.used == chunk.size:
                chunk = self._new_chunk(rows - done, per_row=False)
            count = min(rows - done, chunk.size - chunk.used)
            at = chunk.used
            for name, dtype in self._dtypes.items():
                values = batch.get(name)
                target = chunk.columns[name]
                if values is None:
                    target[at : at + count] = missing_value(dtype)
                else:
                    target[at : at + count] = values[done : done + count]
            chunk.stamp(at, count, when[done : done + count] if per_row else when)  # type: ignore[index]
            chunk.used += count
            self.hi += count
            done += count
        self._remeasure(self._chunks[-1])
        self._trim()

    def append_row(self, row: dict[str, Any], when: int = 0) -> None:
        """Append one row whose keys and value types match the schema exactly (fast path)."""
        chunks = self._chunks
        chunk = chunks[-1] if chunks else None
        if chunk is None or chunk.used == chunk.size:
            chunk = self._new_chunk(1, per_row=True)
        at = chunk.used
        columns = chunk.columns
        for name, value in row.items():
            columns[name][at] = value
        if chunk.times is None:  # a chunk written in batches so far: one time per row now
            chunk.times = chunk.times_of(0, at, chunk.size)
            self._remeasure(chunk)
        chunk.times[at] = when
        chunk.used = at + 1
        self.hi += 1
        if self.retain is not None and self.hi - self.lo > self.retain:
            self._trim()

    def _index(self, seq: int) -> int:
        """The index of the chunk holding row `seq` (a kept row)."""
        return bisect_right(self._firsts, seq) - 1

    def _spans(self, start: int, stop: int) -> list[tuple[_Chunk, int, int]]:
        """(chunk, first offset, end offset) covering kept rows `start` .. `stop - 1`."""
        start, stop = max(start, self.lo), min(stop, self.hi)
        spans: list[tuple[_Chunk, int, int]] = []
        if start >= stop:
            return spans
        for index in range(self._index(start), len(self._chunks)):
            chunk = self._chunks[index]
            if chunk.first >= stop:
                break
            spans.append(
                (
                    chunk,
                    max(start - chunk.first, 0),
                    min(stop, chunk.first + chunk.used) - chunk.first,
                )
            )
        return spans

    def _window(self, since: int, limit: int | None) -> tuple[int, int]:
        start = max(since, self.lo)
        if limit is not None:
            start = max(start, self.hi - limit)
        return start, self.hi - start

    def read_range(self, start: int, stop: int, names: Iterable[str] | None = None) -> Batch:
        """Copies of columns `names` (default: all) for kept rows `start` .. `stop - 1`."""
        spans = self._spans(start, stop)
        batch = {}
        for name in self._dtypes if names is None else names:
            if name not in self._dtypes:
                continue
            pieces = [chunk.columns[name][a:b] for chunk, a, b in spans]
            batch[name] = _joined(pieces, self._dtypes[name])
        return batch

    def rows_between(self, start: int, stop: int, columns: Iterable[str]) -> dict[str, np.ndarray]:
        """`RawRows` over memory (core/lod.py) for a caller holding the table's lock: values
        of `columns` (ARRIVAL: arrival ns; a column the stream lacks: NaN) for kept rows
        `start` .. `stop - 1`. Views into a chunk (no copy) when the rows are in one; valid
        until the next write."""
        spans = self._spans(start, stop)
        count = sum(b - a for _, a, b in spans)
        found = {}
        for name in columns:
            if name == ARRIVAL:
                found[name] = _joined([c.times_of(a, b) for c, a, b in spans], _TIMES)
            elif name not in self._dtypes:
                found[name] = np.full(count, np.nan)
            elif len(spans) == 1:
                chunk, a, b = spans[0]
                found[name] = chunk.columns[name][a:b]
            else:
                pieces = [chunk.columns[name][a:b] for chunk, a, b in spans]
                found[name] = _joined(pieces, self._dtypes[name])
        return found

    def contiguous(self, start: int, stop: int) -> list[int]:
        """[start, ..., stop] for kept rows `start` .. `stop - 1`: the rows between two
        consecutive bounds lie in one chunk (`rows_between` returns views of them)."""
        spans = self._spans(start, stop)
        return [start, *(chunk.first + b for chunk, _, b in spans[:-1]), stop]

    def arrival_highs(self, start: int, stop: int, size: int) -> np.ndarray:
        """For each `size`-row bucket of kept rows [start, stop) (a whole number of them),
        the latest arrival time of the rows from `start` to the bucket's end: from each
        chunk's (offset, time) runs as they are, per-row times reduced per bucket."""
        seqs, stamps = [], []
        for chunk, a, b in self._spans(start, stop):
            if chunk.times is not None:  # one time a row: the max of each bucket's part
                cuts = np.arange(
                    -(-(chunk.first + a - start) // size) * size + start, chunk.first + b, size
                )
                offsets = np.unique(np.append(a, cuts - chunk.first))
                seqs.append(offsets + chunk.first)
                stamps.append(np.maximum.reduceat(chunk.times[a:b], offsets - a))
                continue
            offsets = np.fromiter((o for o, _ in chunk.runs), _TIMES, len(chunk.runs))
            times = np.fromiter((t for _, t in chunk.runs), _TIMES, len(chunk.runs))
            low = max(int(np.searchsorted(offsets, a, "right")) - 1, 0)  # the run holding a
            high = int(np.searchsorted(offsets, b, "left"))
            seqs.append(np.maximum(offsets[low:high], a) + chunk.first)
            stamps.append(times[low:high])
        starts, running = np.concatenate(seqs), np.maximum.accumulate(np.concatenate(stamps))
        ends = np.arange(start + size, stop + 1, size)
        return running[np.searchsorted(starts, ends, "left") - 1]

    def take(self, seqs: np.ndarray, columns: Iterable[str]) -> dict[str, np.ndarray]:
        """Values of `columns` (ARRIVAL: arrival ns; a column the stream lacks: NaN) at the
        kept rows `seqs` (ascending), gathered chunk by chunk: a view's many short reads."""
        seqs = np.asarray(seqs, dtype=np.int64)
        which = np.searchsorted(np.asarray(self._firsts, dtype=np.int64), seqs, "right") - 1
        groups = np.flatnonzero(np.diff(which)) + 1
        bounds = [0, *groups.tolist(), len(seqs)]
        found = {}
        for name in columns:
            dtype = _TIMES if name == ARRIVAL else self._dtypes.get(name)
            if dtype is None:
                found[name] = np.full(len(seqs), np.nan)
                continue
            out = np.empty(len(seqs), dtype)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                if a == b:
                    continue
                chunk = self._chunks[int(which[a])]
                offsets = seqs[a:b] - chunk.first
                values = chunk.times_of(0, chunk.used) if name == ARRIVAL else chunk.columns[name]
                out[a:b] = values[offsets]
            found[name] = out
        return found

    def times_range(self, start: int, stop: int) -> np.ndarray:
        """Arrival times (ns) of kept rows `start` .. `stop - 1`."""
        pieces = [chunk.times_of(a, b) for chunk, a, b in self._spans(start, stop)]
        return _joined(pieces, _TIMES)

    def read(self, since: int, limit: int | None = None) -> tuple[int, Batch]:
        """Copies of the rows with seq >= `since` (at most the newest `limit`), and the first
        seq returned."""
        start, count = self._window(since, limit)
        if count <= 0:
            start = self.hi
        return start, self.read_range(start, self.hi)

    def read_times(self, since: int, limit: int | None = None) -> np.ndarray:
        """Arrival times (ns) of the rows `read(since, limit)` returns."""
        start, _ = self._window(since, limit)
        return self.times_range(start, self.hi)


def _joined(pieces: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """One new array holding `pieces` in order (a copy even of a single piece)."""
    if not pieces:
        return np.empty(0, dtype=dtype)
    if len(pieces) == 1:
        return pieces[0].copy()
    return np.concatenate(pieces)
