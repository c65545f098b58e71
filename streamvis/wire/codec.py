"""What travels over HTTP and websockets: request bodies in, batches out.

Bodies are JSON (one row, a list of rows, or a dict of columns) or newline-delimited JSON
(one row per line). NaN and Infinity tokens are accepted, as Python's json writes them;
`null` is a missing value. Before a body is parsed, one linear scan refuses nesting deeper
than `Limits.max_depth` and number tokens longer than `Limits.max_number_chars`, so no
body can make the parser recurse or convert a huge integer. Outgoing rows are JSON columns
(NaN as null) or CSV.

JSON numbers are float64, so a producer that logged float32 arrays names those columns
(`float32=NAME` query arguments, or a `"float32": [NAME, ...]` websocket field) and the
server stores them as float32 again: every float32 value survives JSON exactly, so nothing
is lost on the way.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

import numpy as np

from streamvis.core.normalize import FLOAT32, Batch, describe_dtype
from streamvis.errors import StreamError
from streamvis.wire.limits import Limits

JSON_TYPES = (
    "application/json",
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
)


class WireError(ValueError):
    """A body that cannot be read; `code` is the short error name sent to the producer."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


# a JSON string, possessive so that it never backtracks; an unterminated one runs to the end
_STRING = re.compile(rb'"(?:[^"\\]++|\\[\s\S])*+(?:"|\\?\Z)')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# bytes.translate tables: an opening bracket becomes 1, a closing one -1 (as int8), number
# characters 1 and everything else 0
_STEP = bytes(1 if b in b"[{" else 255 if b in b"]}" else 0 for b in range(256))
_NUMBER_CHAR = bytes(1 if b in b"-+.0123456789eE" else 0 for b in range(256))
_CHUNK = 1 << 20


def _deepest(text: bytes) -> int:
    """The greatest nesting depth its brackets reach (strings not told apart)."""
    steps = text.translate(_STEP, _NOT_BRACKET)
    deepest, depth = 0, 0
    for start in range(0, len(steps), _CHUNK):
        count = min(_CHUNK, len(steps) - start)
        levels = np.cumsum(np.frombuffer(steps, np.int8, count, start), dtype=np.int64) + depth
        deepest = max(deepest, int(levels.max()))
        depth = int(levels[-1])
    return deepest


