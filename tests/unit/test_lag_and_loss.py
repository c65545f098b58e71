"""Lag and loss (docs/lag-and-loss.md) without a server: the hub's loss counts, the client's
queue policy per stream and what it counts, the checks on a reported count, the page's
"behind" rule and the notes' wording."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streamvis import Client
from streamvis.core import losses as losses_module
from streamvis.core.hub import Hub
from streamvis.core.losses import Losses, SourceNote, StreamLoss
from streamvis.errors import ClientError, StreamError
from streamvis.page.lag import Lag, age_text, threshold
from streamvis.page.loss_notes import loss_lines
from streamvis.server.loss_reports import MESSAGE_FIELDS, DropReport, drop_report
from streamvis.server.operations import ApiError
from streamvis.wire import columns

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens; the sender never takes a row here


# ------------------------------------------------------------------ the hub's counts
def test_a_producer_total_counts_once_and_never_goes_down() -> None:
    book = Losses()
    assert book.report_dropped("r", "s", "p1", 10) == 10
    assert book.report_dropped("r", "s", "p1", 10) == 10  # the same report again (a retry)
    assert book.report_dropped("r", "s", "p1", 4) == 10  # an older report arriving late
    assert book.report_dropped("r", "s", "p2", 5) == 15  # another producer adds its own
    assert book.of("r", "s") == StreamLoss(15, ())
    assert book.dropped("r") == {"s": 15}
    assert not book.of("r", "other")
    assert book.dropped("elsewhere") == {}


@pytest.mark.parametrize("total", [-1, 1.5, "3", True, None, 2**63])
def test_a_count_that_is_not_a_whole_number_of_rows_is_refused(total: object) -> None:
    book = Losses()
    version = book.version
    with pytest.raises(StreamError, match=r"run 'r', stream 's': a dropped-row count"):
        book.report_dropped("r", "s", "p", total)  # type: ignore[arg-type]
    assert book.version == version
    assert not book.of("r", "s")


def test_the_version_moves_only_with_a_change() -> None:
    book = Losses()
    start = book.version
    book.report_dropped("r", "s", "p", 3)
    book.report_dropped("r", "s", "p", 3)
    assert book.version == start + 1
    book.source_trouble("r", "s", "feed", "reconnecting", 1)
    book.source_trouble("r", "s", "feed", "reconnecting", 1)
    assert book.version == start + 2
    assert book.of("r", "s").sources == (SourceNote("feed", "reconnecting", 1),)
    book.source_trouble("r", "s", "feed", None)
    assert book.of("r", "s") == StreamLoss(3, ())
    book.forget("r")
    assert not book.of("r", "s")


def test_producers_past_the_limit_are_folded_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(losses_module, "MAX_PRODUCERS", 3)
    book = Losses()
    for number in range(10):
        book.report_dropped("r", "s", f"p{number}", 2)
    assert book.of("r", "s").dropped == 20


def test_deleting_a_run_forgets_its_counts() -> None:
    hub = Hub()
    hub.stream("s", {"x": 1.0}, run="r")
    hub.losses.report_dropped("r", "s", "p", 7)
    hub.delete_run("r")
    assert not hub.losses.of("r", "s")


# ------------------------------------------------------- the client's queue policy
@pytest.fixture
def client() -> Iterator[Client]:
    """A client whose sender gathers for a minute: nothing leaves the queue meanwhile."""
    made = Client(UNREACHABLE, "r", queue_rows=4, flush_interval=60)
    yield made
    made.close(timeout=0)
    made._disconnect()


def test_drop_oldest_counts_per_stream(client: Client) -> None:
    for step in range(6):
        assert client.stream("a", {"step": step}) == 1
    client.stream("b", {"step": 0})
    assert client.dropped() == {"a": 3}
    assert client.dropped_rows == 3
    assert client._queued == 4


def test_rows_of_a_drop_newest_stream_are_never_dropped_for_another(client: Client) -> None:
    client.set_when_full("keep", "drop_newest")
    for step in range(4):
        client.stream("keep", {"step": step})
    assert client.stream("keep", {"step": 4}) == 0  # its own new row goes
    assert client.stream("lossy", {"step": 0}) == 0  # nothing it may drop: the new row goes
    assert client.dropped() == {"keep": 1, "lossy": 1}
    assert client._queued == 4


def test_drop_oldest_takes_the_oldest_row_it_may(client: Client) -> None:
    client.set_when_full("keep", "drop_newest")
    client.stream("keep", {"step": 0})
    client.stream("lossy", {"step": 0})
    client.stream("lossy", {"step": 1})
    client.stream("keep", {"step": 1})
    assert client.stream("lossy", {"step": 2}) == 1  # lossy's step 0 made room
    assert client.dropped() == {"lossy": 1}
    assert client.stream("other", {"x": [1.0, 2.0]}, run="r2") == 2  # a batch, another run
    assert client.dropped() == {"lossy": 3}  # lossy's steps 1 and 2 made room, keep's stay
    assert client.stream("lossy", {"step": 3}) == 1  # the oldest it may drop: r2's batch
    assert client.dropped() == {"lossy": 3, "r2/other": 2}
    assert client._queued == 3


def test_a_bad_policy_names_the_stream() -> None:
    with Client(UNREACHABLE, "r", flush_interval=60) as client:
        with pytest.raises(ClientError, match=r"set_when_full\('s', \.\.\.\): when_full must"):
            client.set_when_full("s", "wait")
        with pytest.raises(StreamError, match="stream name"):
            client.set_when_full("../s", "block")
        client._disconnect()
    with pytest.raises(ClientError, match=r"Client\(when_full=...\): when_full must be 'drop_"):
        Client(UNREACHABLE, when_full="sometimes")


class _Recorder(BaseHTTPRequestHandler):
    """Answers every POST 200 and keeps (path, the drop headers, body)."""

    seen: list[tuple[str, str | None, str | None, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Type") == columns.MEDIA_TYPE:  # numeric rows, binary
            body = {name: values.tolist() for name, values in columns.decode(raw).items()}
        else:
            body = json.loads(raw)
        dropped = self.headers.get("X-Streamvis-Dropped")
        self.seen.append((self.path, dropped, self.headers.get("X-Streamvis-Producer"), body))
        answer = b'{"rows": 0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str | None, str | None, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", _Recorder.seen
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_drops_travel_with_the_stream_or_alone(recorder: tuple[str, list[Any]]) -> None:
    url, seen = recorder
    # the sender gathers for a minute: only flush() sends, so the queue is full meanwhile
    client = Client(url, "r", queue_rows=3, flush_interval=60)
    client.set_when_full("alone", "drop_newest")
    try:
        for step in range(4):
            client.stream("a", {"step": step})  # the fourth drops a's oldest
        client.stream("alone", {"step": 0})  # dropped; nothing of `alone` is queued
        assert client.dropped() == {"a": 1, "alone": 1}
        assert client.flush(timeout=60)
    finally:
        client.close(timeout=0)
        client._disconnect()
    producer = seen[0][2]
    assert producer
    assert seen == [
        ("/api/v1/runs/r/streams/a", "1", producer, {"step": [1, 2, 3]}),
        ("/api/v1/runs/r/streams/alone", "1", producer, {}),  # an empty append reports it
    ]


FEED_UP = threading.Event()


def flaky_feed() -> list[dict[str, float]]:
    """A python source's function: fails until FEED_UP is set."""
    if not FEED_UP.is_set():
        raise ConnectionError("feed down")
    return [{"x": 1.0}]


