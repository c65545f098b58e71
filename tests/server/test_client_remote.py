"""The remote producer `Client` against a real `streamvis_server` subprocess: rows from
another process arrive once and in order, the first release's README example draws its
dashboard, a producer started before the server loses nothing and never waits, refused
writes are reported (not raised), `sv.connect`, a full queue (drop or block), and delivery
at interpreter exit."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import streamvis as sv
from streamvis import Client
from streamvis.errors import StreamError
from tests.conftest import (
    LIVE_MODEL,
    ROOT,
    StreamvisServer,
    accepts_connections,
    free_port,
    wait_until,
)

pytestmark = [pytest.mark.server]


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def _module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamvisServer]:
    server = StreamvisServer("shared", tmp_path_factory.mktemp("shared") / "server.log")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def shared_server(
    _module_server: StreamvisServer, request: pytest.FixtureRequest
) -> Iterator[StreamvisServer]:
    """One streamvis_server for the tests that only need one up (each uses its own run)."""
    yield _module_server
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"---- streamvis_server log ----\n{_module_server.output()}")


def producer_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("STREAMVIS_STRICT", None)
    return env


def write_script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run_script(path: Path, *args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(path), *map(str, args)],
        cwd=ROOT,
        env=producer_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON line in the producer's output:\n{stdout}"
    return json.loads(lines[-1])


def column_of(server: StreamvisServer, run: str, stream: str, name: str) -> list[Any] | None:
    data = server.get_stream(run, stream)
    return None if data is None else data["columns"].get(name, [])


def close_client(client: Client, timeout: float | None = 5) -> bool:
    """`client.close()`, then close the keep-alive socket that close() leaves open (see
    test_close_releases_its_connection): unclosed, it fails a later test with ResourceWarning."""
    delivered = client.close(timeout=timeout)
    client._disconnect()
    return delivered


# ------------------------------------------------------------ a producer in another process
PRODUCE_5000 = """\
    import json, sys
    from streamvis import Client

    url, run = sys.argv[1], sys.argv[2]
    client = Client(url, run)
    for i in range(5000):
        client.stream("rows", {"step": i, "v": i * 0.5})
    flushed = client.flush(timeout=120)
    print(json.dumps({"flushed": flushed, "sent": client.sent_rows,
                      "dropped": client.dropped_rows, "errors": client.errors}))
    sys.exit(0 if flushed else 3)
