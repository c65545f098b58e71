"""What each ingest request does, shared by the HTTP routes and the websocket: write rows,
clear, delete a run, install a layout, set a run's attributes, list runs. Each waits until
its change is in the store before it returns, and raises ApiError (status, code, message,
run/stream/column) for anything it refuses; nothing stored is changed by a refused request.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Awaitable
from concurrent.futures import Future
from typing import Any

from streamvis.core.hub import Hub, check_name, iso_time
from streamvis.core.normalize import normalize
from streamvis.errors import AttributesError, SpecError, StreamError
from streamvis.layout.spec import layout_from_dict, layout_to_dict
from streamvis.wire.codec import narrow_float32
from streamvis.wire.limits import NAME_LIMIT, Limits

# how long a request waits for a failing store before answering 503 store_pending
STORE_WAIT_SECONDS = float(os.environ.get("STREAMVIS_STORE_WAIT", "30"))
# once the store reports a failure (Redis away, a full disk), a waiting request answers
# 503 store_pending after this much longer instead of waiting out STORE_WAIT_SECONDS
FAILING_WAIT_SECONDS = 2.0
WAIT_SLICE_SECONDS = 0.25  # how often a waiting request looks at the store's health


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
            for run, stream, batch_id, seq in hub.store.batch_ids(ledger.size):
                ledger.record(run, stream, batch_id, seq)
        return ledger


def check_store(hub: Hub, **where: Any) -> None:
    """Refuse a write up front while the store cannot write (a full disk): it would sit in
    memory unacknowledged; refused now, it is in neither memory nor the store."""
    failure = hub.store_failure()
    if failure is not None:
        raise ApiError(
            503,
            "store_unavailable",
            f"the server cannot write to its store right now ({failure}); nothing was "
            "stored, send it again later",
            **where,
        )


def _pending(hub: Hub, **where: Any) -> ApiError:
    return ApiError(
        503,
        "store_pending",
        f"not acknowledged yet: the server's store is behind ({hub.store_failure()}); the "
        f"change is kept and will be stored when the store recovers. Sending it again with "
        "the same batch id (X-Streamvis-Batch) is safe and answers once it is stored",
        **where,
    )


async def _outcome(future: Future[int], **where: Any) -> None:
    """Wait for the store's verdict on a change: data the store refuses (a column's type
    conflicts with the one another process stored first: only a shared store sees that
    race) is 422 invalid_data naming run, stream and column; any other refusal a 503."""
    try:
        await asyncio.wrap_future(future)
    except StreamError as exc:
        raise ApiError(
            422, "invalid_data", str(exc), **{**where, "column": exc.column or where.get("column")}
        ) from None
    except Exception as exc:
        raise ApiError(
            503,
            "store_failed",
            f"the server could not save this to its store ({exc}); it was not acknowledged, "
            "send it again",
            **where,
        ) from None


async def wait_for_store(hub: Hub, awaitable: Awaitable[Any]) -> None:
    """Wait for `awaitable` (shielded: it goes on if this gives up) at most
    STORE_WAIT_SECONDS, and at most FAILING_WAIT_SECONDS once the store reports a failure;
    TimeoutError when it gave up."""
    task = asyncio.ensure_future(awaitable)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STORE_WAIT_SECONDS
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        try:
            await asyncio.wait_for(asyncio.shield(task), min(remaining, WAIT_SLICE_SECONDS))
            return
        except TimeoutError:
            if hub.store_failure() is not None:
                deadline = min(deadline, loop.time() + FAILING_WAIT_SECONDS)


async def durable(hub: Hub, ticket: int, **where: Any) -> None:
    """Wait until the change with `ticket` is in the store: a refused change is a 503
    store_failed, one still waiting for a failing store (see `wait_for_store`) a 503
    store_pending (it stays queued and is stored later)."""
    future = hub.durable(ticket)
    if future is None:
        return
    try:
        await wait_for_store(hub, _outcome(future, **where))
    except TimeoutError:
        raise _pending(hub, **where) from None


def shorten(text: str, keep: int = 40) -> str:
    """A name as an error message may quote it: its first `keep` characters."""
    return text if len(text) <= keep else f"{text[:keep]}..."


def names(run: Any, stream: Any = None) -> tuple[str, str | None]:
    """Check a run (and stream) name: 400 name_too_long past 128 characters, 400
    invalid_name for anything the name rule refuses (including names that are not text)."""
    for kind, name in (("run", run), ("stream", stream)):
        if isinstance(name, str) and len(name) > NAME_LIMIT:
            raise ApiError(
                400,
                "name_too_long",
                f"{kind} name '{shorten(name)}' is {len(name)} characters long; the limit is "
                f"{NAME_LIMIT}",
                run=shorten(run) if isinstance(run, str) else None,
                stream=shorten(stream) if isinstance(stream, str) else None,
            )
        if name is not None and not isinstance(name, str):
            raise ApiError(
                400, "invalid_name", f"{kind} name must be text, not {type(name).__name__}"
            )
    try:
        check_name("run", run)
        if stream is not None:
            check_name("stream", stream)
    except StreamError as exc:
        raise ApiError(400, "invalid_name", str(exc), run=run, stream=stream) from None
    return run, stream


def check_mode(mode: Any, run: str, stream: str) -> None:
    if mode not in ("append", "replace"):
        raise ApiError(
            400,
            "invalid_mode",
            f"mode must be 'append' or 'replace', not {mode!r:.60}",
            run=run,
            stream=stream,
        )


def check_batch_id(batch_id: Any, limits: Limits, run: str, stream: str) -> str | None:
    """A batch id as the ledger keeps it: text (or a whole number) of bounded length."""
    if batch_id is None:
        return None
    if isinstance(batch_id, int) and not isinstance(batch_id, bool):
        batch_id = str(batch_id)
    if not isinstance(batch_id, str) or not batch_id:
        raise ApiError(
            400,
            "invalid_batch",
            f"a batch id must be non-empty text, not {batch_id!r:.60}",
            run=run,
            stream=stream,
        )
    if len(batch_id) > limits.max_batch_id:
        raise ApiError(
            400,
            "invalid_batch",
            f"batch id '{shorten(batch_id)}' is {len(batch_id)} characters long; the limit is "
            f"{limits.max_batch_id} (STREAMVIS_MAX_BATCH_ID)",
            run=run,
            stream=stream,
        )
    return batch_id


def _column_names(data: Any, columns: Any) -> list[str] | dict[str, None]:
    """The column names a message's data carries, gathered without converting any values."""
    if columns is not None:
        return list(columns)
    if isinstance(data, dict):
        return list(data)
    found: dict[str, None] = {}
    if isinstance(data, list) and data and isinstance(data[0], dict):
        for row in data:
            if isinstance(row, dict):
                found.update(dict.fromkeys(row))
    return found


