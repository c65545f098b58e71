"""Batches to bytes and back: one compact columnar blob per stored segment.

A blob is `SVB1`, a 4-byte header length, a JSON header naming each column, its dtype code
and byte count, then the raw little-endian buffers. Numbers, booleans and timestamps are
stored as their numpy bytes (float32 columns as 4-byte floats, code `f4`); text as a JSON
list (which keeps missing values). Arrival times are run-length coded when many rows share
one (a batch), else as int32 steps from the first (rows a moment apart), else as int64.
"""

from __future__ import annotations

import json
import struct
from typing import Any, NamedTuple

import numpy as np

from streamvis.core.normalize import BOOL, FLOAT, FLOAT32, INT, TEXT, TIME, Batch

MAGIC = b"SVB1"
DTYPE_CODES: dict[np.dtype, str] = {
    FLOAT: "f8",
    FLOAT32: "f4",
    INT: "i8",
    BOOL: "b1",
    TIME: "M8",
    TEXT: "text",
}
CODE_DTYPES: dict[str, np.dtype] = {code: dtype for dtype, code in DTYPE_CODES.items()}
_LENGTH = struct.Struct("<I")
HEAD_BYTES = 8  # MAGIC and the header's length come first
NUMBER_CODES = frozenset(("b1", "i8", "f4", "f8"))


class CorruptSegment(ValueError):
    """A stored blob that does not decode (written by something else, or damaged)."""


def dtype_code(dtype: np.dtype) -> str:
    return DTYPE_CODES[np.dtype(dtype)]


def merged_code(old: str, new: str) -> str | None:
    """The code of a column holding values of both codes (numbers widen as the ring's
    columns do: i8 with f4 is f8), or None when they cannot share a column."""
    if old == new:
        return old
    if old in NUMBER_CODES and new in NUMBER_CODES:
        return dtype_code(np.result_type(CODE_DTYPES[old], CODE_DTYPES[new]))
    return None


def _column_parts(parts: list[np.ndarray]) -> tuple[str, list[Any]]:
    """A column's dtype code and its bytes as buffers (no copy for little-endian numbers)."""
    code = dtype_code(parts[0].dtype)
    if code == "text":
        values = [v for part in parts for v in part.tolist()]
        return code, [json.dumps(values, ensure_ascii=False).encode()]
    little = parts[0].dtype.newbyteorder("<")
    buffers = []
    for part in parts:
        if part.dtype != little or not part.flags.c_contiguous:
            part = np.ascontiguousarray(part, dtype=little)
        buffers.append(memoryview(part.view(np.uint8).data))
    return code, buffers


