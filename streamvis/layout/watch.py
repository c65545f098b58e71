"""Live reload of a layout file: one watcher thread per process notices edits, and every run
that follows the file gets the new layout (pages re-arrange themselves, see regrid.py).

A `LayoutFile` keeps the last layout that loaded and, while the file does not load (bad
YAML, an unknown kind, an overlap...), the error, so pages keep drawing the last good layout
and show why the edit was not applied. The watcher polls each file's size, mtime and inode
every POLL_SECONDS (cheap, no new dependency) and re-reads it only when one changed and
then held still for one poll, so a half-written save is not read.
A layout set through the API (PUT /api/v1/runs/{run}/layout, `Client.set_layout`) rules its
run: the hub never lets the file replace it (Hub.set_file_layout).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from streamvis.errors import StreamvisError
from streamvis.layout.spec import Layout, load_layout

if TYPE_CHECKING:
    from streamvis.core.hub import Hub

log = logging.getLogger("streamvis")
DEFAULT_POLL_SECONDS = 0.5


def _poll_seconds() -> float:
    """STREAMVIS_LAYOUT_POLL (seconds between looks at each file), 0.05 .. 60; else 0.5."""
    text = os.environ.get("STREAMVIS_LAYOUT_POLL", "")
    try:
        value = float(text)
    except ValueError:
        value = DEFAULT_POLL_SECONDS
        if text:
            log.warning("STREAMVIS_LAYOUT_POLL=%r is not a number; using 0.5", text[:40])
    return min(max(value, 0.05), 60.0) if value == value else DEFAULT_POLL_SECONDS


POLL_SECONDS = _poll_seconds()
Signature = tuple[int, int, int] | None  # (mtime ns, size, inode); None: cannot stat


def _signature(path: Path) -> Signature:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


class LayoutFile:
    """A layout YAML file: its last good layout, the current error, and who follows it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._signature = _signature(self.path)
        self._pending: Signature = self._signature  # seen once; read when seen again
        self._digest = self._read_digest()
        self.layout: Layout = load_layout(self.path)  # a bad file at start: SpecError now
        self.error: str | None = None
        self.version = 1  # changes with every new layout or new error
        self._followers: list[tuple[Hub, str]] = []
        self._lock = threading.Lock()

    def _read_digest(self) -> bytes | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).digest()
        except OSError:
            return None

    def follow(self, hub: Hub, run: str) -> None:
        """Make this file the layout of `run` in `hub` unless the run has one of its own,
        now and after every good edit."""
        with self._lock:
            if not any(h is hub and r == run for h, r in self._followers):
                self._followers.append((hub, run))
            layout = self.layout
        hub.set_file_layout(run, layout, self)

    def check(self) -> bool:
        """Re-read the file once it changed on disk and then stayed the same for one more
        look (an editor may truncate, then write); True when its layout or error changed."""
        signature = _signature(self.path)
        if signature == self._signature:
            return False
        if signature != self._pending:  # changed since the last look: let the save finish
            self._pending = signature
            return False
        self._signature = signature
        digest = self._read_digest()
        if digest is not None and digest == self._digest:
            return False  # touched, or written back unchanged
        self._digest = digest
        try:
            layout = load_layout(self.path)
        except StreamvisError as exc:
            message = str(exc)
            if message == self.error:
                return False
            log.error("layout file edit not applied (the last good layout stays): %s", message)
            with self._lock:
                self.error = message
                self.version += 1
            return True
        log.info("layout file %s changed: applying it", self.path)
        with self._lock:
            self.layout, self.error = layout, None
            self.version += 1
            followers = list(self._followers)
        for hub, run in followers:
            hub.set_file_layout(run, layout, self)
        return True


class _Watcher:
    """The process's one polling thread over every watched layout file."""

    def __init__(self) -> None:
        self.files: dict[Path, LayoutFile] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def watch(self, path: str | Path) -> LayoutFile:
        key = Path(path).resolve()
        with self._lock:
            found = self.files.get(key)
            if found is None:
                found = self.files[key] = LayoutFile(path)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="streamvis-layout-watch", daemon=True
                )
                self._thread.start()
        return found

    def check_all(self) -> None:
        with self._lock:
            files = list(self.files.values())
        for layout_file in files:
            try:
                layout_file.check()
            except Exception:  # the watcher must outlive any one bad read
                log.exception("checking layout file %s failed", layout_file.path)

    def _run(self) -> None:
        while True:
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            self.check_all()


_watcher = _Watcher()


def watch(path: str | Path) -> LayoutFile:
    """The process's watched `LayoutFile` for `path` (made, and checked, on first use)."""
    return _watcher.watch(path)


def follow_file(hub: Hub, run: str, path: str | Path) -> LayoutFile:
    """Make the layout file at `path` the layout of `run` (unless the API set one) and keep
    it so as the file is edited."""
    layout_file = watch(path)
    layout_file.follow(hub, run)
    return layout_file