"""


def test_rows_from_another_process_arrive_once_and_in_order(
    shared_server: StreamvisServer, tmp_path: Path
) -> None:
    script = write_script(tmp_path, "produce.py", PRODUCE_5000)
    done = run_script(script, f"127.0.0.1:{shared_server.rest_port}", "five-thousand")
    assert done.returncode == 0, done.stdout + done.stderr
    result = last_json(done.stdout)
    assert result == {"flushed": True, "sent": 5000, "dropped": 0, "errors": []}

    data = shared_server.get_stream("five-thousand", "rows")
    assert data is not None
    assert data["seq"] == 5000
    assert data["columns"]["step"] == list(range(5000))
    assert data["columns"]["v"] == [i * 0.5 for i in range(5000)]
    # since= reads only what is newer
    tail = shared_server.get_stream("five-thousand", "rows", since=4990)
    assert tail["columns"]["step"] == list(range(4990, 5000))


# ------------------------------------------------------------- the first release's example
# Names are looked up among the models reachable from the roots (LIVE_MODEL, conftest.py).
SOURCE_COLUMN = f"""([name, column]) => {{{LIVE_MODEL}
    const model = live(name);
    return model && model.data[column] ? Array.from(model.data[column]) : null;
}}"""
MODEL_PROP = f"""([name, prop]) => {{{LIVE_MODEL}
    const model = live(name);
    return model ? model[prop] : null;
}}"""
FIGURE_BOX = f"""(name) => {{{LIVE_MODEL}
    const model = live(name);
    const view = model ? Bokeh.index.find_one(model) : null;
    if (!view || !view.el.isConnected) return null;
    const r = view.el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return null;
    return {{left: r.left, top: r.top, right: r.right, bottom: r.bottom,
            width: r.width, height: r.height}};
}}"""
SEED_PLOTS = ("top_plot", "low_left_plot", "low_right_plot")
SEED_STEPS = 50


def seed_y1(step: float) -> float:
    return math.sin(1 + step / 10)


@pytest.mark.ui
def test_seed_readme_example_draws_its_dashboard(
    streamvis_server, open_page, tmp_path: Path
) -> None:
    server = streamvis_server("myapp")
    out, err = tmp_path / "seed.out", tmp_path / "seed.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        seed = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "examples" / "seed_client.py"),
                f"localhost:{server.rest_port}",
                "myapp",
                str(SEED_STEPS),
            ],
            cwd=ROOT,
            env=producer_env(),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        # the page opens while the example is still sending its layout (set_layout, then
        # one re-send per plot on its first data call): when it connects must not matter
        open_, console = open_page
        page = open_(server.page_url)

        def col(name: str, column: str) -> list[Any] | None:
            return page.evaluate(SOURCE_COLUMN, [name, column])

        for plot_id in SEED_PLOTS:
            wait_until(
                lambda p=plot_id: (
                    page.evaluate(MODEL_PROP, [f"sv-figure:{p}", "type"]) == "Figure"
                ),
                message=f"figure {plot_id}",
            )

        # the top plot: three lines sharing x, one row per step, until every step is drawn
        # (under load the page may draw its first rows after the example's last step, so
        # growth is not asked for: the page must end holding every step, once and in order)
        def top_rows() -> int:
            xs = col("sv:top_plot:y1", "x")
            return len(xs) if xs else 0

        wait_until(lambda: top_rows(), timeout=30, message="first top_plot rows")
        for y in ("y1", "y2", "y3"):
            wait_until(lambda y=y: col(f"sv:top_plot:{y}", y), message=f"line {y}")
        wait_until(lambda: top_rows() >= SEED_STEPS, message="every top_plot step drawn")
        xs, y1 = col("sv:top_plot:y1", "x"), col("sv:top_plot:y1", "y1")
        assert len(xs) == len(y1)
        assert xs == list(range(len(xs))), "steps drawn with a gap or a repeat"
        assert all(math.isclose(v, seed_y1(x), abs_tol=1e-9) for x, v in zip(xs, y1, strict=True))

        # the scatter: always exactly the 1000 points of one replace, and the latest one
        def cloud_x() -> list[float] | None:
            points = col("sv:low_left_plot:y", "x")
            if not points:
                return None
            assert len(points) == 1000, f"scatter not replaced: {len(points)} points"
            assert len(col("sv:low_left_plot:y", "y")) == 1000
            return points

        wait_until(cloud_x, message="scatter drawn")

        def shows_the_latest_replace() -> bool:
            # under load the page may draw its first cloud after the example's last step, so
            # "they move" is checked against the server, not against the example's pace
            stored = server.get_stream("myapp", "low_left_plot")
            return stored["seq"] > 1000 and cloud_x() == stored["columns"]["x"]

        # the grid of the seed: top_plot over two columns of the top row; low_left_plot
        # below it on the left; low_right_plot right of that, two columns wide
        boxes = {
            plot_id: wait_until(
                lambda p=plot_id: page.evaluate(FIGURE_BOX, f"sv-figure:{p}"),
                message=f"box of {plot_id}",
            )
            for plot_id in SEED_PLOTS
        }
        top, left, right = (boxes[p] for p in SEED_PLOTS)
        tol = 24
        assert abs(top["left"] - left["left"]) < tol, boxes
        assert top["bottom"] <= left["top"] + tol, boxes
        assert top["bottom"] <= right["top"] + tol, boxes
        assert abs(left["top"] - right["top"]) < tol, boxes
        assert right["left"] >= left["right"] - tol, boxes
        assert left["right"] < top["right"] - tol, "top_plot does not span two columns"
        assert right["left"] < top["right"] < right["right"] - tol, boxes
        assert 1.6 < top["width"] / left["width"] < 2.4, boxes
        assert 1.6 < right["width"] / left["width"] < 2.4, boxes
        assert 1.4 < left["height"] / top["height"] < 2.6, boxes
        # the plot the example never writes to waits for data
        assert page.evaluate(MODEL_PROP, ["sv-waiting:low_right_plot", "visible"]) is True
        page.screenshot(path=str(tmp_path / "seed-dashboard.png"))

        assert seed.wait(timeout=60) == 0, out.read_text() + err.read_text()
        wait_until(shows_the_latest_replace, message="the scatter of the last step")
        # every step reached the page, once and in order
        wait_until(
            lambda: col("sv:top_plot:y1", "x") == list(range(SEED_STEPS)),
            message="all steps drawn",
        )
        assert server.get_stream("myapp", "top_plot")["seq"] == SEED_STEPS
        assert console.errors() == [], console.messages
    finally:
        if seed.poll() is None:
            seed.kill()
            seed.wait(10)


# ------------------------------------------------------------ a producer before the server
FAULT_PRODUCER = """\
    import json, sys, time
    from streamvis import Client

    url, run, n, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    client = Client(url, run)
    calls, raised = [], None
    start = time.perf_counter()
    try:
        for i in range(n):
            pause = start + i * 0.002 - time.perf_counter()  # one row per 2 ms
            if pause > 0:
                time.sleep(pause)
            t0 = time.perf_counter()
            client.stream("fault", {"i": i})
            calls.append(time.perf_counter() - t0)
            if i == n // 2:
                open(marker, "w").close()
    except Exception as exc:
        raised = repr(exc)
    loop_seconds = time.perf_counter() - start
    flushed = client.flush(timeout=120)
    calls.sort()
    print(json.dumps({
        "calls": len(calls),
        "max_ms": calls[-1] * 1000 if calls else None,
        "p99_ms": calls[int(len(calls) * 0.99)] * 1000 if calls else None,
        "raised": raised,
        "flushed": flushed,
        "loop_seconds": loop_seconds,
        "sent": client.sent_rows,
        "dropped": client.dropped_rows,
        "errors": client.errors,
    }))
