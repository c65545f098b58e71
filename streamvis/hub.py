"""The hub: every stream of every run in this process, and the cursors that read them.

Producers write with `Hub.stream` from any thread; each browser session holds a
`Subscription` per stream and polls it for the rows it has not drawn yet. Each (run, stream)
also has a `streamz.Stream` that emits every stored batch, for users who want to attach
their own streamz pipeline. No Panel or HoloViews here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import streamz

from streamvis.errors import StreamError
from streamvis.normalize import BOOL, FLOAT, INT, TEXT, Batch, describe_dtype, normalize
from streamvis.ring import Ring, merged_dtype

DEFAULT_RETAIN = 1_000_000
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_INT64_LIMIT = 2**63
Mode = Literal["append", "replace"]
# Python types a scalar-dict row may carry, per column dtype, to skip normalize entirely.
_ROW_TYPES: dict[np.dtype, tuple[type, ...]] = {
    FLOAT: (float, int),
    INT: (int,),
    BOOL: (bool,),
    TEXT: (str,),
}


def all_missing(values: np.ndarray) -> bool:
    """True when a column holds no value at all (only None, NaN or NaT)."""
    if values.dtype == TEXT:
        return all(v is None for v in values)
    if values.dtype.kind in "fM":
        return bool(np.isnan(values).all())
    return False


def check_name(kind: str, name: Any) -> str:
    """Refuse run and stream names that are empty or unsafe in a URL or a file name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StreamError(
            f"{kind} name {name!r} is not allowed: use 1-128 letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-'"
        )
    return name


@dataclass(frozen=True)
class Update:
    """What a subscriber has not seen yet. `reset` means: drop what you drew, this is all."""

    reset: bool
    batch: Batch
    seq: int
    generation: int

    @property
    def rows(self) -> int:
        return len(next(iter(self.batch.values()))) if self.batch else 0


