"""The follower of a store on a Redis Cluster: a cluster refuses one XREAD over keys in
several hash slots (CROSSSLOT), and every stream has its own hash tag, so each followed key
(the catalog's events and every stream's log) gets its own thread doing blocking XREADs of
that one key. What the threads read is applied to the hub one reply at a time, under a lock.

Catching up reads every key once per round, pipelined (one round trip per node), until no
key has more. Costs: one thread and one connection per followed stream in every process.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from streamvis.store.redis_follow import BLOCK_MS, PAGE_ENTRIES, RETRY_SECONDS, RedisFollower
from streamvis.store.redis_streams import RedisStore

if TYPE_CHECKING:
    from streamvis.core.durable import Store

log = logging.getLogger("streamvis")


def _passing_errors() -> tuple[type[BaseException], ...]:
    """What a reader waits out: the cluster or a node unreachable, down or resharding."""
    import redis
    from redis import exceptions

    return (
        redis.ConnectionError,
        redis.TimeoutError,
        OSError,
        exceptions.ClusterError,
        exceptions.RedisClusterException,
        exceptions.TryAgainError,
    )


class ClusterFollower(RedisFollower):
    """Reads a cluster store's changes into one hub (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()  # the hub, positions and names change under it
        self._epochs: dict[bytes, int] = {}  # bumped each time a key is followed anew
        self._readers: dict[bytes, threading.Thread] = {}
        self._failing: set[bytes] = set()
        self._started = False

    # -- catching up ---------------------------------------------------------------------------
    def _read(self, block_ms: int | None) -> int:
        """One round of non-blocking reads of every followed key (catch-up only)."""
        events_key = self.backend.events_key.encode()
        keys = [events_key, *self._positions]
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            position = self._events_at if key == events_key else self._positions[key]
            pipe.xread({key: position}, count=PAGE_ENTRIES)
        replies = pipe.execute()
        applied = 0
        with self._lock:
            for key, reply in zip(keys, replies, strict=True):
                for _, entries in reply or []:
                    if key == events_key:
                        self._apply_events(entries)
                    elif key in self._positions:
                        applied += self._apply_entries(key, entries)
            self.applied += applied
        return applied

    # -- following -----------------------------------------------------------------------------
    def start(self) -> ClusterFollower:
        with self._lock:
            self._started = True
            for key in [self.backend.events_key.encode(), *self._positions]:
                self._spawn(key)
        return self

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            readers = list(self._readers.values())
        for reader in readers:
            if reader is not threading.current_thread():
                reader.join(BLOCK_MS / 1000 + 10)
        self._client.close()

    def _watch(self, run: str, stream: str) -> None:
        key = self.backend.log_key(run, stream).encode()
        if key in self._positions:
            return
        super()._watch(run, stream)
        self._epochs[key] = self._epochs.get(key, 0) + 1
        if self._started:
            self._spawn(key)

    def _spawn(self, key: bytes) -> None:
        """A reader thread for `key`, unless one runs (called with the lock held)."""
        if key in self._readers:
            return
        name = f"streamvis-redis-{key.decode(errors='replace')}"
        reader = threading.Thread(target=self._follow, args=(key,), name=name, daemon=True)
        self._readers[key] = reader
        reader.start()

    def _follow(self, key: bytes) -> None:
        """Blocking XREADs of one key until the follower closes or the key is dropped."""
        events_key = self.backend.events_key.encode()
        failures = 0
        while not self._stop.is_set():
            with self._lock:
                if key != events_key and key not in self._positions:
                    del self._readers[key]  # its run was deleted
                    self._failing.discard(key)
                    return
                position = self._events_at if key == events_key else self._positions[key]
                epoch = self._epochs.get(key, 0)
            try:  # after a failure, one read that does not block: pages hear at once
                block = BLOCK_MS if failures == 0 else None
                reply = self._client.xread({key: position}, count=PAGE_ENTRIES, block=block)
            except _passing_errors() as exc:
                if self._stop.is_set():
                    return
                self._failed(key, exc)
                self._stop.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
                continue
            except Exception:  # a bug must not stop this stream's updates for good
                log.exception("streamvis store: following %s failed", self.backend.location)
                self._stop.wait(1.0)
                continue
            failures = 0
            self._recovered(key)
            with self._lock:
                current = self._events_at if key == events_key else self._positions.get(key)
                if current != position or self._epochs.get(key, 0) != epoch:
                    continue  # deleted (and maybe created again) meanwhile: read afresh
                for _, entries in reply or []:
                    if key == events_key:
                        self._apply_events(entries)
                    else:
                        self.applied += self._apply_entries(key, entries)

    # -- the store's health --------------------------------------------------------------------
    def _failed(self, key: bytes, error: BaseException) -> None:
        with self._lock:
            if not self._failing:
                log.error("streamvis store: cannot read %s (%s)", self.backend.location, error)
            self._failing.add(key)
            self.store.reader_failure = error

    def _recovered(self, key: bytes) -> None:
        if key not in self._failing:
            return
        with self._lock:
            self._failing.discard(key)
            if not self._failing:
                log.warning("streamvis store: reading %s again", self.backend.location)
                self.store.reader_failure = None


def follower_kind(store: Store) -> type[RedisFollower]:
    """The follower a shared store needs: per-key reads on a cluster, one XREAD elsewhere."""
    backend = store.backend
    return (
        ClusterFollower if isinstance(backend, RedisStore) and backend.cluster else RedisFollower
    )
