"""The hub: every stream of every run in this process, and the cursors that read them.

Producers write with `Hub.stream` from any thread; each browser session holds a
`Subscription` per stream and polls it for the rows it has not drawn yet. Each (run, stream)
is a `Table` (table.py); `Hub.source` gives a `streamz.Stream` that emits every stored batch,
for users who want to attach their own streamz pipeline (streamz is imported only then).
With a `store` every change is also queued to the durable log (a `Store`, core/durable.py);
`streamvis.store.hub_from_store` builds a hub that first replays what its store holds.
No Panel, HoloViews, Bokeh, Tornado or pandas here, and no store backend.
"""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from streamvis.core import defaults
from streamvis.core.attributes import AttributeValue, RunAttributes
from streamvis.core.losses import Losses
from streamvis.core.memory import Budget, configured_memory, parse_memory
from streamvis.core.names import check_name
from streamvis.core.normalize import Batch, normalize
from streamvis.core.storage import (
    AppendRow,
    AppendRows,
    DeleteRun,
    Op,
    SetAttributes,
    SetLayout,
)
from streamvis.core.table import Mode, Table, Update, all_missing, iso_time
from streamvis.errors import StoreError, StreamError

if TYPE_CHECKING:
    import numpy as np
    import streamz

    from streamvis.core.durable import Store

__all__ = [
    "Hub", "Mode", "RunFacts", "Subscription", "Table", "Update", "all_missing",
    "check_name", "default_hub", "hub_or_default", "iso_time", "set_default_factory",
    "swap_default_hub",
]  # fmt: skip


def check_retain(retain: Any) -> int | None:
    """Refuse a `Hub(retain=...)` that is not None or a whole number of rows >= 1, at
    construction."""
    if retain is None:
        return None
    if isinstance(retain, bool) or not isinstance(retain, numbers.Integral) or retain < 1:
        raise StreamError(
            f"Hub(retain={retain!r:.40}): retain (rows kept per stream) must be a whole number "
            "of at least 1"
        )
    return int(retain)


def _memory_argument(memory: Any) -> int:
    """`Hub(memory=...)` in bytes; a StreamError naming the argument for a bad value."""
    return parse_memory(memory, "Hub(memory=...)")


def hub_or_default(hub: Any, where: str) -> Hub:
    """`hub`, or the process-wide hub for None; a StreamError naming `where` for anything
    else (a user passing the wrong object gets our error, not an AttributeError later)."""
    if hub is None:
        return default_hub()
    if not isinstance(hub, Hub):
        raise StreamError(f"{where}(hub=...) must be a streamvis Hub, not {type(hub).__name__}")
    return hub


class RunFacts(NamedTuple):
    """What a runs list shows of one run: times in ns since the epoch, rows summed over
    its streams (those held in memory, as `GET /api/v1/runs` counts them)."""

    started: int  # its first row's arrival (or its layout's, for a run with no rows yet)
    last_write: int  # the newest write to any of its streams
    rows: int
    streams: int


class Subscription:
    """A cursor over one stream: each `poll` returns only what is newer than the last."""

    def __init__(self, hub: Hub, run: str, name: str, limit: int | None) -> None:
        self.hub = hub
        self.run = run
        self.name = name
        self.limit = limit
        self.generation = -1
        self.seq = 0
        self.closed = False

    def poll(self) -> Update | None:
        """New rows since the last poll, a reset after replace/clear, or None."""
        table = self.hub.table(self.run, self.name)
        if table is None or self.closed:
            return None
        update = table.read(self.generation, self.seq, self.limit)
        if update is not None:
            self.generation = update.generation
            self.seq = update.seq
        return update

    def close(self) -> None:
        self.closed = True
        self.hub._forget(self)


