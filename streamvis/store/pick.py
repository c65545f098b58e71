"""Rows here and there of stored segments, read without loading or decoding a segment whole.

A wide view needs about 64 rows at each of its ~1,600 pixel column edges, scattered across
history, often one edge per segment. A segment blob (codec.py) keeps each number column as
raw little-endian values, so those rows are small byte ranges of the blob. `pick` plans, for
all asked rows at once, which ranges to read (nearby rows in one range), reads each through
a byte-range reader the backend gives (SQLite's incremental blob I/O), and gathers the
values with one numpy index per column. The Python loop does only the reads. Arrival times
are found in their run-length or step coding without expanding every row's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
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
GAP_ROWS = 2_048  # wanted rows closer than this are read as one range (16 KiB of int64)
LAYOUTS = 4_096  # parsed headers kept, by their bytes (segments of a stream share a few)
_TIME = np.dtype("<i8")
_layouts: dict[tuple[bytes, int], Layout] = {}


class Damaged(NamedTuple):
    """A segment `pick` could not read, and why."""

    first_seq: int
    rows: int
    why: str


def read_layout(read: Reader, size: int) -> Layout:
    """The blob's layout, from one read of its start (two when the header is long); a
    header seen before is not parsed again."""
    head = read(0, min(size, HEAD_GUESS))
    if len(head) < HEAD_BYTES:
        raise CorruptSegment(f"segment of {size} bytes has no header")
    end = header_end(head)
    if end > size:
        raise CorruptSegment(f"segment header claims {end} bytes of the blob's {size}")
    if end > len(head):
        head = read(0, end)
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
        if size != pairs * 12 or len(data) != size or (ends[-1] if pairs else 0) != rows:
            raise CorruptSegment(f"segment holds run-length times for other than {rows} rows")
        return values[np.searchsorted(ends, positions, side="right")].astype(np.int64)
    if code == "d4":
        if size != 8 + 4 * max(rows - 1, 0) or rows == 0:
            raise CorruptSegment(f"segment holds {size} bytes of time steps for {rows} rows")
        data = read(offset, 8 + 4 * int(positions[-1]))
        first = int(np.frombuffer(data[:8], dtype=_TIME)[0])
        steps = np.frombuffer(data[8:], dtype="<i4").astype(np.int64)
        return first + np.concatenate(([0], np.cumsum(steps)))[positions]
    if code == "i8":
        data = read(offset + 8 * int(positions[0]), 8 * int(positions[-1] - positions[0] + 1))
        if size != rows * 8 or len(data) % 8:
            raise CorruptSegment(f"segment holds {size} bytes of times for {rows} rows")
        return np.frombuffer(data, dtype=_TIME)[positions - positions[0]].astype(np.int64)
    raise CorruptSegment(f"unknown time coding {code!r}")


class _Plan:
    """Where the asked rows are: the segment and row in it of each held one, cut into runs
    of nearby rows of one segment (each run one read per column)."""

    def __init__(self, segments: Sequence[tuple[Any, int, int]], seqs: np.ndarray) -> None:
        firsts = np.array([first for _, first, _ in segments], dtype=np.int64)
        counts = np.array([rows for _, _, rows in segments], dtype=np.int64)
        owner = np.searchsorted(firsts, seqs, side="right") - 1
        inside = owner >= 0
        inside[inside] = seqs[inside] < firsts[owner[inside]] + counts[owner[inside]]
        self.places = np.flatnonzero(inside)  # asked seqs some segment holds
        owner = owner[self.places]
        self.rows = seqs[self.places] - firsts[owner]  # row within its segment
        n = len(self.places)
        cut = np.ones(n, dtype=bool)
        cut[1:] = (owner[1:] != owner[:-1]) | (np.diff(self.rows) > GAP_ROWS)
        starts = np.flatnonzero(cut)  # first asked row of each run
        stops = np.append(starts[1:], n)[: len(starts)]
        self.run_of = np.cumsum(cut) - 1
        self.first = self.rows[starts]
        self.size = self.rows[stops - 1] - self.first + 1  # rows each run reads
        self.spans = list(zip(self.first.tolist(), self.size.tolist(), strict=True))
        run_owner = owner[starts]
        visits = np.flatnonzero(np.append(len(starts) > 0, run_owner[1:] != run_owner[:-1]))
        ends = np.append(visits[1:], len(starts))[: len(visits)]
        # (segment, its first run, the run after its last, first and end asked row)
        self.visits = list(
            zip(
                run_owner[visits].tolist(),
                visits.tolist(),
                ends.tolist(),
                starts[visits].tolist(),
                stops[ends - 1].tolist(),
                strict=True,
            )
        )


class _Column:
    """One asked column's pieces, a run at a time: raw bytes (numbers) or values (text)."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self.pieces: list[tuple[str, bytes | np.ndarray]] = []

    def values(self, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
        """(places in the asked seqs, values there) from the pieces read."""
        runs = np.array(self.runs, dtype=np.int64)
        codes = {code for code, _ in self.pieces}
        if len(codes) == 1 and isinstance(self.pieces[0][1], bytes):
            dtype = CODE_DTYPES[codes.pop()]
            data = b"".join(piece for _, piece in self.pieces)  # type: ignore[misc]
            joined = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
        else:  # a type widened between segments, or text: decode piece by piece
            joined = np.concatenate([_decoded(code, piece) for code, piece in self.pieces])
        took = np.zeros(len(plan.first), dtype=bool)
        took[runs] = True
        base = np.zeros(len(plan.first), dtype=np.int64)
        base[runs] = np.cumsum(plan.size[runs]) - plan.size[runs]
        rows = np.flatnonzero(took[plan.run_of])
        run = plan.run_of[rows]
        return plan.places[rows], joined[base[run] + plan.rows[rows] - plan.first[run]]


def _decoded(code: str, piece: bytes | np.ndarray) -> np.ndarray:
    if isinstance(piece, np.ndarray):
        return piece
    dtype = CODE_DTYPES[code]
    return np.frombuffer(piece, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)


def _reader(blob: Blob, length: int) -> Reader:
    """Reads of byte ranges of `blob`; a range past its end is damage, not a crash."""

    def read(offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > length:
            raise CorruptSegment(
                f"segment of {length} bytes has no bytes {offset} to {offset + size}"
            )
        blob.seek(offset)
        return blob.read(size)

    return read


def _read_segment(
    read: Reader, size: int, rows: int, spans: list[tuple[int, int]], columns: Sequence[str]
) -> tuple[dict[str, list[tuple[str, bytes | np.ndarray]]], Layout]:
    """The pieces of `columns` at `spans` (first row, rows) of one segment of `rows` rows."""
    place = read_layout(read, size)
    if place.rows != rows:
        raise CorruptSegment(f"segment holds {place.rows} rows, listed as {rows}")
    found: dict[str, list[tuple[str, bytes | np.ndarray]]] = {}
    for name in columns:
        part = place.columns.get(name)
        if part is None:
            continue
        code, offset, length = part
        if code == "text":
            try:
                values = np.empty(rows, dtype=object)
                values[:] = json.loads(read(offset, length))
            except ValueError as exc:
                raise CorruptSegment(f"text column '{name}' does not decode: {exc}") from None
            found[name] = [(code, values[a : a + n]) for a, n in spans]
            continue
        dtype = CODE_DTYPES.get(code)
        if dtype is None:
            raise CorruptSegment(f"unknown column type {code!r}")
        width = dtype.itemsize
        if length != rows * width:
            raise CorruptSegment(f"column '{name}' holds {length} bytes for {rows} rows")
        pieces = []
        for a, n in spans:
            data = read(offset + a * width, n * width)
            if len(data) != n * width:
                raise CorruptSegment(f"segment ends inside column '{name}'")
            pieces.append((code, data))
        found[name] = pieces
    return found, place


def pick(
    segments: Sequence[tuple[Any, int, int]],
    opener: Opener,
    seqs: np.ndarray,
    columns: Sequence[str],
    arrival: bool,
) -> tuple[Picked, list[Damaged]]:
    """The rows at `seqs` (ascending, no repeats) of the listed segments ((handle, first seq,
    rows), by first seq, none overlapping), each segment opened once with `opener`; and the
    segments that did not decode (their rows are left out)."""
    plan = _Plan(segments, seqs)
    wanted = {name: _Column() for name in columns}
    times: list[np.ndarray] = []
    damaged: list[Damaged] = []
    lost: list[tuple[int, int]] = []  # asked rows [a, b) of damaged segments
    for segment, first_run, end_run, lo, hi in plan.visits:
        handle, first_seq, rows = segments[segment]
        blob = opener(handle)
        try:
            size = len(blob)
            read = _reader(blob, size)
            spans = plan.spans[first_run:end_run]
            found, place = _read_segment(read, size, rows, spans, columns)
            if arrival:
                times.append(times_at(read, place.times, rows, plan.rows[lo:hi]))
        except CorruptSegment as exc:
            damaged.append(Damaged(first_seq, rows, str(exc)))
            lost.append((lo, hi))
            continue
        finally:
            blob.close()
        for name, pieces in found.items():
            wanted[name].runs.extend(range(first_run, end_run))
            wanted[name].pieces.extend(pieces)
    kept = np.ones(len(plan.places), dtype=bool)
    for lo, hi in lost:
        kept[lo:hi] = False
    batch, at = {}, {}
    for name, column in wanted.items():
        if column.pieces:
            at[name], batch[name] = column.values(plan)
    found_times = _joined(times, np.int64) if arrival else None
    return Picked(plan.places[kept], batch, at, found_times), damaged


def _joined(parts: Iterable[np.ndarray], dtype: type) -> np.ndarray:
    found = list(parts)
    return np.concatenate(found) if found else np.empty(0, dtype=dtype)
