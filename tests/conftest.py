"""Shared test helpers: polling with a deadline, free ports, a real `panel serve`
subprocess, and headless Chromium driven by Playwright."""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench.chromium import CHROMIUM, CHROMIUM_ARGS  # one launch setting for tests and benches

ROOT = Path(__file__).resolve().parents[1]
# Every deadline in the suite is multiplied by this: a deadline only costs time when a test
# fails, and a machine shared with another copy of the suite can be many times slower.
PATIENCE = float(os.environ.get("STREAMVIS_TEST_PATIENCE", "3"))


# BokehJS drops models a page no longer uses from `get_model_by_name` only after a lazy
# recompute (up to 30 s later), so while a page rebuilds a figure (a new layout, a smoothing
# change on a compare page) that lookup sees the old and the new model of a name and throws.
# `live(name)` looks among the models reachable from the document's roots instead, and gives
# null until exactly one has the name. Prepend it to a page function's body.
LIVE_MODEL = """
    const live = (name) => {
        const found = new Set();
        for (const root of Bokeh.documents[0].roots())
            for (const model of root.references()) if (model.name === name) found.add(model);
        return found.size === 1 ? [...found][0] : null;
    };
"""


def api_json(port: int, method: str, path: str, body: Any, timeout: float = 60.0) -> Any:
    """Send `body` as JSON to the server's `/api/v1/<path>`, require a 200 and return the
    answer's JSON (None for an empty answer)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = response.read()
        assert response.status == 200, answer
        return json.loads(answer) if answer else None


def post_json(port: int, path: str, body: Any, timeout: float = 60.0) -> None:
    """POST `body` as JSON to the server's `/api/v1/<path>` and require a 200."""
    api_json(port, "POST", path, body, timeout)


# JS: the values of column `column` in the live model named `name` (null while absent)
COLUMN = (
    """([name, column]) => {"""
    + LIVE_MODEL
    + """
    const model = live(name);
    return model && model.data[column] ? Array.from(model.data[column]) : null;
}"""
)


def wait_until(
    condition: Callable[[], Any],
    timeout: float = 60.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds
    (times PATIENCE)."""
    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value: {last!r}")


def end_process(process: subprocess.Popen[Any], grace: float = 30.0) -> None:
    """Stop `process` (SIGTERM, then SIGKILL after `grace` seconds) and reap it, so no test
    leaves a child running or an unwaited Popen behind."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


PORT_LOCKS = Path(tempfile.gettempdir()) / "streamvis-test-ports"
_reserved: list[Any] = []  # lock files held until this process exits


@atexit.register
def _release_ports() -> None:
    for lock in _reserved:
        lock.close()


def _reservable_ports() -> range:
    """Ports below the kernel's ephemeral range: no outgoing connection is ever given one."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(1025, low - 12000), low)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on and no other test will take.

    A port the kernel hands out for a moment (bind to 0) can be given to an outgoing
    connection or to another test process before our server binds it. Ports are taken
    from below the ephemeral range instead, each reserved by an flock on a file shared by
    every test process on the machine (parallel workers, a second copy of the suite) and
    held until this process exits, so two servers never race for one port."""
    PORT_LOCKS.mkdir(exist_ok=True)
    ports = list(_reservable_ports())
    random.shuffle(ports)
    for port in ports:
        lock = open(PORT_LOCKS / str(port), "a")  # noqa: SIM115 - held until exit
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # in use by something outside the tests
                lock.close()
                continue
        _reserved.append(lock)
        return port
    raise RuntimeError(f"no free port left below the ephemeral range in {PORT_LOCKS}")


class PanelServer:
    """`panel serve apps/dashboard.py` on 127.0.0.1 in a subprocess; output kept for failures.

    `plugins=True` mounts the ingest routes (`--plugins streamvis.ingest`); `extra` adds more
    `panel serve` flags (placed before `--args`)."""

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        plugins: bool = False,
        extra: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/dashboard"
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "panel",
            "serve",
            str(ROOT / "apps" / "dashboard.py"),
            "--address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--allow-websocket-origin",
            f"127.0.0.1:{self.port}",
            "--check-unused-sessions",
            "500",
            "--unused-session-lifetime",
            "5000",
        ]
        if plugins:  # the ingest routes, as documented: --plugins streamvis.ingest
            command += ["--plugins", "streamvis.ingest"]
        command += extra or []  # more `panel serve` flags; they must come before --args
        if args:
            command += ["--args", *args]
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "STREAMVIS_STORE": str(log_path.with_suffix(".db")), **(env or {})},
        )
        try:
            wait_until(self._ready, timeout=60, interval=0.1, message=f"panel serve {self.port}")
        except BaseException:
            self.stop()  # a server that never came up is not left running
            raise

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"panel serve exited early:\n{self.output()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        end_process(self.process)
        self._log.close()


