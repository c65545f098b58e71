"""`sv.Client` against a real server with a small body limit (STREAMVIS_MAX_BODY=64 KiB): a
batch over the limit is split and stored whole, in order; a single row over it is reported in
`client.errors` (run, stream, size) and the rows after it still arrive; rows still queued
when the client closes with the server unreachable are reported, never dropped silently."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamvis import Client
from tests.conftest import PanelServer, free_port
from tests.server.test_durability import get_stream

pytestmark = [pytest.mark.server]

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    log = tmp_path_factory.mktemp("limit") / "server.log"
    server = PanelServer([], log, env={"STREAMVIS_MAX_BODY": str(LIMIT)}, plugins=True)
    yield server
    server.stop()


def delivered(client: Client) -> None:
    assert client.flush(timeout=120), "the client did not deliver within two minutes"


def test_a_batch_over_the_limit_is_split_and_stored_whole(small_limit: PanelServer) -> None:
    client = Client(f"http://127.0.0.1:{small_limit.port}", "split")
    try:
        steps = np.arange(30_000)
        client.stream("s", {"step": steps, "v": steps * 0.5})  # about 10x the limit
        delivered(client)
        assert client.errors == []
        assert client.max_body == LIMIT  # learnt from the server's 413
        assert client.sent_rows == 30_000
    finally:
        client.close()
    data = get_stream(small_limit.port, "split", "s")
    assert data["seq"] == 30_000
    assert data["columns"]["step"] == list(range(30_000))
    assert data["columns"]["v"] == [i * 0.5 for i in range(30_000)]


def test_a_body_the_server_stops_reading_is_split_too(small_limit: PanelServer) -> None:
    # one request of several MB: the server refuses it after the headers and stops reading,
    # which reaches the sender as a broken pipe or a reset, not always as a 413
    client = Client(f"http://127.0.0.1:{small_limit.port}", "pipe", batch_rows=1_000_000)
    rows = 300_000
    try:
        client.stream("s", {"i": np.arange(rows), "x": np.linspace(0.0, 1.0, rows)})
        delivered(client)
        assert client.errors == []
        assert client.max_body <= LIMIT
    finally:
        client.close()
    data = get_stream(small_limit.port, "pipe", "s")
    assert data["seq"] == rows
    assert data["columns"]["i"] == list(range(rows))
    assert data["columns"]["x"] == np.linspace(0.0, 1.0, rows).tolist()


@pytest.mark.parametrize("size", [100_000, 3_000_000])
def test_a_single_row_over_the_limit_is_reported_and_later_rows_arrive(
    small_limit: PanelServer, size: int
) -> None:
    run = f"single-{size}"
    client = Client(f"http://127.0.0.1:{small_limit.port}", run)
    try:
        client.stream("s", {"i": 0, "text": "small"})
        client.stream("s", {"i": 1, "text": "x" * size})  # no request can carry it
        client.stream("s", {"i": 2, "text": "small"})
        client.stream("other", {"i": 0})
        delivered(client)
        client.stream("s", {"i": 3, "text": "later"})
        delivered(client)
    finally:
        client.close()
    (error,) = client.errors
    assert (error["run"], error["stream"], error["status"], error["error"]) == (
        run,
        "s",
        413,
        "too_large",
    )
    assert error["rows"] == 1
    assert error["bytes"] > size
    assert f"run '{run}', stream 's': a row of {error['bytes']} bytes" in error["detail"]
    assert "dropped" in error["detail"]
    data = get_stream(small_limit.port, run, "s")
    assert data["columns"]["i"] == [0, 2, 3]
    assert data["columns"]["text"] == ["small", "small", "later"]
    assert get_stream(small_limit.port, run, "other")["columns"]["i"] == [0]


def test_a_replace_over_the_limit_still_replaces(small_limit: PanelServer) -> None:
    client = Client(f"http://127.0.0.1:{small_limit.port}", "replace")
    try:
        client.stream("s", {"v": np.arange(5.0)})
        delivered(client)
        client.stream("s", {"v": np.arange(20_000.0)}, mode="replace")
        delivered(client)
        assert client.errors == []
    finally:
        client.close()
    assert (
        get_stream(small_limit.port, "replace", "s")["columns"]["v"]
        == np.arange(20_000.0).tolist()
    )


def test_rows_queued_when_closing_unreachable_are_reported(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.WARNING, logger="streamvis.client")
    client = Client(f"http://127.0.0.1:{free_port()}", "gone", flush_interval=60)
    for i in range(5):
        client.stream("a", {"i": i})
    client.stream("b", {"x": np.arange(3.0)})
    assert client.close(timeout=0) is False
    undelivered = {e["stream"]: e for e in client.errors}
    assert set(undelivered) == {"a", "b"}
    assert (undelivered["a"]["rows"], undelivered["b"]["rows"]) == (5, 3)
    for stream, error in undelivered.items():
        assert (error["run"], error["error"], error["status"]) == ("gone", "undelivered", None)
        assert (
            f"run 'gone', stream '{stream}': {error['rows']} rows not delivered"
            in (error["detail"])
        )
    messages = [r.getMessage() for r in caplog.records if r.name == "streamvis.client"]
    assert any("8 rows of run 'gone'" in m and "not delivered" in m for m in messages), messages
