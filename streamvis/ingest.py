"""REST and websocket ingest routes, served by the same server as the dashboard.

    panel serve apps/dashboard.py --plugins streamvis.ingest --address 127.0.0.1 ...

mounts `ROUTES` (built on first access from STREAMVIS_* variables and this process's
`panel serve` arguments; see access.py). Building them also opens the server's store
(`--store`, default ./.streamvis/streamvis.db) and replays it, so the history is there before
the first page or producer arrives. A write is answered only once it is in the store.
Every error is a JSON body
`{"error": code, "detail": message, ...}` naming the run, stream and column where known;
nothing stored is changed by a refused request. docs/http-api.md describes each route.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from typing import Any

import tornado.web
import tornado.websocket

from streamvis.access import Access, access_from_environment, host_name
from streamvis.errors import SpecError, StreamError, StreamvisError
from streamvis.export import stored_rows
from streamvis.hub import Hub, check_name, default_hub, iso_time
from streamvis.spec import layout_from_dict, layout_to_dict
from streamvis.wire import WireError, columns_csv, columns_json, parse_body

log = logging.getLogger("streamvis")
API = "/api/v1"
NAME = r"[^/]+"
_COLUMN = re.compile(r"column '([^']+)'")


class ApiError(Exception):
    """A refused request: HTTP status, short code, message, and where (run/stream/column)."""

    def __init__(self, status: int, code: str, detail: str, **where: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.body = {"error": code, "detail": detail, **{k: v for k, v in where.items() if v}}


class BatchLedger:
    """Recently applied batch ids, so a batch a client retries is stored once."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._pending: dict[str, asyncio.Event] = {}

    def seen(self, run: str, stream: str, batch_id: str | None) -> bool:
        return bool(batch_id) and f"{run}/{stream}/{batch_id}" in self._ids

    def pending(self, run: str, stream: str, batch_id: str | None) -> asyncio.Event | None:
        """Set once the first copy of this batch is committed (or failed), while it is."""
        return self._pending.get(f"{run}/{stream}/{batch_id}") if batch_id else None

    def begin(self, run: str, stream: str, batch_id: str | None) -> None:
        if batch_id:
            self._pending[f"{run}/{stream}/{batch_id}"] = asyncio.Event()

    def end(self, run: str, stream: str, batch_id: str | None) -> None:
        event = self._pending.pop(f"{run}/{stream}/{batch_id}", None) if batch_id else None
        if event is not None:
            event.set()

    def record(self, run: str, stream: str, batch_id: str | None, seq: int) -> None:
        if batch_id:
            self._ids[f"{run}/{stream}/{batch_id}"] = seq
            if len(self._ids) > self.size:
                self._ids.popitem(last=False)

    @classmethod
    def from_store(cls, hub: Hub) -> BatchLedger:
        """A ledger holding the batch ids the hub's store remembers, so a batch retried
        across a server crash is still stored once."""
        ledger = cls()
        if hub.store is not None:
            for run, stream, batch_id, seq in hub.store.backend.batch_ids(ledger.size):
                ledger.record(run, stream, batch_id, seq)
        return ledger


async def durable(hub: Hub, ticket: int, **where: Any) -> None:
    """Wait until the change with `ticket` is in the store; a failed store is a 503."""
    future = hub.durable(ticket)
    if future is None:
        return
    try:
        await asyncio.wrap_future(future)
    except Exception as exc:
        raise ApiError(
            503,
            "store_failed",
            f"the server could not save this to its store ({exc}); it was not acknowledged, "
            "send it again",
            **where,
        ) from None


def _names(run: str, stream: str | None = None) -> tuple[str, str | None]:
    try:
        check_name("run", run)
        if stream is not None:
            check_name("stream", stream)
    except StreamError as exc:
        raise ApiError(400, "invalid_name", str(exc), run=run, stream=stream) from None
    return run, stream


