"""sv.Client at exit and at rest: with the server unreachable, interpreter exit gives up
after the configured wait (argument or STREAMVIS_EXIT_TIMEOUT) and says on stderr how many
rows did not reach which server; an idle client's sender sleeps until a row is queued."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamvis import Client
from streamvis.client.shutdown import DEFAULT_EXIT_TIMEOUT
from streamvis.errors import StreamvisError
from tests.conftest import ROOT, free_port, wait_until
from tests.unit.test_client_transport import ResettingServer

UNREACHABLE_PRODUCER = """\
    import os, sys
    from streamvis import Client

    url, how = sys.argv[1], sys.argv[2]
    options = {"exit_timeout": 0.5} if how == "argument" else {}
    client = Client(url, "gone", **options)
    for i in range(7):
        client.stream("loss", {"step": i, "value": i / 2})
    print("queued", flush=True)
    # no flush, no close: exit must give up on its own and say what it left
"""


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_exit_with_the_server_unreachable_gives_up_and_says_what_was_lost(
    tmp_path: Path, how: str
) -> None:
    script = tmp_path / "producer.py"
    script.write_text(textwrap.dedent(UNREACHABLE_PRODUCER))
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {k: v for k, v in os.environ.items() if k != "STREAMVIS_EXIT_TIMEOUT"}
    if how == "environment":
        env["STREAMVIS_EXIT_TIMEOUT"] = "0.5"
    err = tmp_path / "err.txt"
    with open(err, "w") as stderr:
        producer = subprocess.Popen(
            [sys.executable, str(script), url, how],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        wait_until(lambda: producer.poll() is not None, message="the producer's exit")
    finally:
        if producer.poll() is None:
            producer.kill()
        out = producer.communicate(timeout=60)[0]
    assert producer.returncode == 0, err.read_text()
    assert out.strip() == "queued"
    lines = [line for line in err.read_text().splitlines() if "not delivered" in line]
    assert len(lines) == 1, err.read_text()  # one line says it all
    assert f"7 rows of run 'gone' not delivered to {url}" in lines[0]
    assert "'loss'" in lines[0]
    assert "the server could not be reached (ConnectionRefusedError" in lines[0]
    assert "gave up after 0.5 s" in lines[0]


def test_close_gives_up_on_a_server_that_never_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener that never accepts: the sender's request hangs in the socket (the client's
    own timeout is a minute), and close() still returns after its wait and reports."""
    caplog.set_level(logging.WARNING, logger="streamvis.client")
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    client = Client(url, "hung", timeout=60)
    try:
        for i in range(4):
            client.stream("s", {"i": i})
        wait_until(lambda: client._busy, message="the sender holding the rows")
        assert client.close(timeout=0.5) is False
        assert client._thread.is_alive()  # still stuck in its request: not waited for
    finally:
        listener.close()  # resets the queued connection: the stuck request fails
    wait_until(lambda: not client._thread.is_alive(), message="the sender's exit")
    (error,) = client.errors
    assert (error["run"], error["stream"], error["rows"], error["error"]) == (
        "hung",
        "s",
        4,
        "undelivered",
    )
    messages = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(messages) == 1, messages
    assert f"4 rows of run 'hung' not delivered to {url}" in messages[0]
    assert "the server did not answer" in messages[0]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMVIS_EXIT_TIMEOUT", raising=False)


def closed(client: Client) -> None:
    client.close(timeout=0)
    client._thread.join(10)


def test_the_exit_wait_defaults_to_5_s_and_the_environment_or_argument_sets_it(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"127.0.0.1:{free_port()}"
    assert DEFAULT_EXIT_TIMEOUT == 5.0
    client = Client(url)
    assert client.exit_timeout == 5.0
    closed(client)
    monkeypatch.setenv("STREAMVIS_EXIT_TIMEOUT", "1.5")
    client = Client(url)
    assert client.exit_timeout == 1.5
    closed(client)
    client = Client(url, exit_timeout=0)  # the argument wins over the environment
    assert client.exit_timeout == 0.0
    closed(client)


@pytest.mark.parametrize("value", ["soon", "-1", "inf", "nan"])
def test_a_bad_exit_wait_in_the_environment_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STREAMVIS_EXIT_TIMEOUT", value)
    with pytest.raises(StreamvisError, match="STREAMVIS_EXIT_TIMEOUT: the exit timeout must be"):
        Client(f"127.0.0.1:{free_port()}")


def test_a_bad_exit_wait_argument_is_refused_by_name(clean_environment: None) -> None:
    with pytest.raises(StreamvisError, match=r"Client\(exit_timeout=...\).*-2"):
        Client(f"127.0.0.1:{free_port()}", exit_timeout=-2)


# ------------------------------------------------------------------ an idle sender sleeps
class RecordingEvent(threading.Event):
    """An Event that remembers the timeout of every wait on it."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        return super().wait(timeout)


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, ResettingServer]]:
    """A Client (talking to a loopback listener) whose Events record their waits."""
    server = ResettingServer()
    with monkeypatch.context() as patch:
        patch.setattr(threading, "Event", RecordingEvent)
        client = Client(f"http://127.0.0.1:{server.port}", "idle")
    assert isinstance(client._wake, RecordingEvent)
    try:
        yield client, server
    finally:
        client.close(timeout=5)
        server.close()


def test_an_idle_sender_sleeps_until_a_row_is_queued(
    watched: tuple[Client, ResettingServer],
) -> None:
    client, server = watched
    for i in range(5):  # one row at a time, each queued while the sender sleeps
        wait_until(lambda: client._sleeping, message="the sender asleep with nothing queued")
        client.stream("s", {"i": i})
        assert client.flush(timeout=60)
    wait_until(lambda: client._sleeping, message="the sender asleep with nothing queued")
    assert server.values("i") == [0, 1, 2, 3, 4]
    # while nothing is queued the sender waits without a timeout: it never polls, so an
    # idle client wakes no thread at all, however long it sits there
    assert client._wake.timeouts, "the sender never slept"
    assert all(timeout is None for timeout in client._wake.timeouts), client._wake.timeouts
    assert client.wakeups == 5  # woken once by each row, never by a timer
