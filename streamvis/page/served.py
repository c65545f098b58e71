"""The handle `sv.serve` returns: Panel's server thread, with a `stop()` that also closes
the connections browsers still hold open.

Bokeh's server stops listening on `stop()` but leaves accepted keep-alive and websocket
connections open (its own code says so in a TODO); in a process that goes on running (a
notebook, a script serving several times, tests) those sockets would linger. Closing them
on the server's own event loop first makes `stop()` release everything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import numbers
import time
from typing import Any

from streamvis.errors import ServeError

log = logging.getLogger("streamvis")
CLOSE_SECONDS = 5.0
LISTEN_SECONDS = 300.0  # a loaded machine's warm-up can take long; a dead thread fails at once


def warm_up_session(document: Any) -> bool:
    """A session of Panel's own making with no server behind it: `panel serve --warm` (and
    `warm=True`) builds one page before listening, then destroys it (a browser's session
    always has a server)."""
    context = getattr(document, "session_context", None)
    return context is not None and getattr(context, "server_context", None) is None


def check_listen(port: Any, address: Any) -> None:
    """Refuse a port or address `sv.serve` cannot listen on, before Panel's thread starts
    (in that thread the mistake would only print a traceback, and `serve` would return)."""
    whole = isinstance(port, numbers.Integral) and not isinstance(port, bool)
    if not whole or not 0 <= int(port) <= 65535:
        raise ServeError(f"serve(port={port!r:.40}): the port must be a whole number, 0 to 65535")
    if not isinstance(address, str) or not address.strip():
        raise ServeError(f"serve(address={address!r:.40}): the address must be a host name or IP")


class ServedDashboard:
    """Wraps Panel's StoppableThread; every other attribute is the thread's."""

    def __init__(self, thread: Any) -> None:
        self.thread = thread

    def __getattr__(self, name: str) -> Any:
        return getattr(self.thread, name)

    def wait_listening(self, timeout: float = LISTEN_SECONDS) -> None:
        """Return once the server listens, so a page can be opened as soon as `sv.serve`
        returns (Panel's thread first builds one page to warm up, about a second)."""
        import panel as pn

        deadline = time.monotonic() + timeout
        server_id = getattr(self.thread, "server_id", None)
        while pn.state._servers.get(server_id) is None:
            if not self.thread.is_alive():
                raise ServeError("the server stopped before it listened (its log says why)")
            if time.monotonic() > deadline:
                raise ServeError(f"the server did not listen within {timeout:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Close open browser connections, then stop the server thread and wait for it."""
        import panel as pn

        entry = pn.state._servers.get(getattr(self.thread, "server_id", None))
        loop = getattr(self.thread, "asyncio_loop", None)
        if entry is not None and loop is not None and self.thread.is_alive():
            closing = asyncio.run_coroutine_threadsafe(_close_connections(entry[0]), loop)
            try:
                closing.result(CLOSE_SECONDS)
            except (concurrent.futures.TimeoutError, RuntimeError) as exc:
                log.debug("closing browser connections did not finish: %s", exc)
        self.thread.stop()
        self.thread.join(CLOSE_SECONDS)


async def _close_connections(server: Any) -> None:
    """Close the websocket of every Bokeh session, then every HTTP connection."""
    for connection in list(getattr(server._tornado, "_clients", ())):
        connection._socket.close()
    await server._http.close_all_connections()