async def store(
    hub: Hub,
    ledger: BatchLedger,
    run: str,
    stream: str,
    data: Any,
    mode: str,
    batch_id: str | None = None,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """Write one message to the hub (shared by HTTP and websocket) and wait until it is in
    the store; raises ApiError."""
    _names(run, stream)
    if mode not in ("append", "replace"):
        raise ApiError(
            400,
            "invalid_mode",
            f"mode must be 'append' or 'replace', not {mode!r}",
            run=run,
            stream=stream,
        )
    duplicate = {"run": run, "stream": stream, "rows": 0, "duplicate": True}
    if ledger.seen(run, stream, batch_id):
        return {**duplicate, "seq": hub.seq(stream, run=run)}
    first_copy = ledger.pending(run, stream, batch_id)
    if first_copy is not None:  # a retry while the first copy is still being committed
        await first_copy.wait()
        if ledger.seen(run, stream, batch_id):
            return {**duplicate, "seq": hub.seq(stream, run=run)}
        raise ApiError(
            503,
            "store_failed",
            "the first copy of this batch could not be saved; send it again",
            run=run,
            stream=stream,
        )
    try:
        rows, ticket = hub.write(
            stream,
            data,
            run=run,
            mode=mode,  # type: ignore[arg-type]
            columns=columns,
            batch_id=batch_id,
        )
    except StreamError as exc:
        column = _COLUMN.search(str(exc))
        raise ApiError(
            422,
            "invalid_data",
            str(exc),
            run=run,
            stream=stream,
            column=column.group(1) if column else None,
        ) from None
    seq = hub.seq(stream, run=run)
    ledger.begin(run, stream, batch_id)
    try:
        await durable(hub, ticket, run=run, stream=stream)
        ledger.record(run, stream, batch_id, seq)
    finally:
        ledger.end(run, stream, batch_id)
    return {"run": run, "stream": stream, "rows": rows, "seq": seq}


async def clear(hub: Hub, run: str, stream: str | None) -> dict[str, Any]:
    """Empty one stream or every stream of a run (numbering and layout stay)."""
    _names(run, stream)
    tickets = [table.clear() for table in hub.tables(run) if stream in (None, table.name)]
    await durable(hub, max(tickets, default=0), run=run, stream=stream)
    return {"run": run, **({"stream": stream} if stream else {}), "cleared": len(tickets)}


async def delete_run(hub: Hub, run: str) -> dict[str, Any]:
    """Forget a run entirely: streams, stored rows and layout."""
    _names(run)
    if run not in hub.runs():
        raise ApiError(404, "not_found", f"no run '{run}'", run=run)
    deleted, ticket = hub.delete_run(run)
    await durable(hub, ticket, run=run)
    return {"run": run, "deleted": deleted}


def describe_runs(hub: Hub) -> list[dict[str, Any]]:
    """Each run with its start, last write and row counts (kept in memory, and on disk)."""
    stored = {r["run"]: r for r in hub.store.backend.runs()} if hub.store is not None else {}
    described = []
    for run in hub.runs():
        tables = [t.describe() for t in hub.tables(run)]
        started, updated = hub.run_times(run)
        entry = {
            "run": run,
            "started": iso_time(started),
            "last_write": iso_time(updated),
            "streams": len(tables),
            "rows": sum(t["rows"] for t in tables),
            "layout": hub.layout(run)[1] is not None,
        }
        if run in stored:
            entry["stored_rows"] = stored[run]["rows"]
        described.append(entry)
    return described


async def put_layout(hub: Hub, run: str, raw: Any) -> dict[str, Any]:
    """Validate and install a run's layout; open pages of the run rebuild themselves."""
    _names(run)
    if not isinstance(raw, dict):
        raise ApiError(
            422, "invalid_layout", "a layout must be a JSON object with 'plots'", run=run
        )
    if raw.setdefault("run", run) != run:
        raise ApiError(
            422,
            "invalid_layout",
            f"the layout names run {raw['run']!r} but was sent for run {run!r}",
            run=run,
        )
    try:
        layout = layout_from_dict(raw, source=f"layout of run '{run}'")
    except SpecError as exc:
        raise ApiError(422, "invalid_layout", str(exc), run=run) from None
    version = hub.set_layout(run, layout, stored=layout_to_dict(layout))
    if hub.store is not None:
        await durable(hub, hub.store.journal.last_ticket, run=run)
    return {"run": run, "version": version}


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
        _names(run)
        layout = self.hub.layout(run)[1]
        if layout is None:
            raise ApiError(404, "not_found", f"run '{run}' has no layout", run=run)
        self.reply(layout_to_dict(layout))


class StreamsHandler(_Api):
    def get(self, run: str) -> None:
        _names(run)
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

    def get(self, run: str, stream: str) -> None:
        _names(run, stream)
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
            self.hub.flush()
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
        """Browsers send Origin: refuse pages served from anywhere but an allowed host."""
        from urllib.parse import urlparse

        return host_name(urlparse(origin).netloc) in self.access.allowed_hosts

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