def check_columns(data: Any, columns: Any, limits: Limits, run: str, stream: str) -> None:
    """Refuse a batch with too many columns (422 too_many_columns) or a column name past
    `limits.max_column_name` (400 name_too_long) before its values are converted."""
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise ApiError(
            422,
            "invalid_data",
            f"run '{run}', stream '{stream}': columns must be a list of column names, "
            f"not {columns!r:.60}",
            run=run,
            stream=stream,
        )
    found = _column_names(data, columns)
    if len(found) > limits.max_columns:
        raise ApiError(
            422,
            "too_many_columns",
            f"run '{run}', stream '{stream}': {len(found)} columns in one batch; the limit is "
            f"{limits.max_columns} (STREAMVIS_MAX_COLUMNS)",
            run=run,
            stream=stream,
        )
    for name in found:
        if len(name) > limits.max_column_name:
            raise ApiError(
                400,
                "name_too_long",
                f"run '{run}', stream '{stream}': column name '{shorten(name)}' is {len(name)} "
                f"characters long; the limit is {limits.max_column_name} "
                "(STREAMVIS_MAX_COLUMN_NAME)",
                run=run,
                stream=stream,
                column=shorten(name),
            )


async def store(
    hub: Hub,
    ledger: BatchLedger,
    run: Any,
    stream: Any,
    data: Any,
    mode: Any,
    batch_id: Any = None,
    columns: Any = None,
    limits: Limits | None = None,
    float32: Any = None,
) -> dict[str, Any]:
    """Write one message to the hub (shared by HTTP and websocket) and wait until it is in
    the store; raises ApiError. Names, mode, batch id and columns are checked against
    `limits` before any value is converted. `float32` names columns the producer sent as
    float32 (JSON numbers are float64): they are stored as float32 again."""
    limits = limits or Limits()
    names(run, stream)
    check_mode(mode, run, stream)
    batch_id = check_batch_id(batch_id, limits, run, stream)
    check_columns(data, columns, limits, run, stream)
    duplicate = {"run": run, "stream": stream, "rows": 0, "duplicate": True}
    if ledger.seen(run, stream, batch_id):
        return {**duplicate, "seq": hub.seq(stream, run=run)}
    first_copy = ledger.pending(run, stream, batch_id)
    if first_copy is not None:  # a retry while the first copy is still being committed
        try:
            await wait_for_store(hub, first_copy.wait())
        except TimeoutError:
            raise _pending(hub, run=run, stream=stream) from None
        if ledger.seen(run, stream, batch_id):
            return {**duplicate, "seq": hub.seq(stream, run=run)}
        raise ApiError(
            503,
            "store_failed",
            "the first copy of this batch could not be saved; send it again",
            run=run,
            stream=stream,
        )
    check_store(hub, run=run, stream=stream)
    try:
        if float32 is not None:
            where = f"run '{run}', stream '{stream}'"
            batch = normalize(data, columns=columns, where=where, run=run, stream=stream)
            data, columns = narrow_float32(batch, float32, where), None
        rows, ticket = hub.write(
            stream,
            data,
            run=run,
            mode=mode,
            columns=columns,
            batch_id=batch_id,
        )
    except StreamError as exc:
        raise ApiError(
            422, "invalid_data", str(exc), run=run, stream=stream, column=exc.column
        ) from None
    seq = hub.seq(stream, run=run)
    future = hub.durable(ticket)
    if future is None:
        ledger.record(run, stream, batch_id, seq)
    else:
        ledger.begin(run, stream, batch_id)
        # settles the ledger when the store decides, even if this request stops waiting
        settled = asyncio.ensure_future(_settle(ledger, future, run, stream, batch_id, seq))
        _SETTLING.add(settled)
        settled.add_done_callback(_SETTLING.discard)
        try:
            await wait_for_store(hub, settled)
        except TimeoutError:
            raise _pending(hub, run=run, stream=stream) from None
    return {"run": run, "stream": stream, "rows": rows, "seq": seq}