class Table:
    """One stream: its ring of columns, mode, generation and lock."""

    def __init__(self, run: str, name: str, retain: int) -> None:
        self.run = run
        self.name = name
        self.lock = threading.Lock()
        self.ring = Ring(retain)
        self.generation = 0
        self.mode: Mode = "append"
        self.source = streamz.Stream(stream_name=f"{run}/{name}")
        self._row_types: dict[str, tuple[type, ...]] | None = None

    @property
    def where(self) -> str:
        return f"run '{self.run}', stream '{self.name}'"

    def _refresh_row_types(self) -> None:
        types = {name: _ROW_TYPES.get(dtype) for name, dtype in self.ring.dtypes.items()}
        usable = types and all(types.values()) and self.ring.capacity > 0
        self._row_types = types if usable else None  # type: ignore[assignment]

    def try_append_row(self, row: dict[str, Any]) -> bool:
        """Store a scalar-dict row that matches the schema exactly; False if it does not."""
        types = self._row_types
        if types is None or len(row) != len(types) or self.source.downstreams:
            return False
        for name, value in row.items():
            allowed = types.get(name)
            if allowed is None or type(value) not in allowed:
                return False
            if type(value) is int and not -_INT64_LIMIT <= value < _INT64_LIMIT:
                return False  # too big for int64: the general path widens the column
        with self.lock:
            if self._row_types is not types or self.mode != "append":
                return False
            self.ring.append_row(row)
        return True

    def _fit_missing(self, batch: Batch) -> Batch:
        """Columns that hold nothing but missing values fit any stored column: drop them, so
        the ring fills them with that column's own missing value (None, NaN or NaT)."""
        fitted = {}
        for name, values in batch.items():
            stored = self.ring.columns.get(name)
            if stored is not None and stored.dtype != values.dtype and all_missing(values):
                continue
            fitted[name] = values
        return fitted

    def _check_schema(self, batch: Batch) -> None:
        for name, values in batch.items():
            stored = self.ring.columns.get(name)
            if stored is not None and merged_dtype(stored.dtype, values.dtype) is None:
                sample = values[0] if len(values) else None
                raise StreamError(
                    f"{self.where}, column '{name}': expected {describe_dtype(stored.dtype)}, "
                    f"got {describe_dtype(values.dtype)} ({sample!r:.40})"
                )

    def write(self, batch: Batch, rows: int, mode: Mode) -> None:
        """Append or replace under the lock; the schema is checked before anything changes."""
        with self.lock:
            if mode == "replace":
                self.ring.reset()
                self.generation += 1
            else:
                batch = self._fit_missing(batch)
                self._check_schema(batch)
            self.mode = mode
            self.ring.append(batch, rows)
            self._refresh_row_types()
        if self.source.downstreams:
            self.source.emit(batch)

    def clear(self) -> None:
        with self.lock:
            self.ring.reset()
            self.generation += 1
            self._refresh_row_types()

    def read(self, generation: int, seq: int, limit: int | None) -> Update | None:
        with self.lock:
            reset = generation != self.generation
            since = self.ring.lo if reset else seq
            if not reset and since >= self.ring.hi:
                return None
            _, batch = self.ring.read(since, limit)
            return Update(reset, batch, self.ring.hi, self.generation)

    def rows(self, since: int = 0, limit: int | None = None) -> tuple[int, int, Batch]:
        """(first seq returned, next seq, copies of the kept rows with seq >= since)."""
        with self.lock:
            first, batch = self.ring.read(since, limit)
            return first, self.ring.hi, batch

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {
                "run": self.run,
                "stream": self.name,
                "mode": self.mode,
                "columns": {n: describe_dtype(d) for n, d in self.ring.dtypes.items()},
                "rows": len(self.ring),
                "seq": self.ring.hi,
                "generation": self.generation,
            }


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
    """All streams of this process, keyed by (run, stream); thread-safe."""

    def __init__(self, retain: int = DEFAULT_RETAIN) -> None:
        self.retain = retain
        self._tables: dict[tuple[str, str], Table] = {}
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._layouts: dict[str, tuple[int, Any]] = {}
        self._layout_version = 0

    def table(self, run: str, name: str) -> Table | None:
        return self._tables.get((run, name))

    def _table_for_write(self, run: str, name: str) -> Table:
        table = self._tables.get((run, name))
        if table is None:
            check_name("run", run)
            check_name("stream", name)
            with self._lock:
                table = self._tables.setdefault((run, name), Table(run, name, self.retain))
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
            if table.try_append_row(data):
                return 1
        where = table.where if table is not None else self._where(run, name)
        if mode not in ("append", "replace"):
            raise StreamError(f"{where}: mode must be 'append' or 'replace', not {mode!r}")
        batch = normalize(data, columns=columns, where=where)
        rows = len(next(iter(batch.values()))) if batch else 0
        # created only now, so data refused by normalize leaves no empty stream behind
        (table or self._table_for_write(run, name)).write(batch, rows, mode)
        return rows

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
        """The streamz.Stream that emits each batch stored in this stream."""
        return self._table_for_write(run, name).source

    def read(self, name: str, *, run: str = "default", since: int = 0) -> Batch:
        """A copy of the kept rows with seq >= `since`."""
        table = self.table(run, name)
        if table is None:
            raise StreamError(f"run '{run}' has no stream '{name}'")
        with table.lock:
            return table.ring.read(since)[1]

    def seq(self, name: str, *, run: str = "default") -> int:
        """The seq the next row of this stream will get (0 for a stream never written)."""
        table = self.table(run, name)
        return table.ring.hi if table is not None else 0

    def runs(self) -> list[str]:
        return sorted({run for run, _ in self._tables} | set(self._layouts))

    def set_layout(self, run: str, layout: Any, *, only_if_missing: bool = False) -> int:
        """Make `layout` the one pages of `run` show; returns its version (pages following
        the run rebuild when it changes). The hub stores it without looking inside."""
        check_name("run", run)
        with self._lock:
            if only_if_missing and run in self._layouts:
                return self._layouts[run][0]
            self._layout_version += 1
            self._layouts[run] = (self._layout_version, layout)
            return self._layout_version

    def layout(self, run: str) -> tuple[int, Any]:
        """(version, layout) for `run`; (0, None) when none was set."""
        return self._layouts.get(run, (0, None))

    def tables(self, run: str | None = None) -> Iterator[Table]:
        for (r, _), table in sorted(self._tables.items()):
            if run is None or r == run:
                yield table


_default_hub: Hub | None = None
_default_lock = threading.Lock()


def default_hub() -> Hub:
    """The process-wide hub, created on first use."""
    global _default_hub
    if _default_hub is None:
        with _default_lock:
            if _default_hub is None:
                _default_hub = Hub()
    return _default_hub