"""
FAULT_ROWS = 3000


def test_producer_started_before_the_server_never_waits_and_loses_nothing(
    streamvis_server, tmp_path: Path
) -> None:
    server = streamvis_server("fault", start=False)
    assert not accepts_connections(server.rest_port)
    script = write_script(tmp_path, "fault.py", FAULT_PRODUCER)
    marker = tmp_path / "halfway"
    out, err = tmp_path / "fault.out", tmp_path / "fault.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        producer = subprocess.Popen(
            [
                sys.executable,
                str(script),
                f"127.0.0.1:{server.rest_port}",
                "fault",
                str(FAULT_ROWS),
                str(marker),
            ],
            cwd=ROOT,
            env=producer_env(),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        # half the rows (~3 s) written with nothing listening: now bring the server up
        wait_until(
            lambda: marker.exists() or producer.poll() is not None,
            timeout=30,
            message="producer halfway",
        )
        assert producer.poll() is None, out.read_text() + err.read_text()
        server.start()
        assert producer.wait(timeout=60) == 0, out.read_text() + err.read_text()
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait(10)
    result = last_json(out.read_text())
    assert result["raised"] is None
    assert result["calls"] == FAULT_ROWS
    assert result["flushed"] is True, result
    assert result["dropped"] == 0
    assert result["errors"] == []
    assert result["sent"] == FAULT_ROWS
    assert "unavailable" in err.read_text()  # it noticed the server was down (logged once)

    data = server.get_stream("fault", "fault")
    assert data["seq"] == FAULT_ROWS
    assert data["columns"]["i"] == list(range(FAULT_ROWS))


# ----------------------------------------------------------- refused writes are reported
def test_refused_write_is_reported_and_logged_not_raised(
    shared_server: StreamvisServer, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    monkeypatch.delenv("STREAMVIS_STRICT", raising=False)
    caplog.set_level(logging.WARNING, logger="streamvis.client")
    client = Client(shared_server.rest_url, "refused")
    try:
        for i in range(10):
            client.stream("nums", {"step": i, "v": i * 0.5})
        assert client.flush(timeout=20) is True
        assert client.stream("nums", {"step": 10, "v": "oops"}) == 1  # no exception here
        assert client.flush(timeout=20) is True
        assert len(client.errors) == 1, client.errors
        error = client.errors[0]
        assert error["stream"] == "nums"
        assert error["status"] == 422
        assert error["error"] == "invalid_data"
        assert "column 'v'" in error["detail"]
        assert error["rows"] == 1
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.name == "streamvis.client" and r.levelno == logging.WARNING
        ]
        assert any("stream 'nums'" in m and "422" in m for m in warnings), warnings

        # the loop goes on: later rows are stored after the refused one
        for i in range(11, 15):
            client.stream("nums", {"step": i, "v": i * 0.5})
        assert client.flush(timeout=20) is True
        assert len(client.errors) == 1
    finally:
        close_client(client, timeout=5)
    data = shared_server.get_stream("refused", "nums")
    steps = [*range(10), *range(11, 15)]
    assert data["columns"]["step"] == steps
    assert data["columns"]["v"] == [s * 0.5 for s in steps]


def test_a_bad_row_does_not_take_down_good_rows_sent_with_it(
    shared_server: StreamvisServer,
) -> None:
    # a long flush_interval: the sender waits for flush(), so all rows go in one cycle
    client = Client(shared_server.rest_url, "mixed", flush_interval=30)
    try:
        for i in range(10):
            client.stream("nums", {"step": i, "v": i * 0.5})
        client.stream("nums", {"step": 10, "v": "oops"})
        client.stream("nums", {"step": 11, "v": 5.5})
        assert client.flush(timeout=20) is True
        assert [e["rows"] for e in client.errors] == [1], client.errors
        assert column_of(shared_server, "mixed", "nums", "step") == [*range(10), 11]
    finally:
        close_client(client, timeout=5)


@pytest.mark.parametrize(
    "data",
    [
        {"v": [1.0]},
        {"v": 1.0},
    ],
    ids=["columns", "scalar-row"],
)
def test_bad_stream_names_raise_at_once(data: dict[str, Any]) -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "names")
    queued: list[Any] = []
    client._put = queued.append  # type: ignore[method-assign]  # never touch the network
    try:
        with pytest.raises(StreamError, match="stream name 'bad name!' is not allowed"):
            client.stream("bad name!", data)
        assert queued == []
    finally:
        client.close(timeout=0)


# -------------------------------------------------------------------------- sv.connect
def test_connect_routes_module_level_stream_to_the_server(shared_server: StreamvisServer) -> None:
    hub = sv.default_hub()
    local_run = "connect-test-local"
    try:
        client = sv.connect(shared_server.rest_url, run="connected")
        assert isinstance(client, Client)
        assert client.run == "connected"
        for i in range(100):
            assert sv.stream("via", {"i": i}) == 1
        assert sv.stream("via", {"i": [100, 101]}) == 2
        assert client.flush(timeout=20) is True
        assert column_of(shared_server, "connected", "via", "i") == list(range(102))
        assert hub.table("connected", "via") is None, "rows went to the local hub too"

        # sv.clear goes to the server as well
        assert sv.clear("via") == 0
        assert client.flush(timeout=20) is True
        assert column_of(shared_server, "connected", "via", "i") == []

        # connect(None) delivers what is still queued, closes, and returns to the local hub
        sv.stream("via", {"i": 7})
        assert sv.connect(None) is None
        assert client._closing
        client._disconnect()  # close() leaves it open: test_close_releases_its_connection
        assert column_of(shared_server, "connected", "via", "i") == [7]
        assert sv.stream("after", {"i": 1}, run=local_run) == 1
        assert hub.read("after", run=local_run)["i"].tolist() == [1]
        assert shared_server.get_stream("connected", "after") is None
        assert shared_server.get_stream(local_run, "after") is None
    finally:
        sv.connect(None)
        hub.clear(run=local_run)


def test_client_stream_and_clear_go_to_the_run_they_name(shared_server: StreamvisServer) -> None:
    client = Client(shared_server.rest_url, "runarg-home")
    try:
        client.stream("s", {"i": 1})
        client.stream("s", {"i": 2}, run="runarg-side")
        client.stream("s", {"i": [3, 4]}, run="runarg-side")
        client.stream("s", {"i": 5}, run="runarg-home")  # its own run, named
        assert client.flush(timeout=20) is True
        assert column_of(shared_server, "runarg-home", "s", "i") == [1, 5]
        assert column_of(shared_server, "runarg-side", "s", "i") == [2, 3, 4]

        client.clear("s", run="runarg-side")
        client.stream("s", {"i": "text"}, run="runarg-home")  # refused by the server
        assert client.flush(timeout=20) is True
        assert column_of(shared_server, "runarg-side", "s", "i") == []
        assert column_of(shared_server, "runarg-home", "s", "i") == [1, 5]
        (error,) = client.errors
        assert (error["run"], error["stream"], error["status"]) == ("runarg-home", "s", 422)
        assert error["column"] == "i"  # from the server's field, not from its message
    finally:
        close_client(client)


def test_float32_arrays_reach_the_server_hub_and_store_as_float32(
    shared_server: StreamvisServer,
) -> None:
    """JSON carries float64; the client names its float32 columns, so the server's hub and
    store keep them float32 (and the values exact)."""
    run = "float32-wire"
    values = np.array([0.1, -2.5, np.nan, 3e38], dtype=np.float32)
    client = Client(shared_server.rest_url, run)
    try:
        client.stream("f", {"step": np.arange(4), "v": values})
        client.stream("f", {"step": [4], "v": values[:1]})  # joined with the batch before
        client.stream("r", {"v": values}, mode="replace")  # mode and float32 in one query
        assert client.flush(timeout=60) is True
        assert client.errors == []
    finally:
        close_client(client)
    listing = shared_server.get_stream(run, "f")
    assert listing is not None
    expected = [*values.astype(np.float64).tolist(), float(values[0])]
    assert listing["columns"]["v"] == [None if math.isnan(v) else v for v in expected]
    listed = json.loads(http_get(shared_server.rest_port, f"/api/v1/runs/{run}/streams"))
    described = {stream["stream"]: stream["columns"] for stream in listed["streams"]}
    assert described == {"f": {"step": "integers", "v": "float32"}, "r": {"v": "float32"}}
    stored = sv.export(run, "f", store=shared_server.log_path.with_suffix(".db"))
    assert stored["v"].dtype == np.float32
    assert stored["v"].to_numpy()[:4].tobytes() == values.tobytes()


def http_get(port: int, path: str) -> bytes:
    """The body of GET `path` on 127.0.0.1:`port` (must answer 200)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, (response.status, body[:300])
    return body


