"""The ingest API on a thread and event loop of its own, so that acknowledging a producer
never waits behind the pages' ticks and websocket writes on Panel's loop.

`streamvis_server` listens its REST port here. `panel serve --plugins streamvis.ingest` (and
`streamvis serve`, which runs it) serves the API on the page's own port: there Panel's HTTP
server is a `FrontDoor`, which hands every new connection to this loop first; the loop peeks
at the connection's first request line (without reading it) and serves the connection itself
when that request is for /api, or hands it back to Panel's loop otherwise. The same routes
stay mounted on Panel's application for a connection that asks for /api later on (a
browser's keep-alive connection) and for TLS, where the request line cannot be peeked at.
The hub and the store are safe to write from both threads (core/hub.py). The batch
ledger's wait for a batch's first copy (a retry arriving while the first is being
committed) assumes both copies on one loop, as they are when a producer's connections
begin with /api requests (every streamvis Client's and HTTP library's do).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, SSLIOStream
from tornado.netutil import add_accept_handler, bind_sockets

log = logging.getLogger("streamvis")
PEEK_BYTES = 64  # enough of "METHOD /path" to tell whether the path is under /api
PEEK_SECONDS = 5.0  # a connection that says nothing for this long goes to Panel's loop
PEEK_PAUSE = 0.005  # between peeks at a request line that has only partly arrived
# How long a thread busy in Python code (a page's tick) keeps the interpreter before the
# ingest thread, waiting for it, gets a turn: an acknowledgement takes several turns
# (read, commit, answer), each up to Python's default of 5 ms.
SWITCH_INTERVAL_S = 0.001
METHOD_LIMIT = 10  # bytes: longer than any HTTP method


def api_request(head: bytes) -> bool | None:
    """Whether a connection whose first bytes are `head` asks for /api first (a path of
    `/api` or under `/api/`); None while too little has arrived to tell."""
    method, space, rest = head.partition(b" ")
    if not space:  # still reading the method, or not HTTP (Panel's server answers that)
        return None if len(head) <= METHOD_LIMIT and head.isalpha() else False
    if not (method.isalpha() and method.isupper()):
        return False
    if len(rest) < 5:
        return None if b"/api".startswith(rest) else False
    return rest.startswith(b"/api") and rest[4:5] in (b"/", b"?", b" ", b"#")


HandBack = Callable[[socket.socket, Any], None]  # serves a connection on Panel's loop
_tasks: set[asyncio.Future[None]] = set()  # routing tasks, held until done (asyncio's rule)


class IngestLoop:
    """A daemon thread running a Tornado IOLoop with an HTTP server of the ingest `routes`."""

    def __init__(
        self, routes: list[tuple[str, Any, dict[str, Any]]], **server_options: Any
    ) -> None:
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
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

    def take(self, connection: socket.socket, address: Any, hand_back: HandBack) -> None:
        """Serve `connection` here if its first request is for /api, else hand it back."""
        self._call(lambda http: self._start_route(http, connection, address, hand_back))

    def accept(self, panel: HTTPServer, sockets: list[socket.socket], hand_back: HandBack) -> None:
        """Accept connections on Panel's listening `sockets` here too (whichever loop is
        free accepts), so a producer's new connection is not left waiting for Panel's;
        requests are read with `panel`'s settings (body limits, --use-xheaders)."""

        def add_handlers(http: HTTPServer) -> None:
            http.xheaders, http.protocol = panel.xheaders, panel.protocol
            http.conn_params, http.trusted_downstream = panel.conn_params, panel.trusted_downstream
            for listening in sockets:
                add_accept_handler(
                    listening,
                    lambda connection, address: self._start_route(
                        http, connection, address, hand_back
                    ),
                )

        self._call(add_handlers)

    def _start_route(
        self, http: HTTPServer, connection: socket.socket, address: Any, hand_back: HandBack
    ) -> None:
        _tasks.add(asyncio.ensure_future(self._route(http, connection, address, hand_back)))

    async def _route(
        self,
        http: HTTPServer,
        connection: socket.socket,
        address: Any,
        hand_back: HandBack,
    ) -> None:
        try:
            ours = await self._first_request_is_api(connection)
        except Exception:  # a connection reset or closed while peeking: Panel's server
            ours = False  # answers or closes it, as it would have without the peek
        finally:
            _tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
        if not ours:
            hand_back(connection, address)
            return
        http.handle_stream(stream_of(http, connection), address)

    async def _first_request_is_api(self, connection: socket.socket) -> bool:
        """Peek (MSG_PEEK: the bytes stay for whoever serves the connection) until the first
        request line says where it goes; a silent or closed connection is not ours."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PEEK_SECONDS
        while loop.time() < deadline:
            try:
                head = connection.recv(PEEK_BYTES, socket.MSG_PEEK)
            except BlockingIOError:
                head = None
            if head == b"":
                return False  # closed before asking anything
            if head is not None:
                verdict = api_request(head)
                if verdict is not None:
                    return verdict
                await asyncio.sleep(PEEK_PAUSE)  # part of a request line: the rest is coming
                continue
            readable = loop.create_future()
            loop.add_reader(connection.fileno(), _resolve, readable)
            try:
                await asyncio.wait_for(readable, max(0.0, deadline - loop.time()))
            except TimeoutError:
                return False
            finally:
                loop.remove_reader(connection.fileno())
        return False


def stream_of(server: HTTPServer, connection: socket.socket) -> IOStream:
    """An IOStream on the calling thread's loop, with the buffer settings `server` uses."""
    return IOStream(
        connection, max_buffer_size=server.max_buffer_size, read_chunk_size=server.read_chunk_size
    )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_front: IngestLoop | None = None