def test_a_source_tells_the_hub_while_it_reconnects() -> None:
    from streamvis.layout.spec import Source
    from streamvis.sources import make_source
    from tests.conftest import wait_until

    hub = Hub()
    function = f"{__name__}:flaky_feed"
    spec = Source("feed", "python", "s", {"function": function, "every_ms": 10})
    source = make_source(spec, hub, run="r")
    source._min_backoff, source._max_backoff = 0.01, 0.05
    FEED_UP.clear()
    source.start()
    try:
        notes = wait_until(lambda: hub.losses.of("r", "s").sources, message="reconnecting")
        assert notes[0].name == "feed"
        assert notes[0].trouble == "reconnecting"
        assert notes[0].attempts >= 1
        FEED_UP.set()
        wait_until(lambda: not hub.losses.of("r", "s"), message="the note cleared")
        assert hub.read("s", run="r")["x"][0] == 1.0
    finally:
        source.stop()
    assert not hub.losses.of("r", "s")


# ----------------------------------------------------------- a reported count, checked
def test_a_report_is_read_from_headers_or_message_fields() -> None:
    assert drop_report(None, None, "r", "s") is None
    assert drop_report("12", "abc:1", "r", "s") == DropReport("abc:1", 12)
    assert drop_report("0", None, "r", "s") == DropReport("", 0)
    assert drop_report(12, "p", "r", "s", MESSAGE_FIELDS) == DropReport("p", 12)


