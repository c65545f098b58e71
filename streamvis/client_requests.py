"""The HTTP requests `sv.Client` sends, and how a request too large for the server's body
limit becomes several smaller ones (rows are never cut in the middle; a replace becomes a
replace followed by appends)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from streamvis.normalize import Batch
from streamvis.wire import dumps

FILL = 0.9  # split bodies to this share of the limit: the pieces' sizes vary a little
_LIMIT = re.compile(r"limit of (\d+) bytes")


@dataclass(frozen=True)
class Request:
    """One HTTP request; `appended` keeps its rows (list of dicts or a batch) to split it."""

    method: str
    path: str
    body: bytes | None
    stream: str | None
    rows: int
    appended: Any = None
    mode: str = "append"


def rows_request(
    prefix: str, name: str, appended: list[dict[str, Any]] | Batch, mode: str = "append"
) -> Request:
    """POST of rows (dicts with scalar values, or a normalized batch) to stream `name`."""
    if isinstance(appended, list):
        payload: Any = rows_payload(appended)
        rows = len(appended)
    else:
        payload = batch_payload(appended)
        rows = len(next(iter(appended.values()))) if appended else 0
    query = "?mode=replace" if mode == "replace" else ""
    path = f"{prefix}/streams/{quote(name)}{query}"
    return Request("POST", path, dumps(payload), name, rows, appended, mode)


def pieces(prefix: str, request: Request, count: int) -> list[Request]:
    """`request`'s rows in `count` consecutive requests (a replace: the first replaces, the
    rest append), so what the server accepts of them is still stored."""
    rows, appended = request.rows, request.appended
    bounds = [i * rows // count for i in range(count + 1)]  # no piece is empty: count <= rows
    made = []
    for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
        if isinstance(appended, list):
            part: Any = appended[start:stop]
        else:
            part = {key: values[start:stop] for key, values in appended.items()}
        mode = request.mode if index == 0 else "append"
        made.append(rows_request(prefix, request.stream or "", part, mode))
    return made


def fit(prefix: str, request: Request, max_body: int) -> list[Request]:
    """`request` as requests whose bodies stay under `max_body` bytes. A single row cannot
    be split: it goes as it is, and the server decides."""
    size = len(request.body or b"")
    if size <= max_body or request.rows < 2 or request.appended is None:
        return [request]
    count = min(request.rows, max(2, math.ceil(size / (max_body * FILL))))
    parts = pieces(prefix, request, count)
    return [done for part in parts for done in fit(prefix, part, max_body)]


def stated_limit(body: dict[str, Any]) -> int | None:
    """The body limit a 413 answer states (a `limit` field, or 'limit of N bytes' in its
    detail), or None."""
    limit = body.get("limit")
    if isinstance(limit, int) and limit > 0:
        return limit
    found = _LIMIT.search(str(body.get("detail", "")))
    return int(found.group(1)) if found else None


def rows_payload(rows: list[dict[str, Any]]) -> Any:
    """Rows with the same keys go column-wise (smaller, faster); others as a list of rows."""
    keys = tuple(rows[0])
    if all(tuple(row) == keys for row in rows):
        return {key: [row[key] for row in rows] for key in keys}
    return rows


def batch_payload(batch: Batch) -> dict[str, list[Any]]:
    """A normalized batch as JSON-ready columns (times as ISO text, milliseconds)."""
    return {
        name: (
            values.astype("datetime64[ms]").astype(str).tolist()
            if values.dtype.kind == "M"
            else values.tolist()
        )
        for name, values in batch.items()
    }