def _serving_front() -> IngestLoop | None:
    """The installed ingest loop, if its thread runs here (a forked worker of `panel serve
    --num-procs` has none: its connections stay on its own loop, as without the plugin)."""
    ingest = _front
    return ingest if ingest is not None and ingest.thread.is_alive() else None


class FrontDoor(HTTPServer):
    """Panel's HTTP server, handing each new plain-TCP connection to the ingest loop first
    (see the module's docstring); with no ingest loop installed, or TLS, it is Tornado's."""

    def add_sockets(self, sockets: list[socket.socket]) -> None:
        super().add_sockets(sockets)
        ingest = _serving_front()
        if ingest is not None and self.ssl_options is None:
            ingest.accept(self, sockets, self._hand_back(IOLoop.current()))

    def handle_stream(self, stream: IOStream, address: Any) -> Any:
        ingest = _serving_front()
        if ingest is None or isinstance(stream, SSLIOStream) or self.ssl_options is not None:
            return super().handle_stream(stream, address)
        connection = stream.socket  # the stream was only made, never read: take its socket
        ingest.take(connection, address, self._hand_back(IOLoop.current()))
        return None

    def _hand_back(self, panel_loop: IOLoop) -> HandBack:
        """How the ingest loop gives Panel's loop a connection that is not for /api."""

        def serve(connection: socket.socket, address: Any) -> None:
            HTTPServer.handle_stream(self, stream_of(self, connection), address)

        return lambda connection, address: panel_loop.add_callback(serve, connection, address)


def install_front_door(routes: list[tuple[str, Any, dict[str, Any]]]) -> IngestLoop:
    """Start the ingest loop and make the Bokeh server `panel serve` creates next a
    `FrontDoor` (Bokeh makes it as `bokeh.server.server.HTTPServer`, read when called)."""
    global _front
    import bokeh.server.server as bokeh_server

    if _front is None:
        _front = IngestLoop(routes)
    if bokeh_server.HTTPServer is HTTPServer:
        bokeh_server.HTTPServer = FrontDoor  # type: ignore[misc]
    elif bokeh_server.HTTPServer is not FrontDoor:
        log.warning("streamvis: Bokeh's HTTP server is not Tornado's; ingest shares its loop")
    return _front
