"""Short ranges of rows scattered over stored segments, read without loading or decoding a
segment whole.

A wide view needs a bucket of about 64 rows at each of its ~1,600 pixel column edges, spread
over history, often one edge per segment. A segment blob (codec.py) keeps each number column
as raw little-endian values, so those rows are small byte ranges of the blob. `pick` plans,
for all asked ranges at once (numpy over ranges, not rows), which byte ranges to read
(nearby ones as one read), reads each through the blob the backend opens (SQLite's
incremental blob I/O), and joins the slices in order into each column's values: the Python
loop does only the reads. Arrival times are found in their run-length or step coding
without expanding every row's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from streamvis.core.storage import Picked
from streamvis.store.codec import (
    CODE_DTYPES,
    HEAD_BYTES,
    CorruptSegment,
    Layout,
    header_end,
    layout,
)


class Blob(Protocol):
    """One stored segment open for byte-range reads (SQLite's `sqlite3.Blob` is one)."""

    def __len__(self) -> int: ...
    def seek(self, offset: int, origin: int = 0, /) -> None: ...
    def read(self, length: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


Opener = Callable[[Any], Blob]  # a segment's handle (SQLite: its row id) -> its open blob
Reader = Callable[[int, int], bytes]  # (offset, size) -> those bytes of one blob
HEAD_GUESS = 512  # bytes read first: the header of a segment of a few columns fits
GAP_ROWS = 256  # asked rows of a segment closer than this are read as one range
LAYOUTS = 4_096  # parsed headers kept, by their bytes (segments of a stream share a few)
_TIME = np.dtype("<i8")
_layouts: dict[tuple[bytes, int], Layout] = {}


class Segments(NamedTuple):
    """The stored segments a pick may read, by first seq, none overlapping: each one's
    handle for the opener, first seq and row count. `inferred`: the counts were read off
    the next segment's first seq (the stream looked gapless), not stored ones."""

    handles: list[Any]
    first_seq: np.ndarray
    rows: np.ndarray
    inferred: bool = False


class Miscounted(Exception):
    """A segment holds other than the row count inferred for it: list the segments again
    with their stored counts (the pick is not damage)."""


class Damaged(NamedTuple):
    """A segment `pick` could not read, and why."""

    first_seq: int
    rows: int
    why: str


def read_layout(blob: Blob, size: int) -> Layout:
    """The layout of `blob` (`size` bytes), from one read of its start (two when the header
    is long); a header seen before is not parsed again."""
    blob.seek(0)
    head = blob.read(min(size, HEAD_GUESS))
    if len(head) < HEAD_BYTES:
        raise CorruptSegment(f"segment of {size} bytes has no header")
    end = header_end(head)
    if end > size:
        raise CorruptSegment(f"segment header claims {end} bytes of the blob's {size}")
    if end > len(head):
        blob.seek(0)
        head = blob.read(end)
    key = (head[:end], size)
    found = _layouts.get(key)
    if found is None:
        found = layout(head, size)
        if len(_layouts) >= LAYOUTS:
            _layouts.clear()
        _layouts[key] = found
    return found


def times_at(
    read: Reader, part: tuple[str, int, int], rows: int, positions: np.ndarray
) -> np.ndarray:
    """Arrival times (int64 ns) at rows `positions` (ascending) of one segment: the run
    holding each row (run-length coding), the first time plus the steps before it (step
    coding), or the values themselves."""
    code, offset, size = part
    if code == "rle":
        pairs = size // 12
        data = read(offset, size)
        values = np.frombuffer(data[: pairs * 8], dtype=_TIME)
        ends = np.cumsum(np.frombuffer(data[pairs * 8 : pairs * 12], dtype="<i4"), dtype=np.int64)
        if size != pairs * 12 or (ends[-1] if pairs else 0) != rows:
            raise CorruptSegment(f"segment holds run-length times for other than {rows} rows")
        return values[np.searchsorted(ends, positions, side="right")].astype(np.int64)
    if code == "d4":
        if size != 8 + 4 * max(rows - 1, 0) or rows == 0:
            raise CorruptSegment(f"segment holds {size} bytes of time steps for {rows} rows")
        data = read(offset, 8 + 4 * int(positions[-1]))
        first = int(np.frombuffer(data[:8], dtype=_TIME)[0])
        steps = np.frombuffer(data[8:], dtype="<i4").astype(np.int64)
        passed: np.ndarray = np.concatenate(([0], np.cumsum(steps)))[positions]
        return passed + first
    if code == "i8":
        if size != rows * 8:
            raise CorruptSegment(f"segment holds {size} bytes of times for {rows} rows")
        data = read(offset + 8 * int(positions[0]), 8 * int(positions[-1] - positions[0] + 1))
        found: np.ndarray = np.frombuffer(data, dtype=_TIME)[positions - positions[0]]
        return found.astype(np.int64)
    raise CorruptSegment(f"unknown time coding {code!r}")


class _Plan:
    """The asked ranges cut where segments start and end: pieces, each a range of rows of
    one segment going to one place of the output (rows no segment holds are in none),
    grouped into reads of nearby pieces of one segment."""

    def __init__(self, segments: Segments, starts: np.ndarray, stops: np.ndarray) -> None:
        firsts, ends = segments.first_seq, segments.first_seq + segments.rows
        lengths = stops - starts
        self.total = int(lengths.sum())
        # every (range, segment) pair that may overlap, range by range, seq by seq
        lo_seg = np.searchsorted(firsts, starts, side="right") - 1
        hi_seg = np.searchsorted(firsts, stops - 1, side="right") - 1
        count = np.maximum(hi_seg - lo_seg + 1, 0) * (lengths > 0)
        asked = np.repeat(np.arange(len(starts)), count)
        seg = lo_seg[asked] + np.arange(len(asked)) - np.repeat(np.cumsum(count) - count, count)
        safe = np.maximum(seg, 0)
        lo = np.maximum(starts[asked], firsts[safe])
        hi = np.minimum(stops[asked], ends[safe])
        keep = (seg >= 0) & (hi > lo)
        asked, seg, lo, hi = asked[keep], seg[keep], lo[keep], hi[keep]
        self.segment = seg
        self.row = lo - firsts[seg]  # first row of each piece within its segment
        self.size = hi - lo
        self.place = (np.cumsum(lengths) - lengths)[asked] + lo - starts[asked]  # in output
        self.complete = int(self.size.sum()) == self.total
        # reads: consecutive pieces of one segment with small gaps between them
        n = len(seg)
        cut = np.ones(n, dtype=bool)
        gap = self.row[1:] - (self.row[:-1] + self.size[:-1])
        cut[1:] = (seg[1:] != seg[:-1]) | (gap > GAP_ROWS)
        read_starts = np.flatnonzero(cut)
        self.read_of = np.cumsum(cut) - 1
        self.read_first = self.row[read_starts]
        read_end = np.maximum.reduceat(self.row + self.size, read_starts) if n else read_starts
        self.read_size = read_end - self.read_first
        self.reads = list(zip(self.read_first.tolist(), self.read_size.tolist(), strict=True))
        self.exact = self.complete and len(read_starts) == n  # each read is one piece, all
        self._positions: np.ndarray | None = None
        self._offsets: list[int] = []
        visit = np.flatnonzero(np.append(n > 0, seg[1:] != seg[:-1]))
        stop = np.append(visit[1:], n)[: len(visit)]
        # (segment, its first piece, the piece after its last, its first read, read after)
        self.visits = list(
            zip(
                seg[visit].tolist(),
                visit.tolist(),
                stop.tolist(),
                self.read_of[visit].tolist(),
                (self.read_of[stop - 1] + 1).tolist(),
                strict=True,
            )
        )

    def positions(self, first_piece: int, end_piece: int) -> np.ndarray:
        """The rows (within their segment) of pieces [first_piece, end_piece), in order."""
        if self._positions is None:
            before = np.cumsum(self.size) - self.size
            held = int(self.size.sum())
            self._positions = np.repeat(self.row - before, self.size) + np.arange(held)
            self._offsets = [*before.tolist(), held]
        return self._positions[self._offsets[first_piece] : self._offsets[end_piece]]


class _Column:
    """What was read of one asked column: each read's values (raw bytes for numbers, an
    array for text) with its dtype code, and which reads they are."""

    def __init__(self) -> None:
        self.chunks: list[bytes | np.ndarray] = []
        self.codes: list[str] = []
        self.reads: list[int] = []

    def assembled(self, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
        """Values at every output row, and which rows have one. The reads are joined into
        one array (one join of bytes when they share a number type); when every read is one
        whole piece (a wide view's edges) that is the answer, else one gather puts each
        piece's rows in their place (nearby pieces read together, rows not held)."""
        codes = set(self.codes)
        code = codes.pop() if len(codes) == 1 else "text"
        if code in _WIDTHS:
            dtype = CODE_DTYPES[code]
            data = b"".join(self.chunks)  # type: ignore[arg-type]
            joined = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
        else:  # text, or a type widened between segments
            chunks = zip(self.codes, self.chunks, strict=True)
            joined = np.concatenate([_decoded(code, chunk) for code, chunk in chunks])
        if plan.exact and len(self.reads) == len(plan.reads):
            return joined, np.ones(plan.total, dtype=bool)
        start = np.full(len(plan.reads), -1)  # where each read's rows are in `joined`
        sizes = plan.read_size[self.reads]
        start[self.reads] = np.cumsum(sizes) - sizes
        mine = start[plan.read_of] >= 0  # pieces of segments holding this column
        read = plan.read_of[mine]
        size = plan.size[mine]
        before = np.cumsum(size) - size
        rows = np.arange(int(size.sum()))
        source = np.repeat(start[read] + plan.row[mine] - plan.read_first[read] - before, size)
        place = np.repeat(plan.place[mine] - before, size) + rows
        values = np.zeros(plan.total, dtype=joined.dtype)
        have = np.zeros(plan.total, dtype=bool)
        values[place] = joined[source + rows]
        have[place] = True
        return values, have


def _decoded(code: str, chunk: bytes | np.ndarray) -> np.ndarray:
    if isinstance(chunk, np.ndarray):
        return chunk
    dtype = CODE_DTYPES[code]
    return np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)


class _Times:
    """Arrival times of the held rows, segment by segment. Run-length coded ones (rows
    written in batches) are only read in the loop, and resolved for all segments at once
    with one search; the other codings segment by segment."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray | None] = []  # None: a run-length segment's, resolved later
        self.values: list[bytes] = []
        self.counts: list[bytes] = []
        self.positions: list[np.ndarray] = []
        self.rows: list[int] = []

    def read(
        self,
        read: Reader,
        part: tuple[str, int, int],
        rows: int,
        plan: _Plan,
        first_piece: int,
        end_piece: int,
    ) -> None:
        code, offset, size = part
        positions = plan.positions(first_piece, end_piece)
        if code != "rle" or not len(positions):
            self.parts.append(times_at(read, part, rows, positions))
            return
        pairs = size // 12
        data = read(offset, size)
        counts = data[pairs * 8 :]
        if size != pairs * 12 or np.frombuffer(counts, dtype="<i4").sum() != rows:
            raise CorruptSegment(f"segment holds run-length times for other than {rows} rows")
        self.values.append(data[: pairs * 8])
        self.counts.append(data[pairs * 8 :])
        self.positions.append(positions)
        self.rows.append(rows)
        self.parts.append(None)

    def assembled(self) -> np.ndarray:
        """The times in the order the segments were read."""
        if self.rows:
            counts = np.frombuffer(b"".join(self.counts), dtype="<i4").astype(np.int64)
            rows = np.array(self.rows)
            base = np.cumsum(rows) - rows  # where each segment's rows start, all joined
            ends = np.cumsum(counts)
            asked = [p + b for p, b in zip(self.positions, base.tolist(), strict=True)]
            where = np.searchsorted(ends, np.concatenate(asked), side="right")
            found = np.frombuffer(b"".join(self.values), dtype="<i8")[where].astype(np.int64)
            cuts = np.cumsum([len(p) for p in self.positions])[:-1]
            resolved = iter(np.split(found, cuts))
            self.parts = [next(resolved) if p is None else p for p in self.parts]
        parts = [p for p in self.parts if p is not None]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _reader(blob: Blob, length: int) -> Reader:
    """Reads of byte ranges of `blob`; a range past its end is damage, not a crash."""

    def read(offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > length:
            raise CorruptSegment(f"segment of {length} bytes has no bytes {offset}+{size}")
        blob.seek(offset)
        return blob.read(size)

    return read


def _read_columns(
    blob: Blob,
    place: Layout,
    reads: list[tuple[int, int]],
    columns: Sequence[str],
) -> list[tuple[str, str, list[bytes | np.ndarray]]]:
    """(name, dtype code, each read's values) of each asked column the segment holds, for
    `reads` (first row, rows)."""
    rows = place.rows
    found: list[tuple[str, str, list[bytes | np.ndarray]]] = []
    for name in columns:
        part = place.columns.get(name)
        if part is None:
            continue
        code, offset, length = part
        if code == "text":
            try:
                values = np.empty(rows, dtype=object)
                blob.seek(offset)
                values[:] = json.loads(blob.read(length))
            except ValueError as exc:
                raise CorruptSegment(f"text column '{name}' does not decode: {exc}") from None
            found.append((name, code, [values[a : a + n] for a, n in reads]))
            continue
        width = _WIDTHS.get(code)
        if width is None:
            raise CorruptSegment(f"unknown column type {code!r}")
        if length != rows * width:
            raise CorruptSegment(f"column '{name}' holds {length} bytes for {rows} rows")
        chunks: list[bytes | np.ndarray] = []
        for a, n in reads:
            blob.seek(offset + a * width)
            chunks.append(blob.read(n * width))
        found.append((name, code, chunks))
    return found


_WIDTHS = {code: dtype.itemsize for code, dtype in CODE_DTYPES.items() if code != "text"}


def pick(
    segments: Segments,
    opener: Opener,
    starts: np.ndarray,
    stops: np.ndarray,
    columns: Sequence[str],
    arrival: bool,
) -> tuple[Picked, list[Damaged]]:
    """The rows of the ranges [starts[i], stops[i]) (ascending, none overlapping) of the
    listed segments, concatenated, each segment opened once with `opener`; and the segments
    that did not decode (their rows are left out). Raises Miscounted when an inferred row
    count was wrong."""
    plan = _Plan(segments, starts, stops)
    wanted = {name: _Column() for name in columns}
    times = _Times()
    damaged: list[Damaged] = []
    lost: list[int] = []  # pieces of damaged segments
    rows_of = segments.rows.tolist()
    for segment, first_piece, end_piece, first_read, end_read in plan.visits:
        rows = rows_of[segment]
        blob = opener(segments.handles[segment])
        try:
            size = len(blob)
            place = read_layout(blob, size)
            if place.rows != rows:
                if segments.inferred:
                    raise Miscounted(f"segment holds {place.rows} rows, inferred {rows}")
                raise CorruptSegment(f"segment holds {place.rows} rows, listed as {rows}")
            found = _read_columns(blob, place, plan.reads[first_read:end_read], columns)
            if arrival:  # kept only when the whole segment read well, like the columns
                times.read(_reader(blob, size), place.times, rows, plan, first_piece, end_piece)
        except CorruptSegment as exc:
            damaged.append(Damaged(int(segments.first_seq[segment]), rows, str(exc)))
            lost.extend(range(first_piece, end_piece))
            continue
        finally:
            blob.close()
        for name, code, chunks in found:
            column = wanted[name]
            column.chunks.extend(chunks)
            column.codes.extend([code] * len(chunks))
            column.reads.extend(range(first_read, end_read))
    held = np.full(plan.total, plan.complete and not lost)
    if not held.all():
        good = np.ones(len(plan.size), dtype=bool)
        good[lost] = False
        for place, size in zip(plan.place[good].tolist(), plan.size[good].tolist(), strict=True):
            held[place : place + size] = True
    batch, has = {}, {}
    for name, column in wanted.items():
        if column.chunks:
            batch[name], has[name] = column.assembled(plan)
    return Picked(held, batch, has, times.assembled() if arrival else None), damaged
