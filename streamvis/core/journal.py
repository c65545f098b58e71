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

from streamvis.core.storage import Backend, Op, describe
from streamvis.errors import StoreFailing, StreamError

log = logging.getLogger("streamvis")
MAX_PENDING_ROWS = 2_000_000  # producers wait (backpressure) while more rows than this queue
MAINTENANCE_SECONDS = 5.0
LINGER_SECONDS = 0.002  # the shortest time between two commits


Refused = Callable[[Op, BaseException], None]
KEEP_OUTCOMES = 100_000  # refused tickets remembered, so a late waiter still learns why
RETRY_SECONDS = (0.05, 0.2, 0.5, 1.0, 2.0)  # waits between tries while the store fails
CLOSE_TRIES = 3  # tries left for a failing store once the journal is asked to close


class Journal:
    """Queue + writer thread in front of a backend; thread-safe.

    Every ticket gets exactly one outcome: stored, or refused for good (a change the backend
    can never take, reported to `on_refused`). A transient failure (a full disk) refuses
    nothing: the same changes are tried again, with what was queued meanwhile, until they
    are stored; `failure` says why the store is behind meanwhile."""

    def __init__(self, backend: Backend, max_pending_rows: int = MAX_PENDING_ROWS) -> None:
        self.backend = backend
        self.max_pending_rows = max_pending_rows
        self.failure: BaseException | None = None
        self.on_refused: Refused | None = None
        self._queue: deque[tuple[int, Op]] = deque()
        self._cond = threading.Condition()
        self._ticket = 0
        self._done = 0  # every ticket up to this one has its outcome
        self._refused: dict[int, BaseException] = {}
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
                raise StoreFailing("the store is closed")
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

    @property
    def settled(self) -> int:
        """Every change with a ticket up to this one is stored (or refused for good)."""
        return self._done

    def _outcome(self, ticket: int, future: Future[int]) -> None:
        error = self._refused.get(ticket)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(ticket)

    def when_durable(self, ticket: int) -> Future[int]:
        """A future resolved once `ticket` is stored, or failed with the reason it was
        refused. A store that is failing for now keeps it pending."""
        future: Future[int] = Future()
        with self._cond:
            if ticket <= self._done:
                self._outcome(ticket, future)
            else:
                self._waiters.append((ticket, future))
        return future

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything queued so far has its outcome; True when all of it was
        stored, False on timeout (a failing store) or when some of it was refused."""
        with self._cond:
            start, target = self._done, self._ticket
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return not any(start < ticket <= target for ticket in self._refused)

    def _run(self) -> None:
        next_maintenance = time.monotonic() + MAINTENANCE_SECONDS
        last_commit = 0.0
        taken: list[tuple[int, Op]] = []  # what the store could not take yet
        failures = closing_tries = 0
        while True:
            # under load, let writes gather for a moment: fewer, larger commits, and the
            # producers are not interrupted by this thread after every batch
            pause = last_commit + LINGER_SECONDS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with self._cond:
                if taken:  # failing: wait a little before trying again (close cuts it short)
                    self._cond.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
                while not taken and not self._queue and not self._closed:
                    if not self._cond.wait(max(0.0, next_maintenance - time.monotonic())):
                        break  # timed out: time for maintenance
                taken.extend(self._queue)
                self._queue.clear()
                closing = self._closed
            if taken:
                taken = self._commit(taken)
                last_commit = time.monotonic()
                failures = failures + 1 if taken else 0
                if taken and closing:
                    closing_tries += 1
                    if closing_tries >= CLOSE_TRIES:
                        self._give_up(taken)
                        return
                    continue
            if not taken and (time.monotonic() >= next_maintenance or closing):
                self._maintain()
                next_maintenance = time.monotonic() + MAINTENANCE_SECONDS
            if closing and not taken:
                return

    def _commit(self, taken: list[tuple[int, Op]]) -> list[tuple[int, Op]]:
        """Store `taken` in one transaction; returns what is left to retry later."""
        try:
            self.backend.commit([op for _, op in taken])
        except BaseException as exc:
            if self.backend.transient(exc):
                self._failing(exc, len(taken))
                return taken
            log.error("streamvis store: a change was refused (%s); storing one at a time", exc)
            return self._commit_each(taken)
        self._settle(taken, {})
        return []

    def _commit_each(self, taken: list[tuple[int, Op]]) -> list[tuple[int, Op]]:
        """Find the change the store refuses and store every other one: one producer's bad
        change never costs another producer its acknowledgement."""
        for index, (ticket, op) in enumerate(taken):
            try:
                self.backend.commit([op])
            except BaseException as exc:
                if self.backend.transient(exc):
                    self._failing(exc, len(taken) - index)
                    return taken[index:]
                if isinstance(exc, StreamError):  # data the store refuses: no bug, no trace
                    log.warning("streamvis store: refused the %s: %s", describe(op), exc)
                else:
                    log.exception("streamvis store: refused the %s", describe(op))
                if self.on_refused is not None:
                    self.on_refused(op, exc)
                self._settle([(ticket, op)], {ticket: exc})
                continue
            self._settle([(ticket, op)], {})
        return []

    def _failing(self, error: BaseException, count: int) -> None:
        if self.failure is None:
            log.error(
                "streamvis store: cannot write (%s); keeping %d changes and retrying until it can",
                error,
                count,
            )
        self.failure = error

    def _settle(self, taken: list[tuple[int, Op]], refused: dict[int, BaseException]) -> None:
        """Record the outcome of `taken` (the oldest tickets still open) and tell waiters."""
        with self._cond:
            if self.failure is not None and not refused:
                log.warning("streamvis store: writing again after: %s", self.failure)
                self.failure = None
            self._pending_rows -= sum(op.rows for _, op in taken)
            self._done = taken[-1][0]
            self._refused.update(refused)
            while len(self._refused) > KEEP_OUTCOMES:
                del self._refused[next(iter(self._refused))]
            ready = [(t, f, self._refused.get(t)) for t, f in self._waiters if t <= self._done]
            self._waiters = [(t, f) for t, f in self._waiters if t > self._done]
            self._cond.notify_all()
        for ticket, future, error in ready:  # outside the lock: callbacks may queue more
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(ticket)

    def _give_up(self, taken: list[tuple[int, Op]]) -> None:
        """Closing while the store still fails: what it never took is refused, loudly."""
        error = StoreFailing(f"the store was closed while failing ({self.failure})")
        rows = sum(op.rows for _, op in taken)
        log.error("streamvis store: closing; %d changes (%d rows) not stored", len(taken), rows)
        self._settle(taken, dict.fromkeys((t for t, _ in taken), error))

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
