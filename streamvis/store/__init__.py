"""Durable stores behind one typed interface: write through a journal, read directly.

    store = open_store("./.streamvis/streamvis.db")   # or open_store("none") -> None
    hub = hub_from_store(store)                         # replays what the file holds

`Store` (core/durable.py) pairs a backend satisfying the `Backend` protocol
(core/storage.py; SQLite, the embedded default) with the journal that groups its writes.
The hub queues every change; the ingest API waits for `when_durable(ticket)` before it
acknowledges a producer. This module also chooses the process-wide hub's store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from streamvis.core.durable import Store
from streamvis.core.hub import Hub, swap_default_hub
from streamvis.core.memory import configured_memory
from streamvis.core.storage import Backend, Op, StreamRecord
from streamvis.errors import StoreError, StreamError
from streamvis.store.redis_streams import RedisStore, is_redis_url, shown_url
from streamvis.store.replay import hub_from_store
from streamvis.store.sqlite import Retention, SQLiteStore

DEFAULT_PATH = Path(".streamvis") / "streamvis.db"
MEMORY = "none"

__all__ = [
    "DEFAULT_PATH",
    "Backend",
    "Op",
    "RedisStore",
    "Retention",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StreamRecord",
    "configured_memory_of",
    "configured_path",
    "configured_retention",
    "default_hub_from_environment",
    "hub_from_store",
    "open_store",
    "server_hub",
    "store_from_environment",
    "use_default_store",
]


def open_store(
    path: str | os.PathLike[str] | None, retention: Retention | None = None
) -> Store | None:
    """The store at `path` (created if missing), or in the Redis a `redis://` URL names
    (shared by several processes); None for 'none' or None: memory only."""
    if path is None or str(path).lower() == MEMORY:
        return None
    if is_redis_url(path):
        return Store(RedisStore(str(path), retention=retention))
    return Store(SQLiteStore(path, retention=retention))


def _argument(argv: Sequence[str], flag: str) -> str | None:
    """`flag VALUE` or `flag=VALUE` among the app's arguments (after `--args`)."""
    args = list(argv)
    if "--args" in args:
        args = args[args.index("--args") + 1 :]
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _number(text: str | None, name: str) -> float | None:
    if text is None or text in ("", MEMORY):
        return None
    try:
        return float(text)
    except ValueError:
        raise StoreError(f"{name} must be a number, not {text!r}") from None


def configured_path(
    default: str | os.PathLike[str] | None, argv: Sequence[str] | None = None
) -> str | os.PathLike[str] | None:
    """The store a process should use: `--redis URL` or `--store` among its app arguments,
    else STREAMVIS_REDIS, else STREAMVIS_STORE, else `default` ('none': memory only)."""
    argv = sys.argv if argv is None else argv
    redis_flag, redis_variable = _argument(argv, "--redis"), os.environ.get("STREAMVIS_REDIS")
    for name, value in (("--redis", redis_flag), ("STREAMVIS_REDIS", redis_variable)):
        if value and not is_redis_url(value):
            raise StoreError(
                f"{name}={value!r:.80} is not a Redis address: give redis://HOST:PORT/DB "
                "(or rediss://, unix://, redis+cluster://)"
            )
    return (
        redis_flag
        or _argument(argv, "--store")
        or redis_variable
        or os.environ.get("STREAMVIS_STORE")
        or default
    )


def configured_retention(argv: Sequence[str] | None = None) -> Retention:
    """Retention from --keep-rows/--keep-seconds/--keep-bytes or STREAMVIS_KEEP_ROWS,
    STREAMVIS_KEEP_SECONDS, STREAMVIS_KEEP_BYTES (unset: keep everything)."""
    argv = sys.argv if argv is None else argv
    values: dict[str, float | int | None] = {}
    for field, flag in (("rows", "keep-rows"), ("age", "keep-seconds"), ("bytes", "keep-bytes")):
        variable = "STREAMVIS_" + flag.upper().replace("-", "_")
        text = _argument(argv, f"--{flag}") or os.environ.get(variable)
        number = _number(text, f"--{flag}")
        values[field] = None if number is None else (number if field == "age" else int(number))
    return Retention(**values)  # type: ignore[arg-type]


def configured_memory_of(argv: Sequence[str] | None = None) -> int:
    """The hub's byte budget: `--memory` among the app's arguments, else STREAMVIS_MEMORY,
    else the default (docs/memory.md); a bad value is a StreamError naming its source."""
    argv = sys.argv if argv is None else argv
    return configured_memory(_argument(argv, "--memory"), "--memory")


def store_from_environment(
    default: str | os.PathLike[str] | None = DEFAULT_PATH, argv: Sequence[str] | None = None
) -> Store | None:
    """Open the store `configured_path` names, with `configured_retention`."""
    return open_store(configured_path(default, argv), configured_retention(argv))


def default_hub_from_environment() -> Hub:
    """The process-wide hub `default_hub` builds on first use (registered by `import
    streamvis`): on the store STREAMVIS_STORE names, replayed, else in memory."""
    return hub_from_store(store_from_environment(default=None, argv=[]))


def _where(path: str | os.PathLike[str] | None) -> str | Path | None:
    """A store's address, comparable: a resolved file path, a Redis URL, None (memory)."""
    if path is None or str(path).lower() == MEMORY:
        return None
    return shown_url(str(path)) if is_redis_url(path) else Path(path).resolve()


def use_default_store(
    opener: Callable[[], Store | None],
    path: str | os.PathLike[str] | None,
    memory: int | None = None,
) -> Hub:
    """Make the process-wide hub one backed by the store at `path` (opened by `opener`),
    replaying what fits its byte budget `memory` (None: STREAMVIS_MEMORY or the default).
    Allowed before anything was written to the default hub (a server's start, the top of a
    script); asking again for the same path changes only the budget, when given."""
    wanted = _where(path)

    def choose(current: Hub | None) -> Hub:
        if current is not None:
            have = _where(current.store.location) if current.store is not None else None
            if have == wanted:
                if memory is not None:
                    current.set_memory(memory)
                return current
        store = opener()  # first: a store that cannot be opened says why, changes nothing
        if current is not None and any(True for _ in current.tables()):
            if store is not None:
                store.close()
            raise StreamError(
                "choose the store before the first sv.stream: this process has already "
                "stored rows elsewhere"
            )
        if current is not None and current.store is not None:
            current.store.close()
        return hub_from_store(store, memory=memory)

    return swap_default_hub(choose)


def server_hub(argv: Sequence[str] | None = None) -> Hub:
    """The process-wide hub of a server, on its configured store (default
    ./.streamvis/streamvis.db) with its configured byte budget (`configured_memory_of`),
    replayed on first call; later calls return it."""
    path = configured_path(DEFAULT_PATH, argv)
    memory = configured_memory_of(argv)
    return use_default_store(lambda: open_store(path, configured_retention(argv)), path, memory)
