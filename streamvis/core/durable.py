"""`Store`: a backend behind its write journal, the one object the hub and the rest of the
package hold. Writes are queued (`put`, acknowledged with `when_durable`); reads go
straight to the backend. Typed to the `Backend` protocol, so it never names a backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from streamvis.core.journal import Journal
from streamvis.core.storage import (
    Backend,
    BatchId,
    Damage,
    Followed,
    Op,
    Picked,
    RunSummary,
    Segment,
    StreamRecord,
)

__all__ = ["Store"]


class Store:
    """A backend and its journal: `put` queues a change, the reads answer from the backend.
    Satisfies `StoreReads`, so readers (export, the HTTP API) take a Store or a backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend  # for store/ internals and tests; others use the methods
        # several processes write it: the store numbers rows, a follower brings them in
        self.shared = backend.shared
        self.journal = Journal(backend)
        self.reader_failure: BaseException | None = None  # a shared store's follower's

    # -- writes --------------------------------------------------------------------------------
    def admit(self, rows: int) -> None:
        """Wait while the journal holds too many rows (backpressure, see Journal.admit)."""
        self.journal.admit(rows)

    def put(self, op: Op) -> int:
        """Queue `op`; returns its ticket for `when_durable`."""
        return self.journal.put(op)

    def when_durable(self, ticket: int) -> Future[int]:
        """A future resolved once the change with `ticket` is stored (failed if refused)."""
        return self.journal.when_durable(ticket)

    def on_refused(self, callback: Callable[[Op, BaseException], None]) -> None:
        """Call `callback(op, error)` (on the writer thread) for a change refused for good."""
        self.journal.on_refused = callback

    @property
    def failure(self) -> BaseException | None:
        """Why the store cannot write (or, shared, be read) right now; None when it can."""
        return self.journal.failure or self.reader_failure

    @property
    def settled(self) -> int:
        """Every change with a ticket up to this one is stored (or refused for good): rows
        written before it may leave memory, the store has them."""
        return self.journal.settled

    @property
    def last_ticket(self) -> int:
        """The newest ticket handed out: once it is durable, everything before it is."""
        return self.journal.last_ticket

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait for everything queued so far; True when all of it was stored."""
        return self.journal.flush(timeout)

    def claim(self, name: str, seconds: float) -> bool:
        """Hold (or renew) the lease `name` for `seconds`; True while held (Backend.claim).
        An unreachable store grants nothing: another process may hold it meanwhile."""
        try:
            return self.backend.claim(name, seconds)
        except Exception as exc:
            if self.backend.transient(exc):
                return False
            raise

    def remember(self, name: str, value: str | None = None) -> str | None:
        """Note or read where a lease holder stands (Backend.remember); None when the
        store cannot be reached."""
        try:
            return self.backend.remember(name, value)
        except Exception as exc:
            if self.backend.transient(exc):
                return None
            raise

    def close(self) -> None:
        """Store what is queued, stop the writer thread and close the backend."""
        self.journal.close()

    # -- reads: each answers as StoreReads documents it, from the backend ------------------------
    @property
    def location(self) -> str:
        return self.backend.location

    def streams(self, run: str | None = None) -> list[StreamRecord]:
        return self.backend.streams(run)

    def runs(self) -> list[RunSummary]:
        return self.backend.runs()

    def segments(
        self, record: StreamRecord, since: int = 0, until: int | None = None
    ) -> Iterator[Segment]:
        return self.backend.segments(record, since, until)

    def pick(
        self,
        record: StreamRecord,
        starts: np.ndarray,
        stops: np.ndarray,
        columns: Sequence[str],
        arrival: bool,
    ) -> Picked:
        return self.backend.pick(record, starts, stops, columns, arrival)

    def follow(
        self, run: str, stream: str, generation: int, since: int, limit: int | None = None
    ) -> Followed | None:
        return self.backend.follow(run, stream, generation, since, limit)

    def batch_ids(self, limit: int = 100_000) -> list[BatchId]:
        return self.backend.batch_ids(limit)

    def layouts(self) -> dict[str, dict[str, Any]]:
        return self.backend.layouts()

    def layout_version(self) -> int:
        return self.backend.layout_version()

    def attributes(self, run: str | None = None) -> dict[str, dict[str, Any]]:
        return self.backend.attributes(run)

    def integrity(self) -> str:
        return self.backend.integrity()

    @property
    def damaged(self) -> Sequence[Damage]:
        return self.backend.damaged
