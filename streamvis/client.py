"""A remote producer you can leave in a training loop: `Client.stream` only enqueues.

A background thread sends what is queued every few milliseconds, as one request per stream
and batch, over one keep-alive HTTP connection. Connection errors, 5xx and 429 are retried
with exponential backoff (each request carries a batch id, so a retried batch is stored
once); other 4xx are reported in `Client.errors` and logged, never raised in your loop. The
queue is bounded: when full, the oldest rows are dropped and counted (or, with
`when_full="block"`, the caller waits). `flush()` and interpreter exit deliver what is queued.
"""

from __future__ import annotations

import atexit
import http.client
import itertools
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import numpy as np

from streamvis.compat import SeedClientMethods
from streamvis.errors import StreamError
from streamvis.hub import check_name
from streamvis.normalize import Batch, normalize
from streamvis.spec import Layout, layout_to_dict, load_layout
from streamvis.wire import dumps

log = logging.getLogger("streamvis.client")
_PLAIN = frozenset((int, float, bool, str))
_RETRY_STATUS = frozenset((429, 500, 502, 503, 504))


@dataclass(frozen=True)
class _Item:
    """One queued write or command. `rows` counts toward the queue bound."""

    stream: str | None
    kind: Literal["row", "batch", "clear", "layout"]
    payload: Any
    mode: str = "append"
    rows: int = 1


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    body: bytes | None
    stream: str | None
    rows: int
    appended: Any = None  # the rows (list of dicts or a batch), kept to split a refusal