def time_runs(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times as (distinct consecutive values, how many rows each)."""
    if len(times) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(times)) + 1))
    counts = np.diff(np.concatenate((starts, [len(times)])))
    return times[starts], counts


def _times_bytes(values: np.ndarray, counts: np.ndarray) -> tuple[str, bytes]:
    """The smallest exact coding: run-length pairs (a batch shares one time), the first time
    and int32 ns steps (rows a moment apart), or plain int64."""
    rows = int(counts.sum())
    if len(values) * 12 < rows * 4 + 8:
        return "rle", values.astype("<i8").tobytes() + counts.astype("<i4").tobytes()
    times = np.repeat(values, counts)
    steps = np.diff(times)
    if len(steps) == 0 or (steps.min() >= -(2**31) and steps.max() < 2**31):
        return "d4", times[:1].astype("<i8").tobytes() + steps.astype("<i4").tobytes()
    return "i8", times.astype("<i8").tobytes()


def encode_parts(
    columns: dict[str, list[np.ndarray]],
    time_values: np.ndarray,
    time_counts: np.ndarray,
) -> bytes:
    """One blob from columns given as consecutive pieces (joined without concatenating) and
    arrival times given as runs; every column's pieces add up to the same row count."""
    rows = int(np.sum(time_counts))
    buffers: list[Any] = []
    header: dict[str, Any] = {"rows": rows, "columns": []}
    for name, parts in columns.items():
        code, data = _column_parts(parts)
        header["columns"].append([name, code, sum(len(b) for b in data)])
        buffers.extend(data)
    code, times = _times_bytes(np.asarray(time_values), np.asarray(time_counts))
    header["times"] = [code, len(times)]
    buffers.append(times)
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([MAGIC, _LENGTH.pack(len(head)), head, *buffers])


def encode(batch: Batch, times: np.ndarray) -> bytes:
    """One blob holding `batch` (a dict of equal-length columns) and each row's arrival."""
    values, counts = time_runs(np.asarray(times, dtype=np.int64))
    return encode_parts({name: [column] for name, column in batch.items()}, values, counts)


def _decode_column(code: str, data: bytes, rows: int) -> np.ndarray:
    if code == "text":
        values = np.empty(rows, dtype=object)
        values[:] = json.loads(data)
        return values
    dtype = CODE_DTYPES.get(code)
    if dtype is None:
        raise CorruptSegment(f"unknown column type {code!r}")
    values = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
    if len(values) != rows:
        raise CorruptSegment(f"column holds {len(values)} values, header says {rows}")
    return values


def _decode_times(code: str, data: bytes, rows: int) -> np.ndarray:
    if code == "rle":
        pairs = len(data) // 12
        values = np.frombuffer(data[: pairs * 8], dtype="<i8")
        counts = np.frombuffer(data[pairs * 8 :], dtype="<i4")
        return np.repeat(values, counts).astype(np.int64, copy=False)
    if code == "d4":
        first = np.frombuffer(data[:8], dtype="<i8").astype(np.int64)
        steps = np.frombuffer(data[8:], dtype="<i4").astype(np.int64)
        return np.concatenate((first, first[0] + np.cumsum(steps))) if rows else first[:0]
    return np.frombuffer(data, dtype="<i8").astype(np.int64, copy=False)


class Layout(NamedTuple):
    """Where the parts of a blob lie: its row count, each column's (code, offset, size) by
    name and the arrival times' (code, offset, size), offsets from the blob's start."""

    rows: int
    columns: dict[str, tuple[str, int, int]]
    times: tuple[str, int, int]


def header_end(start: bytes) -> int:
    """Where the header of a blob ends, from its first HEAD_BYTES bytes (or more)."""
    if start[:4] != MAGIC:
        raise CorruptSegment("not a streamvis segment (bad magic)")
    try:
        (length,) = _LENGTH.unpack_from(start, 4)
    except struct.error as exc:
        raise CorruptSegment(f"segment does not decode: {exc}") from None
    return HEAD_BYTES + int(length)


def layout(head: bytes, size: int) -> Layout:
    """The parts of a blob of `size` bytes, from its first `header_end` bytes (or more);
    raises CorruptSegment when the header does not parse or a part lies past the end."""
    end = header_end(head)
    try:
        header = json.loads(head[HEAD_BYTES:end])
        rows = int(header["rows"])
        columns, offset = {}, end
        for name, code, length in header["columns"]:
            columns[name] = (code, offset, int(length))
            offset += int(length)
        code, length = header["times"]
        times = (code, offset, int(length))
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptSegment(f"segment does not decode: {exc}") from None
    if len(head) < end or offset + times[2] > size or rows < 0:
        raise CorruptSegment(f"segment header claims more than its {size} bytes")
    return Layout(rows, columns, times)


def decode(blob: bytes) -> tuple[Batch, np.ndarray]:
    """The batch and arrival times stored by `encode`; raises CorruptSegment."""
    place = layout(blob, len(blob))
    try:
        batch: Batch = {}
        for name, (code, offset, size) in place.columns.items():
            batch[name] = _decode_column(code, blob[offset : offset + size], place.rows)
        code, offset, size = place.times
        times = _decode_times(code, blob[offset : offset + size], place.rows)
    except (KeyError, ValueError, TypeError, struct.error) as exc:
        raise CorruptSegment(f"segment does not decode: {exc}") from None
    if len(times) != place.rows:
        raise CorruptSegment(f"segment holds {len(times)} times for {place.rows} rows")
    return batch, times
