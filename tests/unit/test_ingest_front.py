"""Which connections the ingest loop keeps (server/ingest_loop.py): those whose first
request line asks for /api or a path under it; the rest go to Panel's loop."""

from __future__ import annotations

import pytest

from streamvis.server.ingest_loop import api_request


@pytest.mark.parametrize(
    ("head", "verdict"),
    [
        (b"POST /api/v1/runs/default/streams/s HTTP/1.1\r\n", True),
        (b"GET /api/v1/ws HTTP/1.1\r\n", True),
        (b"GET /api HTTP/1.1\r\n", True),
        (b"GET /api?x=1 HTTP/1.1\r\n", True),
        (b"GET / HTTP/1.1\r\n", False),
        (b"GET /apidocs HTTP/1.1\r\n", False),
        (b"GET /static/js/bokeh.min.js HTTP/1.1\r\n", False),
        (b"get /api/v1/runs HTTP/1.1\r\n", False),  # not a method: Panel's server refuses it
        (b"\x16\x03\x01\x02\x00\x01\x00", False),  # a TLS hello on a plain port
        (b"POS", None),  # too little to tell yet
        (b"POST /ap", None),
    ],
)
def test_a_connection_is_the_ingest_loops_when_its_first_request_is_for_api(
    head: bytes, verdict: bool | None
) -> None:
    assert api_request(head) is verdict
