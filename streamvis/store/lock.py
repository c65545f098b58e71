"""One writing process per store, locked on the database file itself rather than on a path.

The writer holds an exclusive flock(2) on a descriptor of the database file, so every way
of reaching the same file (a symlink, a hard link, another relative path) meets the same
lock, and there is no separate lock file whose deletion would let a second writer in.
flock locks are independent of the POSIX fcntl locks SQLite takes on the same file (Linux,
local file systems; WAL mode needs a local file system anyway), so readers are unaffected.

One POSIX rule needs care: closing *any* descriptor of a file drops every fcntl lock this
process holds on it, SQLite's included. So a lock descriptor is only closed when no other
descriptor of this process refers to the file; otherwise it is kept for reuse.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from streamvis.errors import StoreBusy

LEGACY_SUFFIX = ".lock"  # earlier releases locked PATH.lock: still taken, so they see us

_guard = threading.Lock()
_descriptors: dict[tuple[int, int], int] = {}  # (st_dev, st_ino) -> a descriptor we keep
_held: set[tuple[int, int]] = set()  # files this process holds the writer lock on


class WriterLock:
    """The writer lock on one store file, held until `release()` or the end of the process
    (even kill -9: the kernel drops flock locks with the last descriptor)."""

    def __init__(self, key: tuple[int, int], legacy: int | None) -> None:
        self.key = key
        self._legacy = legacy

    def release(self) -> None:
        """Give the lock up; call after this store's own SQLite connections are closed."""
        with _guard:
            if self.key not in _held:
                return
            _held.discard(self.key)
            descriptor = _descriptors[self.key]
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            _close_if_unshared(self.key)
        if self._legacy is not None:
            os.close(self._legacy)
            self._legacy = None


def take(path: Path) -> WriterLock:
    """Lock the database file at `path` (created empty if missing) for writing, or raise
    StoreBusy naming the process that holds it."""
    with _guard:
        key = _file_key(path)
        if key is None or key not in _descriptors:
            descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            info = os.fstat(descriptor)
            key = (info.st_dev, info.st_ino)
            # (already kept only if a rename raced the stat: the extra descriptor then stays
            # open rather than risk dropping SQLite's locks by closing it)
            _descriptors.setdefault(key, descriptor)
        if key in _held:
            raise StoreBusy(f"in use by pid {os.getpid()}", owner=f"pid {os.getpid()}")
        try:
            fcntl.flock(_descriptors[key], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _close_if_unshared(key)
            holder = _holder(key) or "another process"
            raise StoreBusy(f"in use by {holder}", owner=holder) from None
        _held.add(key)
    try:
        legacy = _take_legacy(Path(os.path.realpath(path)))
    except StoreBusy:
        WriterLock(key, None).release()
        raise
    return WriterLock(key, legacy)


def _take_legacy(real_path: Path) -> int:
    """Also lock PATH.lock as earlier releases did, and write our pid in it, so a server of
    an earlier release on the same file is refused too (and names us)."""
    legacy = os.open(
        real_path.with_name(real_path.name + LEGACY_SUFFIX),
        os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
        0o644,
    )
    try:
        fcntl.flock(legacy, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(legacy, 100).decode("utf-8", "replace").strip() or "another process"
        os.close(legacy)
        raise StoreBusy(f"in use by {owner}", owner=owner) from None
    os.ftruncate(legacy, 0)
    os.pwrite(legacy, f"pid {os.getpid()}".encode(), 0)
    return legacy


def _file_key(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file `path` leads to (symlinks followed); None if missing."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino)


def _close_if_unshared(key: tuple[int, int]) -> None:
    """Close the kept descriptor of `key` unless this process holds the lock or has another
    descriptor of the same file (SQLite's). Caller holds _guard."""
    descriptor = _descriptors.get(key)
    if descriptor is None or key in _held or _other_descriptors(key, descriptor):
        return
    os.close(descriptor)
    del _descriptors[key]


def _other_descriptors(key: tuple[int, int], mine: int) -> bool:
    """True when a descriptor of this process other than `mine` refers to the file `key`;
    True as well when that cannot be known (no /proc)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return True
    for name in names:
        descriptor = int(name)
        if descriptor == mine:
            continue
        try:
            info = os.stat(descriptor)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == key:
            return True
    return False


def _holder(key: tuple[int, int]) -> str | None:
    """'pid N' of the process holding an flock on the file `key`, from /proc/locks (Linux)."""
    device, inode = key
    wanted = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 6:
            continue  # a waiter, not a holder
        if fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5] == wanted:
            pid = int(fields[4]) if fields[4].lstrip("-").isdigit() else 0
            return f"pid {pid}" if pid > 0 else None
    return None