class Hub:
    """All streams of this process, keyed by (run, stream); thread-safe. With a `store`,
    every change is queued to it; the hub does not read it (`hub_from_store` replays).

    `memory` bounds the bytes of rows kept in memory (an int or '512MB', '8GiB'; default
    STREAMVIS_MEMORY, else min(4 GiB, a quarter of physical memory)): beyond it the oldest
    rows go first, across
    streams, and views read them back from the store (docs/memory.md). `retain`, when
    given, also caps the rows kept per stream."""

    def __init__(
        self,
        retain: int | None = None,
        store: Store | None = None,
        *,
        memory: int | str | None = None,
    ) -> None:
        self.retain = check_retain(retain)
        self.budget = Budget(configured_memory() if memory is None else _memory_argument(memory))
        self._evicting = threading.Lock()
        self._recheck = False  # a caller found the budget being checked: check once more
        self._budget_checked = 0  # budget.used when summaries were last counted
        self._summary_bytes = 0  # what tables hold beside their rows (LOD summaries)
        if store is not None and not callable(getattr(store, "put", None)):
            raise StoreError(
                f"Hub(store=...) must be a Store (streamvis.store.open_store(path)), not "
                f"{type(store).__name__}"
            )
        self.store = store
        self._tables: dict[tuple[str, str], Table] = {}
        self._run_tables: dict[str, dict[str, Table]] = {}  # run -> stream -> table
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._layouts: dict[str, tuple[int, Any]] = {}
        self._layout_version = 0
        self._layout_files: dict[str, Any] = {}  # runs whose layout is a watched file's
        self._run_created: dict[str, int] = {}
        self._stored_layouts: dict[str, Any] = {}  # each run's layout as last stored or read
        self._attributes = RunAttributes()  # each run's attributes (core/attributes.py)
        self.losses = Losses()  # rows producers dropped, sources reconnecting (core/losses.py)
        if store is not None:
            store.on_refused(self._refused)

    def _refused(self, op: Op, error: BaseException) -> None:
        """The store refused a change for good (called from its writer thread): rows it
        will never hold are shown as missing, so memory stays what a replay would give."""
        if isinstance(op, AppendRows | AppendRow) and op.seq >= 0:  # shared: never applied
            table = self.table(op.run, op.stream)
            if table is not None:
                table.lose(op.seq, op.rows)

    def store_failure(self) -> BaseException | None:
        """Why the store cannot write right now (a full disk...), or None when it can."""
        return self.store.failure if self.store is not None else None

    def table(self, run: str, name: str) -> Table | None:
        return self._tables.get((run, name))

    def _table_for_write(self, run: str, name: str) -> Table:
        table = self._tables.get((run, name))
        if table is None:
            check_name("run", run)
            check_name("stream", name)
            with self._lock:
                table = self._tables.get((run, name))
                if table is None:
                    table = Table(run, name, self.retain, self.store, self.budget)
                    table.after_fold = self.keep_within_budget  # its summary grew
                    self._tables[(run, name)] = table
                    self._run_tables.setdefault(run, {})[name] = table
                    self._run_created.setdefault(run, table.created)
        return table

    def restore_table(self, run: str, name: str, created: int, updated: int) -> Table:
        """An empty table for a stream being replayed from the store."""
        table = self._table_for_write(run, name)
        table.created, table.updated = created, updated
        self._run_created[run] = min(self._run_created.get(run, created), created)
        return table

    def stream(
        self,
        name: str,
        data: Any,
        *,
        run: str = "default",
        mode: Mode = "append",
        columns: Sequence[str] | None = None,
    ) -> int:
        """Store `data` in stream `name` of `run`; returns the number of rows stored."""
        table = self._tables.get((run, name))
        if table is not None and mode == "append" and type(data) is dict:
            if table.try_append_row(data) >= 0:
                self._check_budget()
                return 1
        return self.write(name, data, run=run, mode=mode, columns=columns)[0]

    def write(
        self,
        name: str,
        data: Any,
        *,
        run: str = "default",
        mode: Mode = "append",
        columns: Sequence[str] | None = None,
        batch_id: str | None = None,
    ) -> tuple[int, int]:
        """Like `stream`, returning (rows stored, store ticket): `durable(ticket)` tells when
        the rows are on disk. `batch_id` is remembered by the store for deduplication."""
        table = self._tables.get((run, name))
        if table is not None and mode == "append" and type(data) is dict and not batch_id:
            ticket = table.try_append_row(data)
            if ticket >= 0:
                self._check_budget()
                return 1, ticket
        where = table.where if table is not None else self._where(run, name)
        if mode not in ("append", "replace"):
            message = f"{where}: mode must be 'append' or 'replace', not {mode!r}"
            raise StreamError(message, run=run, stream=name)
        batch = normalize(data, columns=columns, where=where, run=run, stream=name)
        rows = len(next(iter(batch.values()))) if batch else 0
        if rows == 0 and (mode == "append" or table is None):
            return 0, 0  # nothing to add; an empty replace of a stream never written: no-op
        # created only now, so data refused by normalize leaves no empty stream behind
        table = table or self._table_for_write(run, name)
        ticket = table.write(batch, rows, mode, batch_id)
        self._check_budget()
        return rows, ticket

    @property
    def memory(self) -> int:
        """The byte budget of the rows kept in memory."""
        return self.budget.limit

    def set_memory(self, memory: int | str) -> int:
        """Change the byte budget (an int or '512MB', '8GiB'); rows beyond it go now.
        Returns the new budget in bytes."""
        self.budget.limit = _memory_argument(memory)
        self.keep_within_budget()
        return self.budget.limit

    @property
    def nbytes(self) -> int:
        """Bytes the hub's streams hold in memory (rows and summaries)."""
        return sum(table.nbytes for table in list(self._tables.values()))

    def _check_budget(self) -> None:
        """After a write: evict when over the budget; summaries (small, slow to grow) are
        counted again whenever the rows' bytes moved by 1/16 of the budget."""
        budget = self.budget
        used = budget.used
        if (
            used + self._summary_bytes > budget.limit
            or abs(used - self._budget_checked) > budget.limit >> 4
        ):
            self.keep_within_budget()

    def keep_within_budget(self) -> int:
        """Drop the oldest chunks of rows, oldest first across streams (never a stream's
        newest chunk), until the hub is within its byte budget; returns bytes freed. Called
        after writes and after the background folder grew a summary, outside every table's
        lock; one caller at a time does the work, and checks again if another came
        meanwhile (its rows or summary may have grown after the count)."""
        freed = 0
        while True:
            if not self._evicting.acquire(blocking=False):
                self._recheck = True
                return freed
            try:
                self._recheck = False
                freed += self._evict_over_budget()
            finally:
                self._evicting.release()
            if not self._recheck:
                return freed

    def _evict_over_budget(self) -> int:
        """`keep_within_budget`'s work, by the one caller holding `_evicting`."""
        freed = 0
        self._budget_checked = self.budget.used
        every = list(self._tables.values())
        tables = list(every)
        summaries = sum(table.nbytes for table in every) - self.budget.used
        self._summary_bytes = summaries
        while self.budget.over(summaries):
            arrivals = [(t.first_arrival(), t) for t in tables if t.evictable]
            candidates = [(when, t) for when, t in arrivals if when is not None]
            if not candidates:
                break
            _, oldest = min(candidates, key=lambda pair: pair[0])
            gone = oldest.evict_oldest()
            if not gone:
                tables.remove(oldest)  # down to its newest chunk meanwhile
            freed += gone
            summaries = sum(table.nbytes for table in every) - self.budget.used
            self._summary_bytes = summaries
        self._budget_checked = self.budget.used
        return freed

    def durable(self, ticket: int) -> Future[int] | None:
        """A future resolved when the change with this ticket is in the store (None when
        there is no store or nothing to wait for)."""
        if self.store is None or ticket <= 0:
            return None
        return self.store.when_durable(ticket)

    def last_ticket(self) -> int:
        """The ticket of the newest change queued to the store (0 without a store): once it
        is durable, everything written before is too."""
        return self.store.last_ticket if self.store is not None else 0

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every change so far is in the store; True when it is (or no store).
        Rows memory kept only until the store had them may then go (the byte budget)."""
        if self.store is None:
            return True
        done = self.store.flush(timeout)
        self.keep_within_budget()
        return done

    @staticmethod
    def _where(run: str, name: str) -> str:
        check_name("run", run)
        check_name("stream", name)
        return f"run '{run}', stream '{name}'"

    def clear(self, name: str | None = None, run: str | None = None) -> int:
        """Empty matching streams (all of them by default); returns how many were cleared."""
        tables = [
            t
            for (r, n), t in list(self._tables.items())
            if (run is None or r == run) and (name is None or n == name)
        ]
        for table in tables:
            table.clear()
        return len(tables)

    def describe_memory(self) -> dict[str, int | None]:
        """What memory holds against the budget, for the HTTP API and `streamvis ls`."""
        return {"budget": self.budget.limit, "bytes": self.nbytes, "retain": self.retain}

    def delete_run(self, run: str) -> tuple[int, int]:
        """Forget a run: its streams, layout and stored rows. Pages showing it go back to
        'waiting'. Returns (streams deleted, store ticket)."""
        check_name("run", run)
        with self._lock:
            doomed = [key for key in self._tables if key[0] == run]
            for key in doomed:
                self._tables.pop(key).drop()
            self._run_tables.pop(run, None)
            had_layout = self._layouts.pop(run, None) is not None
            self._stored_layouts.pop(run, None)
            self._layout_files.pop(run, None)
            self._run_created.pop(run, None)
            self._attributes.forget(run)
            self.losses.forget(run)
            if had_layout:
                self._layout_version += 1
            ticket = self.store.put(DeleteRun(run)) if self.store is not None else 0
        return len(doomed), ticket

    def subscribe(
        self, name: str, *, run: str = "default", limit: int | None = None
    ) -> Subscription:
        """A cursor that will see the newest `limit` rows kept, then each new row once."""
        subscription = Subscription(self, run, name, limit)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def _forget(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    def source(self, name: str, *, run: str = "default") -> streamz.Stream:
        """The streamz.Stream that emits each batch stored in this stream (made, and streamz
        imported, on the first ask)."""
        return self._table_for_write(run, name).streamz_source()

    def read(self, name: str, *, run: str = "default", since: int = 0) -> Batch:
        """A copy of the kept rows with seq >= `since`."""
        table = self.table(run, name)
        if table is None:
            raise StreamError(f"run '{run}' has no stream '{name}'", run=run, stream=name)
        return table.rows(since)[2]

    def seq(self, name: str, *, run: str = "default") -> int:
        """The seq the next row of this stream will get (0 for a stream never written)."""
        table = self.table(run, name)
        return table.next_seq if table is not None else 0

    def runs(self) -> list[str]:
        tabled = {run for run, _ in self._tables}
        return sorted(tabled | set(self._layouts) | self._attributes.runs())

    def attributes(self, run: str) -> dict[str, AttributeValue]:
        """A copy of the run's attributes ({} when it has none)."""
        return self._attributes.of(run)

    def set_attributes(self, run: str, attributes: Any) -> tuple[dict[str, Any], int]:
        """Merge `attributes` (key -> value; None removes the key) into the run's, checked
        by core/attributes.py (AttributesError naming run and key; nothing changes), and
        queue the change to the store. Returns (the run's attributes now, store ticket)."""
        check_name("run", run)
        with self._lock:  # one order of changes for memory and the store
            changes, result = self._attributes.apply(run, attributes)
            if result:
                self._run_created.setdefault(run, time.time_ns())
            put = self.store.put if self.store is not None and changes else None
            ticket = put(SetAttributes(run, changes)) if put is not None else 0
        return result, ticket

    def restore_attributes(self, run: str, attributes: dict[str, AttributeValue]) -> None:
        """The run's attributes as its store holds them (a replay, or another process's
        change read by a shared store's follower); stores nothing."""
        with self._lock:
            self._attributes.replace(run, attributes)
            if attributes:
                self._run_created.setdefault(run, time.time_ns())

    def run_times(self, run: str) -> tuple[int, int]:
        """(start, last write) of a run in ns since the epoch (0, 0 for an unknown run)."""
        tables = [t for (r, _), t in list(self._tables.items()) if r == run]
        created = self._run_created.get(run, 0)
        updated = max((t.updated for t in tables), default=created)
        return created, updated

    def run_facts(self, run: str) -> RunFacts:
        """Start, last write, rows and streams of `run`, for the page's runs panel: looks
        at the run's own streams only (all zero for an unknown run)."""
        tables = list(self._run_tables.get(run, {}).values())
        created = self._run_created.get(run, 0)
        updated = max((table.updated for table in tables), default=created)
        rows = sum(table.row_count for table in tables)
        return RunFacts(created, updated, rows, len(tables))

    def set_layout(
        self,
        run: str,
        layout: Any,
        *,
        only_if_missing: bool = False,
        stored: dict[str, Any] | None = None,
    ) -> int:
        """Make `layout` the one pages of `run` show; returns its version (pages following
        the run rebuild when it changes). The hub keeps it without looking inside; `stored`
        (its plain-dict form) is also written to the store, so it survives a restart.
        A layout set here is the run's own: a layout file's edits no longer replace it."""
        check_name("run", run)
        with self._lock:
            if only_if_missing and run in self._layouts:
                return self._layouts[run][0]
            self._layout_files.pop(run, None)
            self._layout_version += 1
            self._layouts[run] = (self._layout_version, layout)
            self._run_created.setdefault(run, time.time_ns())
            if stored is not None and self.store is not None:
                self._stored_layouts[run] = stored
                self.store.put(SetLayout(run, stored))
            return self._layout_version

    def set_layout_from_store(self, run: str, stored: dict[str, Any]) -> int:
        """A layout read from a shared store (another process, or this one, stored it):
        made the run's layout unless it is the one this hub last stored or read."""
        with self._lock:
            if run in self._layouts and self._stored_layouts.get(run) == stored:
                return self._layouts[run][0]
            self._stored_layouts[run] = stored
        return self.set_layout(run, stored)

    def apply_stored(
        self,
        run: str,
        name: str,
        kind: Literal["append", "replace", "clear"],
        generation: int,
        first_seq: int,
        batch: Batch,
        times: np.ndarray,
    ) -> None:
        """Apply a change a shared store numbered, read by this process's follower."""
        self._table_for_write(run, name).apply_stored(kind, generation, first_seq, batch, times)
        self._check_budget()

    def forget_run(self, run: str) -> None:
        """A shared store deleted `run` (from any process): forget it here, storing nothing."""
        with self._lock:
            for key in [key for key in self._tables if key[0] == run]:
                self._tables.pop(key).drop()
            self._run_tables.pop(run, None)
            if self._layouts.pop(run, None) is not None:
                self._layout_version += 1
            self._stored_layouts.pop(run, None)
            self._layout_files.pop(run, None)
            self._run_created.pop(run, None)
            self._attributes.forget(run)
            self.losses.forget(run)

    def set_file_layout(self, run: str, layout: Any, source: Any) -> int:
        """Make `layout`, read from the watched layout file `source`, the run's layout unless
        the run has one of its own (set through the API, or replayed from the store);
        returns the run's layout version. Never stored: the file is read again at start."""
        check_name("run", run)
        with self._lock:
            current = self._layouts.get(run)
            if current is not None and (
                self._layout_files.get(run) is None or current[1] is layout
            ):
                return current[0]
            self._layout_version += 1
            self._layouts[run] = (self._layout_version, layout)
            self._layout_files[run] = source
            self._run_created.setdefault(run, time.time_ns())
            return self._layout_version

    def layout_file(self, run: str) -> Any:
        """The watched layout file the run's layout comes from; None for a run's own."""
        return self._layout_files.get(run)

    def layout(self, run: str) -> tuple[int, Any]:
        """(version, layout) for `run`; (0, None) when none was set."""
        return self._layouts.get(run, (0, None))

    def tables(self, run: str | None = None) -> Iterator[Table]:
        for (r, _), table in sorted(self._tables.items()):
            if run is None or r == run:
                yield table


_default_hub: Hub | None = None
_default_lock = threading.Lock()


def set_default_factory(factory: Callable[[], Hub]) -> None:
    """How `default_hub` builds the process-wide hub on first use. `import streamvis`
    registers one that opens the store STREAMVIS_STORE names (core cannot open stores)."""
    defaults.hub_factory = factory


def default_hub() -> Hub:
    """The process-wide hub, built on first use by the registered factory: in memory, or
    on the store named by STREAMVIS_STORE (servers choose theirs first, see
    `streamvis.store.use_default_store`)."""
    global _default_hub
    if _default_hub is None:
        with _default_lock:
            if _default_hub is None:
                _default_hub = (defaults.hub_factory or Hub)()  # memory only unless registered
    return _default_hub


def swap_default_hub(choose: Callable[[Hub | None], Hub]) -> Hub:
    """Make `choose(current)` the process-wide hub, under the lock `default_hub` takes
    (`current` is None before first use); returns it."""
    global _default_hub
    with _default_lock:
        _default_hub = choose(_default_hub)
        return _default_hub
