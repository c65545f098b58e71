"""The ingest API on a thread and event loop of its own, so that acknowledging a producer
never waits behind the pages' ticks and websocket writes on Panel's loop.

`streamvis_server` listens its REST port here (a port of its own: `--rest_port`). The hub
and the store are safe to write from both threads (core/hub.py). `panel serve --plugins
streamvis.ingest` and `streamvis serve` serve the API on the page's own port, from Panel's
loop: there the shared tick budget (page/loop_share.py) is what leaves the loop free for
acknowledgements (docs/latency.md).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets


class IngestLoop:
    """A daemon thread running a Tornado IOLoop with an HTTP server of the ingest `routes`."""

    def __init__(
        self, routes: list[tuple[str, Any, dict[str, Any]]], **server_options: Any
    ) -> None:
        self._started = threading.Event()
        self._routes = routes
        self._server_options = server_options
        self.loop: asyncio.AbstractEventLoop | None = None
        self.http: HTTPServer | None = None
        self.thread = threading.Thread(target=self._run, name="streamvis-ingest", daemon=True)
        self.thread.start()
        self._started.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        IOLoop.current()  # Tornado's wrapper of this thread's loop, made here
        self.http = HTTPServer(tornado.web.Application(self._routes), **self._server_options)
        self.loop = loop
        self._started.set()
        loop.run_forever()

    def listen(self, port: int, address: str) -> None:
        """Serve the routes on a port of their own (`streamvis_server --rest_port`)."""
        sockets = bind_sockets(port, address)  # here, so a port in use raises to the caller
        self._call(lambda http: http.add_sockets(sockets))

    def _call(self, action: Callable[[HTTPServer], Any]) -> None:
        """Run `action(server)` on the ingest loop's thread."""
        loop, http = self.loop, self.http
        if loop is None or http is None:
            raise RuntimeError("the ingest loop did not start")
        loop.call_soon_threadsafe(action, http)
