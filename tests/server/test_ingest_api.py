"""The HTTP and websocket ingest API against a real `panel serve apps/dashboard.py
--plugins streamvis.ingest` (the documented way), driven with standard-library clients and
Tornado's websocket client only.

Covered: every body shape and read format, listing and deleting, each refusal with its exact
status and JSON error (and that it leaves stored rows untouched), a 20 MB body refused
without the server's memory growing, the ingest token, the refusal to start open on a
non-loopback address, batch dedupe, websocket ingest, and layouts PUT over HTTP that an open
page follows live, with producer text shown escaped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from streamvis.kinds import KINDS
from tests.conftest import ROOT, PanelServer, free_port, wait_until

pytestmark = [pytest.mark.server]

API = "/api/v1"
MAX_BODY = 8 * 1024 * 1024  # the default STREAMVIS_MAX_BODY
TOKEN = "s3cret-ingest-token"
REFUSAL = "refusing to serve ingest routes"
NAME_RULE = "use 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"


# ------------------------------------------------------------------------------- clients


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        assert self.headers.get("content-type") == "application/json", self
        return json.loads(self.raw)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | str | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    content_type: str | None = "application/json",
) -> Reply:
    """One request on a fresh connection; `body` as JSON text/bytes, or an iterable of
    chunks (sent with Transfer-Encoding: chunked, no Content-Length)."""
    all_headers = {"Content-Type": content_type} if content_type and body is not None else {}
    all_headers.update(headers or {})
    if isinstance(body, str):
        body = body.encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
    finally:
        connection.close()


def post(port: int, run: str, stream: str, data: Any, query: str = "", **kwargs: Any) -> Reply:
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return call(port, "POST", f"{API}/runs/{run}/streams/{stream}{query}", body, **kwargs)


def get_json(port: int, path: str, **kwargs: Any) -> Any:
    reply = call(port, "GET", path, **kwargs)
    assert reply.status == 200, reply
    return reply.json


def columns(port: int, run: str, stream: str, since: int | None = None) -> dict[str, list]:
    query = "" if since is None else f"?since={since}"
    return get_json(port, f"{API}/runs/{run}/streams/{stream}{query}")["columns"]


def iso_seconds(text: str) -> float:
    """Seconds since the epoch of an ISO time the API sent ('...Z' is UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB: resident now, and its peak."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found["VmRSS"], found["VmHWM"]


def reset_peak(pid: int) -> bool:
    """Set the process's VmHWM to its current RSS (Linux clear_refs); False if not allowed.
    A body read whole and then freed leaves RSS where it was but raises this peak."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class WsRefused(Exception):
    def __init__(self, code: int, body: bytes) -> None:
        super().__init__(code, body)
        self.code = code
        self.body = body


async def _exchange(url: str, headers: dict[str, str], frames: list[str]) -> list[Any]:
    try:
        connection = await websocket_connect(
            HTTPRequest(url, headers=headers, connect_timeout=10, request_timeout=10)
        )
    except HTTPClientError as exc:
        body = exc.response.body if exc.response is not None else b""
        raise WsRefused(exc.code, body) from None
    replies = []
    try:
        for frame in frames:
            await connection.write_message(frame)
            message = await asyncio.wait_for(connection.read_message(), 10)
            assert message is not None, "the server closed the websocket"
            replies.append(json.loads(message))
    finally:
        connection.close()
        # wait for the close handshake, so no transport is left open when the loop ends
        while await asyncio.wait_for(connection.read_message(), 10) is not None:
            pass
    return replies


def ws_exchange(
    port: int, frames: list[Any], headers: dict[str, str] | None = None, query: str = ""
) -> list[Any]:
    """Open ws://127.0.0.1:PORT/api/v1/ws, send each frame (JSON-encoded unless text) and
    return the reply to each; raises WsRefused when the handshake is refused."""
    texts = [f if isinstance(f, str) else json.dumps(f) for f in frames]
    url = f"ws://127.0.0.1:{port}{API}/ws{query}"
    # a thread of its own: Playwright's sync API may already run an event loop in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _exchange(url, headers or {}, texts)).result()


# ------------------------------------------------------------------------------- servers


def _dump_on_failure(request: pytest.FixtureRequest, server: PanelServer, before: int) -> None:
    if request.session.testsfailed > before:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\n---- panel serve log ({server.log_path}) ----")
            reporter.write_line(server.output()[-20_000:])


@pytest.fixture(scope="module")
def ingest(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[PanelServer]:
    """One server for the module: plugin mounted, no token, default body limit, no layout,
    a 64 MiB memory budget. Tests keep apart by using their own run names."""
    log = tmp_path_factory.mktemp("ingest") / "server.log"
    server = PanelServer(["--memory", "64MiB"], log, plugins=True)
    failed = request.session.testsfailed
    yield server
    server.stop()
    _dump_on_failure(request, server, failed)


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[PanelServer]:
    """A server started with STREAMVIS_TOKEN set."""
    log = tmp_path_factory.mktemp("guarded") / "server.log"
    server = PanelServer([], log, env={"STREAMVIS_TOKEN": TOKEN}, plugins=True)
    failed = request.session.testsfailed
    yield server
    server.stop()
    _dump_on_failure(request, server, failed)


# ------------------------------------------------------------------------ writing, reading


def test_post_row_rows_columns_and_ndjson_then_read_since(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("shapes")

    def expect(reply: Reply, rows: int, seq: int) -> None:
        assert reply.status == 200, reply
        assert reply.json == {"run": run, "stream": "m", "rows": rows, "seq": seq}

    # one row, a list of rows (NaN token and null), a dict of columns (Infinity), NDJSON
    expect(post(port, run, "m", {"step": 0, "loss": 1.5, "tag": "a"}), 1, 1)
    rows = '[{"step": 1, "loss": NaN, "tag": "b"}, {"step": 2, "loss": null, "tag": "c"}]'
    expect(post(port, run, "m", rows, content_type="application/json; charset=utf-8"), 2, 3)
    expect(
        post(port, run, "m", '{"step": [3, 4], "loss": [0.25, Infinity], "tag": ["d", "e"]}'), 2, 5
    )
    ndjson = '{"step": 5, "loss": 0.125, "tag": "f"}\n\n{"step": 6, "loss": -1, "tag": "g"}\n'
    expect(post(port, run, "m", ndjson, content_type="application/x-ndjson"), 2, 7)

    everything = get_json(port, f"{API}/runs/{run}/streams/m")
    assert everything == {
        "run": run,
        "stream": "m",
        "since": 0,
        "seq": 7,
        "columns": {
            "step": [0, 1, 2, 3, 4, 5, 6],
            "loss": [1.5, None, None, 0.25, None, 0.125, -1.0],  # NaN and inf -> null
            "tag": ["a", "b", "c", "d", "e", "f", "g"],
        },
    }
    newer = get_json(port, f"{API}/runs/{run}/streams/m?since=5")
    assert newer == {
        "run": run,
        "stream": "m",
        "since": 5,
        "seq": 7,
        "columns": {"step": [5, 6], "loss": [0.125, -1.0], "tag": ["f", "g"]},
    }
    assert columns(port, run, "m", since=7) == {"step": [], "loss": [], "tag": []}
    expect(post(port, run, "m", {"step": 7, "loss": 2.0, "tag": "h"}), 1, 8)
    assert columns(port, run, "m", since=7) == {"step": [7], "loss": [2.0], "tag": ["h"]}


def test_replace_mode_replaces(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("replace")
    assert post(port, run, "cloud", {"x": [1.0, 2.0, 3.0], "y": [1, 1, 1]}).json["seq"] == 3
    reply = post(port, run, "cloud", {"x": [9.0, 8.0], "y": [2, 2]}, query="?mode=replace")
    assert reply.status == 200, reply
    assert reply.json == {"run": run, "stream": "cloud", "rows": 2, "seq": 5}
    assert get_json(port, f"{API}/runs/{run}/streams/cloud") == {
        "run": run,
        "stream": "cloud",
        "since": 3,
        "seq": 5,
        "columns": {"x": [9.0, 8.0], "y": [2, 2]},
    }
    (described,) = get_json(port, f"{API}/runs/{run}/streams")["streams"]
    assert (described["mode"], described["rows"], described["generation"]) == ("replace", 2, 1)
    # replace may change the schema: it starts the stream over
    reply = post(port, run, "cloud", {"x": ["a"], "y": [0.5]}, query="?mode=replace")
    assert reply.json["rows"] == 1
    assert columns(port, run, "cloud") == {"x": ["a"], "y": [0.5]}


def test_csv_format(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("csv")
    post(port, run, "s", [{"step": 1, "loss": 0.5, "tag": "a,b"}, {"step": 2, "loss": None}])
    reply = call(port, "GET", f"{API}/runs/{run}/streams/s?format=csv")
    assert reply.status == 200, reply
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert reply.headers["x-streamvis-seq"] == "2"
    assert reply.raw.decode() == 'step,loss,tag\n1,0.5,"a,b"\n2,,\n'
    newer = call(port, "GET", f"{API}/runs/{run}/streams/s?format=csv&since=1")
    assert newer.raw.decode() == "step,loss,tag\n2,,\n"


def test_list_runs_and_streams(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("listing")
    post(port, run, "metrics", {"step": [1, 2, 3], "loss": [0.5, 0.25, 0.125]})
    post(port, run, "events", {"t": 1.5, "what": "start", "ok": True})
    before = time.time()
    listing = get_json(port, f"{API}/runs")
    memory = listing["memory"]
    assert memory["budget"] == 64 * 2**20  # --memory 64MiB reached the server's hub
    assert 0 < memory["bytes"] <= memory["budget"]
    assert memory["retain"] is None
    runs = {r["run"]: r for r in listing["runs"]}
    listed = runs[run]
    started, last_write = listed.pop("started"), listed.pop("last_write")
    assert listed == {
        "run": run,
        "streams": 2,
        "rows": 4,
        "stored_rows": 4,
        "layout": False,
        "attributes": {},
    }
    assert started.endswith("Z")
    assert started <= last_write
    assert time.time() - iso_seconds(last_write) < 60
    assert iso_seconds(started) <= before
    streams = get_json(port, f"{API}/runs/{run}/streams")
    for described in streams["streams"]:
        assert described.pop("created") <= described.pop("updated")
        assert described.pop("bytes") > 0  # memory held: the ring's chunks
    assert streams == {
        "run": run,
        "streams": [
            {
                "run": run,
                "stream": "events",
                "mode": "append",
                "columns": {"t": "numbers", "what": "text", "ok": "booleans"},
                "rows": 1,
                "seq": 1,
                "generation": 0,
                "producer_dropped": 0,
            },
            {
                "run": run,
                "stream": "metrics",
                "mode": "append",
                "columns": {"step": "integers", "loss": "numbers"},
                "rows": 3,
                "seq": 3,
                "generation": 0,
                "producer_dropped": 0,
            },
        ],
    }


def test_delete_stream_then_run(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("delete")
    post(port, run, "a", {"x": [1, 2]})
    post(port, run, "b", {"y": [3, 4, 5]})
    other = unique("keep")
    post(port, other, "a", {"x": [7]})

    reply = call(port, "DELETE", f"{API}/runs/{run}/streams/a")
    assert (reply.status, reply.json) == (200, {"run": run, "stream": "a", "cleared": 1})
    assert columns(port, run, "a") == {}
    assert columns(port, run, "b") == {"y": [3, 4, 5]}

    reply = call(port, "DELETE", f"{API}/runs/{run}/streams")
    assert (reply.status, reply.json) == (200, {"run": run, "cleared": 2})
    assert columns(port, run, "b") == {}
    described = get_json(port, f"{API}/runs/{run}/streams")["streams"]
    assert [(d["stream"], d["rows"]) for d in described] == [("a", 0), ("b", 0)]
    assert columns(port, other, "a") == {"x": [7]}, "another run was cleared too"
    # a cleared stream takes new rows, with any schema
    assert post(port, run, "a", {"x": ["text now"]}).status == 200
    assert columns(port, run, "a") == {"x": ["text now"]}

    # deleting the run forgets it entirely
    reply = call(port, "DELETE", f"{API}/runs/{run}")
    assert (reply.status, reply.json) == (200, {"run": run, "deleted": 2})
    assert run not in {r["run"] for r in get_json(port, f"{API}/runs")["runs"]}
    assert call(port, "GET", f"{API}/runs/{run}/streams").status == 404
    reply = call(port, "DELETE", f"{API}/runs/{run}")
    assert reply.status == 404
    assert reply.json["error"] == "not_found"
    assert columns(port, other, "a") == {"x": [7]}, "another run was deleted too"


# ------------------------------------------------------------------------------ refusals


@dataclass
class Bad:
    """A refused request against run RUN (seeded with two rows in stream `s`)."""

    method: str
    path: str  # {run} is filled in
    body: bytes | Callable[[], Iterable[bytes]] | None
    status: int
    error: dict[str, Any]  # {run} in values is filled in
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    headers_only: int | None = None  # send just the headers, with this Content-Length


SEED = {"step": [1, 2], "loss": [0.5, 0.25]}


def _over_limit_chunks() -> Iterator[bytes]:
    """8 MiB + 13 bytes of JSON, in 1 MiB chunks."""
    yield b'{"step": ['
    filler = b"1," * (1024 * 1024 // 2)
    for _ in range(8):
        yield filler
    yield b"1]}"


OVER_LIMIT = sum(len(chunk) for chunk in _over_limit_chunks())


def _media(kind: str) -> str:
    return (
        "send Content-Type: application/json, application/x-ndjson or (numeric columns) "
        f"application/x-streamvis-columns, not {kind!r}"
    )


def _too_large(size: int) -> str:
    return (
        f"body of {size} bytes is over the limit of {MAX_BODY} bytes (STREAMVIS_MAX_BODY); "
        "send smaller batches"
    )


STREAM = "/api/v1/runs/{run}/streams/s"
BAD_INPUTS = {
    "malformed_json": Bad(
        "POST",
        STREAM,
        b'{"step": 3,',
        400,
        {
            "error": "invalid_json",
            "detail": "body is not valid JSON: Expecting property name enclosed in double quotes"
            " (line 1, column 12)",
            "run": "{run}",
            "stream": "s",
        },
    ),
    "malformed_ndjson_line": Bad(
        "POST",
        STREAM,
        b'{"step": 3, "loss": 1.0}\n{"step":4,\n',
        400,
        {
            "error": "invalid_json",
            "detail": "line 2 is not valid JSON: Expecting property name enclosed in double"
            " quotes (line 1, column 11)",
            "run": "{run}",
            "stream": "s",
        },
        content_type="application/x-ndjson",
    ),
    "text_into_numeric_column": Bad(
        "POST",
        STREAM,
        b'{"step": 3, "loss": "high"}',
        422,
        {
            "error": "invalid_data",
            "detail": "run '{run}', stream 's', column 'loss': expected numbers, got text"
            " ('high')",
            "run": "{run}",
            "stream": "s",
            "column": "loss",
        },
    ),
    "text_in_one_of_many_rows": Bad(
        "POST",
        STREAM,
        b'[{"step": 3, "loss": 1.0}, {"step": 4, "loss": "high"}]',
        422,
        {
            "error": "invalid_data",
            "detail": "run '{run}', stream 's', column 'loss': mixes numbers and text in one"
            " column",
            "run": "{run}",
            "stream": "s",
            "column": "loss",
        },
    ),
    "ragged_columns": Bad(
        "POST",
        STREAM,
        b'{"step": [3, 4], "loss": [1.0]}',
        422,
        {
            "error": "invalid_data",
            "detail": "run '{run}', stream 's': ragged columns: lengths {'step': 2, 'loss': 1}",
            "run": "{run}",
            "stream": "s",
        },
    ),
    "invalid_mode": Bad(
        "POST",
        STREAM + "?mode=upsert",
        b'{"step": 3, "loss": 1.0}',
        400,
        {
            "error": "invalid_mode",
            "detail": "mode must be 'append' or 'replace', not 'upsert'",
            "run": "{run}",
            "stream": "s",
        },
    ),
    "run_name_with_space": Bad(
        "POST",
        "/api/v1/runs/bad%20name/streams/s",
        b'{"step": 3, "loss": 1.0}',
        400,
        {
            "error": "invalid_name",
            "detail": f"run name 'bad name' is not allowed: {NAME_RULE}",
            "run": "bad name",
            "stream": "s",
        },
    ),
    "stream_name_with_slash": Bad(
        "POST",
        "/api/v1/runs/{run}/streams/a%2Fb",
        b'{"step": 3, "loss": 1.0}',
        400,
        {
            "error": "invalid_name",
            "detail": f"stream name 'a/b' is not allowed: {NAME_RULE}",
            "run": "{run}",
            "stream": "a/b",
        },
    ),
    "stream_name_dot_dot": Bad(
        "GET",
        "/api/v1/runs/{run}/streams/..",
        None,
        400,
        {
            "error": "invalid_name",
            "detail": f"stream name '..' is not allowed: {NAME_RULE}",
            "run": "{run}",
            "stream": "..",
        },
    ),
    "too_large_streamed": Bad(
        "POST",
        STREAM,
        _over_limit_chunks,
        413,
        {
            "error": "too_large",
            "detail": _too_large(OVER_LIMIT),
            "run": "{run}",
            "stream": "s",
            "limit": MAX_BODY,
        },
    ),
    "too_large_declared": Bad(
        "POST",
        STREAM,
        None,
        413,
        {
            "error": "too_large",
            "detail": _too_large(MAX_BODY + 1),
            "run": "{run}",
            "stream": "s",
            "limit": MAX_BODY,
        },
        headers_only=MAX_BODY + 1,
    ),
    "cross_site_form_text_plain": Bad(
        "POST",
        STREAM,
        b'{"step": 3, "loss": 1.0}',
        415,
        {
            "error": "unsupported_media_type",
            "detail": _media("text/plain"),
            "run": "{run}",
            "stream": "s",
        },
        content_type="text/plain",
    ),
    "cross_site_form_urlencoded": Bad(
        "POST",
        STREAM,
        b"step=3&loss=1.0",
        415,
        {
            "error": "unsupported_media_type",
            "detail": _media("application/x-www-form-urlencoded"),
            "run": "{run}",
            "stream": "s",
        },
        content_type="application/x-www-form-urlencoded",
    ),
    "no_content_type": Bad(
        "POST",
        STREAM,
        b'{"step": 3, "loss": 1.0}',
        415,
        {
            "error": "unsupported_media_type",
            "detail": _media("nothing"),
            "run": "{run}",
            "stream": "s",
        },
        content_type=None,
    ),
    "foreign_host_post": Bad(
        "POST",
        STREAM,
        b'{"step": 3, "loss": 1.0}',
        403,
        {"error": "forbidden_host", "detail": "Host 'evil.example' is not served here"},
        headers={"Host": "evil.example"},
    ),
    "foreign_host_read": Bad(
        "GET",
        STREAM,
        None,
        403,
        {"error": "forbidden_host", "detail": "Host 'evil.example:80' is not served here"},
        headers={"Host": "evil.example:80"},
    ),
    "foreign_host_delete_run": Bad(
        "DELETE",
        "/api/v1/runs/{run}",
        None,
        403,
        {"error": "forbidden_host", "detail": "Host 'localhost.evil.example' is not served here"},
        headers={"Host": "localhost.evil.example"},
    ),
    "unknown_stream": Bad(
        "GET",
        "/api/v1/runs/{run}/streams/nope",
        None,
        404,
        {
            "error": "not_found",
            "detail": "run '{run}' has no stream 'nope'",
            "run": "{run}",
            "stream": "nope",
        },
    ),
    "unknown_run_streams": Bad(
        "GET",
        "/api/v1/runs/no-such-run/streams",
        None,
        404,
        {"error": "not_found", "detail": "no run 'no-such-run'", "run": "no-such-run"},
    ),
    "unknown_run_stream": Bad(
        "GET",
        "/api/v1/runs/no-such-run/streams/s",
        None,
        404,
        {
            "error": "not_found",
            "detail": "run 'no-such-run' has no stream 's'",
            "run": "no-such-run",
            "stream": "s",
        },
    ),
    "float32_names_a_text_column": Bad(
        "POST",
        STREAM + "?float32=loss",
        b'{"step": 3, "loss": "high"}',
        422,
        {
            "error": "invalid_data",
            "detail": "run '{run}', stream 's', column 'loss': named as float32 but holds text;"
            " only numbers can be stored as float32",
            "run": "{run}",
            "stream": "s",
            "column": "loss",
        },
    ),
    "float32_names_a_column_not_sent": Bad(
        "POST",
        STREAM + "?float32=loss&float32=gone",
        b'{"step": 3, "loss": 0.5}',
        422,
        {
            "error": "invalid_data",
            "detail": "run '{run}', stream 's', column 'gone': named as float32 but the data"
            " lacks it",
            "run": "{run}",
            "stream": "s",
            "column": "gone",
        },
    ),
    "float32_value_past_its_range": Bad(
        "POST",
        STREAM + "?float32=loss",
        b'{"step": [3, 4], "loss": [0.5, -1e39]}',
        422,
        {
            "error": "invalid_data",
            "detail": "run '{run}', stream 's', column 'loss': -1e+39 is outside the float32"
            " range (+-3.403e+38); send the column as float64",
            "run": "{run}",
            "stream": "s",
            "column": "loss",
        },
    ),
    "since_not_a_number": Bad(
        "GET",
        STREAM + "?since=yesterday",
        None,
        400,
        {
            "error": "invalid_query",
            "detail": "since must be a whole number from 0 to 9223372036854775807, not"
            " 'yesterday'",
            "run": "{run}",
            "stream": "s",
        },
    ),
}


def _fill(value: Any, run: str) -> Any:
    if isinstance(value, str):
        return value.replace("{run}", run)
    if isinstance(value, dict):
        return {k: _fill(v, run) for k, v in value.items()}
    return value


def send_bad(port: int, bad: Bad, run: str) -> Reply:
    path = _fill(bad.path, run)
    if bad.headers_only is None:
        body = bad.body() if callable(bad.body) else bad.body
        return call(port, bad.method, path, body, bad.headers, bad.content_type)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(bad.method, path)
        connection.putheader("Content-Type", bad.content_type or "")
        connection.putheader("Content-Length", str(bad.headers_only))
        connection.endheaders()  # and no body: the server must answer from the headers
        response = connection.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_changes_nothing(ingest: PanelServer, case: str) -> None:
    port, run, bad = ingest.port, unique("bad"), BAD_INPUTS[case]
    assert post(port, run, "s", SEED).status == 200
    before = get_json(port, f"{API}/runs/{run}/streams")

    reply = send_bad(port, bad, run)
    assert reply.status == bad.status, reply
    assert reply.json == _fill(bad.error, run)

    assert get_json(port, f"{API}/runs/{run}/streams") == before
    assert columns(port, run, "s") == SEED
    # ...and the server still serves: a valid write works right after
    reply = post(port, run, "s", {"step": 3, "loss": 0.125})
    assert (reply.status, reply.json["rows"], reply.json["seq"]) == (200, 1, 3)


@pytest.mark.parametrize(
    "case",
    ["malformed_json", "cross_site_form_text_plain", "no_content_type", "too_large_streamed"],
)
def test_body_errors_name_the_run_and_stream(ingest: PanelServer, case: str) -> None:
    run = unique("where")
    reply = send_bad(ingest.port, BAD_INPUTS[case], run)
    assert reply.status == BAD_INPUTS[case].status
    assert (reply.json.get("run"), reply.json.get("stream")) == (run, "s")


def test_refused_first_write_leaves_no_trace(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("ghost")
    reply = post(port, run, "s", {"step": [1, 2], "loss": [0.5]})
    assert reply.status == 422
    assert run not in [r["run"] for r in get_json(port, f"{API}/runs")["runs"]]
    assert call(port, "GET", f"{API}/runs/{run}/streams").status == 404


def test_refusals_are_logged_in_one_line_without_traceback(ingest: PanelServer) -> None:
    run = unique("logged")
    assert post(ingest.port, run, "s", {"x": [1, 2], "y": [3]}).status == 422
    line = (
        f"POST /api/v1/runs/{run}/streams/s -> 422: run '{run}', stream 's': ragged columns: "
        "lengths {'x': 2, 'y': 1}"
    )
    wait_until(lambda: line in ingest.output(), message="refusal logged")
    assert "Traceback" not in ingest.output()


def test_twenty_megabyte_body_is_refused_without_memory_growth(ingest: PanelServer) -> None:
    port, pid = ingest.port, ingest.process.pid
    run = unique("big")
    assert post(port, run, "s", {"x": [1.0]}).status == 200  # warm up the write path
    peak_known = reset_peak(pid)
    rss_before, peak_before = memory_kib(pid)
    size = 20_000_000
    too_large = {
        "error": "too_large",
        "detail": _too_large(size),
        "run": run,
        "stream": "s",
        "limit": MAX_BODY,
    }

    # 1. only the headers: the server answers 413 from Content-Length, never reading a body
    reply = send_bad(port, Bad("POST", STREAM, None, 413, too_large, headers_only=size), run)
    assert (reply.status, reply.json) == (413, too_large)

    # 2. the whole body, streamed in chunks with no Content-Length: read and dropped
    def chunks() -> Iterator[bytes]:
        piece = b"1," * 500_000  # 1 MB
        yield b'{"x": ['
        for _ in range(19):
            yield piece
        yield b"1," * (500_000 - 5) + b"1]}"

    assert sum(len(c) for c in chunks()) == size
    reply = call(port, "POST", f"{API}/runs/{run}/streams/s", chunks())
    assert (reply.status, reply.json) == (413, too_large)

    # 3. the whole body with Content-Length: the server may answer 413 and close early
    body = b'{"x": [' + b"1," * (size // 2 - 5) + b"1]}"
    assert len(body) == size
    try:
        reply = call(port, "POST", f"{API}/runs/{run}/streams/s", body)
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused while we were still sending
    else:
        assert (reply.status, reply.json) == (413, too_large)

    rss_after, peak_after = memory_kib(pid)
    assert rss_after - rss_before < 10 * 1024, f"RSS grew by {rss_after - rss_before} KiB"
    if peak_known:  # also no passing spike: a body buffered whole, then freed, shows here
        assert peak_after - peak_before < 10 * 1024, f"peak RSS +{peak_after - peak_before} KiB"
    assert columns(port, run, "s") == {"x": [1.0]}
    reply = post(port, run, "s", {"x": 2.0})
    assert (reply.status, reply.json["seq"]) == (200, 2)


# ----------------------------------------------------------------------- batch dedupe


def test_retried_batch_is_stored_once(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("dedupe")
    row = {"step": 1, "loss": 0.5}
    first = post(port, run, "s", row, headers={"X-Streamvis-Batch": "c:1"})
    assert first.json == {"run": run, "stream": "s", "rows": 1, "seq": 1}
    again = post(port, run, "s", row, headers={"X-Streamvis-Batch": "c:1"})
    assert (again.status, again.json) == (
        200,
        {"run": run, "stream": "s", "rows": 0, "seq": 1, "duplicate": True},
    )
    assert columns(port, run, "s") == {"step": [1], "loss": [0.5]}

    # a refused batch is not remembered: its corrected retry is stored
    refused = post(port, run, "s", {"step": 2, "loss": "x"}, headers={"X-Streamvis-Batch": "c:2"})
    assert refused.status == 422
    fixed = post(port, run, "s", {"step": 2, "loss": 0.25}, headers={"X-Streamvis-Batch": "c:2"})
    assert fixed.json == {"run": run, "stream": "s", "rows": 1, "seq": 2}
    assert columns(port, run, "s") == {"step": [1, 2], "loss": [0.5, 0.25]}


@pytest.mark.parametrize("via", ["http_header", "websocket_id"])
def test_same_batch_id_for_another_stream_is_stored(ingest: PanelServer, via: str) -> None:
    port = ingest.port
    first_run, second_run, batch = unique("first"), unique("second"), unique("id")
    if via == "http_header":
        for run in (first_run, second_run):
            post(port, run, "s", {"x": 1.0}, headers={"X-Streamvis-Batch": batch})
    else:  # two producers, each numbering its messages from "1" on its own connection
        for run in (first_run, second_run):
            ws_exchange(port, [{"id": batch, "run": run, "stream": "s", "data": {"x": 1.0}}])
    assert columns(port, first_run, "s") == {"x": [1.0]}
    assert columns(port, second_run, "s") == {"x": [1.0]}


# ---------------------------------------------------------------------------- websocket


def test_websocket_ingest_single_and_listed_messages(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("ws")
    ids = [unique("m") for _ in range(3)]  # ids double as batch ids server-wide: keep unique
    single, listed = ws_exchange(
        port,
        [
            {"id": ids[0], "run": run, "stream": "s", "data": {"x": [1, 2], "y": [0.5, 0.25]}},
            [
                {"id": ids[1], "run": run, "stream": "s", "data": {"x": 3, "y": 0.125}},
                {"id": ids[2], "run": run, "stream": "t", "data": [{"z": "a"}, {"z": "b"}]},
            ],
        ],
    )
    assert single == {"id": ids[0], "ok": True, "run": run, "stream": "s", "rows": 2, "seq": 2}
    assert listed == [
        {"id": ids[1], "ok": True, "run": run, "stream": "s", "rows": 1, "seq": 3},
        {"id": ids[2], "ok": True, "run": run, "stream": "t", "rows": 2, "seq": 2},
    ]
    assert columns(port, run, "s") == {"x": [1, 2, 3], "y": [0.5, 0.25, 0.125]}
    assert columns(port, run, "t") == {"z": ["a", "b"]}
    # replace over the websocket
    (replaced,) = ws_exchange(
        port,
        [{"id": unique("m"), "run": run, "stream": "s", "mode": "replace", "data": {"x": [9]}}],
    )
    assert (replaced["ok"], replaced["rows"], replaced["seq"]) == (True, 1, 4)
    assert columns(port, run, "s") == {"x": [9]}


def test_float32_columns_stay_float32_over_http_and_websocket(ingest: PanelServer) -> None:
    """JSON numbers are float64; columns named `float32` are stored as float32 again."""
    port, run = ingest.port, unique("f32")
    tenth = float(np.float32(0.1))  # 0.10000000149011612: a float32 value, exact in JSON
    assert post(port, run, "h", {"step": [1, 2], "v": [tenth, -2.5]}, "?float32=v").status == 200
    message = {"id": unique("m"), "run": run, "stream": "w", "data": {"v": 0.5}}
    (sent,) = ws_exchange(port, [{**message, "float32": ["v"]}])
    assert sent["ok"], sent
    (refused,) = ws_exchange(port, [{**message, "id": unique("m"), "float32": "v"}])
    assert (refused["ok"], refused["error"]) == (False, "invalid_data")
    assert "float32 must be a list of column names" in refused["detail"]

    def described() -> dict[str, dict[str, str]]:
        listed = get_json(port, f"{API}/runs/{run}/streams")["streams"]
        return {stream["stream"]: stream["columns"] for stream in listed}

    assert described() == {"h": {"step": "integers", "v": "float32"}, "w": {"v": "float32"}}
    assert columns(port, run, "h") == {"step": [1, 2], "v": [tenth, -2.5]}
    assert columns(port, run, "w") == {"v": [0.5]}
    # a float64 value (any JSON number not named float32) widens the column
    assert post(port, run, "h", {"step": 3, "v": 0.1}).status == 200
    assert described()["h"] == {"step": "integers", "v": "numbers"}
    assert columns(port, run, "h") == {"step": [1, 2, 3], "v": [tenth, -2.5, 0.1]}


def test_websocket_invalid_messages_get_errors_and_change_nothing(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("wsbad")
    assert post(port, run, "s", SEED).status == 200
    good, bad = unique("m"), unique("m")
    replies = ws_exchange(
        port,
        [
            {"id": bad, "run": run, "stream": "s", "data": {"step": 3, "loss": "high"}},
            "{not json",
            {"id": 7, "run": run, "stream": "s", "data": {"step": [3, 4], "loss": [1.0]}},
            {"id": 8, "run": run, "stream": "bad name", "data": {"x": 1}},
            {"id": 9, "op": "drop", "run": run},
            [5, {"id": 10, "run": run, "stream": "s", "mode": "merge", "data": {"step": 3}}],
            {"id": good, "run": run, "stream": "s", "data": {"step": 3, "loss": 0.125}},
        ],
    )
    assert replies[0] == {
        "id": bad,
        "ok": False,
        "error": "invalid_data",
        "detail": f"run '{run}', stream 's', column 'loss': expected numbers, got text ('high')",
        "run": run,
        "stream": "s",
        "column": "loss",
    }
    assert replies[1] == {
        "ok": False,
        "error": "invalid_json",
        "detail": "message is not valid JSON: Expecting property name enclosed in double "
        "quotes (line 1, column 2)",
    }
    assert replies[2] == {
        "id": 7,
        "ok": False,
        "error": "invalid_data",
        "detail": f"run '{run}', stream 's': ragged columns: lengths {{'step': 2, 'loss': 1}}",
        "run": run,
        "stream": "s",
    }
    assert replies[3] == {
        "id": 8,
        "ok": False,
        "error": "invalid_name",
        "detail": f"stream name 'bad name' is not allowed: {NAME_RULE}",
        "run": run,
        "stream": "bad name",
    }
    assert replies[4] == {
        "id": 9,
        "ok": False,
        "error": "invalid_op",
        "detail": "op must be stream, clear, layout, attributes or delete_run, not 'drop'",
    }
    assert replies[5] == [
        {"ok": False, "error": "invalid_message", "detail": "each message is an object"},
        {
            "id": 10,
            "ok": False,
            "error": "invalid_mode",
            "detail": "mode must be 'append' or 'replace', not 'merge'",
            "run": run,
            "stream": "s",
        },
    ]
    # the connection survived every refusal, and only the valid message was stored
    assert replies[6] == {"id": good, "ok": True, "run": run, "stream": "s", "rows": 1, "seq": 3}
    assert columns(port, run, "s") == {"step": [1, 2, 3], "loss": [0.5, 0.25, 0.125]}


LINE_LAYOUT = {
    "title": "over the socket",
    "plots": [{"id": "m", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, 0, 1, 1]}],
}


def test_websocket_clear_and_layout_ops(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("wsops")
    post(port, run, "s", {"x": [1, 2], "y": [3, 4]})
    post(port, run, "t", {"x": [5]})
    cleared, layout, bad_layout, cleared_run = ws_exchange(
        port,
        [
            {"id": "c", "op": "clear", "run": run, "stream": "s"},
            {"id": "l", "op": "layout", "run": run, "layout": LINE_LAYOUT},
            {"id": "b", "op": "layout", "run": run, "layout": {"plots": []}},
            {"id": "r", "op": "clear", "run": run},
        ],
    )
    assert cleared == {"id": "c", "ok": True, "run": run, "stream": "s", "cleared": 1}
    assert (layout["id"], layout["ok"], layout["run"]) == ("l", True, run)
    assert isinstance(layout["version"], int)
    assert bad_layout == {
        "id": "b",
        "ok": False,
        "error": "invalid_layout",
        "detail": f"layout of run '{run}': plots: 'plots' must be a non-empty list of plots",
        "run": run,
    }
    assert cleared_run == {"id": "r", "ok": True, "run": run, "cleared": 2}
    assert columns(port, run, "s") == {}
    assert columns(port, run, "t") == {}
    stored = get_json(port, f"{API}/runs/{run}/layout")
    assert (stored["title"], stored["run"], stored["plots"][0]["id"]) == (
        "over the socket",
        run,
        "m",
    )


def test_websocket_from_a_foreign_origin_or_host_is_refused(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("wsorigin")
    message = {"id": unique("m"), "run": run, "stream": "s", "data": {"x": 1}}
    with pytest.raises(WsRefused) as refused:
        ws_exchange(port, [message], headers={"Origin": "http://evil.example"})
    assert refused.value.code == 403
    with pytest.raises(WsRefused) as refused:
        ws_exchange(port, [message], headers={"Host": "evil.example"})
    assert refused.value.code == 403
    assert call(port, "GET", f"{API}/runs/{run}/streams").status == 404, "a refused socket wrote"
    # the page's own origin is welcome
    (reply,) = ws_exchange(port, [message], headers={"Origin": f"http://127.0.0.1:{port}"})
    assert (reply["ok"], reply["rows"]) == (True, 1)


# ------------------------------------------------------------------------------ layouts


def test_put_layout_validates_and_locates_errors(ingest: PanelServer) -> None:
    port, run = ingest.port, unique("layout")
    path = f"{API}/runs/{run}/layout"
    missing = call(port, "GET", path)
    assert (missing.status, missing.json) == (
        404,
        {"error": "not_found", "detail": f"run '{run}' has no layout", "run": run},
    )
    typo = {
        "plots": [
            {"id": "m", "kind": "lnie", "stream": "s", "x": "x", "y": "y", "at": [0, 0, 1, 1]}
        ]
    }
    reply = call(port, "PUT", path, json.dumps(typo))
    assert (reply.status, reply.json) == (
        422,
        {
            "error": "invalid_layout",
            "detail": f"layout of run '{run}': plots.m.kind: unknown kind 'lnie'. Did you mean "
            f"'line'? Kinds: {', '.join(KINDS)}.",
            "run": run,
        },
    )
    overlap = {
        "plots": [
            {"id": "m", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, 0, 1, 1]},
            {"id": "n", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, 0, 1, 1]},
        ]
    }
    reply = call(port, "PUT", path, json.dumps(overlap))
    assert reply.status == 422
    assert reply.json["detail"].startswith(
        f"layout of run '{run}': plots.n.at: overlaps plot 'm' at row 0, column 0"
    )
    reply = call(port, "PUT", path, json.dumps({**LINE_LAYOUT, "run": "elsewhere"}))
    assert (reply.status, reply.json["detail"]) == (
        422,
        f"the layout names run 'elsewhere' but was sent for run '{run}'",
    )
    reply = call(port, "PUT", path, "[1, 2]")
    assert (reply.status, reply.json["detail"]) == (
        422,
        "a layout must be a JSON object with 'plots'",
    )
    assert call(port, "GET", path).status == 404, "a refused layout was stored"

    reply = call(port, "PUT", path, json.dumps(LINE_LAYOUT))
    assert reply.status == 200, reply
    version = reply.json["version"]
    assert reply.json == {"run": run, "version": version}
    assert get_json(port, path) == {
        "title": "over the socket",
        "refresh_ms": 50,
        "run": run,
        "plots": [
            {
                "id": "m",
                "kind": "line",
                "stream": "s",
                "at": [0, 0, 1, 1],
                "options": {},
                "x": "x",
                "y": ["y"],
            }
        ],
    }
    listed = {r["run"]: r for r in get_json(port, f"{API}/runs")["runs"]}[run]
    assert (listed["streams"], listed["rows"], listed["layout"]) == (0, 0, True)
    assert call(port, "PUT", path, json.dumps(LINE_LAYOUT)).json["version"] > version


# -------------------------------------------------------------------------------- token


def test_token_is_required_over_http(guarded: PanelServer) -> None:
    port, run = guarded.port, unique("tok")
    unauthorized = {
        "error": "unauthorized",
        "detail": "missing or wrong ingest token: send 'Authorization: Bearer TOKEN'",
    }
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        reply = post(port, run, "s", {"x": 1}, headers=headers)
        assert (reply.status, reply.json) == (401, unauthorized), headers
        reply = call(port, "GET", f"{API}/runs", headers=headers)
        assert (reply.status, reply.json) == (401, unauthorized), headers
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listed = get_json(port, f"{API}/runs", headers=auth)["runs"]
    assert run not in [r["run"] for r in listed], "a refused post was stored"
    reply = post(port, run, "s", {"x": 1}, headers=auth)
    assert (reply.status, reply.json) == (200, {"run": run, "stream": "s", "rows": 1, "seq": 1})
    assert get_json(port, f"{API}/runs/{run}/streams/s", headers=auth)["columns"] == {"x": [1]}


def test_token_is_required_over_websocket(guarded: PanelServer) -> None:
    port, run = guarded.port, unique("wstok")

    def message() -> dict[str, Any]:
        return {"id": unique("m"), "run": run, "stream": "s", "data": {"x": 1}}

    for query, headers in (("", {}), ("?token=wrong", {}), ("", {"Authorization": "Bearer x"})):
        with pytest.raises(WsRefused) as refused:
            ws_exchange(port, [message()], headers=headers, query=query)
        assert refused.value.code == 401
        assert json.loads(refused.value.body)["error"] == "unauthorized"
    (by_query,) = ws_exchange(port, [message()], query=f"?token={TOKEN}")
    (by_header,) = ws_exchange(port, [message()], headers={"Authorization": f"Bearer {TOKEN}"})
    assert (by_query["ok"], by_query["seq"]) == (True, 1)
    assert (by_header["ok"], by_header["seq"]) == (True, 2)


# --------------------------------------------------------------- refusing to start open


def _env_without_token() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STREAMVIS_")}


def _panel_serve(*flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "panel", "serve", str(ROOT / "apps" / "dashboard.py")]
    command += ["--plugins", "streamvis.ingest", "--port", str(free_port()), *flags, "--args"]
    return subprocess.run(
        command, cwd=ROOT, env=_env_without_token(), capture_output=True, text=True, timeout=60
    )


def test_refuses_to_start_on_every_interface_without_token() -> None:
    done = _panel_serve()
    assert done.returncode != 0
    assert (
        "streamvis: refusing to serve ingest routes on every interface (no --address given) "
        "without a token." in done.stderr
    ), done.stderr


def test_refuses_to_start_on_a_public_address_without_token() -> None:
    done = _panel_serve("--address", "0.0.0.0")
    assert done.returncode != 0
    assert "streamvis: refusing to serve ingest routes on 0.0.0.0 without a token." in done.stderr
    assert "Set STREAMVIS_TOKEN" in done.stderr


def test_starts_on_a_public_address_with_a_token(panel_server) -> None:
    # binds 0.0.0.0 only for the moment it takes to check it; the client uses 127.0.0.1
    server = panel_server(
        plugins=True, extra=["--address", "0.0.0.0"], env={"STREAMVIS_TOKEN": TOKEN}
    )
    assert REFUSAL not in server.output()
    assert call(server.port, "GET", f"{API}/runs").status == 401
    listing = get_json(server.port, f"{API}/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert listing["runs"] == []


def test_streamvis_serve_on_a_public_address_without_token_exits_2(tmp_path: Path) -> None:
    layout = tmp_path / "layout.yaml"
    layout.write_text("plots:\n  - {id: m, kind: line, stream: s, x: x, y: y, at: [0, 0, 1, 1]}\n")
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("streamvis")),
            "serve",
            str(layout),
            "--address",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        env=_env_without_token(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "streamvis serve: --address 0.0.0.0 is reachable from other machines; give --token "
        "(or STREAMVIS_TOKEN) so only your producers can write.\n"
    )


# ---------------------------------------------------------------- the page follows PUTs

# Reachable from the document's roots: BokehJS keeps models that left the page in
# `get_model_by_name` until a lazy recompute (up to 30 s later), so "gone" is asked this way.
HAS_MODEL = """(name) => {
    for (const root of Bokeh.documents[0].roots())
        for (const model of root.references())
            if (model.name === name) return true;
    return false;
}"""
COLUMN = """([name, column]) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model && model.data[column] ? Array.from(model.data[column]) : null;
}"""


def has_model(page: Any, name: str) -> bool:
    return page.evaluate(HAS_MODEL, name)


def column(page: Any, name: str, col: str) -> list | None:
    return page.evaluate(COLUMN, [name, col])


def one_plot_layout(plot_id: str, title: str, kind: str = "line") -> str:
    plot = {"id": plot_id, "kind": kind, "stream": "metrics", "x": "step", "y": "loss"}
    return json.dumps({"title": title, "refresh_ms": 100, "plots": [{**plot, "at": [0, 0, 1, 1]}]})


@pytest.mark.ui
def test_open_page_rearranges_itself_when_a_layout_is_put(panel_server, open_page) -> None:
    run = unique("live")
    server = panel_server("--run", run, plugins=True)
    port, layout_path = server.port, f"{API}/runs/{run}/layout"
    open_, console = open_page
    page = open_(server.url)
    waiting = page.get_by_text(f"waiting for a layout for run '{run}'")
    wait_until(lambda: waiting.count() == 1, message="the 'waiting for a layout' note")
    assert not has_model(page, "sv-figure:first")
    page.evaluate("() => { window.svNoReload = true; }")

    reply = call(port, "PUT", layout_path, one_plot_layout("first", "first layout"))
    assert (reply.status, reply.json) == (200, {"run": run, "version": 1})
    wait_until(lambda: has_model(page, "sv-figure:first"), message="figure of the first layout")
    wait_until(lambda: waiting.count() == 0, message="the note gone")
    assert post(port, run, "metrics", {"step": [0, 1, 2], "loss": [1.0, 0.5, 0.25]}).status == 200
    wait_until(
        lambda: column(page, "sv:first:loss", "loss") == [1.0, 0.5, 0.25],
        message="rows posted after the layout reach the figure",
    )
    assert column(page, "sv:first:loss", "step") == [0, 1, 2]
    assert page.get_by_text("first layout").count() == 1

    reply = call(port, "PUT", layout_path, one_plot_layout("second", "second layout", "scatter"))
    assert (reply.status, reply.json) == (200, {"run": run, "version": 2})
    wait_until(lambda: has_model(page, "sv-figure:second"), message="figure of the second layout")
    wait_until(lambda: not has_model(page, "sv-figure:first"), message="first figure removed")
    wait_until(lambda: page.get_by_text("second layout").count() == 1, message="new title")
    assert page.get_by_text("first layout").count() == 0
    assert post(port, run, "metrics", {"step": 3, "loss": 0.125}).status == 200
    wait_until(
        lambda: column(page, "sv:second:loss", "loss") == [1.0, 0.5, 0.25, 0.125],
        message="kept and new rows in the second figure",
    )
    assert page.evaluate("() => window.svNoReload") is True, "the page was reloaded"
    assert console.errors() == [], console.messages


@pytest.mark.ui
def test_producer_text_in_a_layout_is_shown_escaped(panel_server, open_page) -> None:
    run = unique("xss")
    server = panel_server("--run", run, plugins=True)
    title = "<img src=x onerror=alert(1)>"
    open_, console = open_page
    page = open_(server.url)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    reply = call(server.port, "PUT", f"{API}/runs/{run}/layout", one_plot_layout("p", title))
    assert reply.status == 200, reply
    wait_until(lambda: has_model(page, "sv-figure:p"), message="figure of the layout")
    shown = page.get_by_text(title, exact=True)
    wait_until(lambda: shown.count() == 1, message="title shown as literal text")
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("img").count() == 0
    assert dialogs == []
    assert console.errors() == [], console.messages
