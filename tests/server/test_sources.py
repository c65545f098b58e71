"""Layout-declared sources against real feeds on 127.0.0.1: files that grow, a tornado
websocket server that restarts, a TCP server sending NDJSON, a polled Python function, Kafka
without its package, a closed port; and a real `panel serve` page fed by a file source."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import socket
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import streamvis as sv
from streamvis.core.hub import Hub
from streamvis.layout.spec import Source, layout_from_dict
from streamvis.sources import BaseSource, make_source, problems, start_sources, states
from streamvis.sources import stop_sources as stop_registered
from tests.conftest import free_port, wait_until

pytestmark = [pytest.mark.server]

RUN = "test"
PLOT = {"id": "p", "kind": "line", "stream": "s", "x": "t", "y": "v", "at": [0, 0, 1, 1]}


def spec(type_: str, stream: str = "s", name: str = "src", **options: Any) -> Source:
    """A validated source (defaults filled in), as a layout would declare it."""
    raw = {"name": name, "type": type_, "stream": stream, **options}
    return layout_from_dict({"plots": [PLOT], "sources": [raw]}).sources[0]


def column(hub: Hub, name: str, stream: str = "s") -> list[Any]:
    table = hub.table(RUN, stream)
    return hub.read(stream, run=RUN)[name].tolist() if table is not None else []


def records(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "streamvis" and r.levelno == level and text in r.getMessage()
    ]


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def started() -> Iterator[Callable[..., BaseSource]]:
    """Start sources on a fresh hub with a short backoff; stop them (and check they stopped)."""
    running: list[BaseSource] = []

    def start(source_spec: Source, hub: Hub) -> BaseSource:
        source = make_source(source_spec, hub, run=RUN, backoff=(0.05, 0.4)).start()
        running.append(source)
        return source

    yield start
    for source in running:
        source.stop()
    for source in running:
        assert source._thread is not None
        assert not source._thread.is_alive(), source.label
        assert source.state.status in ("stopped", "failed")


@pytest.fixture
def caplog_sources(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="streamvis")
    return caplog


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


# ---------------------------------------------------------------- file


def test_file_jsonl_from_start_follows_appends_partial_lines_and_malformed(
    tmp_path: Path, hub: Hub, started, caplog_sources
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"t": 0, "v": 0.5}\n{"t": 1, "v": 1.5}\n{"t": 2, "v"')
    source = started(spec("file", path=str(path)), hub)
    wait_until(lambda: column(hub, "t") == [0, 1], message="the lines already there")
    assert source.state.status == "running"

    append(path, ': 2.5}\n{"t": 3, "v": 3.5}\nnot json\n[1, {"t": 4, "v": 4.5}]\n\n')
    wait_until(lambda: column(hub, "t") == [0, 1, 2, 3, 4], message="appended lines")
    assert column(hub, "v") == [0.5, 1.5, 2.5, 3.5, 4.5]  # the partial line, completed later
    assert (source.state.records, source.state.malformed) == (5, 2)
    warnings = records(caplog_sources, logging.WARNING, "malformed")
    assert warnings == [
        f"source 'src' (file {path}): skipped a malformed record (1 so far): not JSON "
        "(Expecting value: line 1 column 1 (char 0)); example: 'not json'"
    ]


def test_file_jsonl_from_end_skips_what_was_there(tmp_path: Path, hub: Hub, started) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"t": 0, "v": 0}\n{"t": 1, "v": 1}\n{"t": 2, ')  # ends mid-line
    source = started(spec("file", path=str(path), **{"from": "end"}), hub)
    wait_until(lambda: source.state.status == "running", message="the source at the end")
    append(path, '"v": 2}\n{"t": 3, "v": 3}\n')
    wait_until(lambda: column(hub, "t") == [3], message="only the line written after start")
    append(path, '{"t": 4, "v": 4}\n')
    wait_until(lambda: column(hub, "t") == [3, 4], message="the next line")
    assert source.state.malformed == 0  # the tail of the line it started in is dropped quietly


@pytest.mark.parametrize("start_at", ["start", "end"])
def test_file_csv_typed_rows_from_start_and_end(
    tmp_path: Path, hub: Hub, started, start_at: str
) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("step,loss,name\n1,0.5,a\n2,0.25,b\n")
    source = started(spec("file", path=str(path), **{"from": start_at}), hub)
    before = [1, 2] if start_at == "start" else []
    wait_until(lambda: source.state.status == "running", message="the source running")
    wait_until(lambda: column(hub, "step") == before, timeout=5, message="rows already there")
    append(path, "3,0.125,c\n4,oops\n5,")
    wait_until(lambda: column(hub, "step") == [*before, 3], message="the appended row")
    append(path, ",e\n")  # completes "5,,e": an empty field is a missing value
    wait_until(lambda: column(hub, "step") == [*before, 3, 5], message="the completed row")
    assert column(hub, "name") == [*(["a", "b"] if before else []), "c", "e"]
    loss = column(hub, "loss")
    assert loss[-2] == 0.125
    assert math.isnan(loss[-1])  # the empty field
    assert hub.read("s", run=RUN)["step"].dtype.kind == "i"
    assert source.state.malformed == 1  # "4,oops": two fields where the header has three


def test_file_truncated_then_rotated(tmp_path: Path, hub: Hub, started, caplog_sources) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text("".join(f'{{"t": {i}}}\n' for i in range(10)))
    started(spec("file", path=str(path)), hub)
    wait_until(lambda: column(hub, "t") == list(range(10)), message="the first file")
    path.write_text('{"t": 100}\n')  # truncated in place (shorter than what was read)
    wait_until(lambda: column(hub, "t")[10:] == [100], message="the truncated file's line")
    os.rename(path, tmp_path / "feed.jsonl.1")
    append(tmp_path / "feed.jsonl.1", '{"t": 101}\n')  # the old file's last words
    path.write_text('{"t": 200}\n')
    wait_until(lambda: column(hub, "t")[10:] == [100, 101, 200], message="the rotated file")
    assert records(caplog_sources, logging.INFO, "truncated")
    assert records(caplog_sources, logging.INFO, "replaced")


def test_file_missing_is_retried_until_it_appears(tmp_path: Path, hub: Hub, started) -> None:
    path = tmp_path / "later.jsonl"
    source = started(spec("file", path=str(path)), hub)
    wait_until(lambda: source.state.failures >= 2, message="failed attempts")
    assert source.state.status in ("retrying", "connecting")
    assert source.state.last_error == f"file not found: {path}"
    path.write_text('{"t": 1}\n')
    wait_until(lambda: column(hub, "t") == [1], message="the file's line")
    assert (source.state.status, source.state.failures) == ("running", 0)


def test_malformed_warnings_are_rate_limited(
    tmp_path: Path, hub: Hub, started, caplog_sources
) -> None:
    path = tmp_path / "noise.jsonl"
    path.write_text("".join(f"x{i}\n" for i in range(250)) + '{"t": 1}\n')
    source = started(spec("file", path=str(path)), hub)
    wait_until(lambda: column(hub, "t") == [1], message="the one good line")
    assert source.state.malformed == 250
    warnings = records(caplog_sources, logging.WARNING, "malformed")
    assert [re.findall(r"\((\d+) so far\)", w) for w in warnings] == [["1"], ["100"], ["200"]]
    assert warnings[0].endswith("example: 'x0'")
    assert warnings[2].endswith("example: 'x199'")


def test_records_the_hub_refuses_are_skipped_and_the_rest_kept(
    tmp_path: Path, hub: Hub, started, caplog_sources
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"t": 1, "v": 1.0}\n')
    source = started(spec("file", path=str(path)), hub)
    wait_until(lambda: column(hub, "t") == [1], message="the first row")
    append(path, '{"t": 2, "v": "high"}\n{"t": 3, "v": 3.0}\n')  # one batch, one bad record
    wait_until(lambda: column(hub, "t") == [1, 3], message="the good record of the batch")
    assert source.state.malformed == 1
    [warning] = records(caplog_sources, logging.WARNING, "malformed")
    assert "run 'test', stream 's', column 'v': expected numbers, got text" in warning
    assert "example: {'t': 2, 'v': 'high'}" in warning


# ---------------------------------------------------------------- websocket


class FeedServer:
    """A tornado websocket server on 127.0.0.1:`port` (path /feed) in its own thread and
    event loop; `send` writes a message to every connected client."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.clients: list[Any] = []
        self.thread = threading.Thread(target=self._thread, daemon=True)
        self._ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None

    def start(self) -> FeedServer:
        self.thread.start()
        assert self._ready.wait(10), "the feed server did not start"
        return self

    def _thread(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from tornado.web import Application
        from tornado.websocket import WebSocketHandler

        server = self

        class Handler(WebSocketHandler):
            def open(self) -> None:
                server.clients.append(self)

            def on_close(self) -> None:
                if self in server.clients:
                    server.clients.remove(self)

        self.loop, self._done = asyncio.get_running_loop(), asyncio.Event()
        http = Application([(r"/feed", Handler)]).listen(self.port, address="127.0.0.1")
        self._ready.set()
        await self._done.wait()
        http.stop()
        for client in list(self.clients):
            client.close()
        await http.close_all_connections()

    def send(self, message: str) -> None:
        async def write() -> None:
            for client in list(self.clients):
                await client.write_message(message)

        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(write(), self.loop).result(10)

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            assert self._done is not None
            self.loop.call_soon_threadsafe(self._done.set)
        self.thread.join(10)
        assert not self.thread.is_alive(), "the feed server did not stop"


@pytest.fixture
def feed_servers() -> Iterator[Callable[[int], FeedServer]]:
    servers: list[FeedServer] = []

    def make(port: int) -> FeedServer:
        servers.append(FeedServer(port).start())
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def test_websocket_receives_records_and_survives_the_feed_restarting(
    hub: Hub, feed_servers, started, caplog_sources
) -> None:
    port = free_port()
    first = feed_servers(port)
    source = started(spec("websocket", url=f"ws://127.0.0.1:{port}/feed"), hub)
    wait_until(lambda: first.clients and source.state.status == "running", message="connected")
    for i in range(5):
        first.send(json.dumps({"i": i, "spent": i * 1.5}))
    first.send(json.dumps([{"i": 5, "spent": 7.5}, {"i": 6, "spent": 9.0}]))  # a list: 2 rows
    first.send("not json")
    wait_until(lambda: column(hub, "i") == list(range(7)), message="the first feed's records")
    wait_until(lambda: source.state.malformed == 1, message="the malformed message counted")

    first.stop()  # the feed drops
    wait_until(lambda: source.state.failures >= 2, message="reconnection attempts")
    assert source.state.status in ("retrying", "connecting")
    assert records(caplog_sources, logging.ERROR, "the feed closed the connection")

    second = feed_servers(port)  # the feed comes back on the same port
    wait_until(lambda: second.clients and source.state.status == "running", message="back")
    for i in range(7, 12):
        second.send(json.dumps({"i": i, "spent": i * 1.5}))
    wait_until(lambda: column(hub, "i") == list(range(12)), message="records after the restart")
    assert column(hub, "spent") == [i * 1.5 for i in range(12)]  # none lost, none repeated
    assert source.state.records == 12
    assert records(caplog_sources, logging.INFO, "working again after")


# ---------------------------------------------------------------- tcp


def test_tcp_reads_ndjson_and_reconnects(hub: Hub, started) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(15)
        port = server.getsockname()[1]
        source = started(spec("tcp", host="127.0.0.1", port=port), hub)
        connection, _ = server.accept()
        with connection:
            connection.sendall(b'{"i": 0}\n{"i": 1}\r\n{"i": ')
            wait_until(lambda: column(hub, "i") == [0, 1], message="two lines")
            connection.sendall(b'2}\n["oops"]\n')
            wait_until(lambda: column(hub, "i") == [0, 1, 2], message="the completed line")
        assert source.state.malformed == 1
        connection, _ = server.accept()  # the server closed on it: the source comes back
        with connection:
            connection.sendall(b'{"i": 3}\n')
            wait_until(lambda: column(hub, "i") == [0, 1, 2, 3], message="after reconnecting")
        assert source.state.last_error == "the server closed the connection"


def test_a_closed_port_keeps_retrying_without_a_log_storm(
    hub: Hub, started, caplog_sources
) -> None:
    port = free_port()  # nothing listens there
    source = started(spec("tcp", host="127.0.0.1", port=port), hub)
    wait_until(lambda: source.state.failures >= 4, message="several attempts")
    assert source.state.status in ("retrying", "connecting")
    assert source.state.last_error == "ConnectionRefusedError: Connection refused"
    errors = records(caplog_sources, logging.ERROR, "source 'src'")
    assert errors == [
        f"source 'src' (tcp 127.0.0.1:{port}) failed: ConnectionRefusedError: "
        "Connection refused; retrying"
    ]
    assert hub.stream("other", {"a": 1}, run=RUN) == 1  # the hub is unaffected
    assert hub.table(RUN, "s") is None


# ---------------------------------------------------------------- python


POLLED = """\
calls = 0


def rows():
    global calls
    calls += 1
    if calls == 3:
        raise RuntimeError("sensor offline")
    if calls % 2 == 0:
        return None
    return [{"call": calls}]


def cloud():
    global calls
    calls += 1
    return {"x": [calls] * 3, "y": [0.0, 1.0, 2.0]}
"""


def test_python_source_polls_skips_none_and_retries_after_an_error(
    tmp_path: Path, hub: Hub, started, caplog_sources
) -> None:
    module = tmp_path / "polled.py"
    module.write_text(POLLED)
    source = started(spec("python", function=f"{module}:rows", every_ms=10), hub)
    wait_until(lambda: column(hub, "call")[:3] == [1, 5, 7], message="polled rows")
    assert records(caplog_sources, logging.ERROR, "RuntimeError: sensor offline") == [
        f"source 'src' (python {module}:rows) failed: RuntimeError: sensor offline; retrying"
    ]
    assert source.state.status == "running"
    assert source.state.last_error == "RuntimeError: sensor offline"


def test_python_source_in_replace_mode(tmp_path: Path, hub: Hub, started) -> None:
    module = tmp_path / "clouds.py"
    module.write_text(POLLED)
    source_spec = spec("python", function=f"{module}:cloud", every_ms=10, mode="replace")
    started(source_spec, hub)
    wait_until(lambda: hub.table(RUN, "s") and hub.table(RUN, "s").generation >= 3, message="3")
    assert len(hub.read("s", run=RUN)["x"]) == 3  # each call is the whole content


def test_python_source_with_a_missing_function(hub: Hub, started) -> None:
    source = started(spec("python", function="tests.producers:no_such_function"), hub)
    wait_until(lambda: source.state.failures >= 1, message="a failed attempt")
    assert source.state.last_error == (
        "StreamvisError: producer 'tests.producers:no_such_function': "
        "'no_such_function' is not a function"
    )


# ---------------------------------------------------------------- kafka


def test_kafka_without_the_package_fails_with_a_clear_message(
    hub: Hub, started, caplog_sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kafka", None)  # `import kafka` raises ImportError
    source = started(spec("kafka", topic="t", bootstrap_servers="127.0.0.1:9"), hub)
    wait_until(lambda: source.state.status == "failed", message="the source failed")
    assert source.state.last_error == (
        "the kafka source needs the kafka-python package: "
        "install streamvis[kafka] (pip install 'streamvis[kafka]')"
    )
    assert source._thread is not None
    wait_until(lambda: not source._thread.is_alive(), message="no retrying")
    assert records(caplog_sources, logging.ERROR, "install streamvis[kafka]") == [
        "source 'src' (kafka t at 127.0.0.1:9) failed: the kafka source needs the "
        "kafka-python package: install streamvis[kafka] (pip install 'streamvis[kafka]'); "
        "not retrying"
    ]


# ---------------------------------------------------------------- once per process


def test_start_sources_once_per_run_and_name(tmp_path: Path, hub: Hub) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"t": 1}\n')
    port = free_port()
    layout = layout_from_dict(
        {
            "plots": [PLOT],
            "sources": [
                {"name": "log", "type": "file", "stream": "s", "path": str(path)},
                {"name": "down", "type": "tcp", "stream": "d", "host": "127.0.0.1", "port": port},
            ],
        }
    )
    run = "once-per-process"
    try:
        assert [s.spec.name for s in start_sources(layout, hub=hub, run=run)] == ["log", "down"]
        assert start_sources(layout, hub=hub, run=run) == []  # a second session: nothing new
        wait_until(lambda: hub.seq("s", run=run) == 1, message="the file's row")
        wait_until(lambda: problems(run), message="the closed port reported")
        assert problems(run)[0].startswith(
            f"source 'down' (tcp 127.0.0.1:{port}): retrying: ConnectionRefusedError"
        )
        assert [(s.name, s.records) for s in states(run)] == [("log", 1), ("down", 0)]
    finally:
        stop_registered(run)
    assert states(run) == []


def test_sv_serve_starts_the_layout_sources(tmp_path: Path, hub: Hub) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"t": 1, "v": 1.0}\n{"t": 2, "v": 4.0}\n')
    run = "served-in-process"
    layout = {
        "run": run,
        "plots": [PLOT],
        "sources": [{"name": "log", "type": "file", "stream": "s", "path": str(path)}],
    }
    server = sv.serve(layout, port=free_port(), hub=hub)
    try:
        wait_until(lambda: hub.seq("s", run=run) == 2, message="the file's rows in the hub")
        assert hub.read("s", run=run)["v"].tolist() == [1.0, 4.0]
        assert [(s.name, s.status) for s in states(run)] == [("log", "running")]
    finally:
        server.stop()
        stop_registered(run)


