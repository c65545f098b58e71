"""Each process's follower of a shared Redis store: every change any process stored, read
with blocking XREADs (no polling) and applied to this process's hub, so every page on every
process shows what Redis holds.

At start, `catch_up` reads each stream's retained entries, the layouts and the runs'
attributes before the server listens (a restarted process replays from Redis); a thread then
follows the catalog's events (new streams, layouts, attributes, deleted runs) and every
stream's entries from where it is.
While Redis cannot be reached, the store reports it (ingest answers 503, pages say so) and
the follower tries again; it resumes from the entry ids it had, so nothing is missed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.store.redis_cluster import client_for
from streamvis.store.redis_streams import Entry, RedisStore

if TYPE_CHECKING:
    from streamvis.core.durable import Store
    from streamvis.core.hub import Hub

log = logging.getLogger("streamvis")
BLOCK_MS = 1_000  # a blocking read returns at least this often (to notice close)
PAGE_ENTRIES = 256  # entries per stream per read
RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)


class RedisFollower:
    """Reads a shared store's changes into one hub (see the module's docstring)."""

    def __init__(self, hub: Hub, store: Store, backend: RedisStore) -> None:
        self.hub = hub
        self.store = store
        self.backend = backend
        self._client: Any = client_for(backend.url, backend.location, BLOCK_MS / 1000 + 5, 5)
        self._positions: dict[bytes, bytes] = {}  # log key -> last entry id read
        self._names: dict[bytes, tuple[str, str]] = {}
        self._events_at = b"0-0"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0  # entries applied so far (tests and the bench read it)

    # -- starting ------------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Read every stream's retained entries, every layout and the runs' attributes into
        the hub; returns the entries applied. The events' position is taken first, so a
        stream announced while this runs is still seen by the thread."""
        newest = self._client.xrevrange(self.backend.events_key, count=1)
        self._events_at = newest[0][0] if newest else b"0-0"
        for record in self.backend.streams():
            self._watch(record.run, record.stream)
        applied = 0
        while (done := self._read(block_ms=None)) > 0:
            applied += done
        for run, raw in self.backend.layouts().items():
            self.hub.set_layout_from_store(run, raw)
        for run, attributes in self.backend.attributes().items():
            self.hub.restore_attributes(run, attributes)
        return applied

    def start(self) -> RedisFollower:
        self._thread = threading.Thread(target=self._run, name="streamvis-redis", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(BLOCK_MS / 1000 + 10)
        self._client.close()

    # -- following -----------------------------------------------------------------------------
    def _watch(self, run: str, stream: str) -> None:
        key = self.backend.log_key(run, stream).encode()
        if key not in self._positions:
            self._positions[key] = b"0-0"
            self._names[key] = (run, stream)

    def _run(self) -> None:
        import redis

        failures = 0
        while not self._stop.is_set():
            try:  # after a failure, one read that does not block: pages hear at once
                self._read(block_ms=BLOCK_MS if failures == 0 else None)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if self._stop.is_set():
                    return
                if self.store.reader_failure is None:
                    log.error("streamvis store: cannot read %s (%s)", self.backend.location, exc)
                self.store.reader_failure = exc
                self._stop.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
                continue
            except Exception:  # a bug must not stop every page of this process for good
                log.exception("streamvis store: following %s failed", self.backend.location)
                self._stop.wait(1.0)
                continue
            if self.store.reader_failure is not None:
                log.warning("streamvis store: reading %s again", self.backend.location)
                self.store.reader_failure = None
            failures = 0

    def _read(self, block_ms: int | None) -> int:
        """One XREAD over the events and every followed stream; returns entries applied."""
        wanted: dict[Any, Any] = {self.backend.events_key: self._events_at, **self._positions}
        reply = self._client.xread(wanted, count=PAGE_ENTRIES, block=block_ms)
        applied = 0
        events = [part for part in reply if part[0] == self.backend.events_key.encode()]
        for _, entries in events:  # first: a new stream, a layout, a deleted run
            self._apply_events(entries)
        for key, entries in reply:
            if key == self.backend.events_key.encode() or key not in self._positions:
                continue
            applied += self._apply_entries(key, entries)
        self.applied += applied
        return applied

    def _apply_events(self, entries: list[Any]) -> None:
        for entry_id, fields in entries:
            self._events_at = entry_id
            self._on_event(fields)

    def _apply_entries(self, key: bytes, entries: list[Any]) -> int:
        """Apply a stream's new entries to the hub; returns how many."""
        run, stream = self._names[key]
        for entry_id, fields in entries:
            self._positions[key] = entry_id
            entry = Entry(entry_id, fields)
            times = entry.times if entry.rows else np.empty(0, np.int64)
            self.hub.apply_stored(
                run, stream, entry.kind, entry.generation, entry.first_seq, entry.batch, times
            )
        return len(entries)

    def _on_event(self, fields: dict[bytes, bytes]) -> None:
        kind = fields.get(b"k", b"").decode()
        run = fields.get(b"run", b"").decode()
        if kind == "stream":
            self._watch(run, fields.get(b"stream", b"").decode())
        elif kind == "layout":
            raw = self.backend.layouts().get(run)
            if raw is not None:
                self.hub.set_layout_from_store(run, raw)
        elif kind == "attributes":  # the hash as it is now: equal to Redis after the last
            stored = self.backend.attributes(run).get(run, {})
            self.hub.restore_attributes(run, stored)
        elif kind == "delete":
            for key in [k for k, (r, _) in self._names.items() if r == run]:
                del self._positions[key], self._names[key]
            self.backend.forget_announced(run)
            self.hub.forget_run(run)


def follow_store(
    hub: Hub, store: Store, kind: type[RedisFollower] = RedisFollower
) -> RedisFollower | None:
    """Start following `store` into `hub` when it is a shared Redis store: catch up now,
    then follow on a thread. None for any other store."""
    backend = store.backend
    if not isinstance(backend, RedisStore):
        return None
    started = time.monotonic()
    follower = kind(hub, store, backend)
    entries = follower.catch_up()
    log.info(
        "streamvis: read %d entries from %s in %.2f s",
        entries, backend.location, time.monotonic() - started,
    )  # fmt: skip
    backend.follower = follower
    return follower.start()
