"""Refresh ticks for notebook dashboards while the kernel's event loop is blocked.

In a kernel a page refreshes on a Panel periodic callback, a task on the kernel's asyncio
loop; a cell that never awaits (a training loop with `time.sleep` or long compute) blocks
that loop, so the plots would only catch up when the cell ends. One daemon thread per
kernel watches every displayed page: when a page's loop ticks have stalled for
`STALL_PERIODS` refresh periods and its comm to the browser is open, the thread runs the
page's tick itself (under notebook.py's lock, so never at the same time as a loop tick or
a browser message) and pushes the changes over the comm (ipykernel sends comm messages on
iopub from any thread). Once the loop ticks again, the thread stands back.

What the thread cannot do: open a comm. Panel opens the kernel side of a view's comm when
the browser's comm-open message is handled, on the kernel's shell channel, so a view
first drawn while a blocking cell runs (run all cells) stays still until the kernel is
free once.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Any

log = logging.getLogger("streamvis")
STALL_PERIODS = 2.0  # loop ticks missed before the thread takes over
_pages: weakref.WeakSet[Any] = weakref.WeakSet()  # LivePages shown in this kernel
_state_lock = threading.Lock()  # guards _pages and _thread
_thread: threading.Thread | None = None
_stopping = threading.Event()


def watch(page: Any) -> None:
    """Tick `page` from the watcher thread whenever its loop ticks stall (started once)."""
    global _thread
    with _state_lock:
        _pages.add(page)
        if _thread is None or not _thread.is_alive():
            _stopping.clear()
            _thread = threading.Thread(target=_run, name="streamvis-notebook-ticks", daemon=True)
            _thread.start()


def stop() -> None:
    """End the watcher thread (at interpreter exit; a later `watch` starts a new one)."""
    _stopping.set()
    thread = _thread
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout=5)


atexit.register(stop)


def _run() -> None:
    """Until no page is left or the kernel exits: every refresh period, tick stalled pages."""
    while not _stopping.is_set():
        period = _tick_stalled_pages()
        if period is None:
            return
        _stopping.wait(period)


def _tick_stalled_pages() -> float | None:
    """One pass over the pages; the seconds until the next one, None when none is left.
    (A function of its own: no reference to a page is held while the thread waits.)"""
    global _thread
    with _state_lock:
        pages = list(_pages)
        if not pages:
            _thread = None
            return None
    for page in pages:
        if _gone(page):
            with _state_lock:
                _pages.discard(page)
        else:
            _tick_if_stalled(page)
    return min(max(page.refresh_ms, 20) for page in pages) / 1000


def _tick_if_stalled(page: Any) -> None:
    try:
        page.ticks.tick_if_stalled(STALL_PERIODS)
    except Exception:  # a failed tick must not end the thread; the loop path reports too
        if not page.ticks.thread_failed:
            page.ticks.thread_failed = True
            log.warning("streamvis: a notebook refresh tick failed", exc_info=True)


def _gone(page: Any) -> bool:
    """True once the page is closed, or was shown and none of its views is left."""
    if page._closed:
        return True
    from panel.io.state import state

    shown = [ref for ref in list(getattr(page.view, "_models", {})) if ref in state._views]
    if shown:
        page.ticks.shown = True
        return False
    return bool(page.ticks.shown)
