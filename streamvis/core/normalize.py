"""Turn anything a producer passes into a batch: a dict of equal-length numpy columns.

Every way of writing data (scalar dict, dict of lists, list of row dicts, DataFrame, 2-D
array with column names, torch tensors) meets here, so the hub only ever sees one shape.
Columns come out in one of six dtypes: float64, float32, int64, bool, datetime64[ns] or
object (text), which keeps the ring buffers and the browser side simple. Floats keep their
width: float32 values (arrays, tensors, DataFrame columns, lists of np.float32) stay float32,
half the bytes of float64; float16 widens to float32; Python floats are float64.
"""

from __future__ import annotations

import datetime as _dt
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from streamvis.errors import StreamError

Batch = dict[str, np.ndarray]

TEXT = np.dtype(object)
TIME = np.dtype("datetime64[ns]")
FLOAT = np.dtype(np.float64)
FLOAT32 = np.dtype(np.float32)
INT = np.dtype(np.int64)
BOOL = np.dtype(bool)


def describe_dtype(dtype: np.dtype) -> str:
    """Name a column dtype the way an error message should say it."""
    if dtype == TEXT:
        return "text"
    if dtype == TIME:
        return "timestamps"
    if dtype == BOOL:
        return "booleans"
    if dtype == INT:
        return "integers"
    if dtype == FLOAT32:
        return "float32"
    return "numbers"


def float_dtype(dtype: np.dtype) -> np.dtype:
    """The column dtype for floats of `dtype`: float32 up to 4 bytes (float16 widens), else
    float64 (longdouble narrows to it)."""
    return FLOAT32 if dtype.itemsize <= 4 else FLOAT


def _is_narrow_float(value: Any) -> bool:
    """A numpy float scalar of at most 4 bytes (np.float32, np.float16)."""
    return isinstance(value, np.floating) and value.dtype.itemsize <= 4


