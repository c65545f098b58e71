"""The background folder: one daemon thread per process that folds the rows streams wrote
into their level-of-detail summaries (core/summary.py), so a producer's write never pays
for the fold.

A write that passes its summary's `due` seq hands its table to `FOLDER.request` (a deque
append and a notify; the writer does not wait). The folder thread then folds it in three
steps (`Table.fold_in_background`): under the table's lock (and the summary's, taken inside
it), `Summary.plan` reads the rows to fold (views into the ring's chunks, which a write
never changes) and the arrival maxima; with no lock, `compute` takes the statistics; under
the summary's lock alone, which writes never take, `Summary.apply` adds them unless the
summary moved on meanwhile (a view, an eviction or a restore folded those rows itself, or a
replace, clear or lost rows reset it), in which case they are dropped. Views, evictions,
restores and lost rows fold synchronously under both locks, so what they read is always
exact whatever the folder is doing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Protocol

log = logging.getLogger(__name__)


class Foldable(Protocol):
    """What the folder folds: a table (core/table.py)."""

    def fold_in_background(self) -> None:
        """Fold what is pending, taking the table's lock only to read and to apply."""
        ...


class Folder:
    """A queue of tables with rows to fold and the thread that folds them, started when the
    first table is made. `cpu_seconds` is the CPU time the thread spent folding (bench/)."""

    def __init__(self) -> None:
        self._queue: deque[Foldable] = deque()
        self._queued: set[int] = set()  # id() of each table queued (each is queued once)
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.cpu_seconds = 0.0
        self.folds = 0

    def start(self) -> None:
        """Start the thread unless it runs (a table calls this when it is made, so a write
        never waits for a thread to start)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._changed:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="streamvis-folder", daemon=True
                )
                self._thread.start()

    def request(self, table: Foldable) -> None:
        """Queue `table` for a fold (no-op when it is queued already); never blocks on
        a fold."""
        self.start()
        with self._changed:
            if id(table) in self._queued:
                return
            self._queued.add(id(table))
            self._queue.append(table)
            self._changed.notify_all()

    def idle(self) -> bool:
        """True when nothing is queued or being folded."""
        with self._changed:
            return not self._queue and not self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Wait (up to `timeout` seconds) until nothing is queued or being folded; True if
        so. For tests and benchmarks: nothing in streamvis waits on the folder."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue))
                table = self._queue.popleft()
                self._queued.discard(id(table))
                self._busy = True
            began = time.thread_time()
            try:
                table.fold_in_background()
            except Exception:  # a view folds synchronously and would raise it to its caller
                log.exception("background fold failed; views fold the rows themselves")
            finally:
                with self._changed:
                    self.cpu_seconds += time.thread_time() - began
                    self.folds += 1
                    self._busy = False
                    self._changed.notify_all()


FOLDER = Folder()  # the process's folder, shared by every hub