def test_sv_stream_after_connect_honours_run(shared_server: StreamvisServer) -> None:
    hub = sv.default_hub()
    clients = []
    try:
        clients.append(sv.connect(shared_server.rest_url, run="runarg-connected"))
        assert sv.stream("t", {"i": 1}) == 1
        assert sv.stream("t", {"i": 2}, run="runarg-named") == 1
        assert sv.stream("t", {"i": 3}, run="runarg-named") == 1
        assert sv.clear("t", run="runarg-connected") == 0
        assert sv.stream("t", {"i": 4}) == 1
        assert sv.connect(None) is None  # delivers what is queued
        assert column_of(shared_server, "runarg-connected", "t", "i") == [4]
        assert column_of(shared_server, "runarg-named", "t", "i") == [2, 3]
        assert hub.table("runarg-named", "t") is None, "rows went to the local hub too"
        clients.append(sv.connect(shared_server.rest_url, run="runarg-connected"))
        with pytest.raises(StreamError, match="run name 'no good' is not allowed"):
            sv.stream("t", {"i": 5}, run="no good")
    finally:
        sv.connect(None)
        for client in clients:
            if client is not None:
                client._disconnect()  # close() leaves it open: see test_close_releases_...


# ------------------------------------------------------------------------ under load
LOAD_ROWS = 30_000


