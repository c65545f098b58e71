"""REST and websocket ingest routes, served by the same server as the dashboard.

    panel serve apps/dashboard.py --plugins streamvis.ingest --address 127.0.0.1 ...

mounts `ROUTES` (built on first access from STREAMVIS_* variables and this process's
`panel serve` arguments; see access.py). Building them also opens the server's store
(`--store`, default ./.streamvis/streamvis.db) and replays it, so the history is there before
the first page or producer arrives. What each request does is in operations.py; here are
the Tornado handlers around it. Every error is a JSON body `{"error": code, "detail":
message, ...}` naming the run, stream and column where known. docs/http-api.md describes
each route.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import tornado.web
import tornado.websocket

from streamvis.access import Access, access_from_environment
from streamvis.errors import StreamvisError
from streamvis.export import stored_rows
from streamvis.hub import Hub, default_hub
from streamvis.operations import (
    ApiError,
    BatchLedger,
    clear,
    delete_run,
    describe_runs,
    durable,
    names,
    put_layout,
    store,
)
from streamvis.spec import layout_to_dict
from streamvis.wire import WireError, columns_csv, columns_json, parse_body

log = logging.getLogger("streamvis")
API = "/api/v1"
NAME = r"[^/]+"


class _Api(tornado.web.RequestHandler):
    """Checks Host and token before anything else; answers errors as JSON."""

    def initialize(self, access: Access, ledger: BatchLedger, hub: Hub | None = None) -> None:
        self.access = access
        self.ledger = ledger
        self._hub = hub

    @property
    def hub(self) -> Hub:
        return self._hub or default_hub()

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

    def check_xsrf_cookie(self) -> None:  # token-authenticated JSON API: no cookies involved
        return

    def reply(
        self, payload: Any, status: int = 200, content_type: str = "application/json"
    ) -> None:
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(payload if isinstance(payload, str) else json.dumps(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            self.reply(error.body, error.status)
        elif isinstance(error, tornado.web.HTTPError):
            self.reply(
                {"error": "http_error", "detail": error.log_message or self._reason}, status_code
            )
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
            raise ApiError(413, "too_large", self._too_large(int(declared)), **self.path_kwargs)

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
            raise ApiError(413, "too_large", self._too_large(self._size), **self.path_kwargs)
        try:
            return parse_body(b"".join(self._chunks), self.request.headers.get("Content-Type"))
        except WireError as exc:
            status = 415 if exc.code == "unsupported_media_type" else 400
            raise ApiError(status, exc.code, exc.detail, **self.path_kwargs) from None


class RunsHandler(_Api):
    def get(self) -> None:
        self.reply({"runs": describe_runs(self.hub)})


class RunHandler(_Api):
    async def delete(self, run: str) -> None:
        self.reply(await delete_run(self.hub, run))


class LayoutHandler(_BodyApi):
    async def put(self, run: str) -> None:
        self.reply(await put_layout(self.hub, run, self.body()))

    def get(self, run: str) -> None:
        names(run)
        layout = self.hub.layout(run)[1]
        if layout is None:
            raise ApiError(404, "not_found", f"run '{run}' has no layout", run=run)
        self.reply(layout_to_dict(layout))


class StreamsHandler(_Api):
    def get(self, run: str) -> None:
        names(run)
        if run not in self.hub.runs():
            raise ApiError(404, "not_found", f"no run '{run}'", run=run)
        self.reply({"run": run, "streams": [t.describe() for t in self.hub.tables(run)]})

    async def delete(self, run: str) -> None:
        self.reply(await clear(self.hub, run, None))


class StreamHandler(_BodyApi):
    async def post(self, run: str, stream: str) -> None:
        columns = self.get_query_argument("columns", None)
        result = await store(
            self.hub,
            self.ledger,
            run,
            stream,
            self.body(),
            self.get_query_argument("mode", "append"),
            self.request.headers.get("X-Streamvis-Batch"),
            columns.split(",") if columns else None,
        )
        self.reply(result)

    async def delete(self, run: str, stream: str) -> None:
        self.reply(await clear(self.hub, run, stream))

    async def get(self, run: str, stream: str) -> None:
        names(run, stream)
        try:
            since = int(self.get_query_argument("since", "0"))
            limit_text = self.get_query_argument("limit", None)
            limit = int(limit_text) if limit_text is not None else None
        except ValueError:
            raise ApiError(
                400, "invalid_query", "since and limit must be integers", run=run, stream=stream
            ) from None
        table = self.hub.table(run, stream)
        if table is None:
            raise ApiError(
                404, "not_found", f"run '{run}' has no stream '{stream}'", run=run, stream=stream
            )
        first, next_seq, batch = table.rows(since, limit)
        if since < first and self.hub.store is not None:  # older rows: read them from disk
            if self.hub.store_failure() is None:  # a failing store: read what it holds
                await durable(self.hub, self.hub.last_ticket(), run=run, stream=stream)
            stored = stored_rows(self.hub.store.backend, run, stream, since, limit)
            if stored is not None:
                first, next_seq, batch = stored
        if self.get_query_argument("format", "json") == "csv":
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


class IngestSocket(tornado.websocket.WebSocketHandler):
    """One long-lived connection carrying the same messages as the HTTP routes:
    `{"id", "run", "stream", "mode", "data", "batch"}` (or `"op": "clear" | "layout"`), one
    JSON object or a list of them per frame; each gets a reply with its `id`. `batch`, when
    given, makes a resent message be stored once (like the X-Streamvis-Batch header)."""

    def initialize(self, access: Access, ledger: BatchLedger, hub: Hub | None = None) -> None:
        self.access = access
        self.ledger = ledger
        self._hub = hub

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
        if refusal is not None:
            self.set_status(refusal[0])
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": refusal[1], "detail": refusal[2]}))
            return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        """Browsers send Origin: refuse pages from anywhere but an allowed origin (scheme,
        host and port; the served address by default, see access.py)."""
        return self.access.origin_ok(origin)

    @property
    def max_message_size(self) -> int:
        return self.access.max_body

    async def on_message(self, message: str | bytes) -> None:
        try:
            parsed = json.loads(message)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.write_message(
                json.dumps(
                    {
                        "ok": False,
                        "error": "invalid_json",
                        "detail": f"message is not valid JSON: {exc}",
                    }
                )
            )
            return
        if isinstance(parsed, list):
            replies: Any = [await self._apply(m) for m in parsed]
        else:
            replies = await self._apply(parsed)
        if self.ws_connection is not None:  # the producer may have gone meanwhile
            self.write_message(json.dumps(replies))

    async def _apply(self, message: Any) -> dict[str, Any]:
        hub = self._hub or default_hub()
        if not isinstance(message, dict):
            return {"ok": False, "error": "invalid_message", "detail": "each message is an object"}
        reply_id = message.get("id")
        try:
            op = message.get("op", "stream")
            run = str(message.get("run", "default"))
            if op == "stream":
                result = await store(
                    hub,
                    self.ledger,
                    run,
                    str(message.get("stream", "")),
                    message.get("data"),
                    message.get("mode", "append"),
                    str(message["batch"]) if message.get("batch") is not None else None,
                    message.get("columns"),
                )
            elif op == "clear":
                result = await clear(hub, run, message.get("stream"))
            elif op == "delete_run":
                result = await delete_run(hub, run)
            elif op == "layout":
                result = await put_layout(hub, run, message.get("layout"))
            else:
                raise ApiError(
                    400,
                    "invalid_op",
                    f"op must be stream, clear, layout or delete_run, not {op!r}",
                )
        except ApiError as exc:
            return {"id": reply_id, "ok": False, **exc.body}
        return {"id": reply_id, "ok": True, **result}


def routes(
    access: Access, hub: Hub | None = None, ledger: BatchLedger | None = None
) -> list[tuple[str, Any, dict[str, Any]]]:
    """Tornado (pattern, handler, kwargs) triples for a server with these access settings."""
    if ledger is None:
        ledger = BatchLedger.from_store(hub or default_hub())
    kwargs = {"access": access, "ledger": ledger, "hub": hub}
    run, stream = f"(?P<run>{NAME})", f"(?P<stream>{NAME})"
    return [
        (f"{API}/runs", RunsHandler, kwargs),
        (f"{API}/runs/{run}", RunHandler, kwargs),
        (f"{API}/runs/{run}/layout", LayoutHandler, kwargs),
        (f"{API}/runs/{run}/streams", StreamsHandler, kwargs),
        (f"{API}/runs/{run}/streams/{stream}", StreamHandler, kwargs),
        (f"{API}/ws", IngestSocket, kwargs),
    ]


def __getattr__(name: str) -> Any:
    """`ROUTES` for `panel serve --plugins streamvis.ingest`, built when Panel asks for it."""
    if name == "ROUTES":
        from streamvis.store import server_hub

        try:
            server_hub()  # open and replay the store now, not when the first request comes
        except StreamvisError as exc:  # e.g. another server holds the store: say so, stop
            raise SystemExit(f"streamvis: {exc}") from None
        return routes(access_from_environment())
    raise AttributeError(f"module 'streamvis.ingest' has no attribute {name!r}")
