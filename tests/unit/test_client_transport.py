"""sv.Client behind something that refuses large bodies without saying its limit (a proxy's
HTML 413, sent as it resets the connection, so a large body's send breaks and the answer may
never be read): the batch is split in halves rather than retried forever, and a lone row
that never gets through is reported in `client.errors`, so the rows after it still go. The
server here is a minimal loopback HTTP listener acting like such a proxy."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from streamvis import Client
from streamvis.client.transport import pieces, rows_request
from streamvis.wire import columns
from tests.conftest import wait_until

LIMIT = 20_000


class ResettingServer:
    """Answers 200 to bodies up to LIMIT bytes (keeping their JSON); to a larger one, an
    HTML 413 without a limit, then a reset without reading the body. `json_only`: a
    binary columns body gets the 415 a server older than wire/columns.py sends."""

    def __init__(self, answer: bool = True, json_only: bool = False) -> None:
        self.answer = answer  # False: reset without a word, like a server gone mid-body
        self.json_only = json_only
        self.unsupported = 0  # binary bodies answered 415
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.bodies: list[dict] = []
        self.resets = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                self._handle(connection)

    def _handle(self, connection: socket.socket) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length, binary = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                if name.strip().lower() == b"content-type":
                    binary = value.strip().decode() == columns.MEDIA_TYPE
            if length > LIMIT:  # like a proxy: a page saying 413, then a reset, body unread
                self.resets += 1
                page = b"<html><h1>413 Request Entity Too Large</h1></html>"
                head = b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/html\r\n"
                head += b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(page)
                if self.answer:
                    with contextlib.suppress(OSError):
                        connection.sendall(head + page)
                linger = struct.pack("ii", 1, 0)
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                return
            while len(buffer) < length:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
            if binary and self.json_only:
                self.unsupported += 1
                reply = b'{"error": "unsupported_media_type", "detail": "send JSON"}'
                head = b"HTTP/1.1 415 Unsupported Media Type\r\nContent-Type: application/json\r\n"
                connection.sendall(head + b"Content-Length: %d\r\n\r\n" % len(reply) + reply)
                continue
            if binary:  # numeric columns (wire/columns.py), kept as JSON would give them
                self.bodies.append({k: v.tolist() for k, v in columns.decode(body).items()})
            else:
                self.bodies.append(json.loads(body))
            reply = b'{"rows": 1}'
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(reply)).encode()
                + b"\r\n\r\n"
                + reply
            )

    def values(self, key: str) -> list:
        found = []
        for body in self.bodies:
            if isinstance(body, dict):
                found.extend(body[key])
            else:
                found.extend(row[key] for row in body)
        return found

    def close(self) -> None:
        self._stop = True
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self.listener.close()
        self._thread.join(10)


@pytest.fixture
def server() -> Iterator[ResettingServer]:
    started = ResettingServer()
    yield started
    started.close()


def test_a_batch_the_server_resets_is_split_until_it_fits(server: ResettingServer) -> None:
    client = Client(f"http://127.0.0.1:{server.port}", "r", batch_rows=1_000_000)
    try:
        client.stream("s", {"i": np.arange(600_000)})  # about 5 MB: split down to 20 kB
        assert client.flush(timeout=120)
        assert client.errors == []
        assert client.max_body < 130_000
    finally:
        client.close()
    assert server.resets >= 2
    assert server.values("i") == list(range(600_000))


def test_a_server_without_binary_columns_gets_json() -> None:
    """An older server answers 415 to the binary body: the client resends those rows as
    JSON and sends JSON from then on; nothing is lost or reported."""
    old = ResettingServer(json_only=True)
    client = Client(f"http://127.0.0.1:{old.port}", "r")
    try:
        client.stream("s", {"i": np.arange(100)})
        assert client.flush(timeout=60)
        client.stream("s", {"i": np.arange(100, 200)})
        assert client.flush(timeout=60)
        assert client.errors == []
        assert client.binary is False
    finally:
        client.close()
        old.close()
    assert old.unsupported == 1
    assert old.values("i") == list(range(200))


@pytest.mark.parametrize("size", [LIMIT * 2, 32_000_000])
def test_a_row_the_server_always_refuses_is_reported_and_the_rest_goes(
    server: ResettingServer, size: int
) -> None:
    client = Client(f"http://127.0.0.1:{server.port}", "r")
    try:
        client.stream("s", {"i": 0, "t": "x" * size})  # 32 MB: the send itself breaks
        assert client.flush(timeout=120)
        client.stream("s", {"i": 1, "t": "small"})
        assert client.flush(timeout=120)
    finally:
        client.close()
    (error,) = client.errors
    assert (error["run"], error["stream"], error["status"], error["error"]) == (
        "r",
        "s",
        413,
        "too_large",
    )
    assert f"a row of {error['bytes']} bytes is over the server's body limit" in error["detail"]
    assert error["bytes"] > size
    wait_until(lambda: server.values("i") == [1], message="the later row")


def test_a_row_whose_send_always_breaks_is_reported_after_a_second_try() -> None:
    """No answer at all, and a body far larger than the socket buffers: the send breaks on
    a fresh connection twice, which the client takes for a 413 instead of retrying forever."""
    server = ResettingServer(answer=False)
    client = Client(f"http://127.0.0.1:{server.port}", "r")
    try:
        client.stream("s", {"i": 0, "t": "x" * 64_000_000})
        assert client.flush(timeout=120)
        client.stream("s", {"i": 1, "t": "small"})
        assert client.flush(timeout=120)
    finally:
        client.close()
        server.close()
    (error,) = client.errors
    assert (error["stream"], error["status"], error["error"]) == ("s", 413, "too_large")
    assert "not stated: the server stopped reading it" in error["detail"]
    assert server.resets == 2
    wait_until(lambda: server.values("i") == [1], message="the later row")


def test_float32_columns_are_named_in_the_query_so_the_server_keeps_them() -> None:
    batch = {
        "a,b&c": np.array([0.5, 1.5], dtype=np.float32),  # a name that needs quoting
        "wide": np.array([0.5, 1.5]),
        "n": np.array([1, 2]),
    }
    request = rows_request("/api/v1/runs/r", "s", batch, "replace")
    query = parse_qs(urlsplit(request.path).query)
    assert query == {"mode": ["replace"], "float32": ["a,b&c"]}
    # a request split to fit the body limit names them in every piece
    for piece in pieces("/api/v1/runs/r", request, 2):
        assert parse_qs(urlsplit(piece.path).query)["float32"] == ["a,b&c"]
    rows = rows_request("/api/v1/runs/r", "s", [{"v": 0.5}])  # scalar rows: float64
    assert urlsplit(rows.path).query == ""
