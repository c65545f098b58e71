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
  Until the browser answers, each tick redraws the page's plots in full (`_waiting_views`).
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("streamvis")
_lock = threading.RLock()  # a page's refresh tick, or Panel applying a browser message
_installed = False
_spoken: set[str] = set()  # displayed roots whose browser has sent a message since it opened
RESYNCS_BEFORE_TRUST = 2  # full redraws pushed before a browser message proves the page live


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
    _installed = True


def _guarded_handler(handler: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(handler)
    def on_browser_message(self: Any, ref: str, manager: Any, message: Any) -> None:
        from panel.io.state import state

        view = state._views.get(ref)
        document = view[2] if view is not None else None
        with _lock:
            _spoken.add(ref)
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
        if comm is not None and "embedded" not in root.tags:
            with _lock:
                push(document, comm)


def attach(page: Any) -> None:
    """Run `page`'s refresh ticks under the lock, each followed by a push of its changes;
    until its browser view answers, each tick first redraws every plot in full."""
    resyncs: dict[str, int] = {}

    for name in ("on_timer", "_begin"):
        step = getattr(page, name)

        def guarded(step: Callable[[], None] = step) -> None:
            with _lock:
                if _waiting_views(page.view, resyncs):
                    redraw(page)
                step()
            push_page(page.view)

        setattr(page, name, guarded)


def _waiting_views(view: Any, resyncs: dict[str, int]) -> bool:
    """True when a view of `view` has an open comm but its browser has not answered yet.

    Messages sent as the comm opens can reach the browser before its plots are built, and
    Panel drops them there; a full redraw per tick, until the browser sends something (it
    echoes each update it applied), makes the page whole whenever it became ready. A
    message counts only after two redraws, so updates queued before the comm opened (and
    sent just after it) cannot end the redraws with stale data."""
    from panel.io.state import state

    waiting = False
    for ref in list(getattr(view, "_models", {})):
        shown = state._views.get(ref)
        if shown is None or shown[3] is None or not shown[3]._comm:
            continue
        done = resyncs.get(ref, 0)
        if ref in _spoken and done >= RESYNCS_BEFORE_TRUST:
            continue
        if done < RESYNCS_BEFORE_TRUST:
            _spoken.discard(ref)
        resyncs[ref] = done + 1
        waiting = True
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
