"""A page opened after a server restart draws the history the store replayed, and keeps
drawing new rows from where it stopped: 3,000 rows posted, SIGTERM, a new server on the
same store, a fresh headless Chromium page read through `Bokeh.documents`."""

from __future__ import annotations

import http.client
import json
import math
import textwrap
from pathlib import Path

import pytest

from tests.conftest import wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: replayed history
    refresh_ms: 100
    plots:
      - {id: curve, kind: line, stream: metrics, x: step, y: [a, b], at: [0, 0, 1, 2],
         options: {points: 20000}}
      - {id: cloud, kind: scatter, stream: cloud, x: x, y: y, at: [1, 0, 1, 1]}
      - {id: latest, kind: number, stream: metrics, value: a, at: [1, 1, 1, 1]}
""")
SOURCE = """(name) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    if (!model) return null;
    const out = {};
    for (const [key, values] of Object.entries(model.data)) out[key] = Array.from(values);
    return out;
}"""
VISIBLE = """(name) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model ? model.visible : null;
}"""
ROWS = 3_000  # drawn raw (not downsampled) beside the runs panel: under 4 points a pixel


def a_of(step: int) -> float:
    return math.cos(step / 250.0) * 2.0


def post(port: int, stream: str, data: dict, query: str = "") -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            f"/api/v1/runs/default/streams/{stream}{query}",
            json.dumps(data),
            {"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        reply = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200, reply
    return reply


def metrics(start: int, stop: int) -> dict[str, list]:
    steps = list(range(start, stop))
    return {"step": steps, "a": [a_of(s) for s in steps], "b": [s * 0.001 for s in steps]}


def test_a_fresh_page_after_restart_draws_the_stored_history(
    panel_server, open_page, tmp_path: Path
) -> None:
    layout = tmp_path / "layout.yaml"
    layout.write_text(LAYOUT)
    db = tmp_path / "replay.db"
    first = panel_server(str(layout), "--store", str(db), plugins=True)
    for start in range(0, ROWS, 1_000):
        post(first.port, "metrics", metrics(start, start + 1_000))
    cloud = {"x": [float(i) for i in range(50)], "y": [float(i % 7) for i in range(50)]}
    post(first.port, "cloud", {"x": [0.0], "y": [0.0]}, "?mode=replace")
    assert post(first.port, "cloud", cloud, "?mode=replace")["seq"] == 51
    first.stop()  # SIGTERM
    assert first.process.returncode is not None

    second = panel_server(str(layout), "--store", str(db), plugins=True)
    open_, console = open_page
    page = open_(second.url)

    def drawn(name: str, rows: int):
        data = page.evaluate(SOURCE, name)
        return data if data and len(data["step"]) >= rows else None

    a = wait_until(lambda: drawn("sv:curve:a", ROWS), timeout=20, message="3,000 rows of a")
    b = wait_until(lambda: drawn("sv:curve:b", ROWS), timeout=20, message="3,000 rows of b")
    assert a["step"] == list(range(ROWS)), "rows missing, repeated or out of order"
    assert all(
        math.isclose(v, a_of(s), abs_tol=1e-12) for s, v in zip(a["step"], a["a"], strict=True)
    )
    assert b["b"] == [s * 0.001 for s in range(ROWS)]
    # the replace stream is replayed as its last replacement only
    points = wait_until(lambda: page.evaluate(SOURCE, "sv:cloud:y"), message="cloud drawn")
    assert points["x"] == cloud["x"]
    assert points["y"] == cloud["y"]
    assert page.evaluate(VISIBLE, "sv-waiting:curve") is False

    # and the page goes on from row 3,000 with rows sent after the restart
    reply = post(second.port, "metrics", metrics(ROWS, ROWS + 100))
    assert reply["seq"] == ROWS + 100
    a = wait_until(lambda: drawn("sv:curve:a", ROWS + 100), message="rows after the restart")
    assert a["step"] == list(range(ROWS + 100))

    page.screenshot(path=str(tmp_path / "replay.png"))
    assert console.errors() == [], console.messages