def to_host(value: Any) -> Any:
    """Bring tensors (torch, jax, ...) to host memory so numpy can read them."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
    return value


def _is_scalar(value: Any) -> bool:
    if isinstance(value, (str, bytes, numbers.Number, _dt.datetime, np.generic)) or value is None:
        return True
    ndim = getattr(value, "ndim", None)
    if ndim is not None:
        return bool(ndim == 0)
    return not isinstance(value, (Sequence, np.ndarray)) and not hasattr(value, "__array__")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


INT64_MIN, INT64_END = -(2**63), 2**63


def _refuse_big_int(value: int, where: str) -> None:
    shown = str(value) if value.bit_length() < 128 else f"an integer of {value.bit_length()} bits"
    raise StreamError(
        f"{where}: {shown} is outside the 64-bit integer range (-2**63 to 2**63-1); "
        "send it as a float or as text"
    )


def _check_int_range(values: Any, where: str) -> None:
    """Python ints beyond int64 would wrap or round silently: refuse them."""
    for value in values:
        if type(value) is int and not INT64_MIN <= value < INT64_END:
            _refuse_big_int(value, where)


def check_text(values: Any, where: str) -> None:
    """Text must be storable as UTF-8: a lone surrogate ('\\ud800') is refused up front, so
    the store never meets a value it cannot encode."""
    texts = [v for v in values if type(v) is str and not v.isascii()]
    if not texts:
        return
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise StreamError(
                    f"{where}: text {text!r:.60} is not valid Unicode ({exc.reason} at "
                    f"character {exc.start}); send UTF-8 text"
                ) from None


def _object_column(values: np.ndarray, where: str) -> np.ndarray:
    """Sort an object array into text, numbers or timestamps, or say what is mixed."""
    kinds = set()
    narrow = True  # every number is a np.float32 (or float16): the column stays float32
    for item in values:
        if _is_missing(item):
            continue
        if isinstance(item, str):
            kinds.add("text")
        elif isinstance(item, numbers.Real | np.bool_):
            kinds.add("numbers")
            narrow = narrow and _is_narrow_float(item)
        elif isinstance(item, _dt.datetime | np.datetime64):
            kinds.add("timestamps")
        else:
            raise StreamError(f"{where}: cannot store a {type(item).__name__} ({item!r:.60})")
        if len(kinds) > 1:
            break
    if len(kinds) > 1:
        raise StreamError(f"{where}: mixes {' and '.join(sorted(kinds))} in one column")
    narrow = narrow and bool(kinds)  # a column of only missing values is float64
    kind = kinds.pop() if kinds else "numbers"
    if kind == "text":
        check_text(values, where)
        return np.array([None if _is_missing(v) else v for v in values], dtype=object)
    if kind == "timestamps":
        return np.array([np.datetime64("NaT") if v is None else v for v in values], dtype=TIME)
    _check_int_range(values, where)
    dtype = FLOAT32 if narrow else FLOAT
    return np.array([np.nan if v is None else v for v in values], dtype=dtype)


def as_column(values: Any, where: str) -> np.ndarray:
    """Convert one column's values to a 1-D array of a supported dtype."""
    values = to_host(values)
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise StreamError(f"{where}: values are not one value per row ({exc})") from None
    if array.ndim != 1:
        raise StreamError(
            f"{where}: expected one value per row (a 1-D sequence), "
            f"got an array of shape {array.shape}"
        )
    kind = array.dtype.kind
    if kind == "f":
        dtype = float_dtype(array.dtype)
        # a list holding a Python int makes float64, never float32: only float64 may hide one
        if dtype == FLOAT and not isinstance(values, np.ndarray) and _may_hold_big_ints(array):
            _check_int_range(values, where)
        return array.astype(dtype, copy=False)
    if kind == "u" and array.dtype.itemsize == 8 and len(array) and array.max() >= INT64_END:
        _refuse_big_int(int(array.max()), where)
    if kind in "iu":
        return array.astype(INT, copy=False)
    if kind == "b":
        return array
    if kind == "M":
        return array.astype(TIME, copy=False)
    if kind == "S":
        raise StreamError(f"{where}: cannot store bytes ({array[0]!r:.40}); decode them to text")
    if kind == "U":
        if not isinstance(values, np.ndarray) and not all(isinstance(v, str) for v in values):
            return _object_column(np.array(list(values), dtype=object), where)
        column = array.astype(object)
        check_text(column, where)
        return column
    if kind == "O":
        return _object_column(array, where)
    raise StreamError(f"{where}: cannot store values of dtype {array.dtype}")


def _may_hold_big_ints(array: np.ndarray) -> bool:
    """A float column built from a list may hide ints past int64 (numpy rounds them)."""
    if not len(array):
        return False
    finite = array[np.isfinite(array)]
    return bool(len(finite)) and float(np.abs(finite).max()) >= INT64_END


def _named_column(values: Any, where: str, name: str) -> np.ndarray:
    """`as_column` for the column `name`: its errors name the column (message and field)."""
    try:
        return as_column(values, f"{where}, column '{name}'")
    except StreamError as exc:
        raise exc.located(column=name) from None


def _check_names(names: Sequence[Any], where: str) -> list[str]:
    for name in names:
        if not isinstance(name, str) or not name:
            raise StreamError(f"{where}: column names must be non-empty strings, got {name!r}")
        if len(name) > 256:  # the ingest API's STREAMVIS_MAX_COLUMN_NAME may only lower this
            raise StreamError(
                f"{where}: column name '{name[:40]}...' is {len(name)} characters long; "
                "the limit is 256"
            )
    if len(set(names)) != len(names):
        raise StreamError(f"{where}: column names repeat: {list(names)}")
    return list(names)


def _from_mapping(data: Mapping[str, Any], where: str) -> Batch:
    names = _check_names(list(data), where)
    scalar = [_is_scalar(data[name]) for name in names]
    if all(scalar):
        return {name: _named_column([data[name]], where, name) for name in names}
    if any(scalar):
        one = names[scalar.index(True)]
        many = names[scalar.index(False)]
        raise StreamError(
            f"{where}: ragged columns: '{one}' is a single value but '{many}' is a sequence"
        )
    batch = {name: _named_column(data[name], where, name) for name in names}
    return _check_lengths(batch, where)


