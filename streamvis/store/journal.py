"""The write-behind journal: producers enqueue, one thread commits, waiters are told.

Writers (the hub, under a stream's lock) append operations to an in-memory queue and get a
ticket back at once. A single writer thread takes everything queued, hands it to the backend
as one transaction (group commit: many small writes share one commit) and then marks every
ticket up to the last one durable. The ingest API waits for its ticket before it answers a
producer, so an acknowledged batch is always on disk; in-process `sv.stream` does not wait.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("streamvis")
MAX_PENDING_ROWS = 2_000_000  # producers wait (backpressure) while more rows than this queue
MAINTENANCE_SECONDS = 5.0
LINGER_SECONDS = 0.002  # the shortest time between two commits


@dataclass
class Op:
    """One queued change. `kind` is append, row, clear, delete_run or layout."""

    kind: str
    run: str
    stream: str = ""
    seq: int = 0  # first seq of the rows (append, row) or the next seq (clear)
    rows: int = 0
    data: Any = None  # a Batch (append), a row dict (row) or a layout dict
    times: Any = None  # ns arrival time(s)
    mode: str = "append"
    generation: int = 0
    dtypes: dict[str, Any] = field(default_factory=dict)
    batch_id: str | None = None


class Backend(Protocol):
    def commit(self, ops: list[Op]) -> None: ...
    def maintain(self) -> None: ...
    def close(self) -> None: ...


class Journal:
    """Queue + writer thread in front of a backend; thread-safe."""

    def __init__(self, backend: Backend, max_pending_rows: int = MAX_PENDING_ROWS) -> None:
        self.backend = backend
        self.max_pending_rows = max_pending_rows
        self.error: BaseException | None = None
        self._queue: deque[tuple[int, Op]] = deque()
        self._cond = threading.Condition()
        self._ticket = 0
        self._durable = 0
        self._pending_rows = 0
        self._waiters: list[tuple[int, Future[int]]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="streamvis-store", daemon=True)
        self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def admit(self, rows: int) -> None:
        """Wait while the queue is full, so a producer faster than the disk slows down
        instead of filling memory. Called before taking a stream's lock."""
        if self._pending_rows + rows <= self.max_pending_rows or rows > self.max_pending_rows:
            return
        with self._cond:
            while self._pending_rows and self._pending_rows + rows > self.max_pending_rows:
                if self._closed:
                    return
                self._cond.wait(0.5)

    def put(self, op: Op) -> int:
        """Queue `op`; returns its ticket (see `when_durable`)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._ticket += 1
            self._queue.append((self._ticket, op))
            self._pending_rows += op.rows
            if len(self._queue) == 1:  # the writer sleeps only when the queue is empty
                self._cond.notify_all()
            return self._ticket

    @property
    def last_ticket(self) -> int:
        """The ticket of the newest queued change (wait for it to cover everything)."""
        return self._ticket

    def when_durable(self, ticket: int) -> Future[int]:
        """A future resolved once `ticket` is committed (or failed with the store's error)."""
        future: Future[int] = Future()
        with self._cond:
            if self.error is not None and ticket > self._durable:
                future.set_exception(self.error)
            elif ticket <= self._durable:
                future.set_result(ticket)
            else:
                self._waiters.append((ticket, future))
        return future

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything queued so far is committed; False on timeout or error."""
        with self._cond:
            target = self._ticket
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._durable < target and self.error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return self._durable >= target

    def _run(self) -> None:
        next_maintenance = time.monotonic() + MAINTENANCE_SECONDS
        last_commit = 0.0
        while True:
            # under load, let writes gather for a moment: fewer, larger commits, and the
            # producers are not interrupted by this thread after every batch
            pause = last_commit + LINGER_SECONDS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with self._cond:
                while not self._queue and not self._closed:
                    if not self._cond.wait(max(0.0, next_maintenance - time.monotonic())):
                        break  # timed out: time for maintenance
                taken = list(self._queue)
                self._queue.clear()
                closing = self._closed
            if taken:
                self._commit(taken)
                last_commit = time.monotonic()
            if time.monotonic() >= next_maintenance or closing:
                self._maintain()
                next_maintenance = time.monotonic() + MAINTENANCE_SECONDS
            if closing and not taken:
                return

    def _commit(self, taken: list[tuple[int, Op]]) -> None:
        error: BaseException | None = None
        try:
            self.backend.commit([op for _, op in taken])
        except BaseException as exc:  # the disk is full, the file vanished, ...
            log.exception("streamvis store: could not commit %d changes", len(taken))
            error = exc
        with self._cond:
            self._pending_rows -= sum(op.rows for _, op in taken)
            if error is None:
                self._durable = taken[-1][0]
                self.error = None
            else:
                self.error = error
            ready = [(t, f) for t, f in self._waiters if t <= self._durable or error]
            self._waiters = [(t, f) for t, f in self._waiters if t > self._durable and not error]
            self._cond.notify_all()
        for _ticket, future in ready:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(self._durable)

    def _maintain(self) -> None:
        try:
            self.backend.maintain()
        except Exception:
            log.exception("streamvis store: retention/maintenance failed")

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, stop the writer and close the backend."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self.backend.close()


def _close_at_exit(reference: Callable[[], Journal | None]) -> None:
    journal = reference()
    if journal is not None:
        journal.close()