def test_rows_from_several_threads_under_load_all_arrive_in_order(
    shared_server: StreamvisServer,
) -> None:
    """Three threads stream scalar rows as fast as they can and one streams 500-row
    batches, all through one client: every row arrives, once, in each stream's order."""
    client = Client(shared_server.rest_url, "load")

    def rows(stream: str) -> None:
        for i in range(LOAD_ROWS):
            client.stream(stream, {"i": i, "v": i * 0.25})

    def batches() -> None:
        for first in range(0, LOAD_ROWS, 500):
            client.stream("batches", {"i": np.arange(first, first + 500)})

    workers = [threading.Thread(target=rows, args=(f"rows-{n}",)) for n in range(3)]
    workers.append(threading.Thread(target=batches))
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert not any(worker.is_alive() for worker in workers)
        assert client.flush(timeout=120) is True
        assert (client.dropped_rows, client.errors) == (0, [])
        assert client.sent_rows == 4 * LOAD_ROWS
    finally:
        close_client(client)
    for stream in ("rows-0", "rows-1", "rows-2", "batches"):
        data = shared_server.get_stream("load", stream)
        assert data["seq"] == LOAD_ROWS, stream
        assert data["columns"]["i"] == list(range(LOAD_ROWS)), stream


# ---------------------------------------------------------------------- a full queue
def test_drop_oldest_never_blocks_and_counts_exactly_what_it_dropped(streamvis_server) -> None:
    server = streamvis_server("drops", start=False)
    client = Client(server.rest_url, "drops", queue_rows=10, when_full="drop_oldest")
    written = 2000
    try:
        for i in range(written):  # with the server down: a blocking call would hang here
            client.stream("d", {"i": i})
        assert client.dropped_rows > 0
        assert client.sent_rows == 0
        server.start()
        assert client.flush(timeout=30) is True
        delivered = column_of(server, "drops", "d", "i")
        assert delivered, "nothing delivered after the server came up"
        assert delivered == sorted(set(delivered)), "duplicates or disorder"
        assert delivered[-1] == written - 1, "the newest row must be kept"
        assert len(delivered) <= client.queue_rows + 1
        assert len(delivered) + client.dropped_rows == written
        assert client.sent_rows == len(delivered)
        assert client.errors == []
    finally:
        close_client(client, timeout=0)


