"""Batches to bytes and back: one compact columnar blob per stored segment.

A blob is `SVB1`, a 4-byte header length, a JSON header naming each column, its dtype code
and byte count, then the raw little-endian buffers. Numbers, booleans and timestamps are
stored as their numpy bytes; text as a JSON list (which keeps missing values). Arrival times
are run-length coded when many rows share one (a batch), else stored as int64.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from streamvis.normalize import BOOL, FLOAT, INT, TEXT, TIME, Batch

MAGIC = b"SVB1"
DTYPE_CODES = {FLOAT: "f8", INT: "i8", BOOL: "b1", TIME: "M8", TEXT: "text"}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}
_LENGTH = struct.Struct("<I")


class CorruptSegment(ValueError):
    """A stored blob that does not decode (written by something else, or damaged)."""


def dtype_code(dtype: np.dtype) -> str:
    return DTYPE_CODES[np.dtype(dtype)]


def _column_bytes(values: np.ndarray) -> tuple[str, bytes]:
    code = dtype_code(values.dtype)
    if code == "text":
        return code, json.dumps(values.tolist(), ensure_ascii=False).encode()
    return code, np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes()


def _times_bytes(times: np.ndarray) -> tuple[str, bytes]:
    if len(times) == 0:
        return "i8", b""
    changes = np.flatnonzero(np.diff(times)) + 1
    if len(changes) * 12 < len(times) * 8:  # run-length is smaller: (value, count) pairs
        starts = np.concatenate(([0], changes))
        counts = np.diff(np.concatenate((starts, [len(times)]))).astype("<i4")
        return "rle", times[starts].astype("<i8").tobytes() + counts.tobytes()
    return "i8", times.astype("<i8").tobytes()


def encode(batch: Batch, times: np.ndarray) -> bytes:
    """One blob holding `batch` (a dict of equal-length columns) and each row's arrival."""
    rows = len(times)
    parts: list[bytes] = []
    header: dict[str, object] = {"rows": rows, "columns": []}
    for name, values in batch.items():
        code, data = _column_bytes(values)
        header["columns"].append([name, code, len(data)])  # type: ignore[union-attr]
        parts.append(data)
    code, data = _times_bytes(np.asarray(times, dtype=np.int64))
    header["times"] = [code, len(data)]
    parts.append(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + _LENGTH.pack(len(head)) + head + b"".join(parts)


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
    return np.frombuffer(data, dtype="<i8").astype(np.int64, copy=False)


def decode(blob: bytes) -> tuple[Batch, np.ndarray]:
    """The batch and arrival times stored by `encode`; raises CorruptSegment."""
    if blob[:4] != MAGIC:
        raise CorruptSegment("not a streamvis segment (bad magic)")
    try:
        (length,) = _LENGTH.unpack_from(blob, 4)
        header = json.loads(blob[8 : 8 + length])
        offset = 8 + length
        rows = header["rows"]
        batch: Batch = {}
        for name, code, size in header["columns"]:
            batch[name] = _decode_column(code, blob[offset : offset + size], rows)
            offset += size
        code, size = header["times"]
        times = _decode_times(code, blob[offset : offset + size], rows)
    except (KeyError, ValueError, TypeError, struct.error) as exc:
        raise CorruptSegment(f"segment does not decode: {exc}") from None
    if len(times) != rows:
        raise CorruptSegment(f"segment holds {len(times)} times for {rows} rows")
    return batch, times
