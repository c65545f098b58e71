"""What a producer was told is stored survives `kill -9` of the server.

A real `panel serve apps/dashboard.py --plugins streamvis.ingest --args LAYOUT --store DB`
(the process that holds the store: no wrapper in between) takes rows from `sv.Client` or
raw HTTP, is killed with SIGKILL, and a new server on the same file must have every
acknowledged row exactly once, in order, numbered without gaps: in the file (`sv.export`),
through the API, on a freshly opened page, and as batch ids it still recognizes. A batch
retried while its first commit is still pending must be stored once too."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import streamvis as sv
from streamvis.store import SQLiteStore
from tests.conftest import wait_until

pytestmark = [pytest.mark.server]

LAYOUT = textwrap.dedent("""\
    title: durability
    refresh_ms: 100
    plots:
      - {id: curve, kind: line, stream: s, x: step, y: v, at: [0, 0, 1, 1]}
""")
API = "/api/v1"


def post(
    port: int, run: str, stream: str, data: Any, batch: str | None = None, timeout: float = 10
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if batch is not None:
        headers["X-Streamvis-Batch"] = batch
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", f"{API}/runs/{run}/streams/{stream}", json.dumps(data), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def get_stream(port: int, run: str, stream: str) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", f"{API}/runs/{run}/streams/{stream}")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, (response.status, body[:300])
    return json.loads(body)


def kill_hard(server) -> None:
    """SIGKILL the process that holds the store (PanelServer runs `python -m panel serve`
    itself, not a wrapper), and reap it."""
    assert server.process.poll() is None, "the server died before it was killed"
    with open(f"/proc/{server.process.pid}/cmdline", "rb") as cmdline:
        assert b"panel\x00serve" in cmdline.read()  # the server itself, not a wrapper
    os.kill(server.process.pid, signal.SIGKILL)
    assert server.process.wait(10) == -signal.SIGKILL


def base(server) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "layout.yaml"
    path.write_text(LAYOUT)
    return path


def test_acknowledged_rows_survive_sigkill(
    panel_server, layout: Path, tmp_path: Path, open_page
) -> None:
    db = tmp_path / "crash.db"
    first = panel_server(str(layout), "--store", str(db), plugins=True)
    total, per_call = 20_000, 500
    client = sv.Client(base(first), "default")
    try:
        for start in range(0, total, per_call):
            steps = np.arange(start, start + per_call)
            client.stream("s", {"step": steps, "v": np.sin(steps / 100.0)})
        assert client.flush(60) is True, "not every batch was acknowledged"
        assert client.errors == []
        assert client.dropped_rows == 0
    finally:
        client.close(5)
    kill_hard(first)  # no shutdown hook, no final checkpoint: only what was committed

    second = panel_server(str(layout), "--store", str(db), plugins=True)
    expected_steps = list(range(total))
    expected_v = np.sin(np.arange(total) / 100.0)

    frame = sv.export("default", "s", store=db)
    assert frame.index.tolist() == expected_steps, "seq numbers are not 0..19999"
    assert frame["step"].tolist() == expected_steps, "a row is missing, repeated or moved"
    np.testing.assert_array_equal(frame["v"].to_numpy(), expected_v)

    reply = get_stream(second.port, "default", "s")
    assert reply["seq"] == total
    assert reply["columns"]["step"] == expected_steps
    np.testing.assert_allclose(reply["columns"]["v"], expected_v, rtol=0, atol=1e-12)

    # a page opened after the restart draws all of it: the whole run, every row counted
    open_, console = open_page
    page = open_(second.url)
    note = f"{total:,} rows"
    wait_until(
        lambda: (page.evaluate(NOTE, "sv-lod:curve") or "").startswith(note),
        timeout=20,
        message="the replayed 20,000 rows on the page",
    )
    steps = page.evaluate(STEPS, "sv:curve:v")
    assert steps[0] == 0
    assert steps[-1] == total - 1
    assert console.errors() == [], console.messages


NOTE = """(name) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model ? model.text : null;
}"""
STEPS = """(name) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model ? Array.from(model.data["step"]) : null;
}"""


class Producer(threading.Thread):
    """Posts `rows`-row batches with batch ids `NAME:K` until a request fails; remembers
    what was acknowledged (200) and the batch that was in flight when it stopped."""

    def __init__(self, port: int, name: str, index: int, rows: int = 200) -> None:
        super().__init__(name=f"producer-{name}", daemon=True)
        self.port, self.label, self.rows = port, name, rows
        self.index = index  # distinct step ranges per producer
        self.acked: list[str] = []
        self.unacked: list[str] = []
        self.failure: BaseException | None = None

    def batch(self, k: int) -> tuple[str, dict[str, list]]:
        base = (self.index * 1_000_000) + k * self.rows
        steps = list(range(base, base + self.rows))
        return f"{self.label}:{k}", {"step": steps, "v": [s * 0.5 for s in steps]}

    def run(self) -> None:
        k = 0
        while True:
            batch_id, data = self.batch(k)
            try:
                status, reply = post(self.port, "torn", "s", data, batch_id, timeout=5)
            except (OSError, http.client.HTTPException) as exc:
                self.unacked.append(batch_id)
                self.failure = exc
                return
            if status != 200 or reply.get("duplicate") or reply.get("rows") != self.rows:
                self.unacked.append(batch_id)
                self.failure = AssertionError(f"{batch_id}: {status} {reply}")
                return
            self.acked.append(batch_id)
            k += 1


def test_torn_write_keeps_every_acknowledged_batch_once(
    panel_server, layout: Path, tmp_path: Path
) -> None:
    db = tmp_path / "torn.db"
    first = panel_server(str(layout), "--store", str(db), plugins=True)
    producers = [Producer(first.port, name, i) for i, name in enumerate(("a", "b", "c"))]
    for producer in producers:
        producer.start()
    wait_until(
        lambda: all(len(p.acked) >= 15 for p in producers),
        timeout=30,
        message="each producer acknowledged some batches",
    )
    assert all(p.is_alive() for p in producers), [p.failure for p in producers]
    kill_hard(first)  # while every producer is mid-stream
    for producer in producers:
        producer.join(15)
        assert not producer.is_alive()
        assert isinstance(producer.failure, OSError | http.client.HTTPException), producer.failure

    second = panel_server(str(layout), "--store", str(db), plugins=True)
    reader = SQLiteStore(db, readonly=True)
    try:
        assert reader.integrity() == "ok"
    finally:
        reader.close()

    def stored() -> tuple[list[int], list[int]]:
        frame = sv.export("torn", "s", store=db)
        return frame.index.tolist(), frame["step"].tolist()

    index, steps = stored()
    assert index == list(range(len(index))), "seq numbers have a gap"
    assert len(steps) == len(set(steps)), "a row is stored twice"
    present = set(steps)
    batches = {
        batch_id: data["step"]
        for p in producers
        for batch_id, data in map(p.batch, range(len(p.acked) + len(p.unacked) + 3))
    }
    # the store holds whole batches only, each as one contiguous block
    position = {step: i for i, step in enumerate(steps)}
    stored_batches = set()
    for batch_id, batch_steps in batches.items():
        hits = [s in present for s in batch_steps]
        if any(hits):
            assert all(hits), f"batch {batch_id} is torn"
            where = [position[s] for s in batch_steps]
            assert where == list(range(where[0], where[0] + len(where))), batch_id
            stored_batches.add(batch_id)
    acked = {batch_id for p in producers for batch_id in p.acked}
    missing = acked - stored_batches
    assert not missing, f"acknowledged but lost: {sorted(missing)}"
    in_flight = {batch_id for p in producers for batch_id in p.unacked}
    assert stored_batches <= acked | in_flight, "rows nobody sent"
    rows_before = len(steps)
    assert get_stream(second.port, "torn", "s")["seq"] == rows_before

    # an acknowledged batch retried after the restart is recognized, not stored again
    for producer in producers:
        for k in (0, len(producer.acked) - 1):
            batch_id, data = producer.batch(k)
            status, reply = post(second.port, "torn", "s", data, batch_id)
            assert status == 200, reply
            assert reply.get("duplicate") is True, (batch_id, reply)
            assert reply["rows"] == 0
            assert reply["seq"] == rows_before
    # the batches in flight at the kill, retried, end up stored exactly once either way
    for batch_id in sorted(in_flight):
        producer = next(p for p in producers if batch_id.startswith(p.label + ":"))
        _, data = producer.batch(int(batch_id.split(":")[1]))
        status, reply = post(second.port, "torn", "s", data, batch_id)
        assert status == 200, reply
        assert reply.get("duplicate", False) is (batch_id in stored_batches), (batch_id, reply)

    index, steps = stored()
    assert index == list(range(len(index)))
    assert len(steps) == len(set(steps))
    wanted = acked | in_flight
    assert len(steps) == sum(len(batches[b]) for b in wanted)
    assert set(steps) == {s for b in wanted for s in batches[b]}
    assert get_stream(second.port, "torn", "s")["seq"] == len(steps)


def stream_rows(port: int, run: str, stream: str) -> int:
    return get_stream(port, run, stream)["seq"]


def test_a_batch_retried_while_its_commit_is_pending_is_stored_once(
    panel_server, layout: Path, tmp_path: Path
) -> None:
    db = tmp_path / "slow.db"
    server = panel_server(str(layout), "--store", str(db), plugins=True)
    assert post(server.port, "slow", "s", {"step": [0], "v": [0.0]}, "warm-up")[0] == 200
    data = {"step": list(range(1, 101)), "v": [1.0] * 100}
    replies: dict[str, tuple[int, dict[str, Any]]] = {}

    def send(name: str) -> None:
        replies[name] = post(server.port, "slow", "s", data, "retried", timeout=30)

    # another connection holds SQLite's write lock: the server's commit waits (a slow disk)
    disk = sqlite3.connect(db, isolation_level=None, timeout=5)
    try:
        disk.execute("BEGIN IMMEDIATE")
        original = threading.Thread(target=send, args=("original",), daemon=True)
        original.start()
        wait_until(
            lambda: stream_rows(server.port, "slow", "s") == 101,
            message="the original request applied in memory, its commit pending",
        )
        assert "original" not in replies, "answered before its rows were committed"
        retry = threading.Thread(target=send, args=("retry",), daemon=True)
        retry.start()
        # the retry must wait for the first copy: neither answered nor applied meanwhile
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert "retry" not in replies, replies.get("retry")
            assert stream_rows(server.port, "slow", "s") == 101, "the retry was applied again"
            time.sleep(0.05)
    finally:
        disk.execute("ROLLBACK")
        disk.close()
    original.join(30)
    retry.join(30)
    assert replies["original"][0] == 200
    assert replies["original"][1]["rows"] == 100
    assert replies["retry"][0] == 200
    assert replies["retry"][1].get("duplicate") is True, replies["retry"]
    assert stream_rows(server.port, "slow", "s") == 101
    assert len(sv.export("slow", "s", store=db)) == 101
