"""`sv.dashboard(layout)` in Jupyter: the cell shows the live page with no other call, takes
nothing from the network, and loses no row.

- Panel's notebook extension is loaded on the first dashboard of a kernel, with BokehJS,
  Panel's scripts and stylesheets inline in the cell output (`pn.extension(inline=True)`),
  so the page needs no CDN. A kernel that already loaded it (the user's own `pn.extension`)
  keeps its choice.
- Why rows were lost: in a notebook, model changes wait in the Bokeh document's hold until
  they are pushed over the comm, and Panel applies every message from the browser (range
  changes, and an echo of each stream update the browser applied) with `doc.hold()` ...
  `doc.unhold()`. `unhold()` discards whatever was held, so a stream update made by a refresh
  tick and not yet pushed when a browser message was handled never reached the page (gaps
  of 10-50 steps). A served page has no such window: Bokeh's server sends changes as they
  happen, under the document lock. Here the ticks of a page and the handling of browser
  messages take one lock, browser messages keep the updates held before them, and every
  tick ends by pushing what it changed.
- A second gap: updates sent while the browser is still building the cell's plots (run all
  cells: the loop streams before the output is drawn) are dropped by Panel's browser side.
  Until the browser proves it applies updates, each tick redraws in full (`_not_yet_live`).
- A third: Panel's `push` turns the held changes into a message even while the comm is not
  open, and retries it every 0.1 s on the kernel's loop, outside the lock. Queued messages
  go out in no set order once it opens (traced: newest first, the first full-data message
  last); when the loop lags the thread's ticks (load), that stale full data could reach
  the browser after it was proved live and reset the plot to its first rows, and every
  later update only appended: a block of rows never arrived (steps 51-68 of 800). Every
  `push` now goes through `_push_when_open`: while the comm is closed the changes stay
  held in the document; once it is open they are sent in order, under the lock.
- A cell that never awaits blocks the kernel's loop and with it the periodic callback; then
  a thread runs the ticks, under the same lock (notebook_ticker.py).
"""

from __future__ import annotations

import functools
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("streamvis")
_lock = threading.RLock()  # a page's refresh tick, or Panel applying a browser message
_installed = False
_expected: dict[str, set[str]] = {}  # displayed root -> markers its browser may echo
_live: set[str] = set()  # displayed roots whose browser echoed one of them
SETTLE = 0.5  # s after a comm opens: Panel resends what it queued within 0.1 s of it
MAX_FULL_REDRAWS = 3000  # ticks; a front end that never echoes gets incremental updates


def in_kernel() -> bool:
    """True inside a Jupyter kernel, outside any served session."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    import panel as pn

    document = pn.state.curdoc
    return document is None or document.session_context is None


def prepare() -> None:
    """Make this kernel ready to show dashboards: Panel's extension with inline resources
    (unless already loaded) and browser messages that keep pending updates (once)."""
    import panel as pn
    from panel.config import panel_extension

    if not panel_extension._loaded:
        pn.extension(inline=True)
    _keep_pending_updates()


def _keep_pending_updates() -> None:
    """Wrap Panel's handler of browser messages (see the module docstring)."""
    global _installed
    if _installed:
        return
    from panel.viewable import MimeRenderMixin

    handler = getattr(MimeRenderMixin, "_on_msg", None)
    if handler is None:  # a Panel without it: nothing to guard
        log.warning("streamvis: Panel has no MimeRenderMixin._on_msg; notebook guard not set")
        return
    MimeRenderMixin._on_msg = _guarded_handler(handler)  # type: ignore[method-assign]
    _push_only_when_open()
    _installed = True


# Modules that bind Panel's `push` by name (HoloViews' plots push after each stream event)
_PUSH_USERS = (
    "panel.io.notebook",
    "panel.reactive",
    "panel.pane.base",
    "panel.pane.plot",
    "panel.io.datamodel",
    "panel.widgets.misc",
    "holoviews.plotting.plot",
)


def _push_only_when_open() -> None:
    """Route every user of Panel's `push` through `_push_when_open` (module docstring)."""
    import importlib

    from panel.io import notebook

    original = notebook.push
    replacement = functools.partial(_push_when_open, original)
    for name in _PUSH_USERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "push", None) is original:
            module.push = replacement  # type: ignore[attr-defined]


def _push_when_open(
    push: Callable[..., None], doc: Any, comm: Any, binary: bool = True, msg: Any = None
) -> None:
    """Send `doc`'s held changes over `comm` if it is open, under the lock; otherwise leave
    them held (no message is built that could be sent later, out of order)."""
    if comm is None or not comm._comm:
        if msg is not None:  # a retry Panel queued before this was installed
            push(doc, comm, binary, msg=msg)
        return
    with _lock:
        push(doc, comm, binary, msg=msg)


