"""The HTTP requests `sv.Client` sends: what its queue holds, how queued entries become
requests (consecutive appends to a stream of a run travel together), and how a request too
large for the server's body limit becomes several smaller ones (rows are never cut in the
middle; a replace becomes a replace followed by appends)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

import numpy as np

from streamvis.core.normalize import Batch, normalize
from streamvis.errors import StreamError
from streamvis.wire import columns as binary_columns
from streamvis.wire.codec import dumps, float32_names

FILL = 0.9  # split bodies to this share of the limit: the pieces' sizes vary a little
JSON = "application/json"


class Item(NamedTuple):
    """One queued batch or command. Consecutive scalar rows of a stream are queued as one
    plain `(stream, deque of rows)` tuple instead: appending a row then creates no object
    the garbage collector tracks, which is what made each call slower as rows piled up.
    Both start with the stream; such a tuple, and an Item whose `run` is None, belong to
    the client's own run."""

    stream: str | None
    kind: Literal["row", "batch", "clear", "layout", "attributes"]
    payload: Any
    mode: str = "append"
    rows: int = 1
    run: str | None = None


Target = tuple[str | None, str | None]  # (run, None: the client's own; stream, None: all)
PrefixOf = Callable[[str | None], str]  # a run (None: the client's own) -> its API path


def target_of(entry: tuple[Any, ...]) -> Target:
    """(run, stream) a queued entry is for."""
    return (entry.run, entry.stream) if type(entry) is Item else (None, entry[0])


def rows_of(entry: tuple[Any, ...]) -> int:
    """Rows a queued entry counts for."""
    return entry.rows if type(entry) is Item else len(entry[1])


@dataclass
class _Group:
    """Consecutive appends to one stream that travel together: scalar rows, or batches
    with the same columns and dtypes."""

    kind: Literal["row", "batch"]
    payloads: list[Any] = field(default_factory=list)
    rows: int = 0


@dataclass(frozen=True)
class Request:
    """One HTTP request; `appended` keeps its rows (list of dicts or a batch) to split it;
    `run` is None for the client's own run; `content_type` says how `body` is encoded."""

    method: str
    path: str
    body: bytes | None
    stream: str | None
    rows: int
    appended: Any = None
    mode: str = "append"
    run: str | None = None
    content_type: str = JSON

    @property
    def target(self) -> Target:
        return self.run, self.stream

    @property
    def binary(self) -> bool:
        """Its body is binary columns (wire/columns.py), not JSON."""
        return self.content_type == binary_columns.MEDIA_TYPE


def rows_request(
    prefix: str,
    name: str,
    appended: list[dict[str, Any]] | Batch,
    mode: str = "append",
    run: str | None = None,
    binary: bool = False,
) -> Request:
    """POST of rows (dicts with scalar values, or a normalized batch) to stream `name` of
    the run whose API path is `prefix` (`run`, None for the client's own). With `binary`,
    rows whose columns are all numeric go as binary columns (wire/columns.py), else JSON."""
    arguments = ["mode=replace"] if mode == "replace" else []
    numeric = numeric_columns(appended) if binary else None
    if numeric is not None:
        query = "?mode=replace" if mode == "replace" else ""
        path = f"{prefix}/streams/{quote(name)}{query}"
        body = binary_columns.encode(numeric)
        rows = len(next(iter(numeric.values())))
        media = binary_columns.MEDIA_TYPE
        return Request("POST", path, body, name, rows, appended, mode, run, media)
    if isinstance(appended, list):
        payload: Any = rows_payload(appended)
        rows = len(appended)
    else:
        payload = batch_payload(appended)
        rows = len(next(iter(appended.values()))) if appended else 0
        # JSON numbers are float64: name the float32 columns so the server keeps them float32
        arguments += [f"float32={quote(column, safe='')}" for column in float32_names(appended)]
    query = f"?{'&'.join(arguments)}" if arguments else ""
    path = f"{prefix}/streams/{quote(name)}{query}"
    return Request("POST", path, dumps(payload), name, rows, appended, mode, run)


def numeric_columns(appended: list[dict[str, Any]] | Batch) -> Batch | None:
    """`appended` as numeric columns for a binary body, or None when it has text (or
    objects), rows with different keys, or values the server would refuse: those go as
    JSON and the server decides, exactly as before. Scalar rows become columns as the
    server's `normalize` would make them of the same JSON values."""
    if isinstance(appended, list):
        if not appended:
            return None
        payload = rows_payload(appended)
        if not isinstance(payload, dict):
            return None
        try:
            appended = normalize(payload, where="rows")
        except StreamError:
            return None
    return appended if binary_columns.encodable(appended) else None