def test_block_waits_for_room_then_delivers_everything(streamvis_server) -> None:
    server = streamvis_server("blocks", start=False)
    client = Client(server.rest_url, "blocks", queue_rows=5, when_full="block")
    returned: list[int] = []

    def produce() -> None:
        for i in range(5, 20):
            client.stream("b", {"i": i})
            returned.append(i)

    worker = threading.Thread(target=produce, daemon=True)
    try:
        for i in range(5):  # fits in the queue: returns with the server down
            client.stream("b", {"i": i})
        worker.start()
        worker.join(0.5)  # bounded: the sixth row has no room while the server is down
        assert worker.is_alive()
        assert returned == []
        server.start()
        wait_until(lambda: not worker.is_alive(), timeout=30, message="blocked caller released")
        assert returned == list(range(5, 20))
        assert client.flush(timeout=30) is True
        assert column_of(server, "blocks", "b", "i") == list(range(20))
        assert client.dropped_rows == 0
        assert client.errors == []
    finally:
        close_client(client, timeout=0)
        worker.join(5)


def test_block_with_a_batch_larger_than_the_queue_returns(shared_server: StreamvisServer) -> None:
    client = Client(shared_server.rest_url, "oversized", queue_rows=10, when_full="block")
    worker = threading.Thread(
        target=lambda: client.stream("big", {"i": list(range(20))}), daemon=True
    )
    try:
        worker.start()
        worker.join(2)  # bounded: close() below releases it either way
        assert not worker.is_alive(), "stream() of 20 rows with queue_rows=10 never returned"
    finally:
        close_client(client, timeout=0)
        worker.join(5)


# --------------------------------------------------------------------- close and exit
EXIT_PRODUCER = """\
    import json, sys
    import streamvis as sv

    url, stream, how, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


    def in_a_function():
        client = sv.Client(url, "atexit", flush_interval=60)  # only exit wakes the sender
        for i in range(n):
            client.stream(stream, {"i": i})
        return client.sent_rows  # the client itself is not kept


    if how == "global":
        client = sv.Client(url, "atexit", flush_interval=60)
        for i in range(n):
            client.stream(stream, {"i": i})
        sent = client.sent_rows
    elif how == "function":
        sent = in_a_function()
    else:
        client = sv.connect(url, run="atexit", flush_interval=60)
        for i in range(n):
            sv.stream(stream, {"i": i})
        sent = client.sent_rows
        del client
    print(json.dumps({"sent_before_exit": sent}), flush=True)
    # no flush, no close: the interpreter's exit must deliver
"""
EXIT_ROWS = 20_000


@pytest.mark.parametrize("how", ["global", "function", "connect"])
def test_exit_without_flush_delivers_everything(
    shared_server: StreamvisServer, tmp_path: Path, how: str
) -> None:
    script = write_script(tmp_path, "exit.py", EXIT_PRODUCER)
    stream = f"exit-{how}"
    done = run_script(script, shared_server.rest_url, stream, how, EXIT_ROWS, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert last_json(done.stdout) == {"sent_before_exit": 0}  # all of it was left to exit
    assert "undelivered" not in done.stderr, done.stderr
    data = shared_server.get_stream("atexit", stream)
    assert data is not None, done.stderr
    assert data["seq"] == EXIT_ROWS
    assert data["columns"]["i"] == list(range(EXIT_ROWS))


def test_close_reports_the_rows_it_gave_up_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="streamvis.client")
    client = Client(f"http://127.0.0.1:{free_port()}", "gone", flush_interval=60)
    for i in range(3):
        client.stream("s", {"i": i})
    assert client.close(timeout=0) is False
    assert client.sent_rows == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "streamvis.client"]
    (message,) = messages  # one line: how many rows, of which run, to which server
    assert f"3 rows of run 'gone' not delivered to {client.url}" in message, message


def test_close_releases_its_connection(shared_server: StreamvisServer) -> None:
    client = Client(shared_server.rest_url, "leak")
    client.stream("s", {"i": 1})
    assert client.flush(timeout=20) is True
    connection = client._connection
    assert connection is not None
    assert connection.sock is not None  # kept alive while the client is open
    assert client.close(timeout=5) is True
    assert not client._thread.is_alive()
    try:
        assert connection.sock is None, "close() left the keep-alive socket open"
    finally:
        connection.close()