class Client(SeedClientMethods):
    """Send rows to a streamvis server. `Client("localhost:5006", "myrun", token=...)`."""

    def __init__(
        self,
        url: str,
        run: str = "default",
        token: str | None = None,
        *,
        queue_rows: int = 1_000_000,
        when_full: Literal["drop_oldest", "block"] = "drop_oldest",
        flush_interval: float = 0.005,
        batch_rows: int = 10_000,
        timeout: float = 10.0,
        exit_timeout: float = 10.0,
    ) -> None:
        self.url = url if "://" in url else f"http://{url}"
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Client url must look like http://host:port, not {url!r}")
        self.run = check_name("run", run)
        self.token = token if token is not None else os.environ.get("STREAMVIS_TOKEN")
        self.queue_rows = queue_rows
        self.when_full = when_full
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.timeout = timeout
        self.exit_timeout = exit_timeout
        self.errors: list[dict[str, Any]] = []
        self.dropped_rows = 0
        self.sent_rows = 0
        self._parts = parts
        self._prefix = f"{parts.path.rstrip('/')}/api/v1/runs/{quote(self.run)}"
        self._queue: deque[_Item] = deque()
        self._queued = 0
        self._busy = False
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = False
        self._deadline: float | None = None
        self._ids = itertools.count(1)
        self._client_id = uuid.uuid4().hex[:12]
        self._connection: http.client.HTTPConnection | None = None
        self._warned: set[tuple[str | None, str]] = set()
        self._checked_names: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="streamvis-client", daemon=True)
        self._thread.start()
        _open_clients.add(self)

    # ---------------------------------------------------------------- producer side
    def stream(
        self, name: str, data: Any, *, mode: str = "append", columns: Sequence[str] | None = None
    ) -> int:
        """Queue `data` for stream `name` (same inputs as `sv.stream`); returns rows queued.
        Bad data raises StreamError here, at once; transport trouble never raises."""
        if type(data) is dict and mode == "append":
            for value in data.values():
                if type(value) not in _PLAIN:
                    break
            else:
                if name not in self._checked_names:
                    check_name("stream", name)
                    self._checked_names.add(name)
                self._put(_Item(name, "row", data.copy()))
                return 1
        if mode not in ("append", "replace"):
            raise StreamError(f"stream '{name}': mode must be 'append' or 'replace', not {mode!r}")
        check_name("stream", name)
        batch = normalize(data, columns=columns, where=f"run '{self.run}', stream '{name}'")
        rows = len(next(iter(batch.values()))) if batch else 0
        self._put(_Item(name, "batch", batch, mode, rows))
        return rows

    def clear(self, name: str | None = None) -> None:
        """Empty one stream of this run, or every stream of it."""
        if name is not None:
            check_name("stream", name)
        self._put(_Item(name, "clear", None, rows=0))

    def set_layout(self, layout: Layout | dict[str, Any] | str) -> None:
        """Make `layout` (Layout, dict of the YAML schema, YAML path, or the first release's
        `{plot: (top, left, height, width)}`) the layout of this run on the server."""
        if self._is_grid_map(layout):
            self._set_grid_map(layout)  # type: ignore[arg-type]
            return
        raw = layout_to_dict(load_layout(layout))
        raw["run"] = self.run  # the layout is this client's run's, whatever the file said
        self._put(_Item(None, "layout", raw, rows=0))

    def _put_layout_dict(self, raw: dict[str, Any]) -> None:
        self._put(_Item(None, "layout", raw, rows=0))

    def _put(self, item: _Item) -> None:
        with self._lock:
            if self._queued + item.rows > self.queue_rows and item.rows:
                if self.when_full == "block":  # an item bigger than the queue waits for empty
                    while (
                        self._queued
                        and self._queued + item.rows > self.queue_rows
                        and not self._closing
                    ):
                        self._space.wait(0.1)
                else:
                    self._drop_oldest(item.rows)
            self._queue.append(item)
            self._queued += item.rows

    def _drop_oldest(self, room: int) -> None:
        dropped = 0
        while self._queue and self._queued + room > self.queue_rows:
            old = self._queue.popleft()
            self._queued -= old.rows
            dropped += old.rows
        self.dropped_rows += dropped
        if dropped:
            self._warn(
                None,
                "queue_full",
                f"streamvis client queue full ({self.queue_rows} rows): dropped "
                f"{self.dropped_rows} oldest rows so far; the server is slow or down",
            )

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything queued so far was delivered (or given up on); False if the
        timeout passed first. With STREAMVIS_STRICT=1, refused writes raise StreamError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._lock:
            while self._queue or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining if remaining is not None else 0.1)
        if os.environ.get("STREAMVIS_STRICT") == "1" and self.errors:
            raise StreamError(f"the server refused {len(self.errors)} write(s): {self.errors}")
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is queued (waiting at most `timeout`, default `exit_timeout`), stop."""
        if self._closing:
            return not self._queue
        delivered = self.flush(self.exit_timeout if timeout is None else timeout)
        undelivered = self._queued
        self._closing = True
        self._deadline = time.monotonic()
        self._wake.set()
        self._thread.join(2.0)
        self._disconnect()
        _open_clients.discard(self)
        if not delivered:
            log.warning("streamvis client closed with %d rows undelivered", undelivered)
        return delivered

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- sender thread
    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            with self._lock:
                items = list(self._queue)
                self._queue.clear()
                self._busy = bool(items)
            try:
                for request in self._requests(items):
                    self._deliver(request)
            except Exception:  # never let the sender die: log and keep going
                log.exception("streamvis client: unexpected error while sending")
            with self._lock:
                self._queued -= sum(item.rows for item in items)
                self._busy = False
                self._space.notify_all()
                self._idle.notify_all()
        self._disconnect()  # the thread owns the connection: it closes it on the way out

    def _requests(self, items: list[_Item]) -> list[_Request]:
        """Turn queued items into requests, keeping each stream's order. Consecutive appends
        to a stream (scalar rows, or batches with the same columns) travel together, in
        requests of at most `batch_rows` rows; replaces, clears and layouts go alone."""
        requests: list[_Request] = []
        pending: dict[str, list[_Item]] = {}

        def close(name: str) -> None:
            group: list[_Item] = []
            for item in pending.pop(name, []):
                if group and not _joinable(group[-1], item):
                    requests.extend(self._append_requests(name, group))
                    group = []
                group.append(item)
            if group:
                requests.extend(self._append_requests(name, group))

        for item in items:
            if item.kind in ("row", "batch") and item.mode == "append" and item.stream:
                pending.setdefault(item.stream, []).append(item)
                continue
            for name in [item.stream] if item.stream else list(pending):
                close(name)
            if item.kind == "layout":
                path = f"{self._prefix}/layout"
                requests.append(_Request("PUT", path, dumps(item.payload), None, 0))
            elif item.kind == "clear" and item.stream is None:
                path = f"{self._prefix}/streams"
                requests.append(_Request("DELETE", path, None, None, 0))
            elif item.kind == "clear":
                path = f"{self._prefix}/streams/{quote(item.stream or '')}"
                requests.append(_Request("DELETE", path, None, item.stream, 0))
            else:  # a replace: the whole new content in one request
                payload = _batch_payload(item.payload)
                requests.append(self._post(item.stream or "", payload, "replace", item.rows))
        for name in list(pending):
            close(name)
        return requests

    def _append_requests(self, name: str, items: list[_Item]) -> list[_Request]:
        """Requests for a group of joinable appends, chunked by `batch_rows`."""
        size = self.batch_rows
        if items[0].kind == "row":
            rows = [item.payload for item in items]
            return [self._append(name, rows[i : i + size]) for i in range(0, len(rows), size)]
        batch = {
            key: np.concatenate([item.payload[key] for item in items]) for key in items[0].payload
        }
        total = sum(item.rows for item in items)
        return [
            self._append(name, {k: v[i : i + size] for k, v in batch.items()})
            for i in range(0, total, size)
        ]

    def _append(self, name: str, appended: list[dict[str, Any]] | Batch) -> _Request:
        if isinstance(appended, list):
            payload, rows = _rows_payload(appended), len(appended)
        else:
            payload, rows = _batch_payload(appended), len(next(iter(appended.values())))
        return replace(self._post(name, payload, "append", rows), appended=appended)

    def _halves(self, request: _Request) -> list[_Request]:
        """A refused append split in two, so the rows the server accepts are still stored."""
        half, appended = request.rows // 2, request.appended
        if isinstance(appended, list):
            parts = [appended[:half], appended[half:]]
        else:
            parts = [
                {k: v[:half] for k, v in appended.items()},
                {k: v[half:] for k, v in appended.items()},
            ]
        return [self._append(request.stream or "", part) for part in parts]

    def _post(self, stream: str, payload: Any, mode: str, rows: int) -> _Request:
        query = "?mode=replace" if mode == "replace" else ""
        path = f"{self._prefix}/streams/{quote(stream)}{query}"
        return _Request("POST", path, dumps(payload), stream, rows)

    def _deliver(self, request: _Request) -> None:
        """Send until stored, refused (4xx), or the client is closing past its deadline."""
        batch_id = f"{self._client_id}:{next(self._ids)}"
        delay = 0.05
        while True:
            try:
                status, body = self._send(request, batch_id)
            except (OSError, http.client.HTTPException) as exc:
                self._disconnect()
                status, body = None, {"detail": f"{type(exc).__name__}: {exc}"}
            if status is not None and status < 300:
                self.sent_rows += request.rows
                return
            if status is not None and status not in _RETRY_STATUS:
                if status == 422 and request.rows > 1 and request.appended is not None:
                    for part in self._halves(request):  # find the bad rows, keep the rest
                        self._deliver(part)
                    return
                self._refused(request, status, body)
                return
            if self._closing and (self._deadline is None or time.monotonic() > self._deadline):
                return
            self._warn(
                None,
                "retrying",
                f"streamvis server at {self.url} unavailable "
                f"({body.get('detail', status)}); retrying with backoff",
            )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _send(self, request: _Request, batch_id: str) -> tuple[int, dict[str, Any]]:
        if self._connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(self._parts.hostname, self._parts.port, timeout=self.timeout)
        headers = {"X-Streamvis-Batch": batch_id, "Connection": "keep-alive"}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._connection.request(request.method, request.path, body=request.body, headers=headers)
        response = self._connection.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"detail": raw[:200].decode("utf-8", "replace")}
        return response.status, body if isinstance(body, dict) else {}

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _refused(self, request: _Request, status: int, body: dict[str, Any]) -> None:
        error = {
            "stream": request.stream,
            "status": status,
            "error": body.get("error"),
            "detail": body.get("detail"),
            "rows": request.rows,
        }
        self.errors.append(error)
        where = f"stream '{request.stream}'" if request.stream else f"run '{self.run}'"
        self._warn(
            request.stream,
            str(body.get("error")),
            f"streamvis server refused {request.method} for {where} ({status}): "
            f"{body.get('detail')}",
        )

    def _warn(self, stream: str | None, code: str, message: str) -> None:
        if (stream, code) not in self._warned:
            self._warned.add((stream, code))
            log.warning("%s", message)


def _joinable(previous: _Item, item: _Item) -> bool:
    """Rows join rows; batches join batches with the same columns and dtypes."""
    if previous.kind != item.kind:
        return False
    if item.kind == "row":
        return True
    before = [(k, v.dtype) for k, v in previous.payload.items()]
    return before == [(k, v.dtype) for k, v in item.payload.items()]


def _rows_payload(rows: list[dict[str, Any]]) -> Any:
    """Rows with the same keys go column-wise (smaller, faster); others as a list of rows."""
    keys = tuple(rows[0])
    if all(tuple(row) == keys for row in rows):
        return {key: [row[key] for row in rows] for key in keys}
    return rows


def _batch_payload(batch: Batch) -> dict[str, list[Any]]:
    return {
        name: (
            values.astype("datetime64[ms]").astype(str).tolist()
            if values.dtype.kind == "M"
            else values.tolist()
        )
        for name, values in batch.items()
    }


_open_clients: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _deliver_at_exit() -> None:
    """At interpreter exit, every open client delivers what is queued (bounded wait)."""
    for client in list(_open_clients):
        client.close()