@pytest.fixture
def panel_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., PanelServer]]:
    """Factory: start `panel serve apps/dashboard.py --args ...`; dumps its log on failure."""
    servers: list[PanelServer] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        plugins: bool = False,
        extra: list[str] | None = None,
    ) -> PanelServer:
        server = PanelServer(
            list(args), tmp_path / f"server-{len(servers)}.log", env, plugins=plugins, extra=extra
        )
        servers.append(server)
        return server

    yield start
    failed = getattr(request.node, "rep_call", None)
    for server in servers:
        server.stop()
        if failed is not None and failed.failed:
            print(f"---- panel serve log ({server.log_path}) ----\n{server.output()}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the whole run (never a downloaded browser)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def foreign_addresses(page_url: str, requested: Sequence[str]) -> list[str]:
    """The addresses in `requested` outside the origin (host and port) of `page_url`: what a
    page served offline must never ask for. data: and blob: addresses are the page's own."""
    own = urlsplit(page_url)
    foreign = []
    for url in requested:
        if url.startswith("data:"):
            continue
        address = urlsplit(url.removeprefix("blob:"))
        web = address.scheme in ("http", "https", "ws", "wss")
        if not web or (address.hostname, address.port) != (own.hostname, own.port):
            foreign.append(url)
    return foreign


class Console:
    """Browser console messages, page errors and every request (websockets included) of the
    pages opened through `open_page`, with the address each page was opened at."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.requests: list[tuple[str, str]] = []  # (the page's address, a request's address)

    def foreign_requests(self) -> list[str]:
        """Requests that left the server a page came from (a CDN, another host)."""
        return [url for page, url in self.requests if foreign_addresses(page, [url])]

    def errors(self) -> list[tuple[str, str]]:
        problems = [(k, text) for k, text in self.messages if k in ("error", "pageerror")]
        return problems + [("foreign request", url) for url in self.foreign_requests()]


@pytest.fixture
def open_page(browser: Any) -> Iterator[tuple[Callable[[str], Any], Console]]:
    """Open URLs in fresh browser contexts (separate sessions); collect console errors."""
    console = Console()
    contexts: list[Any] = []

    def open_(url: str) -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000 * PATIENCE)
        context.on("request", lambda request: console.requests.append((url, request.url)))
        page.on("websocket", lambda socket: console.requests.append((url, socket.url)))
        page.on(
            "console",
            lambda message: console.messages.append(
                (message.type, f"{message.text} [{message.location.get('url', '')}]")
            ),
        )
        page.on("pageerror", lambda error: console.messages.append(("pageerror", str(error))))
        page.on(
            "requestfailed",
            lambda request: console.messages.append(("requestfailed", request.url)),
        )
        page.goto(url)
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        return page

    yield open_, console
    for context in contexts:
        context.close()
    assert console.foreign_requests() == [], "a page asked another server (offline: none)"


def drag_first_plot(page: Any, dx: float) -> None:
    """Drag the page's first plot `dx` pixels to the right from its middle (a user's pan)."""
    box = page.locator(".bk-Canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + dx, cy, steps=8)
    page.mouse.up()
    # the browser may apply the last moves in its next frames: a range read right after the
    # drag could be the pan's middle (seen under load), so let two frames pass first
    two_frames = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
    page.evaluate(two_frames)


def accepts_connections(port: int) -> bool:
    """True when something listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class StreamvisServer:
    """The first release's `streamvis_server` in a subprocess on 127.0.0.1: the dashboard of
    `run` on `bokeh_port` and the ingest API on `rest_port`. Ports are chosen when it is made,
    so a producer can be pointed at it before `start()` (a server that is down)."""

    def __init__(self, run: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.run = run
        self.rest_port = free_port()
        self.bokeh_port = free_port()
        while self.bokeh_port == self.rest_port:
            self.bokeh_port = free_port()
        self.rest_url = f"http://127.0.0.1:{self.rest_port}"
        self.page_url = f"http://127.0.0.1:{self.bokeh_port}/"
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout: float = 60.0) -> StreamvisServer:
        command = [
            str(Path(sys.executable).with_name("streamvis_server")),
            "--rest_port",
            str(self.rest_port),
            "--bokeh_port",
            str(self.bokeh_port),
            "--run_name",
            self.run,
        ]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "STREAMVIS_STORE": str(self.log_path.with_suffix(".db")),
                **(self.env or {}),
            },
        )
        try:
            wait_until(
                self._ready,
                timeout=timeout,
                message=f"streamvis_server on ports {self.rest_port} and {self.bokeh_port}",
            )
        except BaseException:
            end_process(self.process)  # a server that never came up is not left running
            raise
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"streamvis_server exited early:\n{self.output()}")
        return accepts_connections(self.rest_port) and accepts_connections(self.bokeh_port)

    def get_stream(self, run: str, stream: str, since: int = 0) -> dict[str, Any] | None:
        """GET /api/v1/runs/RUN/streams/STREAM?since=SINCE as JSON; None when it is missing."""
        import http.client
        import json

        connection = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=10)
        try:
            connection.request("GET", f"/api/v1/runs/{run}/streams/{stream}?since={since}")
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status == 404:
            return None
        assert response.status == 200, (response.status, body[:500])
        return json.loads(body)

    def output(self) -> str:
        if self._log is None:
            return "(never started)"
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process is None:
            return
        end_process(self.process)
        self._log.close()


@pytest.fixture
def streamvis_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., StreamvisServer]]:
    """Factory: `streamvis_server(run, start=True)`; stopped at the end, log dumped on failure."""
    servers: list[StreamvisServer] = []

    def make(run: str = "default", *, start: bool = True) -> StreamvisServer:
        server = StreamvisServer(run, tmp_path / f"streamvis-server-{len(servers)}.log")
        servers.append(server)
        return server.start() if start else server

    yield make
    failed = getattr(request.node, "rep_call", None)
    for server in servers:
        server.stop()
        if failed is not None and failed.failed:
            print(f"---- streamvis_server log ({server.log_path}) ----\n{server.output()}")


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Collect garbage at the end of each server and browser test, so an unclosed socket is
    reported (as a ResourceWarning error) by the test that leaked it, not by a later one."""
    yield
    if request.node.get_closest_marker("server") or request.node.get_closest_marker("ui"):
        import gc

        gc.collect()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A real redis-server for this test (AOF, fsync always), stopped afterwards."""
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