# ---------------------------------------------------------------- a served page


SERVED = """\
title: fed by a file
refresh_ms: 100
sources:
  - {{name: log, type: file, stream: metrics, path: {path}}}
  - {{name: down, type: tcp, stream: never, host: 127.0.0.1, port: {port}}}
  - {{name: html, type: file, stream: never, path: "{missing}"}}
plots:
  - {{id: loss, kind: line, stream: metrics, x: step, y: loss, at: [0, 0, 1, 1]}}
"""
COLUMN = """([name, column]) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model && model.data[column] ? Array.from(model.data[column]) : null;
}"""


@pytest.mark.ui
def test_served_layout_with_a_file_source_draws_its_rows(
    tmp_path: Path, panel_server, open_page
) -> None:
    feed = tmp_path / "metrics.jsonl"
    feed.write_text("".join(json.dumps({"step": i, "loss": 1 / (i + 1)}) + "\n" for i in range(3)))
    closed = free_port()
    layout = tmp_path / "layout.yaml"
    missing = tmp_path / "<b>missing.jsonl"  # markup in the message is shown as text
    layout.write_text(textwrap.dedent(SERVED.format(path=feed, port=closed, missing=missing)))
    server = panel_server(str(layout))
    open_, console = open_page

    def steps(page: Any) -> list[float] | None:
        return page.evaluate(COLUMN, ["sv:loss:loss", "step"])

    first = open_(server.url)
    wait_until(lambda: steps(first) == [0, 1, 2], message="the file's rows on the page")
    second = open_(server.url)  # a second session must not start the sources again
    append(feed, "".join(json.dumps({"step": i, "loss": 1 / (i + 1)}) + "\n" for i in range(3, 8)))
    for page in (first, second):
        wait_until(lambda p=page: steps(p) == list(range(8)), message="appended rows, once")

    status = second.locator(".sv-sources").locator("div").first  # the pane's shadow content
    wait_until(lambda: status.inner_text().count("retrying") == 2, message="failing sources")
    assert status.inner_text().splitlines() == [
        f"source 'down' (tcp 127.0.0.1:{closed}): retrying: ConnectionRefusedError: "
        "Connection refused",
        f"source 'html' (file {missing}): retrying: file not found: {missing}",
    ]  # one line per failing source; the working one ('log') is not listed
    output = server.output()
    assert f"source 'down' (tcp 127.0.0.1:{closed}) failed: ConnectionRefusedError" in output
    assert "Traceback" not in output
    assert console.errors() == []
