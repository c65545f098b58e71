"""Rows of one stream that memory no longer holds, read back from the store on demand.

A level-of-detail view zoomed into old history asks for raw rows by seq (`Table.rows_between`);
the rows memory dropped (the hub's byte budget) are read here through the store's typed reads,
never through a backend. Ranges (`rows`: a zoomed-in view's raw rows) read whole segments
(`StoreReads.segments`), and the decoded segments of the last reads stay in a small cache, so
nearby reads (a pan) decode each once. Scattered rows (`take`: the few rows at each of a wide
view's ~1,600 pixel column edges, each in another segment) are picked from the store one
small byte range at a time (`StoreReads.pick`), never decoding a segment for a row or two.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from streamvis.core._ring import holds_missing, missing_value
from streamvis.core.lod import ARRIVAL
from streamvis.core.storage import Segment, StoreReads, StreamRecord

CACHE_BYTES = 64 * 2**20  # decoded segments kept per stream for nearby reads
_ARRIVAL_DTYPE = np.dtype(np.int64)


def missing_rows(
    count: int, columns: Sequence[str], dtypes: Mapping[str, np.dtype]
) -> dict[str, np.ndarray]:
    """`count` missing values of each of `columns` it knows the dtype of."""
    out = {}
    for name in columns:
        if name in dtypes:
            dtype = holds_missing(dtypes[name])
            out[name] = np.full(count, missing_value(dtype), dtype=dtype)
    return out


def _segment_bytes(segment: Segment) -> int:
    return segment.times.nbytes + sum(values.nbytes for values in segment.batch.values())


class History:
    """Stored rows of (run, stream), with a byte-bounded cache of decoded segments."""

    def __init__(
        self, store: StoreReads, run: str, stream: str, cache_bytes: int = CACHE_BYTES
    ) -> None:
        self.store = store
        self.run = run
        self.stream = stream
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, Segment] = OrderedDict()  # by first seq, oldest use first
        self._cached = 0
        self._generation = 0  # the stream's generation the cached rows belong to
        self._lock = threading.Lock()
        self.reads = 0  # reads sent to the store: segment queries and picks (tests count them)

    def _record(self) -> StreamRecord | None:
        return next((r for r in self.store.streams(self.run) if r.stream == self.stream), None)

    def _covering(self, start: int, stop: int) -> list[Segment] | None:
        """Cached segments covering every row of [start, stop), or None when one is missing."""
        found = []
        seq = start
        for first in sorted(self._cache):
            segment = self._cache[first]
            end = first + len(segment.times)
            if end <= seq or first >= stop:
                continue
            if first > seq:
                return None
            found.append(segment)
            seq = end
            if seq >= stop:
                break
        return found if seq >= stop else None

    def _remember(self, segment: Segment) -> None:
        if segment.first_seq in self._cache:
            self._cache.move_to_end(segment.first_seq)
            return
        self._cache[segment.first_seq] = segment
        self._cached += _segment_bytes(segment)
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached -= _segment_bytes(old)

    def segments(self, start: int, stop: int) -> list[Segment]:
        """The stored segments holding rows of [start, stop), from the cache when it can."""
        with self._lock:
            cached = self._covering(start, stop)
            if cached is not None:
                for segment in cached:
                    self._cache.move_to_end(segment.first_seq)
                return cached
        record = self._record()
        if record is None:
            return []
        self.reads += 1
        found = [s for s in self.store.segments(record, start, stop) if s.first_seq < stop]
        with self._lock:
            for segment in found:
                self._remember(segment)
        return found

    def forget_before(self, generation: int) -> None:
        """Drop the cache when the stream was replaced or cleared since it was filled."""
        with self._lock:
            if generation != self._generation:
                self._cache.clear()
                self._cached = 0
                self._generation = generation

    def rows(
        self, start: int, stop: int, columns: Sequence[str], dtypes: Mapping[str, np.dtype]
    ) -> dict[str, np.ndarray]:
        """Values of `columns` (ARRIVAL: arrival ns) for rows [start, stop); rows the store
        does not hold are missing. `dtypes` are the stream's column dtypes."""
        count = max(stop - start, 0)
        have = np.zeros(count, dtype=bool)
        pieces: dict[str, list[tuple[int, np.ndarray]]] = {name: [] for name in columns}
        for segment in self.segments(start, stop) if count else []:
            a = max(start, segment.first_seq)
            b = min(stop, segment.first_seq + len(segment.times))
            if a >= b:
                continue
            have[a - start : b - start] = True
            inner = slice(a - segment.first_seq, b - segment.first_seq)
            for name in columns:
                values = segment.times if name == ARRIVAL else segment.batch.get(name)
                if values is not None:
                    pieces[name].append((a - start, values[inner]))
        out = {}
        known = {**dtypes, ARRIVAL: _ARRIVAL_DTYPE}
        for name in columns:
            kinds = [values.dtype for _, values in pieces[name]]
            if name not in known and not kinds:
                continue
            dtype = np.result_type(*kinds) if kinds else known[name]
            complete = have.all() and sum(len(v) for _, v in pieces[name]) == count
            if complete:
                column = np.empty(count, dtype=dtype)
            else:
                dtype = holds_missing(dtype)
                column = np.full(count, missing_value(dtype), dtype=dtype)
            for at, values in pieces[name]:
                column[at : at + len(values)] = values
            out[name] = column
        return out

    def take(
        self,
        starts: np.ndarray,
        stops: np.ndarray,
        columns: Sequence[str],
        dtypes: Mapping[str, np.dtype],
    ) -> dict[str, np.ndarray]:
        """Values of `columns` for the stored rows of the ranges [starts[i], stops[i])
        (ascending, none overlapping; a view's pixel column edges), concatenated: picked
        from the store, only those rows of each segment (`StoreReads.pick`: no segment is
        read or decoded whole). Rows the store does not hold are missing."""
        known = {**dtypes, ARRIVAL: _ARRIVAL_DTYPE}
        count = int(np.sum(np.maximum(stops - starts, 0)))
        out = {
            name: np.full(
                count, missing_value(holds_missing(known[name])), holds_missing(known[name])
            )
            for name in columns
            if name in known
        }
        record = self._record() if count else None
        if record is None:
            return out
        self.reads += 1
        stored = [name for name in out if name != ARRIVAL]
        found = self.store.pick(record, starts, stops, stored, ARRIVAL in out)
        for name, values in found.batch.items():
            have = found.has[name]
            if have.all():
                out[name][:] = values
            else:
                out[name][have] = values[have]
        if found.times is not None:
            out[ARRIVAL][found.held] = found.times
        return out
