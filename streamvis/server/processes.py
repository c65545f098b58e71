"""Serving from several processes forked by `panel serve --num-procs N` (docs/scale-out.md).

Panel loads the `--plugins streamvis.ingest` routes in the parent, before Tornado forks the
children, and threads (the store's journal writer, the Redis follower) and sockets made
before a fork do not work in a child. So with N != 1 the parent only checks the store (it
must be a shared Redis store: a SQLite file admits one writer process) and closes it; each
child opens its own hub right after the fork (`os.register_at_fork`), replaying from Redis,
and again on first use if Redis was away then.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from streamvis.core.hub import Hub
from streamvis.errors import StoreError, StreamvisError
from streamvis.server.operations import ApiError
from streamvis.store import DEFAULT_PATH, RedisStore, configured_path, server_hub
from streamvis.store.redis_streams import is_redis_url

log = logging.getLogger("streamvis")
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent ends


def process_count(argv: Sequence[str] | None = None) -> int:
    """The `--num-procs N` of this `panel serve` command line: 1 without it, 0 for one
    process per core (Tornado's meaning); what follows `--args` is the app's, not Panel's."""
    argv = list(sys.argv if argv is None else argv)
    if "--args" in argv:
        argv = argv[: argv.index("--args")]
    found = "1"
    for index, arg in enumerate(argv):
        if arg == "--num-procs" and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith("--num-procs="):
            found = arg.split("=", 1)[1]
    return int(found) if found.isdigit() else 1  # Panel itself refuses what is not a number


def check_shared_store(count: int, argv: Sequence[str] | None = None) -> None:
    """Refuse `count` != 1 processes on anything but a Redis store, and check that Redis
    answers (opened and closed: nothing of it is kept across the fork). StoreError otherwise."""
    path = configured_path(DEFAULT_PATH, argv)
    if path is None or not is_redis_url(path):
        held = "memory only" if path is None or str(path).lower() == "none" else str(path)
        raise StoreError(
            f"--num-procs {count} needs the shared Redis store (--redis redis://HOST:PORT/DB or "
            f"STREAMVIS_REDIS); the store here is {held}, and a SQLite file admits one writer "
            "process (memory would give each process its own data)"
        )
    RedisStore(str(path)).close()


def end_with_parent(parent: int) -> None:
    """Have this child get SIGTERM when its Tornado parent ends (Linux): Tornado's parent
    does not pass a signal on, and a service manager stops only the pid it started, so the
    children would go on serving, orphaned. Elsewhere: nothing."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    if prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("streamvis: cannot ask to be stopped with the server's parent process")
    elif os.getppid() != parent:  # the parent ended before we asked
        os.kill(os.getpid(), signal.SIGTERM)


class ChildHub:
    """The hub of this process, opened on first use (`server_hub`) and kept; while it
    cannot be opened (Redis away) a request is answered 503 store_unavailable."""

    def __init__(self) -> None:
        self._hub: Hub | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Hub:
        hub = self._hub
        if hub is not None:
            return hub
        with self._lock:
            if self._hub is None:
                try:
                    self._hub = server_hub()
                except StreamvisError as exc:
                    raise ApiError(
                        503,
                        "store_unavailable",
                        f"this server process cannot open its store yet ({exc}); nothing "
                        "was stored, send it again later",
                    ) from None
            return self._hub

    def open_after_fork(self) -> None:
        """Open the hub in each child right after the fork (and only in the children of
        the process that registered it), so a child replays Redis before it serves."""
        parent = os.getpid()

        def opened_in_child() -> None:
            if os.getppid() != parent:
                return  # a grandchild (a producer's own fork): not a server process
            end_with_parent(parent)
            try:
                self()
            except ApiError as exc:
                log.error("streamvis: %s (tried again on the first request)", exc)

        os.register_at_fork(after_in_child=opened_in_child)
