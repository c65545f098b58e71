"""A remote producer you can leave in a training loop: `Client.stream` only enqueues.

A background thread sends what is queued as one request per stream and batch, over one
keep-alive HTTP connection: it sleeps while nothing is queued, wakes on the first row and
lets a batch gather for `flush_interval`. Connection errors, 5xx and 429 are retried
with exponential backoff (each request carries a batch id, so a retried batch is stored
once); other 4xx are reported in `Client.errors` and logged, never raised in your loop.
Requests stay under the server's body limit: a batch over it is split (the limit is learnt
from the server's 413, or from a send the server stopped reading), and a single row too
large for any request is reported and dropped, so nothing waits behind it. The queue is
bounded: when full, the oldest rows are dropped and counted (or, with `when_full="block"`,
the caller waits; `"drop_newest"` drops the new rows; `set_when_full` sets it per stream,
policy.py). Each stream's count of dropped rows goes to the server with its next request,
so its page can say so (docs/lag-and-loss.md). `flush()` and interpreter exit deliver what
is queued; exit waits while requests get through, and gives up once none has for
`exit_timeout` seconds (default 5, STREAMVIS_EXIT_TIMEOUT), logging one line with how many
rows did not reach which server.
"""

from __future__ import annotations

import atexit
import contextlib
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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

from streamvis.client import settings
from streamvis.client.policy import QueuePolicy, checked_policy
from streamvis.client.shutdown import exit_timeout_setting, undelivered
from streamvis.client.transport import (
    Item,
    Request,
    Target,
    fit,
    pieces,
    requests_for,
    rows_of,
    rows_per_stream,
    stated_limit,
    target_of,
)
from streamvis.compat import SeedClientMethods
from streamvis.core.attributes import checked_changes
from streamvis.core.hub import check_name
from streamvis.core.normalize import normalize
from streamvis.errors import StreamError
from streamvis.layout.spec import Layout, layout_to_dict, load_layout

log = logging.getLogger("streamvis.client")
_PLAIN = frozenset((int, float, bool, str))
_RETRY_STATUS = frozenset((429, 500, 502, 503, 504))
_FRESH_SEND_FAILURES = 2  # a fresh connection broken this often mid-body: probably a 413
_JOIN_SHARE = 0.2  # of exit_timeout (at most _JOIN_MAX s) kept to let the sender stop
_JOIN_MAX = 0.25


