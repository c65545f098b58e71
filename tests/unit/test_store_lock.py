"""The store's writer lock is on the file itself: a second writer is refused however it
reaches the file (the same path, a symlink, a hard link, after the old `.lock` file was
deleted), readers in other processes keep working, and kill -9 of the holder frees it.
The holder is a real second process (a small Python script holding an SQLiteStore)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamvis.core.storage import AppendRows
from streamvis.store import SQLiteStore, StoreError
from tests.conftest import ROOT

HOLDER = textwrap.dedent("""\
    import sys
    import numpy as np
    from streamvis.core.storage import AppendRows
    from streamvis.store import SQLiteStore
    store = SQLiteStore(sys.argv[1])
    store.commit([AppendRows("r", "s", 0, 3, {"v": np.arange(3.0)}, 1)])
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
    store.close()
""")


class Holder:
    """A second process that opened `path` as the writer and waits."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until it holds the store (or died)
        assert line == "holding\n", self.process.communicate(timeout=60)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Let it close the store and exit (or reap it, killed), closing its pipes."""
        try:
            self.process.communicate("" if self.process.poll() is None else None, timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate(timeout=60)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    started = Holder(tmp_path / "held.db")
    yield started
    started.stop()


def refused(path: Path) -> str:
    with pytest.raises(StoreError) as refusal:
        SQLiteStore(path)
    return str(refusal.value)


def assert_in_use_line(message: str, path: Path, pid: int) -> None:
    assert message == (
        f"store {path} is in use by pid {pid}; stop it, or give this one another --store "
        "(reading with `streamvis ls/export` works meanwhile)"
    )


def test_the_same_path_is_refused_naming_the_holder(tmp_path: Path, holder: Holder) -> None:
    path = tmp_path / "held.db"
    assert_in_use_line(refused(path), path, holder.pid)


def test_a_symlink_to_the_held_file_is_refused(tmp_path: Path, holder: Holder) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    link = other / "link.db"
    link.symlink_to(tmp_path / "held.db")
    assert_in_use_line(refused(link), link, holder.pid)
    relative = other / "relative.db"
    relative.symlink_to(Path("..") / "held.db")
    assert_in_use_line(refused(relative), relative, holder.pid)


def test_a_hard_link_to_the_held_file_is_refused(tmp_path: Path, holder: Holder) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    hard = other / "hard.db"
    os.link(tmp_path / "held.db", hard)
    assert_in_use_line(refused(hard), hard, holder.pid)


def test_deleting_the_lock_file_does_not_let_a_second_writer_in(
    tmp_path: Path, holder: Holder
) -> None:
    path = tmp_path / "held.db"
    legacy = tmp_path / "held.db.lock"
    assert legacy.read_text() == f"pid {holder.pid}"  # still written, for earlier releases
    legacy.unlink()
    assert_in_use_line(refused(path), path, holder.pid)
    assert_in_use_line(refused(path), path, holder.pid)  # and again: nothing was left behind


def test_readers_in_other_processes_work_while_it_is_held(tmp_path: Path, holder: Holder) -> None:
    path = tmp_path / "held.db"
    reader = SQLiteStore(path, readonly=True)
    try:
        assert [(r.run, r.stream, r.rows) for r in reader.streams()] == [("r", "s", 3)]
    finally:
        reader.close()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        assert raw.execute("SELECT count(*) FROM segments").fetchone()[0] == 1
    raw.close()


def test_kill_9_of_the_holder_frees_the_store(tmp_path: Path, holder: Holder) -> None:
    path = tmp_path / "held.db"
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.process.wait(60) == -signal.SIGKILL
    store = SQLiteStore(tmp_path / "held.db")
    try:
        assert [(r.stream, r.rows) for r in store.streams("r")] == [("s", 3)]
        store.commit([AppendRows("r", "s", 3, 2, {"v": np.arange(2.0)}, 2)])
    finally:
        store.close()
    assert (tmp_path / "held.db.lock").read_text() == f"pid {os.getpid()}"
    assert path.exists()


def test_a_refused_open_keeps_this_processes_sqlite_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it; a
    refused writer open in a process that reads the same file must not do that."""
    path = tmp_path / "mine.db"
    link = tmp_path / "link.db"
    link.symlink_to(path)
    first = SQLiteStore(path)
    reader = SQLiteStore(path, readonly=True)
    try:
        before = posix_locks_of_this_process(path)
        assert before, "SQLite holds no POSIX lock on its WAL-mode file: the test is moot"
        for target in (path, link):
            assert_in_use_line(refused(target), target, os.getpid())
        assert posix_locks_of_this_process(path) == before
    finally:
        reader.close()
        first.close()
    SQLiteStore(link).close()  # released: another writer may open it now, by any path


def posix_locks_of_this_process(path: Path) -> list[str]:
    """The POSIX (fcntl) lock ranges this process holds on `path`, from /proc/locks."""
    info = os.stat(path)
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    ranges = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields or fields[1] != "POSIX" or fields[5] != wanted:
            continue
        if int(fields[4]) == os.getpid():
            ranges.append(" ".join(fields[3:]))
    return sorted(ranges)