def _check_lengths(batch: Batch, where: str) -> Batch:
    lengths = {name: len(col) for name, col in batch.items()}
    if len(set(lengths.values())) > 1:
        raise StreamError(f"{where}: ragged columns: lengths {lengths}")
    return batch


def _from_rows(rows: Sequence[Mapping[str, Any]], where: str) -> Batch:
    names: dict[str, None] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise StreamError(
                f"{where}: row {index} is a {type(row).__name__}; a list of rows must hold dicts"
            )
        names.update(dict.fromkeys(row))
    _check_names(list(names), where)
    return {name: _named_column([row.get(name) for row in rows], where, name) for name in names}


def _from_array(array: np.ndarray, columns: Sequence[str] | None, where: str) -> Batch:
    if array.ndim > 2 or array.ndim == 0:
        raise StreamError(
            f"{where}: expected a 2-D array (rows x columns), got {array.ndim}-D "
            f"with shape {array.shape}"
        )
    if columns is None:
        raise StreamError(
            f"{where}: an array needs columns=[...] naming its {array.shape[-1]} column(s)"
        )
    names = _check_names(list(columns), where)
    if array.ndim == 1:
        array = array.reshape(1, -1) if len(names) == len(array) else array.reshape(-1, 1)
    if array.shape[1] != len(names):
        raise StreamError(
            f"{where}: expected {len(names)} columns {names}, got an array with "
            f"{array.shape[1]} columns"
        )
    return {name: _named_column(array[:, i], where, name) for i, name in enumerate(names)}


def normalize(
    data: Any,
    *,
    columns: Sequence[str] | None = None,
    where: str = "data",
    run: str | None = None,
    stream: str | None = None,
) -> Batch:
    """Convert producer data to a batch; raise StreamError naming `where` if it cannot be
    (and carrying `run` and `stream` as fields). Only StreamError leaves: whatever else
    numpy or the data's own methods raise is reported as a StreamError too, so callers
    never meet a foreign exception."""
    try:
        return _checked(data, columns, where)
    except StreamError as exc:
        raise exc.located(run=run, stream=stream) from None


def _checked(data: Any, columns: Sequence[str] | None, where: str) -> Batch:
    if columns is not None and (
        isinstance(columns, str | bytes) or not isinstance(columns, Sequence | np.ndarray)
    ):
        raise StreamError(
            f"{where}: columns must be a list of column names, not {type(columns).__name__} "
            f"({columns!r:.40})"
        )
    try:
        return _normalize(data, columns, where)
    except StreamError:
        raise
    except (TypeError, ValueError, OverflowError, ArithmeticError, LookupError) as exc:
        raise StreamError(
            f"{where}: cannot store this data ({type(exc).__name__}: {exc!s:.200})"
        ) from None


def _normalize(data: Any, columns: Sequence[str] | None, where: str) -> Batch:
    data = to_host(data)
    if isinstance(data, Mapping):
        return _from_mapping(data, where)
    if _is_dataframe(data):
        names = _check_names([str(c) for c in data.columns], where)
        return {
            name: _named_column(data[col].to_numpy(), where, name)
            for name, col in zip(names, data.columns, strict=True)
        }
    if isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        return _from_array(np.asarray(data), columns, where)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if not data:
            return {}
        if isinstance(data[0], Mapping):
            return _from_rows(data, where)
        try:
            array = np.asarray(data)
        except ValueError:
            raise StreamError(f"{where}: rows of a list have different lengths") from None
        if array.dtype.kind not in "fiub":
            array = np.asarray(data, dtype=object)  # keep text and numbers apart per column
        return _from_array(array, columns, where)
    raise StreamError(
        f"{where}: cannot stream a {type(data).__name__}; pass a dict, a list of dicts, "
        "a DataFrame or an array with columns=[...]"
    )


def _is_dataframe(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pandas") and hasattr(data, "columns")