class _SendFailed(Exception):
    """The body could not be sent (the server stopped reading) and no answer came back."""

    def __init__(self, fresh: bool, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.fresh = fresh  # on a connection opened for this attempt, not a stale keep-alive


class Client(SeedClientMethods):
    """Send rows to a streamvis server. `Client("localhost:5006", "myrun", token=...)`.

    `exit_timeout` (default STREAMVIS_EXIT_TIMEOUT, else 5 s): how long `close()` and
    interpreter exit keep trying while no request gets through; while rows do get through
    they wait until everything queued is delivered.

    `attributes` (e.g. `{"lr": 3e-4, "seed": 1}`): the run's attributes, checked here
    (AttributesError naming the key) and sent before anything else this client queues,
    retried like every request (docs/run-explorer.md#run-attributes)."""

    def __init__(
        self,
        url: str,
        run: str = "default",
        token: str | None = None,
        *,
        queue_rows: int = 1_000_000,
        when_full: Literal["drop_oldest", "drop_newest", "block"] = "drop_oldest",
        flush_interval: float = 0.005,
        batch_rows: int = 10_000,
        timeout: float = 10.0,
        exit_timeout: float | None = None,
        max_body: int | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.url, parts = settings.checked_url(url)
        self.run = check_name("run", run)
        first = checked_changes(self.run, attributes) if attributes is not None else None
        token = settings.checked_token(token)
        self.token = token if token is not None else os.environ.get("STREAMVIS_TOKEN")
        self.queue_rows = settings.whole("queue_rows", queue_rows)
        self.when_full = checked_policy(when_full)
        self._policy = QueuePolicy(self.when_full)  # per stream; rows dropped per stream
        self.flush_interval = settings.seconds("flush_interval", flush_interval, zero=True)
        self.batch_rows = settings.whole("batch_rows", batch_rows)
        self.timeout = settings.seconds("timeout", timeout, zero=False)
        self.exit_timeout = exit_timeout_setting(exit_timeout)
        # the server's body limit as far as we know it: its default (or STREAMVIS_MAX_BODY
        # here), lowered when the server says or shows it is smaller
        self.max_body = settings.max_body_setting(max_body)
        self.errors: list[dict[str, Any]] = []
        # numeric rows go as binary columns until a server answers 415 (an older server)
        self.binary = True
        self.dropped_rows = 0
        self.sent_rows = 0
        self._parts = parts
        self._host = parts.hostname or ""  # never empty: checked_url refused that
        self._base = parts.path.rstrip("/")
        self._prefix = self._prefix_of(None)
        self._queue: deque[tuple[Any, ...]] = deque()  # Items and (stream, rows) runs
        self._tail_stream: str | None = None  # the stream of the run rows are appended to
        self._tail_rows: deque[dict[str, Any]] = deque()
        self._queued = 0  # rows queued or being sent: what the queue bound counts
        self._busy = False
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()  # the sender sleeps on it while nothing is queued
        self._sleeping = False  # set by the sender (under the lock) before it sleeps
        self._hurry = threading.Event()  # flush/close: send now, do not let a batch gather
        self._stop = threading.Event()  # closing: cut a retry's backoff short
        self._flushing = 0
        self.wakeups = 0  # times the sleeping sender was woken (tests count them)
        self._closing = False
        self._deadline: float | None = None
        self._last_progress = 0.0  # monotonic time a request last got a final answer
        self._in_flight: dict[Target, int] = {}  # rows per (run, stream) the sender holds
        self._ids = itertools.count(1)
        self._client_id = uuid.uuid4().hex[:12]
        self._connection: http.client.HTTPConnection | None = None
        self._warned: set[tuple[Target | None, str]] = set()
        self._checked_names: set[str] = set()
        self._checked_runs: set[str] = {self.run}
        self._given_up: dict[Target, int] = {}  # rows per (run, stream) dropped while closing
        self._last_failure = ""
        if first:  # queued before the sender starts: the server has them before any row
            self._queue.append(Item(None, "attributes", first, rows=0))
        self._thread = threading.Thread(target=self._run, name="streamvis-client", daemon=True)
        self._thread.start()
        _open_clients.add(self)

    def _prefix_of(self, run: str | None) -> str:
        """The API path of `run` (None: this client's run) on the server."""
        return f"{self._base}/api/v1/runs/{quote(self.run if run is None else run)}"

    def _other_run(self, run: str | None) -> str | None:
        """`run` checked, or None when it is this client's own run."""
        if run is None or run == self.run:
            return None
        if not isinstance(run, str) or run not in self._checked_runs:
            check_name("run", run)
            self._checked_runs.add(run)
        return run

    # ---------------------------------------------------------------- producer side
    def stream(
        self,
        name: str,
        data: Any,
        *,
        run: str | None = None,
        mode: str = "append",
        columns: Sequence[str] | None = None,
    ) -> int:
        """Queue `data` for stream `name` of `run` (default: this client's run; same inputs
        as `sv.stream`); returns rows queued. Bad data raises StreamError here, at once;
        transport trouble never raises."""
        if run is not None:
            run = self._other_run(run)
        if type(data) is dict and mode == "append" and run is None:
            for value in data.values():
                if type(value) not in _PLAIN:
                    break
            else:  # a scalar row: the name checked once, the row copied and queued as is
                if name not in self._checked_names:
                    check_name("stream", name)
                    self._checked_names.add(name)
                row = data.copy()
                lock = self._lock
                lock.acquire()  # not `with`: a plain acquire/release is cheaper per call
                try:
                    if self._queued >= self.queue_rows and not self._make_room(1, (None, name)):
                        return 0  # the new row was dropped (drop_newest), and counted
                    if name == self._tail_stream:  # the last entry is this stream's rows
                        self._tail_rows.append(row)
                    else:
                        self._tail_rows = deque((row,))
                        self._tail_stream = name
                        self._queue.append((name, self._tail_rows))
                    self._queued += 1
                    if self._sleeping:
                        self._sleeping = False
                        self._wake.set()
                finally:
                    lock.release()
                return 1
        target = self.run if run is None else run
        if mode not in ("append", "replace"):
            raise StreamError(
                f"stream '{name}': mode must be 'append' or 'replace', not {mode!r}",
                run=target,
                stream=name if isinstance(name, str) else None,
            )
        check_name("stream", name)
        where = f"run '{target}', stream '{name}'"
        batch = normalize(data, columns=columns, where=where, run=target, stream=name)
        rows = len(next(iter(batch.values()))) if batch else 0
        return rows if self._put(Item(name, "batch", batch, mode, rows, run)) else 0

    def set_when_full(self, stream: str, when_full: str) -> None:
        """What a full queue does with rows of `stream` (in any run): 'drop_oldest',
        'drop_newest' or 'block' (the others keep the client's `when_full`)."""
        check_name("stream", stream)
        with self._lock:
            self._policy.set(stream, when_full)

    def dropped(self) -> dict[str, int]:
        """Rows the full queue dropped so far, by stream (`run/stream` for another run)."""
        with self._lock:
            counts = dict(self._policy.dropped)
        named = {}
        for (run, stream), rows in counts.items():
            if stream is not None:
                named[stream if run is None else f"{run}/{stream}"] = rows
        return named

    def clear(self, name: str | None = None, *, run: str | None = None) -> None:
        """Empty one stream of `run` (default: this client's run), or every stream of it."""
        run = self._other_run(run)
        if name is not None:
            check_name("stream", name)
        self._put(Item(name, "clear", None, rows=0, run=run))

    def set_layout(self, layout: Layout | dict[str, Any] | str) -> None:
        """Make `layout` (Layout, dict of the YAML schema, YAML path, or the first release's
        `{plot: (top, left, height, width)}`) the layout of this run on the server."""
        if self._is_grid_map(layout):
            self._set_grid_map(layout)  # type: ignore[arg-type]
            return
        raw = layout_to_dict(load_layout(layout))
        raw["run"] = self.run  # the layout is this client's run's, whatever the file said
        self._put(Item(None, "layout", raw, rows=0))

    def set_attributes(
        self,
        attributes: Mapping[str, Any] | None = None,
        /,
        *,
        run: str | None = None,
        **more: Any,
    ) -> None:
        """Merge attributes into `run`'s (default: this client's run) on the server:
        `client.set_attributes(lr=3e-4, seed=1)`, or a dict (for a key named `run`); a value
        of None removes its key. Checked here (AttributesError naming run and key), then
        queued like rows."""
        target = self._other_run(run)
        given = {**(attributes or {}), **more}
        changes = checked_changes(self.run if target is None else target, given)
        if changes:
            self._put(Item(None, "attributes", changes, rows=0, run=target))

    def _put_layout_dict(self, raw: dict[str, Any]) -> None:
        self._put(Item(None, "layout", raw, rows=0))

    def _put(self, item: Item) -> bool:
        """Queue `item`; False when its rows were dropped instead (drop_newest, counted)."""
        with self._lock:
            if self._queued + item.rows > self.queue_rows and item.rows:
                if not self._make_room(item.rows, (item.run, item.stream)):
                    return False
            self._queue.append(item)
            self._tail_stream = None
            self._queued += item.rows
            if self._sleeping:
                self._sleeping = False
                self._wake.set()
        return True

    def _make_room(self, rows: int, target: Target) -> bool:
        """The queue is full (lock held): wait for room, drop the oldest rows the streams'
        policies let go, or drop the new rows (then False; they are counted)."""
        policy = self._policy.of(target[1])
        if policy == "block":  # an item bigger than the queue waits for empty
            while self._queued and self._queued + rows > self.queue_rows and not self._closing:
                self._space.wait(0.1)
            return True
        if policy == "drop_oldest":
            self._drop_oldest(rows)
            if self._queued + rows <= self.queue_rows or self._policy.uniform:
                return True  # room made, or nothing queued that may go: queued anyway
            if not any(rows_of(entry) for entry in self._queue):
                return True
        elif not self._queued:  # drop_newest with nothing queued or in flight: take it
            return True
        self._policy.count(target, rows)
        self._count_dropped(rows)
        return False

    def _drop_oldest(self, room: int) -> None:
        """Drop the oldest queued rows whose stream's policy allows it until `room` rows
        fit (lock held); a clear or layout queued among them stays."""
        dropped = 0
        queue, policy = self._queue, self._policy
        index = 0
        while index < len(queue) and self._queued + room > self.queue_rows:
            oldest = queue[index]
            if not policy.may_drop(oldest[0], rows_of(oldest)):
                index += 1
                continue
            if type(oldest) is Item or len(oldest[1]) <= 1:
                del queue[index]
                rows = rows_of(oldest)
                if oldest[1] is self._tail_rows:
                    self._tail_stream = None
            else:  # the oldest row of a run
                oldest[1].popleft()
                rows = 1
            self._queued -= rows
            dropped += rows
            policy.count(target_of(oldest), rows)
        self._count_dropped(dropped)

    def _count_dropped(self, dropped: int) -> None:
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
        with self._hurrying():
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
        """Deliver what is queued and stop. Waits while requests get through; gives up once
        none has for `timeout` seconds (default `exit_timeout`), logging what was left."""
        if self._closing:
            return not self._queue
        patience = self.exit_timeout if timeout is None else max(0.0, timeout)
        join = min(_JOIN_MAX, patience * _JOIN_SHARE)  # kept to let the sender stop
        delivered = self._drain(patience - join)
        with self._lock:  # from here the sender takes nothing more and sends nothing more
            self._closing = True
            self._deadline = time.monotonic()
        self._stop.set()
        self._hurry.set()
        self._wake.set()
        self._thread.join(join if not delivered else max(join, 1.0))
        with self._lock:  # what the sender never took or never finished: reported
            for entry in self._queue:
                target = target_of(entry)
                self._given_up[target] = self._given_up.get(target, 0) + rows_of(entry)
            self._queue.clear()
            self._tail_stream = None
            stuck = self._thread.is_alive() and any(self._in_flight.values())
            if stuck:  # in a connect or request that never ends: its batch too
                for target, rows in self._in_flight.items():
                    self._given_up[target] = self._given_up.get(target, 0) + rows
            self._queued = 0
            self._space.notify_all()
            self._idle.notify_all()
        undelivered = self._report_given_up(patience, stuck)
        if not self._thread.is_alive():
            self._disconnect()
        _open_clients.discard(self)
        return delivered and not undelivered

    def _drain(self, patience: float) -> bool:
        """Wait until nothing is queued or being sent (True), or until no request has got
        through for `patience` seconds (False)."""
        began = time.monotonic()
        with self._hurrying():
            with self._lock:
                while self._queue or self._busy:
                    since = max(began, self._last_progress)
                    remaining = since + patience - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
        return True

    @contextlib.contextmanager
    def _hurrying(self) -> Iterator[None]:
        """While a flush or close waits, the sender sends at once instead of gathering."""
        with self._lock:
            self._flushing += 1
            self._hurry.set()
        try:
            yield
        finally:
            with self._lock:
                self._flushing -= 1
                if not self._flushing and not self._closing:
                    self._hurry.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- sender thread
    def _run(self) -> None:
        while True:
            with self._lock:
                sleep = not self._queue and not self._closing
                if sleep:  # cleared under the lock: a put after this wakes the wait below
                    self._wake.clear()
                    self._sleeping = True
            if sleep:
                self._wake.wait()  # no timeout: an idle client costs no CPU
                self.wakeups += 1
            if not self._closing:
                self._hurry.wait(self.flush_interval)  # let a batch gather (unless flushing)
            with self._lock:
                if self._past_deadline():  # closing: close() reports what is left
                    break
                entries = list(self._queue)
                self._queue.clear()
                self._tail_stream = None
                self._busy = bool(entries)
                self._in_flight = rows_per_stream(entries)
                taken = sum(self._in_flight.values())
            try:
                made = requests_for(self._prefix_of, entries, self.batch_rows, self.binary)
                for request in made:
                    if self._past_deadline():  # closing: report it instead of trying
                        self._give_up(request)
                    else:
                        self._deliver(request)
                    if request.rows:
                        with self._lock:
                            self._in_flight[request.target] -= request.rows
                self._report_dropped()
            except Exception:  # never let the sender die: log and keep going
                log.exception("streamvis client: unexpected error while sending")
            with self._lock:
                self._queued = max(0, self._queued - taken)
                self._in_flight = {}
                self._busy = False
                self._space.notify_all()
                self._idle.notify_all()
        self._disconnect()  # the thread owns the connection: it closes it on the way out

    def _deliver(self, request: Request) -> None:
        """Send until stored, refused (4xx), or the client is closing past its deadline.
        Bodies over the known limit go as smaller requests; a 413 (or a body the server
        stops reading, twice on a fresh connection) lowers the limit and splits again."""
        fitted = fit(self._prefix_of(request.run), request, self.max_body)
        if len(fitted) > 1:
            for piece in fitted:
                self._deliver(piece)
            return
        batch_id = f"{self._client_id}:{next(self._ids)}"
        delay = 0.05
        broken_sends = 0
        dropped = self._policy.dropped.get(request.target, 0) if request.method == "POST" else 0
        while True:
            try:
                status, body = self._send(request, batch_id, dropped)
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
            if status is not None and status not in _RETRY_STATUS:  # an answer that settles it
                self._last_progress = time.monotonic()
                self._last_failure = ""
                if dropped:  # a refusal is not retried either: the next request says it again
                    self._policy.acknowledged(request.target, dropped)
            if status is not None and status < 300:
                self.sent_rows += request.rows
                return
            if status == 413:
                self._too_large(request, body)
                return
            if status == 415 and request.binary:  # a server without binary columns: JSON
                self.binary = False
                for piece in pieces(self._prefix_of(request.run), request, 1, binary=False):
                    self._deliver(piece)
                return
            if status is not None and status not in _RETRY_STATUS:
                if status == 422 and request.rows > 1 and request.mode == "append":
                    # find the bad rows, keep the rest
                    halves = pieces(self._prefix_of(request.run), request, 2)
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
            self._stop.wait(delay)  # close() cuts the backoff short
            delay = min(delay * 2, 2.0)

    def _too_large(self, request: Request, body: dict[str, Any], answered: bool = True) -> None:
        """The server refused `request` as too large: learn its limit, then send the rows
        in smaller requests; a lone row (or a layout) that cannot be split is reported."""
        size = len(request.body or b"")
        limit = stated_limit(body)
        self.max_body = max(1, min(self.max_body, limit if limit else size // 2))
        if request.rows > 1 and request.appended is not None:
            for piece in fit(self._prefix_of(request.run), request, self.max_body):
                self._deliver(piece)
            return
        what = "a row" if request.stream else f"the {request.path.rsplit('/', 1)[-1]}"
        run = request.run or self.run
        where = f"run '{run}'" + (f", stream '{request.stream}'" if request.stream else "")
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
            target = request.target
            self._given_up[target] = self._given_up.get(target, 0) + request.rows

    def _report_given_up(self, waited: float, stuck: bool) -> int:
        """One error per stream, and one warning line, for the rows given up while closing
        (after `waited` seconds without a request getting through; `stuck`: the sender is
        still waiting for a connection or an answer); returns their count."""
        with self._lock:
            given_up, self._given_up = self._given_up, {}
        report = undelivered(self.run, self.url, given_up, self._last_failure, stuck, waited)
        if report is None:
            return 0
        errors, message = report
        self.errors.extend(errors)
        log.warning("%s", message)
        return sum(error["rows"] for error in errors)

    def _report_dropped(self) -> None:
        """Streams whose dropped rows the server has not heard of and that have no rows
        queued to carry the count: an empty append says it (old servers ignore it)."""
        with self._lock:
            owed = self._policy.owed()
            queued = rows_per_stream(list(self._queue)) if owed else {}
        for run, stream in owed:
            if queued.get((run, stream)) or self._past_deadline():
                continue
            path = f"{self._prefix_of(run)}/streams/{quote(stream or '')}"
            self._deliver(Request("POST", path, b"{}", stream, 0, run=run))

    def _send(
        self, request: Request, batch_id: str, dropped: int = 0
    ) -> tuple[int, dict[str, Any]]:
        fresh = self._connection is None
        if self._connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(self._host, self._parts.port, timeout=self.timeout)
            self._connection.connect()  # unreachable: OSError, retried with backoff
        headers = {"X-Streamvis-Batch": batch_id, "Connection": "keep-alive"}
        if dropped:  # this stream's running total of rows the full queue dropped
            headers.update(self._policy.headers(dropped, self._client_id))
        if request.body is not None:
            headers["Content-Type"] = request.content_type
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
        run = request.run or self.run
        error = {
            "run": run,
            "stream": request.stream,
            "status": status,
            "error": body.get("error"),
            "detail": body.get("detail"),
            "rows": request.rows,
        }
        if body.get("column") is not None:  # the server names the column it refused
            error["column"] = body["column"]
        if size is not None:
            error.update(bytes=size, limit=body.get("limit"))
        self.errors.append(error)
        where = f"stream '{request.stream}'" if request.stream else f"run '{run}'"
        if request.run is not None and request.stream:
            where = f"run '{run}', {where}"
        self._warn(
            request.target,
            str(body.get("error")),
            f"streamvis server refused {request.method} for {where} ({status}): "
            f"{body.get('detail')}",
        )

    def _warn(self, about: Target | None, code: str, message: str) -> None:
        """Log `message` once per (what it is about, code)."""
        if (about, code) not in self._warned:
            self._warned.add((about, code))
            log.warning("%s", message)


_open_clients: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _deliver_at_exit() -> None:
    """At interpreter exit, every open client delivers what is queued (bounded wait)."""
    for client in list(_open_clients):
        client.close()