_SETTLING: set[asyncio.Task[None]] = set()  # strong references: the loop keeps weak ones


async def _settle(
    ledger: BatchLedger,
    future: Future[int],
    run: str,
    stream: str,
    batch_id: str | None,
    seq: int,
) -> None:
    """Wait for the store's outcome of a batch and remember it, so a retry of the same
    batch id is answered from the ledger and never stored twice."""
    try:
        await _outcome(future, run=run, stream=stream)
        ledger.record(run, stream, batch_id, seq)
    finally:
        ledger.end(run, stream, batch_id)


async def clear(hub: Hub, run: Any, stream: Any) -> dict[str, Any]:
    """Empty one stream or every stream of a run (numbering and layout stay)."""
    names(run, stream)
    check_store(hub, run=run, stream=stream)
    tickets = [table.clear() for table in hub.tables(run) if stream in (None, table.name)]
    await durable(hub, max(tickets, default=0), run=run, stream=stream)
    return {"run": run, **({"stream": stream} if stream else {}), "cleared": len(tickets)}


async def delete_run(hub: Hub, run: Any) -> dict[str, Any]:
    """Forget a run entirely: streams, stored rows and layout."""
    names(run)
    if run not in hub.runs():
        raise ApiError(404, "not_found", f"no run '{run}'", run=run)
    check_store(hub, run=run)
    deleted, ticket = hub.delete_run(run)
    await durable(hub, ticket, run=run)
    return {"run": run, "deleted": deleted}


def describe_runs(hub: Hub) -> list[dict[str, Any]]:
    """Each run with its start, last write and row counts (kept in memory, and on disk)."""
    stored = {r["run"]: r for r in hub.store.runs()} if hub.store is not None else {}
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
            "attributes": hub.attributes(run),
        }
        if run in stored:
            entry["stored_rows"] = stored[run]["rows"]
        described.append(entry)
    return described


async def put_layout(hub: Hub, run: Any, raw: Any) -> dict[str, Any]:
    """Validate and install a run's layout; open pages of the run rebuild themselves."""
    names(run)
    if not isinstance(raw, dict):
        raise ApiError(
            422, "invalid_layout", "a layout must be a JSON object with 'plots'", run=run
        )
    if raw.setdefault("run", run) != run:
        raise ApiError(
            422,
            "invalid_layout",
            f"the layout names run {raw['run']!r:.60} but was sent for run {run!r}",
            run=run,
        )
    try:
        layout = layout_from_dict(raw, source=f"layout of run '{run}'")
    except SpecError as exc:
        raise ApiError(422, "invalid_layout", str(exc), run=run) from None
    check_store(hub, run=run)
    data = layout_to_dict(layout)  # the hub and the store keep plain data
    version = hub.set_layout(run, data, stored=data)
    await durable(hub, hub.last_ticket(), run=run)
    return {"run": run, "version": version}


async def put_attributes(hub: Hub, run: Any, raw: Any) -> dict[str, Any]:
    """Merge attributes (a JSON object; null removes a key) into a run's and wait until the
    store has them: 422 invalid_attributes naming run and key for a bad one, nothing kept."""
    names(run)
    if not isinstance(raw, dict):
        raise ApiError(
            422,
            "invalid_attributes",
            f"run '{run}': attributes must be a JSON object of names to values, not "
            f"{type(raw).__name__}",
            run=run,
        )
    check_store(hub, run=run)
    try:
        attributes, ticket = hub.set_attributes(run, raw)
    except AttributesError as exc:
        key = shorten(exc.key) if exc.key is not None else None
        raise ApiError(422, "invalid_attributes", str(exc), run=run, key=key) from None
    await durable(hub, ticket, run=run)
    return {"run": run, "attributes": attributes}
