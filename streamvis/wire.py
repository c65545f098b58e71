"""What travels over HTTP and websockets: request bodies in, batches out.

Bodies are JSON (one row, a list of rows, or a dict of columns) or newline-delimited JSON
(one row per line). NaN and Infinity tokens are accepted, as Python's json writes them;
`null` is a missing value. Outgoing rows are JSON columns (NaN as null) or CSV.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np

from streamvis.normalize import Batch

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


def parse_body(body: bytes, content_type: str | None) -> Any:
    """Decode a JSON or NDJSON body; refuses other media types (no cross-site form posts)."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES:
        raise WireError(
            "unsupported_media_type",
            f"send Content-Type: application/json or application/x-ndjson, not "
            f"{kind or 'nothing'!r}",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"body is not UTF-8: {exc.reason} at byte {exc.start}"
        raise WireError("invalid_json", detail) from None
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


def _plain(values: np.ndarray) -> list[Any]:
    """A column as JSON-safe values: NaN/inf and NaT become null, timestamps ISO text."""
    if values.dtype.kind == "f":
        return [None if not math.isfinite(v) else v for v in values.tolist()]
    if values.dtype.kind == "M":
        return [None if np.isnat(v) else str(v) for v in values]
    return values.tolist()


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
