"""Per-stream crossfilter encodings, shared by every browser session of the process.

A crossfilter group filters and aggregates the rows its stream holds in memory. What does
not depend on a page's filters is computed here once per stream, as rows arrive (work
proportional to the new rows): a stable integer code per category of a column (first-seen
order, kept for the life of the process, so a category keeps its colour whatever the
filters), a histogram bin index per row, and numeric copies of the columns ranges filter
on. Rows leaving memory (the hub's byte budget drops the oldest chunks) or a replace bump
`epoch`, which tells sessions to recompute from the arrays. No Panel or HoloViews here.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from streamvis.core.table import Table

MISSING = 0  # the code of a missing category, and the bin of a non-finite value
BYTE_CODES = 255  # up to this many codes are held in one byte a row (4x less to scan)


class Column:
    """A growable array of rows seq `lo` .. `hi - 1`: appends amortise by doubling, and
    dropping the oldest rows moves a start offset (compacted once half the buffer is dead)."""

    def __init__(self, dtype: np.dtype | type) -> None:
        self.buffer = np.empty(1024, dtype=dtype)
        self.start = 0
        self.stop = 0

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def values(self) -> np.ndarray:
        return self.buffer[self.start : self.stop]

    def append(self, values: np.ndarray) -> None:
        count = len(values)
        if self.stop + count > len(self.buffer):
            kept = self.values
            size = max(1024, 2 * (len(kept) + count))
            self.buffer = np.empty(size, dtype=self.buffer.dtype)
            self.buffer[: len(kept)] = kept
            self.start, self.stop = 0, len(kept)
        self.buffer[self.stop : self.stop + count] = values
        self.stop += count

    def drop_oldest(self, count: int) -> None:
        self.start = min(self.start + count, self.stop)
        if self.start > len(self.buffer) // 2:
            kept = self.values.copy()
            self.buffer = np.empty(max(1024, 2 * len(kept)), dtype=self.buffer.dtype)
            self.buffer[: len(kept)] = kept
            self.start, self.stop = 0, len(kept)

    def clear(self) -> None:
        self.start = self.stop = 0

    def widen(self, dtype: np.dtype | type) -> None:
        """Hold values of a wider dtype from now on (the codes outgrew one byte)."""
        self.buffer = self.buffer.astype(dtype)

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)


def as_numbers(values: np.ndarray) -> np.ndarray:
    """A column as float64 the way range selections compare it: datetimes in ms since the
    epoch (Bokeh's unit, NaT as NaN), text and other objects as NaN."""
    if values.dtype.kind == "M":
        millis = values.astype("datetime64[ms]")
        numbers = millis.astype(np.int64).astype(float)
        numbers[np.isnat(millis)] = np.nan
        return numbers
    if values.dtype.kind in "biuf":
        return np.asarray(values, dtype=float)
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


class CategoryCodes:
    """Codes of one column's categories (compared as text): 1, 2, ... in first-seen order,
    never reused; 0 for a missing value."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.names: list[str] = []  # names[code - 1]
        self.code_of: dict[str, int] = {}
        self.codes = Column(np.uint8)

    def encode(self, values: np.ndarray) -> np.ndarray:
        local, uniques = pd.factorize(values, use_na_sentinel=True)
        lookup = np.empty(len(uniques) + 1, dtype=np.int32)
        lookup[-1] = MISSING  # factorize's -1
        for index, unique in enumerate(uniques):
            name = str(unique)
            code = self.code_of.get(name)
            if code is None:
                self.names.append(name)
                code = self.code_of[name] = len(self.names)
            lookup[index] = code
        return lookup[local]

    def append(self, values: np.ndarray) -> None:
        codes = self.encode(values)
        if len(self.names) > BYTE_CODES and self.codes.buffer.dtype == np.uint8:
            self.codes.widen(np.int32)
        self.codes.append(codes.astype(self.codes.buffer.dtype, copy=False))


def widened(
    low: float | None, high: float | None, numbers: np.ndarray
) -> tuple[float | None, float | None]:
    """Histogram bounds that hold `numbers`' finite values: the first data padded by 5%,
    then the span doubled toward whichever side a value falls outside (so bins rarely move)."""
    finite = numbers[np.isfinite(numbers)]
    if not finite.size:
        return low, high
    least, most = float(finite.min()), float(finite.max())
    if low is None or high is None:
        pad = (most - least) * 0.05 or max(abs(least) * 0.05, 0.5)
        return least - pad, most + pad
    while least < low or most > high:
        span = high - low
        if least < low:
            low -= span
        if most > high:
            high += span
    return low, high


class BinCodes:
    """Histogram bin of each row of a numeric column: 1 .. `bins`, 0 when not finite. The
    edges are fixed by the first data and widen (doubling the span) when a value falls
    outside; widening re-bins every row held (rare: each time the span doubles)."""

    def __init__(self, column: str, bins: int) -> None:
        self.column = column
        self.bins = bins
        self.low: float | None = None
        self.high: float | None = None
        self.codes = Column(np.uint8 if bins <= BYTE_CODES else np.int32)

    @property
    def edges(self) -> np.ndarray:
        if self.low is None or self.high is None:
            return np.linspace(0.0, 1.0, self.bins + 1)
        return np.linspace(self.low, self.high, self.bins + 1)

    def widen(self, numbers: np.ndarray) -> bool:
        """Fit the edges to `numbers`; True when they moved."""
        bounds = widened(self.low, self.high, numbers)
        moved = bounds != (self.low, self.high)
        self.low, self.high = bounds
        return moved

    def encode(self, numbers: np.ndarray) -> np.ndarray:
        if self.low is None or self.high is None:
            return np.zeros(len(numbers), dtype=np.int32)
        width = (self.high - self.low) / self.bins
        with np.errstate(invalid="ignore"):
            scaled = np.floor((numbers - self.low) / width)
        codes = np.zeros(len(numbers), dtype=self.codes.buffer.dtype)
        finite = np.isfinite(scaled)
        codes[finite] = np.clip(scaled[finite], 0, self.bins - 1).astype(codes.dtype) + 1
        return codes

    def rebin(self, numbers: np.ndarray) -> None:
        self.codes.clear()
        self.codes.append(self.encode(numbers))


@dataclass(frozen=True)
class Need:
    """An encoding a member asks for: 'codes' (categories), 'numbers' or 'bins' of `column`."""

    what: str
    column: str
    bins: int = 0


class Encodings:
    """The shared encodings of one stream (a hub Table): rows seq `lo` .. `hi - 1`."""

    def __init__(self, table: Table) -> None:
        self._table = weakref.ref(table)
        self.lock = threading.Lock()
        self.generation: int | None = None  # the table's generation encoded
        self.lo = self.hi = 0
        self.epoch = 0  # bumped whenever rows left or were re-encoded: sessions recompute
        self.stored_elsewhere = 0  # rows the store holds that memory dropped
        self.categories: dict[str, CategoryCodes] = {}
        self.numbers: dict[str, Column] = {}
        self.finite: dict[str, bool] = {}  # True while every number held is finite
        self.bins: dict[tuple[str, int], BinCodes] = {}

    def __len__(self) -> int:
        return self.hi - self.lo

    def require(self, needs: Iterable[Need]) -> None:
        """Add encodings; a new one is filled from every row held at the next sync."""
        added = False
        for need in needs:
            if need.what == "codes" and need.column not in self.categories:
                self.categories[need.column] = CategoryCodes(need.column)
                added = True
            elif need.what in ("numbers", "bins") and need.column not in self.numbers:
                self.numbers[need.column] = Column(np.float64)
                added = True
            if need.what == "bins" and (need.column, need.bins) not in self.bins:
                self.bins[(need.column, need.bins)] = BinCodes(need.column, need.bins)
                added = True
        if added:
            self.generation = None  # re-read everything held

    def sync(self) -> None:
        """Encode the rows that arrived since the last sync; drop the rows memory dropped."""
        table = self._table()
        if table is None:
            return
        columns = [*self.categories, *self.numbers]
        since = self.hi if self.generation == table.generation else 0
        generation, lo, hi, batch = table.read_kept(since, columns)
        if generation != self.generation and since:
            generation, lo, hi, batch = table.read_kept(0, columns)
        self.stored_elsewhere = table.stored_only_rows
        if generation != self.generation:
            self._restart(generation, lo, hi, batch)
            return
        if lo > self.lo:
            self._drop_before(lo)
        if hi > self.hi:
            self._append(batch, hi - self.hi)
            self.hi = hi

    def _restart(self, generation: int, lo: int, hi: int, batch: dict[str, np.ndarray]) -> None:
        for codes in self.categories.values():
            codes.codes.clear()
        for numbers in self.numbers.values():
            numbers.clear()
        self.finite = {}
        for bins in self.bins.values():
            bins.low = bins.high = None
            bins.codes.clear()
        self.generation, self.lo, self.hi = generation, lo, lo
        self._append(batch, hi - lo)
        self.hi = hi
        self.epoch += 1

    def _drop_before(self, lo: int) -> None:
        count = min(lo, self.hi) - self.lo
        if count > 0:
            for codes in self.categories.values():
                codes.codes.drop_oldest(count)
            for column, numbers in self.numbers.items():
                numbers.drop_oldest(count)
                if not self.finite.get(column, True):
                    self.finite[column] = bool(np.isfinite(numbers.values).all())
            for bins in self.bins.values():
                bins.codes.drop_oldest(count)
        self.lo = lo
        self.hi = max(self.hi, lo)  # rows that left before they were read are skipped
        self.epoch += 1

    def _append(self, batch: dict[str, np.ndarray], rows: int) -> None:
        for column, codes in self.categories.items():
            values = batch.get(column)
            codes.append(values if values is not None else np.full(rows, None, dtype=object))
        for column, numbers in self.numbers.items():
            values = batch.get(column)
            new = as_numbers(values) if values is not None else np.full(rows, np.nan)
            numbers.append(new)
            self.finite[column] = self.finite.get(column, True) and bool(np.isfinite(new).all())
        for (column, _), bins in self.bins.items():
            numbers_held = self.numbers[column].values
            new = numbers_held[len(numbers_held) - rows :]
            if bins.widen(new):
                bins.rebin(numbers_held)
                self.epoch += 1
            else:
                bins.codes.append(bins.encode(new))

    @property
    def nbytes(self) -> int:
        return sum(
            [c.codes.nbytes for c in self.categories.values()]
            + [n.nbytes for n in self.numbers.values()]
            + [b.codes.nbytes for b in self.bins.values()]
        )


_SHARED: weakref.WeakKeyDictionary[Table, Encodings] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def encodings_of(table: Table) -> Encodings:
    """The one Encodings object of `table`, made on first ask (it goes with the table)."""
    with _SHARED_LOCK:
        found = _SHARED.get(table)
        if found is None:
            found = _SHARED[table] = Encodings(table)
        return found