def _guarded_handler(handler: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(handler)
    def on_browser_message(self: Any, ref: str, manager: Any, message: Any) -> None:
        from panel.io.state import state

        view = state._views.get(ref)
        document = view[2] if view is not None else None
        markers = _expected.get(ref)
        if markers and any(marker in str(message) for marker in markers):  # it applied one
            _live.add(ref)
            _expected.pop(ref, None)
        with _lock:
            if document is None:
                handler(self, ref, manager, message)
                return
            pending = list(document.callbacks._held_events)
            document.callbacks._held_events = []
            try:  # Panel drops what the browser's message changed: the browser has it
                handler(self, ref, manager, message)
            finally:
                document.callbacks._held_events[:0] = pending
        push_page(self)

    on_browser_message.sv_guarded = True  # type: ignore[attr-defined]
    return on_browser_message


def push_page(view: Any) -> None:
    """Send every change still held in the documents `view` is shown in."""
    from panel.io.notebook import push
    from panel.io.state import state

    for ref in list(getattr(view, "_models", {})):
        shown = state._views.get(ref)
        if shown is None:
            continue
        _viewable, root, document, comm = shown
        if comm is None or "embedded" in root.tags:
            continue
        push(document, comm)  # _push_when_open: held until the comm is open


@dataclass
class NotebookTicks:
    """A notebook page's tick bookkeeping (LivePage.ticks): when a tick last ran on the
    kernel's loop and at all, the watcher thread's tick, and what the thread has seen."""

    loop_ticked: float
    ticked: float
    tick_if_stalled: Callable[[float], None]
    thread_failed: bool = False  # a thread tick failed (logged once)
    shown: bool = False  # some view of the page was displayed


def attach(page: Any) -> None:
    """Run `page`'s refresh ticks under the lock, each followed by a push of its changes;
    until its browser view has proved it applies updates, each tick redraws in full. While
    a cell blocks the kernel's loop, a thread runs the ticks (notebook_ticker.py)."""
    import asyncio

    from streamvis.page import notebook_ticker

    waits: dict[str, Waiting] = {}

    def tick(step: Callable[[], None]) -> None:
        with _lock:
            ticks.ticked = time.monotonic()
            if _not_yet_live(page.view, waits):
                redraw(page)
            step()
        push_page(page.view)

    steps = {name: getattr(page, name) for name in ("on_timer", "_begin")}
    for name, step in steps.items():

        def on_loop(step: Callable[[], None] = step) -> None:
            ticks.loop_ticked = time.monotonic()
            tick(step)

        setattr(page, name, on_loop)

    def tick_if_stalled(stall_periods: float) -> None:
        """A tick from the watcher thread, if the loop missed `stall_periods` of them."""
        with _lock:
            now = time.monotonic()
            period = page.refresh_ms / 1000
            if now - ticks.loop_ticked < stall_periods * period:
                return  # the loop ticks: nothing to do
            if now - ticks.ticked < 0.9 * period or not _open_views(page.view):
                return
            tick(steps["on_timer"])

    now = time.monotonic()
    ticks = page.ticks = NotebookTicks(now, now, tick_if_stalled)
    try:
        loop = asyncio.get_running_loop()  # the kernel's: cells run on it
    except RuntimeError:
        loop = None
    schedule = page._schedule

    def schedule_on_loop() -> None:
        """(Re)start the periodic callback on the kernel's loop, from any thread."""
        if loop is None or threading.current_thread() is threading.main_thread():
            schedule()
        else:
            page._period = page.refresh_ms  # the thread keeps to it until the loop runs
            loop.call_soon_threadsafe(schedule)

    page._schedule = schedule_on_loop
    notebook_ticker.watch(page)


def _open_views(view: Any) -> bool:
    """True if some view of `view` has its comm to the browser open."""
    from panel.io.state import state

    for ref in list(getattr(view, "_models", {})):
        shown = state._views.get(ref)
        if shown is not None and shown[3] is not None and shown[3]._comm:
            return True
    return False


@dataclass
class Waiting:
    """A displayed view whose browser has not yet echoed a marker (see `_not_yet_live`)."""

    opened: float  # when a tick first saw its comm open
    ticks: int = 0
    marker: str = ""


def _not_yet_live(view: Any, waits: dict[str, Waiting]) -> bool:
    """True while a view of `view` has an open comm and its browser has not yet applied one
    of our updates; marks the next push so that the browser's echo proves it did.

    Panel's browser side drops updates that arrive before the cell's plots are built (run
    all cells: the loop streams while the output is still being drawn). Until then each
    tick redraws every plot in full, so whatever was dropped is superseded. The browser
    echoes each update it applied; an echo of a marker pushed at least SETTLE seconds after
    the comm opened (so after every update Panel had queued while it was closed) proves
    that later updates are applied, in order, to a page that holds everything."""
    from panel.io.state import state

    waiting = False
    now = time.monotonic()
    for ref in list(getattr(view, "_models", {})):
        shown = state._views.get(ref)
        if shown is None or shown[3] is None or not shown[3]._comm:
            continue
        wait = waits.setdefault(ref, Waiting(opened=now))
        if ref in _live:
            continue
        wait.ticks += 1
        if wait.ticks > MAX_FULL_REDRAWS:
            continue  # a front end that never echoes: stop paying for full redraws
        waiting = True
        if now - wait.opened >= SETTLE:
            wait.marker = f"sv-live-{secrets.token_hex(4)}"
            _expected.setdefault(ref, set()).add(wait.marker)
            root = shown[1]
            root.tags = [tag for tag in root.tags if not str(tag).startswith("sv-live-")] + [
                wait.marker
            ]
    return waiting


def redraw(page: Any) -> None:
    """Send every plot of `page` its whole data on the next push (no new rows needed)."""
    session = page.session
    if session is None:
        return
    for feed in session.feeds.values():
        for target in feed.targets:
            if target.state is not None:
                target.redraw()
            elif len(target.buffer.data):
                # two steps: HoloViews streams only the tail after a step of exactly one
                target.buffer._count += 2
                target.buffer.event()