def pieces(prefix: str, request: Request, count: int, binary: bool | None = None) -> list[Request]:
    """`request`'s rows in `count` consecutive requests (a replace: the first replaces, the
    rest append), so what the server accepts of them is still stored. They are encoded
    as `request` was, unless `binary` says otherwise."""
    binary = request.binary if binary is None else binary
    rows, appended = request.rows, request.appended
    bounds = [i * rows // count for i in range(count + 1)]  # no piece is empty: count <= rows
    made = []
    for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
        if isinstance(appended, list):
            part: Any = appended[start:stop]
        else:
            part = {key: values[start:stop] for key, values in appended.items()}
        mode = request.mode if index == 0 else "append"
        stream = request.stream or ""
        made.append(rows_request(prefix, stream, part, mode, request.run, binary))
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
    """The body limit a 413 answer states in its `limit` field, or None (a proxy's page, an
    older server: the client then halves what it sends until it fits)."""
    limit = body.get("limit")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        return limit
    return None


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


def requests_for(
    prefix_of: PrefixOf, entries: list[tuple[Any, ...]], batch_rows: int, binary: bool = False
) -> list[Request]:
    """Queued entries as requests, in the order they were queued. Consecutive appends to a
    stream of a run (scalar rows, or batches with the same columns) travel together, in
    requests of at most `batch_rows` rows; a replace, clear, layout or attributes goes alone, after
    what came before it. `prefix_of(run)` is a run's API path; `binary`: numeric rows go
    as binary columns."""
    requests: list[Request] = []
    pending: dict[tuple[str | None, str], list[_Group]] = {}

    def send_pending() -> None:
        for (run, name), groups in pending.items():
            for group in groups:
                requests.extend(
                    _append_requests(prefix_of(run), name, group, batch_rows, run, binary)
                )
        pending.clear()

    for entry in entries:
        if type(entry) is not Item:  # scalar rows of the client's run: (stream, deque of rows)
            groups = pending.setdefault((None, entry[0]), [])
            if not groups or groups[-1].kind != "row":
                groups.append(_Group("row"))
            groups[-1].payloads.extend(entry[1])
            groups[-1].rows += len(entry[1])
            continue
        item: Item = entry
        if item.kind == "batch" and item.mode == "append" and item.stream:
            groups = pending.setdefault((item.run, item.stream), [])
            if not groups or not _joinable(groups[-1], item.payload):
                groups.append(_Group("batch"))
            groups[-1].payloads.append(item.payload)
            groups[-1].rows += item.rows
            continue
        send_pending()
        prefix, run = prefix_of(item.run), item.run
        if item.kind in ("layout", "attributes"):
            body = dumps(item.payload)
            requests.append(Request("PUT", f"{prefix}/{item.kind}", body, None, 0, run=run))
        elif item.kind == "clear" and item.stream is None:
            requests.append(Request("DELETE", f"{prefix}/streams", None, None, 0, run=run))
        elif item.kind == "clear":
            path = f"{prefix}/streams/{quote(item.stream or '')}"
            requests.append(Request("DELETE", path, None, item.stream, 0, run=run))
        else:  # a replace: the whole new content in one request (if it fits)
            stream = item.stream or ""
            requests.append(rows_request(prefix, stream, item.payload, "replace", run, binary))
    send_pending()
    return requests


def _append_requests(
    prefix: str, name: str, group: _Group, batch_rows: int, run: str | None, binary: bool
) -> list[Request]:
    """Requests for a group of joinable appends, chunked by `batch_rows`."""
    if group.kind == "row":
        rows = group.payloads
        return [
            rows_request(prefix, name, rows[i : i + batch_rows], run=run, binary=binary)
            for i in range(0, len(rows), batch_rows)
        ]
    first = group.payloads[0]
    batch = {key: np.concatenate([payload[key] for payload in group.payloads]) for key in first}
    return [
        rows_request(
            prefix,
            name,
            {k: v[i : i + batch_rows] for k, v in batch.items()},
            run=run,
            binary=binary,
        )
        for i in range(0, group.rows, batch_rows)
    ]


def _joinable(group: _Group, batch: dict[str, np.ndarray]) -> bool:
    """A batch joins a group of batches with the same columns and dtypes."""
    if group.kind != "batch":
        return False
    before = [(k, v.dtype) for k, v in group.payloads[-1].items()]
    return before == [(k, v.dtype) for k, v in batch.items()]


def rows_per_stream(entries: list[tuple[Any, ...]]) -> dict[Target, int]:
    """How many rows each (run, stream) has among `entries`."""
    counts: dict[Target, int] = {}
    for entry in entries:
        target = target_of(entry)
        counts[target] = counts.get(target, 0) + rows_of(entry)
    return counts