@pytest.mark.parametrize(
    ("dropped", "producer", "code", "named"),
    [
        ("-5", None, "invalid_dropped", "X-Streamvis-Dropped"),
        ("1.5", None, "invalid_dropped", "X-Streamvis-Dropped"),
        ("lots", None, "invalid_dropped", "X-Streamvis-Dropped"),
        (str(2**63), None, "invalid_dropped", "X-Streamvis-Dropped"),
        ("3", "<b>x</b>", "invalid_producer", "X-Streamvis-Producer"),
        ("3", "x" * 65, "invalid_producer", "X-Streamvis-Producer"),
    ],
)
def test_a_bad_report_is_a_400_naming_the_header(
    dropped: str, producer: str | None, code: str, named: str
) -> None:
    with pytest.raises(ApiError) as refused:
        drop_report(dropped, producer, "r", "s")
    assert refused.value.status == 400
    body = refused.value.body
    assert body["error"] == code
    assert named in body["detail"]
    assert (body["run"], body["stream"]) == ("r", "s")


@pytest.mark.parametrize("dropped", [-1, True, 2.0, "7", [1]])
def test_a_bad_message_field_is_a_400_naming_the_field(dropped: object) -> None:
    with pytest.raises(ApiError, match="dropped must be the whole number") as refused:
        drop_report(dropped if dropped != "7" else "seven", "p", "r", "s", MESSAGE_FIELDS)
    assert refused.value.body["error"] == "invalid_dropped"


# ------------------------------------------------------------------- what pages say
def test_behind_shows_past_a_few_periods_and_clears_after_catching_up() -> None:
    lag = Lag()
    assert threshold(100) == 1.0
    assert threshold(500) == 2.5
    assert lag.observe(None, 100, 5.0) is None  # nothing read yet
    assert lag.observe(10.0, 100, 10.5) is None  # half a second since the last read: normal
    assert lag.observe(10.0, 100, 12.3) == "behind 2.3 s"  # no read for 2.3 s
    assert lag.observe(12.3, 100, 12.4) == "behind 2.3 s"  # read again, 2.3 s after the last
    assert lag.observe(12.4, 100, 12.45) == "behind 2.3 s"  # caught up: held a moment
    assert lag.observe(13.4, 100, 13.45) is None  # a second of normal reads: gone
    assert lag.observe(14.0, 100, 14.0) is None
    assert age_text(42.4) == "behind 42 s"


def test_reads_far_apart_count_even_when_each_is_fresh() -> None:
    """A tick that waits before it reads (a blocked event loop) leaves every firing just
    after a read: the gap between reads is what the page lags by."""
    lag = Lag()
    texts = [lag.observe(1.6 * step, 100, 1.6 * step + 0.1) for step in range(1, 6)]
    assert texts[0] is None
    assert texts[1:] == ["behind 1.6 s"] * 4
    assert lag.observe(8.1, 100, 8.2) == "behind 1.6 s"  # fast again, held HOLD_S
    reads = [8.1 + 0.1 * step for step in range(1, 13)]
    assert [lag.observe(read, 100, read + 0.05) for read in reads][-1] is None


def test_loss_lines() -> None:
    loss = StreamLoss(1312, (SourceNote("feed", "reconnecting", 1), SourceNote("f2", "failed", 9)))
    assert loss_lines(loss, "s") == [
        "1,312 rows of 's' dropped by the producer before sending (its queue was full)",
        "source 'feed' reconnecting (1 failed attempt)",
        "source 'f2' failed; not retrying",
    ]
    assert loss_lines(StreamLoss(1), "s", "a")[0].startswith("run 'a': 1 row of 's' dropped")
