"""One stream of one run: its ring of columns, schema checks, mode, generation and lock.

Every write to a stream goes through its `Table` under the table's lock: the schema is
checked before anything changes, the rows go into the ring with their arrival time, and,
with a store, the change is queued to the store's journal in seq order. Readers (page
subscriptions, the HTTP API, export, replay) copy rows out under the same lock through the
methods below; the lock and the ring are the table's own and nobody else touches them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from streamvis.core._ring import Ring, merged_dtype
from streamvis.core.folder import FOLDER
from streamvis.core.history import History, missing_rows
from streamvis.core.lod import ARRIVAL, View, as_float, reference_view
from streamvis.core.memory import Budget
from streamvis.core.normalize import BOOL, FLOAT, FLOAT32, INT, TEXT, Batch, describe_dtype
from streamvis.core.storage import ANY_SEQ, AppendRow, AppendRows, ClearStream
from streamvis.core.summary import Summary, compute
from streamvis.core.summary_view import spans
from streamvis.errors import StreamError

if TYPE_CHECKING:
    import streamz

    from streamvis.core.durable import Store

_INT64_LIMIT = 2**63
_SMALL = 2048  # a view of at most this many kept rows is answered by brute force
Mode = Literal["append", "replace"]
# Python types a scalar-dict row may carry, per column dtype, to skip normalize entirely. A
# float32 column takes only np.float32: a Python float is a float64 value and widens it.
_ROW_TYPES: dict[np.dtype, tuple[type, ...]] = {
    FLOAT: (float, int),
    FLOAT32: (np.float32,),
    INT: (int,),
    BOOL: (bool,),
    TEXT: (str,),
}


def all_missing(values: np.ndarray) -> bool:
    """True when a column holds no value at all (only None, NaN or NaT)."""
    if values.dtype == TEXT:
        return all(v is None for v in values)
    if values.dtype.kind in "fM":
        return bool(np.isnan(values).all())
    return False


@dataclass(frozen=True)
class Update:
    """What a subscriber has not seen yet. `reset` means: drop what you drew, this is all."""

    reset: bool
    batch: Batch
    seq: int
    generation: int
    times: np.ndarray | None = None  # each row's arrival (int64 ns since the epoch)

    @property
    def rows(self) -> int:
        return len(next(iter(self.batch.values()))) if self.batch else 0


@dataclass(frozen=True)
class Snapshot:
    """Copies of a stream's kept rows from `first_seq` on, taken under the table's lock."""

    first_seq: int  # seq of the first row in `batch` (`next_seq` when there is none)
    next_seq: int  # the seq the next row written will get
    batch: Batch
    times: np.ndarray  # each row's arrival (int64 ns since the epoch)


class Table:
    """One stream: its ring of columns, mode, generation and lock."""

    def __init__(
        self,
        run: str,
        name: str,
        retain: int | None = None,
        store: Store | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.run = run
        self.name = name
        self._lock = threading.Lock()
        self.budget = budget
        self._ring = Ring(retain, on_resize=budget.add if budget is not None else None)
        self._history: History | None = None  # stored rows read back, made on first need
        self.generation = 0
        self.mode: Mode = "append"
        self._source: streamz.Stream | None = None  # made by `streamz_source` when asked
        self.store = store
        self.created = self.updated = time.time_ns()
        self._row_types: dict[str, tuple[type, ...]] | None = None
        self._dtypes: dict[str, np.dtype] = {}
        self._summary = Summary()  # level of detail for views (core/summary.py)
        # The summary's own lock, taken inside the table's (never the other way round): the
        # background folder applies a fold under it alone, so writes never wait for that.
        self._summary_lock = threading.RLock()
        FOLDER.start()  # here, not in the write that first asks it to fold
        # called by the folder, holding no lock, after its fold grew the summary (the hub
        # checks its byte budget, which counts summaries, as it does after a write)
        self.after_fold: Callable[[], object] | None = None
        self._kept = _KeptRows(self)
        # a store several processes write: it numbers the rows, and they reach this table
        # only through the process's follower (`apply_stored`), as they reach every other
        self.shared = bool(getattr(store, "shared", False))

    @property
    def where(self) -> str:
        return f"run '{self.run}', stream '{self.name}'"

    @property
    def next_seq(self) -> int:
        """The seq the next row written will get (rows are numbered from 0, never reused)."""
        return self._ring.hi

    @property
    def first_seq(self) -> int:
        """The seq of the oldest row kept (`next_seq` when none is kept)."""
        return self._ring.lo

    @property
    def dtypes(self) -> dict[str, np.dtype]:
        """Each column's dtype, in the order the columns first arrived (a copy)."""
        return self._ring.dtypes

    @property
    def row_count(self) -> int:
        """How many rows are kept in memory now (within the hub's byte budget)."""
        return len(self._ring)

    def streamz_source(self) -> streamz.Stream:
        """The streamz.Stream that emits each batch written from now on; streamz is imported
        and the Stream made only on this first ask, so plain producers never load it."""
        source = self._source
        if source is None:
            import streamz

            with self._lock:
                if self._source is None:
                    self._source = streamz.Stream(stream_name=f"{self.run}/{self.name}")
                source = self._source
        return source

    def _refresh_row_types(self) -> None:
        self._dtypes = self._ring.dtypes
        types = {name: _ROW_TYPES.get(dtype) for name, dtype in self._dtypes.items()}
        usable = types and all(types.values()) and self._ring.capacity > 0
        self._row_types = types if usable else None  # type: ignore[assignment]

    def try_append_row(self, row: dict[str, Any]) -> int:
        """Store a scalar-dict row that matches the schema exactly; returns the store ticket
        (0 without a store), or -1 when the row does not fit this fast path."""
        types = self._row_types
        if types is None or len(row) != len(types) or self.shared:
            return -1
        if (source := self._source) is not None and source.downstreams:
            return -1
        for name, value in row.items():
            allowed = types.get(name)
            if allowed is None or type(value) not in allowed:
                return -1
            if type(value) is int and not -_INT64_LIMIT <= value < _INT64_LIMIT:
                return -1  # too big for int64: the general path refuses it with a message
            if type(value) is str and not value.isascii():
                return -1  # the general path checks the text can be stored as UTF-8
        store = self.store
        if store is not None:
            store.admit(1)
        now = time.time_ns()
        with self._lock:
            if self._row_types is not types or self.mode != "append":
                return -1
            seq = self._ring.hi
            self._ring.append_row(row, now)
            if self._ring.hi >= self._summary.due:
                self._fold_soon()
            self.updated = now
            if store is None:
                return 0
            ticket = store.put(AppendRow(self.run, self.name, seq, dict(row), now, self._dtypes))
            self._ring.mark(seq, ticket)
            return ticket

    def _fold(self) -> None:
        """Fold the rows written since the last fold into the summary (under the lock)."""
        with self._summary_lock:
            self._summary.catch_up(
                self._kept, self._readable_from(), self._ring.hi, self._ring.dtypes
            )

    def _fold_soon(self) -> None:
        """Under the lock, from a write past the summary's `due`: hand the fold to the
        background folder (core/folder.py); the writer does not wait for it."""
        self._summary.postpone(self._ring.hi)  # one request per FOLD_ROWS rows written
        FOLDER.request(self)

    def fold_in_background(self) -> None:
        """The folder's fold: rows read under the table's lock, statistics taken with no
        lock, added under the summary's lock alone (writers do not take it) unless a view,
        eviction, replace or clear got there first."""
        with self._lock, self._summary_lock:
            first = self._readable_from()
            plan = self._summary.plan(self._kept, first, self._ring.hi, self._ring.dtypes)
        if plan is None:
            return
        stats, highs = compute(plan)
        with self._summary_lock:  # ring.lo read without the table's lock: an int, atomic
            grew = self._summary.apply(plan, stats, highs, self._readable_from())
        if grew and self.after_fold is not None:
            self.after_fold()

    def _readable_from(self) -> int:
        """The oldest row a view can read: with a store, every row since the last replace or
        clear (memory's dropped rows are read back from it); without one, memory's oldest."""
        if self.store is not None:
            return min(self._summary.start, self._ring.lo)
        return self._ring.lo

    def _fit_missing(self, batch: Batch) -> Batch:
        """Columns that hold nothing but missing values fit any stored column: drop them, so
        the ring fills them with that column's own missing value (None, NaN or NaT)."""
        fitted = {}
        dtypes = self._ring.dtypes
        for name, values in batch.items():
            stored = dtypes.get(name)
            if stored is not None and stored != values.dtype and all_missing(values):
                continue
            fitted[name] = values
        return fitted

    def _check_schema(self, batch: Batch) -> None:
        dtypes = self._ring.dtypes
        for name, values in batch.items():
            stored = dtypes.get(name)
            if stored is not None and merged_dtype(stored, values.dtype) is None:
                sample = values[0] if len(values) else None
                raise StreamError(
                    f"{self.where}, column '{name}': expected {describe_dtype(stored)}, "
                    f"got {describe_dtype(values.dtype)} ({sample!r:.40})",
                    run=self.run,
                    stream=self.name,
                    column=name,
                )

    def write(self, batch: Batch, rows: int, mode: Mode, batch_id: str | None = None) -> int:
        """Append or replace under the lock; the schema is checked before anything changes.
        An empty replace empties the stream. Returns the store ticket of the change (0
        without a store)."""
        store = self.store
        if store is not None:
            store.admit(rows)
        if store is not None and self.shared:
            return self._write_shared(store, batch, rows, mode, batch_id)
        ticket = 0
        now = time.time_ns()
        with self._lock:
            if mode == "replace":
                self._ring.reset()
                with self._summary_lock:
                    self._summary.reset(self._ring.hi)
                self.generation += 1
            else:
                batch = self._fit_missing(batch)
                self._check_schema(batch)
            self.mode = mode
            seq = self._ring.hi
            self._ring.append(batch, rows, now)
            self.updated = now
            self._refresh_row_types()
            if self._ring.hi >= self._summary.due:
                self._fold_soon()
            if store is not None:
                kept = {name: values.copy() for name, values in batch.items()}
                ticket = store.put(
                    AppendRows(self.run, self.name, seq, rows, kept, now, mode,
                               self.generation, batch_id)
                )  # fmt: skip
                self._ring.mark(seq, ticket)
        source = self._source
        if source is not None and source.downstreams:
            source.emit(batch)
        return ticket

    def _write_shared(
        self, store: Store, batch: Batch, rows: int, mode: Mode, batch_id: str | None
    ) -> int:
        """Queue rows for a shared store, which numbers them; the schema is checked against
        what this process holds first (the store checks again, atomically, against what every
        process wrote). Every change carries a batch id, so a retried commit stores it once."""
        with self._lock:
            if mode == "append":
                batch = self._fit_missing(batch)
                self._check_schema(batch)
        kept = {name: values.copy() for name, values in batch.items()}
        op_id = batch_id or f"~{uuid.uuid4().hex}"
        now = time.time_ns()
        return store.put(AppendRows(self.run, self.name, ANY_SEQ, rows, kept, now, mode, 0, op_id))

    def apply_stored(
        self,
        kind: Literal["append", "replace", "clear"],
        generation: int,
        first_seq: int,
        batch: Batch,
        times: np.ndarray,
    ) -> None:
        """Apply a change a shared store numbered (its follower read it): rows from
        `first_seq`, or a clear or replace, which start the table afresh. Rows already held
        are skipped; rows after a gap (the store trimmed what this process had not read yet)
        start the table afresh at `first_seq`, so pages redraw."""
        rows = len(times)
        with self._lock:
            ring = self._ring
            fresh = kind != "append" or first_seq > ring.hi or self.generation < generation
            if fresh:
                ring.restart_at(first_seq)
                with self._summary_lock:
                    self._summary.reset(first_seq)
                self.generation = max(self.generation + 1, generation)
            skip = ring.hi - first_seq
            if rows == 0 or skip >= rows:
                self._refresh_row_types()
                return
            if skip > 0:
                batch = {name: values[skip:] for name, values in batch.items()}
                times, rows = times[skip:], rows - skip
            if kind != "clear":
                self.mode = "replace" if kind == "replace" else "append"
            ring.append(batch, rows, times)
            self.updated = int(times[-1]) if rows else time.time_ns()
            self._refresh_row_types()
            if ring.hi >= self._summary.due:
                self._fold_soon()
        source = self._source
        if source is not None and source.downstreams:
            source.emit(batch)

    def restore(
        self,
        first_seq: int,
        batches: Iterable[tuple[Batch, np.ndarray]],
        mode: str,
        generation: int,
        keep_from: int | None = None,
    ) -> None:
        """Fill an empty table with stored rows numbered from `first_seq` (replay). Memory
        keeps the rows from `keep_from` on (None: all), within the hub's byte budget: older
        chunks go as the rows come in, so every row can be fed through without being held."""
        with self._lock, self._summary_lock:
            self._ring.restart_at(first_seq)
            self._summary.reset(first_seq)
            for batch, times in batches:
                rows = len(times)
                self._check_schema(batch)
                self._ring.append(batch, rows, times)
                self._fold()  # before older rows leave memory
                self._trim_restored(keep_from)
            self.mode = "replace" if mode == "replace" else "append"
            self.generation = generation
            self._refresh_row_types()
            self._fold()

    def _trim_restored(self, keep_from: int | None) -> None:
        """Under the lock, while restoring: drop the chunks older than `keep_from`, then the
        oldest while the hub is over its budget (never the newest chunk)."""
        if keep_from is not None:
            self._ring.drop_before(keep_from)
        while self.budget is not None and self.budget.over():
            if not self._ring.drop_oldest_chunk():
                break

    def lose(self, seq: int, rows: int) -> None:
        """The store refused rows `seq` .. `seq + rows - 1`: show them as missing values, as
        a replay of the store would, and make pages redraw."""
        with self._lock:
            ring = self._ring
            start, stop = max(seq, ring.lo), min(seq + rows, ring.hi)
            if start >= stop:
                return
            ring.fill_missing(start, stop)
            self.generation += 1
            self._refresh_row_types()
            with self._summary_lock:
                self._summary.rebuild(self._kept, ring.lo, ring.hi, ring.dtypes)

    def clear(self) -> int:
        """Drop every row (numbering goes on); returns the store ticket (0 without one)."""
        if self.store is not None and self.shared:  # the follower applies it, as elsewhere
            return self.store.put(ClearStream(self.run, self.name, ANY_SEQ, 0))
        with self._lock:
            self._ring.reset()
            with self._summary_lock:
                self._summary.reset(self._ring.hi)
            self.generation += 1
            self._refresh_row_types()
            if self.store is None:
                return 0
            return self.store.put(ClearStream(self.run, self.name, self._ring.hi, self.generation))

    def drop(self) -> None:
        """Forget every row and the schema, and make pages reset: the run is being deleted
        (the hub records that in the store itself, so nothing is queued here)."""
        with self._lock:
            self._ring.reset()
            with self._summary_lock:
                self._summary.reset(self._ring.hi)
            self.generation += 1
            self._refresh_row_types()

    def read(self, generation: int, seq: int, limit: int | None) -> Update | None:
        """What a subscriber at (`generation`, `seq`) has not seen: new rows, a reset with
        every kept row (the newest `limit`) after a replace or clear, or None."""
        with self._lock:
            reset = generation != self.generation
            since = self._ring.lo if reset else seq
            if not reset and since >= self._ring.hi:
                return None
            _, batch = self._ring.read(since, limit)
            times = self._ring.read_times(since, limit)
            return Update(reset, batch, self._ring.hi, self.generation, times)

    def rows(self, since: int = 0, limit: int | None = None) -> tuple[int, int, Batch]:
        """(first seq returned, next seq, copies of the kept rows with seq >= since)."""
        with self._lock:
            first, batch = self._ring.read(since, limit)
            return first, self._ring.hi, batch

    def read_kept(self, since: int, columns: Sequence[str]) -> tuple[int, int, int, Batch]:
        """(generation, first kept seq, next seq, copies of `columns` for the kept rows with
        seq >= `since`), all at one instant: what crossfilter encodings follow."""
        with self._lock:
            ring = self._ring
            names = [name for name in columns if name in ring.dtypes]
            batch = ring.read_range(max(since, ring.lo), ring.hi, names)
            return self.generation, ring.lo, ring.hi, batch

    @property
    def stored_only_rows(self) -> int:
        """Rows since the last replace or clear that the store holds but memory dropped."""
        with self._lock:
            return self._ring.lo - self._readable_from()

    def snapshot(self, since: int = 0, limit: int | None = None) -> Snapshot:
        """Copies of the kept rows with seq >= `since` (at most the newest `limit`) and
        their arrival times, all taken at one instant."""
        with self._lock:
            first, batch = self._ring.read(since, limit)
            times = self._ring.read_times(since, limit)
            return Snapshot(first, self._ring.hi, batch, times)

    def view(
        self,
        x: str,
        columns: Sequence[str],
        lo: float | None,
        hi: float | None,
        width: int,
        raw_limit: int,
    ) -> View:
        """The level-of-detail view of `columns` against `x` (a column, or ARRIVAL for each
        row's arrival time) for the x range [lo, hi] (None: the whole run) at `width` pixel
        columns; see streamvis/core/lod.py. Columns the stream lacks are left out."""
        with self._lock:
            dtypes = self._ring.dtypes
            readable = self._ring.hi - self._readable_from()
            if readable > _SMALL and (x == ARRIVAL or _is_numeric(dtypes, x)):
                wanted = [name for name in columns if _is_numeric(dtypes, name)]
                with self._summary_lock:
                    self._fold()  # what is left unfolded is then under one bucket
                    found = self._summary.view(
                        self._kept, self._readable_from(), self._ring.hi, x, wanted, lo, hi,
                        width, raw_limit,
                    )  # fmt: skip
                return replace(found, next_seq=self._ring.hi, generation=self.generation)
            _, batch = self._ring.read(self._ring.lo)
            if x == ARRIVAL:
                xs = self._ring.read_times(self._ring.lo).astype("float64")
            else:
                xs = batch.get(x, np.empty(0))
                if xs.dtype.kind == "M":  # datetimes: ns since the epoch, NaT a gap
                    xs = as_float(xs)
            numeric = {
                name: batch[name]
                for name in columns
                if name in batch and batch[name].dtype.kind in "biuf"
            }
            if xs.dtype.kind not in "biuf":
                xs, numeric = np.empty(0), {}
            found = reference_view(xs, numeric, lo, hi, width, raw_limit)
            return replace(found, next_seq=self._ring.hi, generation=self.generation)

    def rows_between(self, start: int, stop: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
        """Values of `columns` (ARRIVAL: arrival ns) for rows with seq in [start, stop) (the
        RawRows of core/lod.py): from memory, else read back from the store. Rows in neither
        (dropped from memory with no store, or never written) come back missing (NaN). The
        store is read outside the table's lock, so writers do not wait for it."""
        with self._lock:
            start, kept, newer, older_rows = self._split_rows(start, stop, columns)
        return _joined_rows(older_rows(), newer, columns) if kept > start else newer

    def rows_between_locked(
        self, start: int, stop: int, columns: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """`rows_between` for a caller already holding the table's lock (the summary): the
        store, when needed, is read under the lock."""
        start, kept, newer, older_rows = self._split_rows(start, stop, columns)
        return _joined_rows(older_rows(), newer, columns) if kept > start else newer

    def _split_rows(
        self, start: int, stop: int, columns: Sequence[str]
    ) -> tuple[int, int, dict[str, np.ndarray], Callable[[], dict[str, np.ndarray]]]:
        """Under the lock: (start, first seq in memory, copies of the rows memory holds, a
        reader of the older rows from the store, or as missing values without one)."""
        ring = self._ring
        stop = min(stop, ring.hi)
        start = min(max(start, 0), stop)
        kept = min(max(start, ring.lo), stop)  # rows from here on are in memory
        newer = ring.read_range(kept, stop, [c for c in columns if c != ARRIVAL])
        if ARRIVAL in columns:
            newer[ARRIVAL] = ring.times_range(kept, stop)
        dtypes = {**ring.dtypes, ARRIVAL: np.dtype(np.int64)}
        history = self._history
        if kept > start and history is None and self.store is not None:
            history = self._history = History(self.store, self.run, self.name)
        if kept > start and history is not None:
            history.forget_before(self.generation)
            found = history
            return start, kept, newer, lambda: found.rows(start, kept, columns, dtypes)
        return start, kept, newer, lambda: missing_rows(kept - start, columns, dtypes)

    def stored_rows(
        self, starts: np.ndarray, stops: np.ndarray, columns: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Under the lock: values of the rows memory dropped in the ranges [starts[i],
        stops[i]) (ascending, none overlapping), concatenated, from the store (missing values
        without one)."""
        dtypes = self._ring.dtypes
        if self._history is None and self.store is not None:
            self._history = History(self.store, self.run, self.name)
        if self._history is None:
            count = int(np.sum(stops - starts))
            return missing_rows(count, columns, {**dtypes, ARRIVAL: np.dtype(np.int64)})
        self._history.forget_before(self.generation)
        return self._history.take(starts, stops, columns, dtypes)

    @property
    def nbytes(self) -> int:
        """Bytes this stream holds in memory: its rows, and its summary when it has one."""
        summary = getattr(self, "_summary", None)
        size = getattr(summary, "nbytes", 0)  # core/summary.py when the table keeps one
        return self._ring.nbytes + int(size() if callable(size) else size)

    @property
    def evictable(self) -> bool:
        """True when it holds more than its newest chunk (what the budget may drop)."""
        return self._ring.chunk_count > 1

    def evict_oldest(self) -> int:
        """Drop the oldest chunk of rows from memory (never the newest), once the store has
        them. Returns the bytes freed (0 when only the newest chunk is left, or the store
        has not stored the oldest yet)."""
        settled = self.store.settled if self.store is not None else None
        with self._lock:
            if self._summary.folded < self._ring.oldest_chunk_end():
                self._fold()  # the summary keeps what the dropped rows said
            freed = self._ring.drop_oldest_chunk(settled)
            with self._summary_lock:
                self._summary.forget_before(self._readable_from())
            return freed

    def first_arrival(self) -> int | None:
        """Arrival time (ns since the epoch) of the oldest row kept; None when empty."""
        with self._lock:
            return self._ring.first_time()

    def describe(self) -> dict[str, Any]:
        """The stream as the HTTP API lists it: mode, columns, row count, seq, times."""
        with self._lock:
            return {
                "run": self.run,
                "stream": self.name,
                "mode": self.mode,
                "columns": {n: describe_dtype(d) for n, d in self._ring.dtypes.items()},
                "rows": len(self._ring),
                "bytes": self._ring.nbytes,
                "seq": self._ring.hi,
                "generation": self.generation,
                "created": iso_time(self.created),
                "updated": iso_time(self.updated),
            }


def _joined_rows(
    older: dict[str, np.ndarray], newer: dict[str, np.ndarray], columns: Sequence[str]
) -> dict[str, np.ndarray]:
    """Rows read back from the store followed by those in memory, column by column."""
    return {
        name: np.concatenate([older[name], newer[name]]) if name in newer else older[name]
        for name in columns
        if name in older
    }


def _is_numeric(dtypes: dict[str, np.dtype], name: str) -> bool:
    return name in dtypes and dtypes[name].kind in "biuf"


class _KeptRows:
    """A table's rows as `RawRows` for its summary, called under the table's lock only: rows
    memory holds as views into the ring (no copy, valid until the next write), older ones
    read back from the store (`Table.rows_between_locked`)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def rows_between(self, start: int, stop: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
        ring = self.table._ring
        if start >= ring.lo:
            return ring.rows_between(start, stop, columns)
        return self.table.rows_between_locked(start, stop, columns)

    def in_place(self, start: int, stop: int) -> bool:
        """True when memory holds the rows [start, stop) (the summary then folds them in
        place, core/summary.py `InPlaceRows`)."""
        ring = self.table._ring
        return ring.lo <= start and stop <= ring.hi

    def contiguous(self, start: int, stop: int) -> list[int]:
        return self.table._ring.contiguous(start, stop)

    def arrival_highs(self, start: int, stop: int, size: int) -> np.ndarray:
        return self.table._ring.arrival_highs(start, stop, size)

    def rows_in_spans(
        self, starts: np.ndarray, stops: np.ndarray, columns: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """The rows of many short ranges in one call (a view's pixel column edges): memory's
        by a gather, rows memory dropped from the stored segments they lie in."""
        ring = self.table._ring
        if len(starts) == 0 or int(starts[0]) >= ring.lo:
            return ring.take(spans(starts, stops), columns)
        dropped = starts < ring.lo  # ranges starting in rows memory dropped (a prefix)
        picked = self.table.stored_rows(
            starts[dropped], np.minimum(stops[dropped], ring.lo), columns
        )
        newer = np.maximum(starts, ring.lo)
        kept = ring.take(spans(newer, np.maximum(stops, newer)), columns)
        return {name: np.concatenate([picked[name], kept[name]]) for name in kept}


def iso_time(ns: int) -> str:
    """A time in ns since the epoch as ISO 8601 UTC text (what the API shows)."""
    return str(np.datetime64(ns, "ns").astype("datetime64[ms]")) + "Z"
