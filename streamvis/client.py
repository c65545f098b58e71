"""A remote producer you can leave in a training loop: `Client.stream` only enqueues.

A background thread sends what is queued every few milliseconds, as one request per stream
and batch, over one keep-alive HTTP connection. Connection errors, 5xx and 429 are retried
with exponential backoff (each request carries a batch id, so a retried batch is stored
once); other 4xx are reported in `Client.errors` and logged, never raised in your loop.
Requests stay under the server's body limit: a batch over it is split (the limit is learnt
from the server's 413, or from a send the server stopped reading), and a single row too
large for any request is reported and dropped, so nothing waits behind it. The queue is
bounded: when full, the oldest rows are dropped and counted (or, with `when_full="block"`,
the caller waits). `flush()` and interpreter exit deliver what is queued; rows still
undelivered when the client closes are reported in `Client.errors` and logged.
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
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import numpy as np

from streamvis.access import DEFAULT_MAX_BODY
from streamvis.client_requests import Request, fit, pieces, rows_request, stated_limit
from streamvis.compat import SeedClientMethods
from streamvis.errors import StreamError
from streamvis.hub import check_name
from streamvis.normalize import normalize
from streamvis.spec import Layout, layout_to_dict, load_layout
from streamvis.wire import dumps

log = logging.getLogger("streamvis.client")
_PLAIN = frozenset((int, float, bool, str))
_RETRY_STATUS = frozenset((429, 500, 502, 503, 504))
_FRESH_SEND_FAILURES = 2  # a fresh connection broken this often mid-body: probably a 413


class _SendFailed(Exception):
    """The body could not be sent (the server stopped reading) and no answer came back."""

    def __init__(self, fresh: bool, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.fresh = fresh  # on a connection opened for this attempt, not a stale keep-alive


@dataclass(frozen=True)
class _Item:
    """One queued write or command. `rows` counts toward the queue bound."""

    stream: str | None
    kind: Literal["row", "batch", "clear", "layout"]
    payload: Any
    mode: str = "append"
    rows: int = 1


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
        max_body: int | None = None,
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
        # the server's body limit as far as we know it: its default (or STREAMVIS_MAX_BODY
        # here), lowered when the server says or shows it is smaller
        self.max_body = max_body or int(os.environ.get("STREAMVIS_MAX_BODY", DEFAULT_MAX_BODY))
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
        self._given_up: dict[str | None, int] = {}  # rows per stream dropped while closing
        self._last_failure = ""
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
        with self._lock:  # what the sender never took: reported, not dropped silently
            for item in self._queue:
                self._given_up[item.stream] = self._given_up.get(item.stream, 0) + item.rows
            self._queued -= sum(item.rows for item in self._queue)
            self._queue.clear()
        self._report_given_up()
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
                    if self._past_deadline():  # closing: report it instead of trying
                        self._give_up(request)
                    else:
                        self._deliver(request)
            except Exception:  # never let the sender die: log and keep going
                log.exception("streamvis client: unexpected error while sending")
            self._report_given_up()
            with self._lock:
                self._queued -= sum(item.rows for item in items)
                self._busy = False
                self._space.notify_all()
                self._idle.notify_all()
        self._disconnect()  # the thread owns the connection: it closes it on the way out

    def _requests(self, items: list[_Item]) -> list[Request]:
        """Turn queued items into requests, keeping each stream's order. Consecutive appends
        to a stream (scalar rows, or batches with the same columns) travel together, in
        requests of at most `batch_rows` rows; replaces, clears and layouts go alone."""
        requests: list[Request] = []
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
                requests.append(Request("PUT", path, dumps(item.payload), None, 0))
            elif item.kind == "clear" and item.stream is None:
                path = f"{self._prefix}/streams"
                requests.append(Request("DELETE", path, None, None, 0))
            elif item.kind == "clear":
                path = f"{self._prefix}/streams/{quote(item.stream or '')}"
                requests.append(Request("DELETE", path, None, item.stream, 0))
            else:  # a replace: the whole new content in one request (if it fits)
                requests.append(
                    rows_request(self._prefix, item.stream or "", item.payload, "replace")
                )
        for name in list(pending):
            close(name)
        return requests

    def _append_requests(self, name: str, items: list[_Item]) -> list[Request]:
        """Requests for a group of joinable appends, chunked by `batch_rows`."""
        size = self.batch_rows
        if items[0].kind == "row":
            rows = [item.payload for item in items]
            return [
                rows_request(self._prefix, name, rows[i : i + size])
                for i in range(0, len(rows), size)
            ]
        batch = {
            key: np.concatenate([item.payload[key] for item in items]) for key in items[0].payload
        }
        total = sum(item.rows for item in items)
        return [
            rows_request(self._prefix, name, {k: v[i : i + size] for k, v in batch.items()})
            for i in range(0, total, size)
        ]

    def _deliver(self, request: Request) -> None:
        """Send until stored, refused (4xx), or the client is closing past its deadline.
        Bodies over the known limit go as smaller requests; a 413 (or a body the server
        stops reading, twice on a fresh connection) lowers the limit and splits again."""
        fitted = fit(self._prefix, request, self.max_body)
        if len(fitted) > 1:
            for piece in fitted:
                self._deliver(piece)
            return
        batch_id = f"{self._client_id}:{next(self._ids)}"
        delay = 0.05
        broken_sends = 0
        while True:
            try:
                status, body = self._send(request, batch_id)
            except _SendFailed as failed:
                self._disconnect()
                broken_sends += failed.fresh
                if broken_sends >= _FRESH_SEND_FAILURES:
                    self._too_large(request, {}, answered=False)
                    return
                status, body = None, {"detail": str(failed)}
            except (OSError, http.client.HTTPException) as exc:
                self._disconnect()
                status, body = None, {"detail": f"{type(exc).__name__}: {exc}"}
            if status is not None and status < 300:
                self.sent_rows += request.rows
                return
            if status == 413:
                self._too_large(request, body)
                return
            if status is not None and status not in _RETRY_STATUS:
                if status == 422 and request.rows > 1 and request.mode == "append":
                    halves = pieces(self._prefix, request, 2)  # find the bad rows, keep the rest
                    for part in halves:
                        self._deliver(part)
                    return
                self._refused(request, status, body)
                return
            self._last_failure = str(body.get("detail", status))
            if self._past_deadline():
                self._give_up(request)
                return
            self._warn(
                None,
                "retrying",
                f"streamvis server at {self.url} unavailable "
                f"({body.get('detail', status)}); retrying with backoff",
            )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _too_large(self, request: Request, body: dict[str, Any], answered: bool = True) -> None:
        """The server refused `request` as too large: learn its limit, then send the rows
        in smaller requests; a lone row (or a layout) that cannot be split is reported."""
        size = len(request.body or b"")
        limit = stated_limit(body)
        self.max_body = max(1, min(self.max_body, limit if limit else size // 2))
        if request.rows > 1 and request.appended is not None:
            for piece in fit(self._prefix, request, self.max_body):
                self._deliver(piece)
            return
        what = "a row" if request.stream else "the layout"
        where = f"run '{self.run}'" + (f", stream '{request.stream}'" if request.stream else "")
        if limit:
            known = f"{limit} bytes"
        else:
            known = "not stated" if answered else "not stated: the server stopped reading it"
        detail = (
            f"{where}: {what} of {size} bytes is over the server's body limit ({known}; "
            "STREAMVIS_MAX_BODY on the server); dropped"
        )
        error = {"error": "too_large", "detail": detail, "limit": limit}
        self._refused(request, 413, error, size=size)

    def _past_deadline(self) -> bool:
        return self._closing and (self._deadline is None or time.monotonic() > self._deadline)

    def _give_up(self, request: Request) -> None:
        """Closing with the server unreachable: count the request's rows as undelivered."""
        with self._lock:
            self._given_up[request.stream] = self._given_up.get(request.stream, 0) + request.rows

    def _report_given_up(self) -> None:
        """One error per stream (and one warning) for rows given up while closing."""
        with self._lock:
            given_up, self._given_up = self._given_up, {}
        for stream, rows in given_up.items():
            if not rows:
                continue
            where = f"run '{self.run}'" + (f", stream '{stream}'" if stream else "")
            why = f" ({self._last_failure})" if self._last_failure else ""
            self.errors.append(
                {
                    "run": self.run,
                    "stream": stream,
                    "status": None,
                    "error": "undelivered",
                    "detail": f"{where}: {rows} rows not delivered: the server at {self.url} "
                    f"could not be reached before the client closed{why}",
                    "rows": rows,
                }
            )
        if any(given_up.values()):
            log.warning(
                "streamvis client: %d rows of run '%s' (streams %s) not delivered: the server "
                "at %s could not be reached before the client closed; see Client.errors",
                sum(given_up.values()),
                self.run,
                ", ".join(repr(s) for s, rows in given_up.items() if rows),
                self.url,
            )

    def _send(self, request: Request, batch_id: str) -> tuple[int, dict[str, Any]]:
        fresh = self._connection is None
        if self._connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(self._parts.hostname, self._parts.port, timeout=self.timeout)
            self._connection.connect()  # unreachable: OSError, retried with backoff
        headers = {"X-Streamvis-Batch": batch_id, "Connection": "keep-alive"}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            self._connection.request(
                request.method, request.path, body=request.body, headers=headers
            )
        except (OSError, http.client.HTTPException) as exc:
            # the server stopped reading (a 413 it may still have sent) or went away
            try:
                return self._response()
            except (OSError, http.client.HTTPException):
                raise _SendFailed(fresh, exc) from None
        return self._response()

    def _response(self) -> tuple[int, dict[str, Any]]:
        assert self._connection is not None
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

    def _refused(
        self, request: Request, status: int, body: dict[str, Any], size: int | None = None
    ) -> None:
        error = {
            "stream": request.stream,
            "status": status,
            "error": body.get("error"),
            "detail": body.get("detail"),
            "rows": request.rows,
        }
        if size is not None:
            error.update(run=self.run, bytes=size, limit=body.get("limit"))
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


_open_clients: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _deliver_at_exit() -> None:
    """At interpreter exit, every open client delivers what is queued (bounded wait)."""
    for client in list(_open_clients):
        client.close()
