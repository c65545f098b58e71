"""REST and websocket ingest routes, served by the same server as the dashboard.

    panel serve apps/dashboard.py --plugins streamvis.ingest --address 127.0.0.1 ...

mounts `ROUTES` (built on first access from STREAMVIS_* variables and this process's
`panel serve` arguments; see access.py). Building them also opens the server's store
(`--store`, default ./.streamvis/streamvis.db) and replays it, so the history is there before
the first page or producer arrives. What each request does is in operations.py; here are
the Tornado handlers around it. Every error is a JSON body `{"error": code, "detail":
message, ...}` naming the run, stream and column where known, including unknown /api/
routes (404) and methods a route lacks (405). Every input is bounded by `Access.limits`
(limits.py) before it costs work. docs/http-api.md describes each route and error.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from typing import Any

import tornado.web
import tornado.websocket
from tornado.websocket import WebSocketProtocol13

from streamvis.core.hub import Hub, default_hub
from streamvis.errors import StreamvisError
from streamvis.layout.held import as_data
from streamvis.server import loss_reports
from streamvis.server.access import Access, access_from_environment
from streamvis.server.operations import (
    ApiError,
    BatchLedger,
    check_batch_id,
    check_mode,
    clear,
    delete_run,
    describe_runs,
    durable,
    names,
    put_attributes,
    put_layout,
    store,
)
from streamvis.store.export import stored_rows
from streamvis.wire import columns as binary_columns
from streamvis.wire.codec import (
    WireError,
    columns_csv,
    columns_json,
    media_type,
    parse_body,
    parse_message,
)
from streamvis.wire.limits import TokenBucket

log = logging.getLogger("streamvis")
API = "/api/v1"
NAME = r"[^/]+"
SEQ_LIMIT = 2**63 - 1  # seq numbers are SQLite integers
_WHOLE_NUMBER = re.compile(r"[0-9]{1,19}")
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
_WIRE_STATUS = {"unsupported_media_type": 415, "too_many_columns": 422}  # else 400


class _Routed:
    """What every ingest route is given: access rules, the batch ledger, and its hub (or,
    in a forked child, how to open one on first use)."""

    def initialize(
        self,
        access: Access,
        ledger: BatchLedger,
        hub: Hub | None = None,
        opener: Callable[[], Hub] | None = None,
    ) -> None:
        self.access = access
        self.ledger = ledger
        self._hub = hub
        self._opener = opener or default_hub  # a forked child opens its own hub late

    @property
    def hub(self) -> Hub:
        return self._hub or self._opener()


@tornado.web.stream_request_body
class _Api(_Routed, tornado.web.RequestHandler):
    """Checks Host and token before anything else; answers errors as JSON. Bodies are
    streamed, so a body sent where none belongs is dropped as it arrives, never buffered."""

    def prepare(self) -> None:
        if not self.access.host_ok(self.request.headers.get("Host")):
            raise ApiError(
                403,
                "forbidden_host",
                f"Host {self.request.headers.get('Host')!r} is not served here",
            )
        if not self.access.token_ok(self.request.headers.get("Authorization")):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong ingest token: send 'Authorization: Bearer TOKEN'",
            )

    def data_received(self, chunk: bytes) -> None:  # no body expected here: drop it
        return

    def check_xsrf_cookie(self) -> None:  # token-authenticated JSON API: no cookies involved
        return

    def reply(
        self, payload: Any, status: int = 200, content_type: str = "application/json"
    ) -> None:
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(payload if isinstance(payload, str) else json.dumps(payload))

    def allowed_methods(self) -> list[str]:
        """The HTTP methods this route answers (for 405 replies and their Allow header)."""
        base = tornado.web.RequestHandler
        return [
            method
            for method in ("GET", "POST", "PUT", "DELETE")
            if getattr(type(self), method.lower()) is not getattr(base, method.lower())
        ]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            self.reply(error.body, error.status)
        elif isinstance(error, tornado.web.HTTPError) and status_code == 405:
            allowed = self.allowed_methods()
            self.set_header("Allow", ", ".join(allowed))
            detail = f"{self.request.method} is not allowed here; use {', '.join(allowed)}"
            self.reply({"error": "method_not_allowed", "detail": detail}, 405)
        elif isinstance(error, tornado.web.HTTPError) and status_code < 500:
            code = _HTTP_CODES.get(status_code, "bad_request")
            self.reply({"error": code, "detail": error.log_message or self._reason}, status_code)
        else:
            self.reply({"error": "internal_error", "detail": "see the server log"}, 500)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ApiError):  # a producer's mistake, not ours: one line, no trace
            log.warning(
                "%s %s -> %s: %s",
                self.request.method,
                self.request.path,
                value.status,
                value.body["detail"],
            )
        else:
            super().log_exception(typ, value, tb)


@tornado.web.stream_request_body
class _BodyApi(_Api):
    """Reads bodies in chunks and refuses them past `access.max_body` without keeping them."""

    def prepare(self) -> None:
        super().prepare()
        self._chunks: list[bytes] = []
        self._size = 0
        declared = self.request.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.access.max_body:
            raise ApiError(413, "too_large", self._too_large(int(declared)), **self._where_limit())

    def _where_limit(self) -> dict[str, Any]:
        """Where a refused body was going, and the limit it broke (a field, not only text)."""
        return {**self.path_kwargs, "limit": self.access.max_body}

    def _too_large(self, size: int) -> str:
        return (
            f"body of {size} bytes is over the limit of {self.access.max_body} bytes "
            "(STREAMVIS_MAX_BODY); send smaller batches"
        )

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= self.access.max_body:
            self._chunks.append(chunk)
        else:
            self._chunks = []

    def body(self) -> Any:
        if self._size > self.access.max_body:
            raise ApiError(413, "too_large", self._too_large(self._size), **self._where_limit())
        content_type = self.request.headers.get("Content-Type")
        try:
            if media_type(content_type) == binary_columns.MEDIA_TYPE:
                return binary_columns.decode(b"".join(self._chunks), self.access.limits)
            return parse_body(b"".join(self._chunks), content_type, self.access.limits)
        except WireError as exc:
            status = _WIRE_STATUS.get(exc.code, 400)
            raise ApiError(status, exc.code, exc.detail, **self.path_kwargs) from None


class NotFoundHandler(_Api):
    """Every /api/ path no route matches: a JSON 404 (after the Host and token checks)."""

    def prepare(self) -> None:
        super().prepare()
        path = self.request.path
        raise ApiError(
            404,
            "not_found",
            f"no API route {path[:200]!r}; the routes are under {API}/runs and {API}/ws "
            "(docs/http-api.md)",
        )

    def allowed_methods(self) -> list[str]:
        return []


class RunsHandler(_Api):
    def get(self) -> None:
        self.reply({"runs": describe_runs(self.hub), "memory": self.hub.describe_memory()})


class RunHandler(_Api):
    async def delete(self, run: str) -> None:
        self.reply(await delete_run(self.hub, run))


class LayoutHandler(_BodyApi):
    async def put(self, run: str) -> None:
        names(run)  # before the body is parsed
        self.reply(await put_layout(self.hub, run, self.body()))

    def get(self, run: str) -> None:
        names(run)
        layout = as_data(self.hub.layout(run)[1])
        if layout is None:
            raise ApiError(404, "not_found", f"run '{run}' has no layout", run=run)
        self.reply(layout)


class AttributesHandler(_BodyApi):
    async def put(self, run: str) -> None:
        names(run)  # before the body is parsed
        self.reply(await put_attributes(self.hub, run, self.body()))

    def get(self, run: str) -> None:
        names(run)
        if run not in self.hub.runs():
            raise ApiError(404, "not_found", f"no run '{run}'", run=run)
        self.reply(self.hub.attributes(run))


class StreamsHandler(_Api):
    def get(self, run: str) -> None:
        names(run)
        if run not in self.hub.runs():
            raise ApiError(404, "not_found", f"no run '{run}'", run=run)
        dropped = self.hub.losses.dropped(run)  # rows producers dropped before sending
        streams = [t.describe() for t in self.hub.tables(run)]
        for described in streams:
            described["producer_dropped"] = dropped.get(described["stream"], 0)
        self.reply({"run": run, "streams": streams})

    async def delete(self, run: str) -> None:
        self.reply(await clear(self.hub, run, None))


class StreamHandler(_BodyApi):
    async def post(self, run: str, stream: str) -> None:
        columns = self.get_query_argument("columns", None)
        mode = self.get_query_argument("mode", "append")
        batch_id = self.request.headers.get("X-Streamvis-Batch")
        names(run, stream)  # what the URL and headers say is checked before the body is read
        check_mode(mode, run, stream)
        check_batch_id(batch_id, self.access.limits, run, stream)
        headers = self.request.headers
        fields = loss_reports.HTTP_FIELDS
        report = loss_reports.drop_report(*map(headers.get, fields), run, stream)
        store_args = (mode, batch_id, columns.split(",") if columns else None)
        float32 = self.get_query_arguments("float32") or None  # columns sent as float32
        result = await store(
            self.hub,
            self.ledger,
            run,
            stream,
            self.body(),
            *store_args,
            self.access.limits,
            float32=float32,
        )
        loss_reports.record(self.hub, run, stream, report)  # only once the batch is accepted
        self.reply(result)

    async def delete(self, run: str, stream: str) -> None:
        self.reply(await clear(self.hub, run, stream))

    def _whole_number(self, name: str, default: str | None, run: str, stream: str) -> int | None:
        """A query argument that must be a whole number from 0 to 2**63 - 1."""
        text = self.get_query_argument(name, default)
        if text is None:
            return None
        if not _WHOLE_NUMBER.fullmatch(text) or int(text) > SEQ_LIMIT:
            raise ApiError(
                400,
                "invalid_query",
                f"{name} must be a whole number from 0 to {SEQ_LIMIT}, not {text!r:.40}",
                run=run,
                stream=stream,
            )
        return int(text)

    async def get(self, run: str, stream: str) -> None:
        names(run, stream)
        since = self._whole_number("since", "0", run, stream) or 0
        limit = self._whole_number("limit", None, run, stream)
        output = self.get_query_argument("format", "json")
        if output not in ("json", "csv"):
            raise ApiError(
                400,
                "invalid_query",
                f"format must be 'json' or 'csv', not {output!r:.40}",
                run=run,
                stream=stream,
            )
        table = self.hub.table(run, stream)
        if table is None:
            raise ApiError(
                404, "not_found", f"run '{run}' has no stream '{stream}'", run=run, stream=stream
            )
        first, next_seq, batch = table.rows(since, limit)
        if since < first and self.hub.store is not None:  # older rows: read them from disk
            if self.hub.store_failure() is None:  # a failing store: read what it holds
                await durable(self.hub, self.hub.last_ticket(), run=run, stream=stream)
            stored = stored_rows(self.hub.store, run, stream, since, limit)
            if stored is not None:
                first, next_seq, batch = stored
        if output == "csv":
            self.set_header("X-Streamvis-Seq", str(next_seq))
            self.reply(columns_csv(batch), content_type="text/csv; charset=utf-8")
            return
        self.reply(
            {
                "run": run,
                "stream": stream,
                "since": first,
                "seq": next_seq,
                "columns": columns_json(batch),
            }
        )


class IngestSocket(_Routed, tornado.websocket.WebSocketHandler):
    """One long-lived connection carrying the same messages as the HTTP routes:
    `{"id", "run", "stream", "mode", "data", "batch"}` (or `"op": "clear" | "layout" |
    "attributes"`), one JSON object or a list of them per frame; each gets a reply with its
    `id`. `batch`, when given, makes a resent message be stored once (like the
    X-Streamvis-Batch header). Every frame gets an answer, errors included (a frame over the
    size limit too), and the connection stays open."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        headers = self.request.headers
        token = headers.get("Authorization") or (
            f"Bearer {self.get_query_argument('token')}"
            if self.get_query_argument("token", None)
            else None
        )
        refusal = None
        if not self.access.host_ok(headers.get("Host")):
            refusal = (403, "forbidden_host", f"Host {headers.get('Host')!r} is not served here")
        elif not self.access.origin_ok(headers.get("Origin")):  # whole origin, scheme too
            refusal = (403, "forbidden_origin", f"Origin {headers.get('Origin')!r} not allowed")
        elif not self.access.token_ok(token):
            refusal = (
                401,
                "unauthorized",
                "missing or wrong ingest token: send "
                "'Authorization: Bearer TOKEN' or ?token=TOKEN",
            )
        refusal = refusal or self._handshake_refusal()
        if refusal is not None:
            self.set_status(refusal[0])
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": refusal[1], "detail": refusal[2]}))
            return
        await super().get(*args, **kwargs)

    def _handshake_refusal(self) -> tuple[int, str, str] | None:
        """What Tornado would refuse in plain text, refused as JSON: a request that is not a
        websocket upgrade, a foreign Origin (check_origin decides), an unknown version."""
        headers = self.request.headers
        connection = {part.strip().lower() for part in headers.get("Connection", "").split(",")}
        if headers.get("Upgrade", "").lower() != "websocket" or "upgrade" not in connection:
            detail = f"{API}/ws takes a websocket upgrade (Upgrade: websocket)"
            return (400, "bad_request", detail)
        origin = headers.get("Origin", headers.get("Sec-Websocket-Origin"))
        if origin is not None and not self.check_origin(origin):
            return (403, "forbidden_origin", f"Origin {origin[:100]!r} may not open {API}/ws")
        if headers.get("Sec-WebSocket-Version") != "13":
            self.set_header("Sec-WebSocket-Version", "13")
            return (426, "upgrade_required", "only websocket version 13 is spoken here")
        return None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors before the upgrade (a method other than GET) as JSON, like every route."""
        self.set_header("Content-Type", "application/json")
        if status_code == 405:
            self.set_header("Allow", "GET")
            detail = f"{self.request.method} is not allowed here; use GET (a websocket upgrade)"
            self.finish(json.dumps({"error": "method_not_allowed", "detail": detail}))
        else:
            code = _HTTP_CODES.get(status_code, "internal_error")
            self.finish(json.dumps({"error": code, "detail": self._reason}))

    def check_origin(self, origin: str) -> bool:
        """Browsers send Origin: refuse pages from anywhere but an allowed origin (scheme,
        host and port; the served address by default, see access.py)."""
        return self.access.origin_ok(origin)

    @property
    def max_message_size(self) -> int:
        """Tornado's own bound, past which it closes the connection: none here, since
        frames over `access.max_body` are drained and refused (see _AnsweringProtocol)."""
        return sys.maxsize

    def get_compression_options(self) -> None:
        return None  # frames are size-checked as they are read; compressed ones could grow

    def get_websocket_protocol(self) -> WebSocketProtocol13 | None:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):  # same settings, answering protocol
            return _AnsweringProtocol(self, False, protocol.params, self.access.max_body)
        return protocol

    def too_large(self, size: int) -> dict[str, Any]:
        """The reply to a frame of `size` bytes, over the size limit."""
        return {
            "ok": False,
            "error": "too_large",
            "detail": f"frame of {size} bytes is over the limit of {self.access.max_body} "
            "bytes (STREAMVIS_MAX_BODY); it was not applied: send smaller frames",
            "limit": self.access.max_body,
        }

    def open(self, *args: Any, **kwargs: Any) -> None:
        limits = self.access.limits
        self.budget = TokenBucket(limits.ws_rate, limits.ws_burst)

    def send(self, reply: Any) -> None:
        """Answer the producer, unless it has gone meanwhile."""
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.write_message(json.dumps(reply))

    async def on_message(self, message: str | bytes) -> None:
        """Answer every frame, whatever it holds: a frame never closes the connection."""
        try:
            self.send(await self._answer(message))
        except Exception:  # a bug, not the producer's fault: say so, keep the connection
            log.exception("websocket message failed")
            self.send({"ok": False, "error": "internal_error", "detail": "see the server log"})

    async def _answer(self, message: str | bytes) -> Any:
        limits = self.access.limits
        try:
            parsed = parse_message(message, limits)
        except WireError as exc:
            return {"ok": False, "error": exc.code, "detail": exc.detail}
        listed = isinstance(parsed, list)
        messages = parsed if listed else [parsed]
        if len(messages) > limits.ws_max_messages:
            return {
                "ok": False,
                "error": "too_many_messages",
                "detail": f"a frame of {len(messages)} messages; the limit is "
                f"{limits.ws_max_messages} (STREAMVIS_WS_MAX_MESSAGES): send smaller lists",
            }
        wait = self.budget.take(len(messages))
        if wait:
            refusal = {
                "ok": False,
                "error": "rate_limited",
                "detail": f"over {limits.ws_rate:g} messages per second on this connection "
                f"(STREAMVIS_WS_RATE, bursts up to STREAMVIS_WS_BURST={limits.ws_burst}); "
                "nothing in this frame was applied: send it again later",
                "retry_after": round(wait, 3),
            }
            replies = [{"id": _reply_id(m), **refusal} for m in messages]
        else:
            replies = [await self._apply(m) for m in messages]
        return replies if listed else replies[0]

    async def _apply(self, message: Any) -> dict[str, Any]:
        if not isinstance(message, dict):
            return {"ok": False, "error": "invalid_message", "detail": "each message is an object"}
        reply_id = message.get("id")
        try:
            hub = self.hub
            op = message.get("op", "stream")
            run = message.get("run", "default")
            if op == "stream":
                stream = message.get("stream", "")
                names(run, stream)  # before the drop report is checked: errors name them
                fields = loss_reports.MESSAGE_FIELDS
                report = loss_reports.drop_report(*map(message.get, fields), run, stream, fields)
                result = await store(
                    hub,
                    self.ledger,
                    run,
                    message.get("stream", ""),
                    message.get("data"),
                    message.get("mode", "append"),
                    message.get("batch"),
                    message.get("columns"),
                    self.access.limits,
                    float32=message.get("float32"),
                )
                loss_reports.record(hub, run, stream, report)
            elif op == "clear":
                result = await clear(hub, run, message.get("stream"))
            elif op == "delete_run":
                result = await delete_run(hub, run)
            elif op == "layout":
                result = await put_layout(hub, run, message.get("layout"))
            elif op == "attributes":
                result = await put_attributes(hub, run, message.get("attributes"))
            else:
                raise ApiError(
                    400,
                    "invalid_op",
                    f"op must be stream, clear, layout, attributes or delete_run, not {op!r:.60}",
                )
        except ApiError as exc:
            return {"id": reply_id, "ok": False, **exc.body}
        return {"id": reply_id, "ok": True, **result}


def _reply_id(message: Any) -> Any:
    return message.get("id") if isinstance(message, dict) else None


class _AnsweringProtocol(WebSocketProtocol13):
    """Tornado's websocket protocol, answering frames it would drop the connection for.

    Text that is not UTF-8 reaches on_message as bytes (which answers invalid_json). A frame
    over `limit` (STREAMVIS_MAX_BODY), whole or in fragments, is read and thrown away as it
    arrives, never held, and answered with too_large; the connection stays open.
    (Compression is off, so no frame grows after it is read.)
    """

    DRAIN_CHUNK = 64 * 1024

    def __init__(self, handler: Any, mask_outgoing: bool, params: Any, limit: int) -> None:
        super().__init__(handler, mask_outgoing, params)
        self.limit = limit
        self.oversize = 0  # bytes of the frame being thrown away, 0 when none

    async def _read_bytes(self, n: int) -> bytes:
        buffered = len(self._fragmented_message_buffer or b"")
        if n <= 8 or n + buffered <= self.limit:  # frame headers, or a payload within bounds
            return await super()._read_bytes(n)
        self.oversize = max(self.oversize, n + buffered)
        self._wire_bytes_in += n
        while n > 0:
            n -= len(await self.stream.read_bytes(min(n, self.DRAIN_CHUNK)))
        return b""

    def _handle_message(self, opcode: int, data: bytes) -> Any:
        if self.oversize and opcode in (0x1, 0x2):  # the last fragment of a refused frame
            size, self.oversize = self.oversize, 0
            self.write_message(json.dumps(self.handler.too_large(size)))
            return None
        return super()._handle_message(0x2 if opcode == 0x1 else opcode, data)


def routes(
    access: Access,
    hub: Hub | None = None,
    ledger: BatchLedger | None = None,
    opener: Callable[[], Hub] | None = None,
) -> list[tuple[str, Any, dict[str, Any]]]:
    """Tornado (pattern, handler, kwargs) triples for a server with these access settings;
    without `hub` the handlers use `opener()` (default: the process-wide hub)."""
    if ledger is None:
        ledger = BatchLedger.from_store(hub or (opener or default_hub)())
    kwargs = {"access": access, "ledger": ledger, "hub": hub, "opener": opener}
    run, stream = f"(?P<run>{NAME})", f"(?P<stream>{NAME})"
    return [
        (f"{API}/runs", RunsHandler, kwargs),
        (f"{API}/runs/{run}", RunHandler, kwargs),
        (f"{API}/runs/{run}/layout", LayoutHandler, kwargs),
        (f"{API}/runs/{run}/attributes", AttributesHandler, kwargs),
        (f"{API}/runs/{run}/streams", StreamsHandler, kwargs),
        (f"{API}/runs/{run}/streams/{stream}", StreamHandler, kwargs),
        (f"{API}/ws", IngestSocket, kwargs),
        (r"/api(?:/.*)?", NotFoundHandler, kwargs),  # a JSON 404 for any other API path
    ]


def plugin_routes() -> list[Any]:
    """The routes `panel serve --plugins streamvis.ingest` mounts: the layout is checked, the
    page policy installed and the store opened and replayed first, so a problem stops the
    server before it listens (one line on stderr, exit 2). With `--num-procs N` the store
    is only checked here, and each forked process opens its own (server/processes.py)."""
    from streamvis.page.csp import install_header
    from streamvis.server.processes import ChildHub, check_shared_store, process_count
    from streamvis.server.startup import app_arguments, refuse_bad_layout
    from streamvis.store import server_hub

    refuse_bad_layout(app_arguments())  # a bad layout stops the server before it listens
    install_header()  # the pages of this server send their Content-Security-Policy
    count = process_count()
    try:
        if count != 1:  # nothing with a thread or socket may cross Tornado's fork
            check_shared_store(count)
        else:
            server_hub()  # open and replay the store now, not when the first request comes
    except StreamvisError as exc:  # e.g. another server holds the store: say so, stop
        print(f"streamvis: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if count == 1:
        return routes(access_from_environment())
    child_hub = ChildHub()
    child_hub.open_after_fork()
    # batch ids: Redis itself refuses one it holds, whichever process sees it
    return routes(access_from_environment(), ledger=BatchLedger(), opener=child_hub)