def _longest_number(text: bytes) -> tuple[int, int]:
    """(length, offset) of its longest run of number characters (strings not told apart)."""
    marks = np.frombuffer(text.translate(_NUMBER_CHAR), np.int8)
    edges = np.diff(marks, prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not starts.size:
        return 0, 0
    longest = int(np.argmax(ends - starts))
    return int(ends[longest] - starts[longest]), int(starts[longest])


def check_bounds(raw: bytes, limits: Limits, where: str = "body") -> None:
    """Refuse JSON nested deeper than `limits.max_depth` or holding a number token longer
    than `limits.max_number_chars`, in time linear in its length, before it is parsed.
    The raw text is measured first; only if it looks over a limit are strings (which may
    hold brackets and digits) blanked out and the text measured again."""
    depth, (digits, _) = _deepest(raw), _longest_number(raw)
    if depth <= limits.max_depth and digits <= limits.max_number_chars:
        return
    bare = _STRING.sub(b'""', raw) if b'"' in raw else raw
    depth = _deepest(bare)
    if depth > limits.max_depth:
        raise WireError(
            "too_deep",
            f"{where} nests arrays/objects {depth} levels deep; the limit is "
            f"{limits.max_depth} (STREAMVIS_MAX_DEPTH)",
        )
    digits, offset = _longest_number(bare)
    if digits > limits.max_number_chars:
        head = bare[offset : offset + 20].decode("ascii")
        raise WireError(
            "number_too_long",
            f"{where} holds a number of {digits} characters ({head}...); the limit is "
            f"{limits.max_number_chars} (STREAMVIS_MAX_NUMBER_CHARS)",
        )


def parse_message(raw: bytes | str, limits: Limits, where: str = "message") -> Any:
    """Decode one websocket frame (text or binary, UTF-8 JSON) within `limits`."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"{where} is not UTF-8: {exc.reason} at byte {exc.start}"
        raise WireError("invalid_json", detail) from None
    check_bounds(raw, limits, where)
    return _loads(text, where)


def parse_body(body: bytes, content_type: str | None, limits: Limits | None = None) -> Any:
    """Decode a JSON or NDJSON body within `limits`; refuses other media types (no
    cross-site form posts)."""
    limits = limits or Limits()
    kind = media_type(content_type)
    if kind not in JSON_TYPES:
        raise WireError(
            "unsupported_media_type",
            f"send Content-Type: application/json, application/x-ndjson or (numeric "
            f"columns) application/x-streamvis-columns, not {kind or 'nothing'!r}",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"body is not UTF-8: {exc.reason} at byte {exc.start}"
        raise WireError("invalid_json", detail) from None
    check_bounds(body, limits)
    if kind == "application/json":
        return _loads(text, "body")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_loads(line, f"line {number}"))
    return rows


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WireError(
            "invalid_json",
            f"{where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except RecursionError:  # only when STREAMVIS_MAX_DEPTH is set above Python's own limit
        raise WireError("too_deep", f"{where} nests arrays/objects too deeply") from None
    except ValueError as exc:  # int() past Python's digit limit, with a raised number limit
        raise WireError("number_too_long", f"{where} holds a number too long: {exc}") from None


FLOAT32_MAX = float(np.finfo(np.float32).max)


def float32_names(batch: Batch) -> list[str]:
    """The float32 columns of a batch: what the producer names so the server keeps them
    float32 (JSON carries every number as float64)."""
    return [name for name, values in batch.items() if values.dtype == FLOAT32]


def narrow_float32(batch: Batch, names: Any, where: str) -> Batch:
    """`batch` with the columns in `names` stored as float32 (values rounded to the nearest
    float32, as numpy does). Raises StreamError, naming the column, for names that are not
    a list of the batch's number columns and for finite values past the float32 range."""
    if names is None:
        return batch
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise StreamError(f"{where}: float32 must be a list of column names, not {names!r:.60}")
    narrowed = dict(batch)
    for name in dict.fromkeys(names):
        values = batch.get(name)
        column = f"{where}, column '{name}'"
        if values is None:
            shown = name if len(name) <= 60 else f"{name[:60]}..."  # any text a producer sent
            message = f"{where}, column '{shown}': named as float32 but the data lacks it"
            raise StreamError(message, column=shown)
        if values.dtype.kind not in "biuf":
            raise StreamError(
                f"{column}: named as float32 but holds {describe_dtype(values.dtype)}; "
                "only numbers can be stored as float32",
                column=name,
            )
        wide = values.astype(np.float64, copy=False)
        too_big = np.isfinite(wide) & (np.abs(wide) > FLOAT32_MAX)
        if too_big.any():
            value = float(wide[np.argmax(too_big)])
            raise StreamError(
                f"{column}: {value!r} is outside the float32 range (+-{FLOAT32_MAX:.4g}); "
                "send the column as float64",
                column=name,
            )
        narrowed[name] = values.astype(FLOAT32)
    return narrowed


def _plain(values: np.ndarray) -> list[Any]:
    """A column as JSON-safe values: NaN/inf and NaT become null, timestamps ISO text."""
    if values.dtype.kind == "f":
        return [None if not math.isfinite(v) else v for v in values.tolist()]
    if values.dtype.kind == "M":
        return [None if np.isnat(v) else str(v) for v in values]
    plain: list[Any] = values.tolist()
    return plain


def columns_json(batch: Batch) -> dict[str, list[Any]]:
    return {name: _plain(values) for name, values in batch.items()}


def columns_csv(batch: Batch) -> str:
    import pandas as pd

    buffer = io.StringIO()
    pd.DataFrame(batch).to_csv(buffer, index=False)
    return buffer.getvalue()


def dumps(payload: Any) -> bytes:
    """Compact JSON as the client sends it (NaN/Infinity tokens allowed, as parse_body reads)."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")
