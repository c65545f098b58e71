"""Issue 9 against a real server: a layout beyond the limits is refused when it is PUT (422
invalid_layout, a short detail, nothing stored, the server still answering) and when
`streamvis serve layout.yaml` starts (one line, exit 2), not when a page opens; a `?runs=`
pattern that makes Python's re backtrack for ever is answered, and one outside the safe
subset is explained on the page."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, PanelServer, free_port, wait_until

pytestmark = pytest.mark.server
API = "/api/v1"
STREAMVIS = str(Path(sys.executable).with_name("streamvis"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    """`panel serve` with the ingest routes, no layout, default limits."""
    started = PanelServer([], tmp_path_factory.mktemp("limits") / "server.log", plugins=True)
    yield started
    started.stop()


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON reply) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def note(index: int, at: list[int]) -> dict[str, Any]:
    return {"id": f"p{index}", "kind": "markdown", "text": "x", "at": at}


def put_refused(server: PanelServer, run: str, layout: dict[str, Any]) -> str:
    """PUT `layout`; assert a 422 invalid_layout, that nothing was stored and that the
    server still answers; return the detail."""
    status, reply = call(server.port, "PUT", f"{API}/runs/{run}/layout", layout)
    assert status == 422, reply
    assert reply["error"] == "invalid_layout"
    assert reply["run"] == run
    assert call(server.port, "GET", f"{API}/runs/{run}/layout")[0] == 404
    assert call(server.port, "GET", f"{API}/runs")[0] == 200
    return reply["detail"]


def test_put_refuses_more_plots_than_the_limit(server: PanelServer) -> None:
    plots = [note(i, [i // 8, i % 8, 1, 1]) for i in range(65)]
    detail = put_refused(server, "too-many", {"plots": plots})
    assert detail == (
        "layout of run 'too-many': plots: a layout may have at most 64 plots "
        "(STREAMVIS_MAX_PLOTS), not 65"
    )
    status, reply = call(server.port, "PUT", f"{API}/runs/too-many/layout", {"plots": plots[:64]})
    assert (status, reply["run"]) == (200, "too-many")


def test_put_of_100000_overlapping_plots_gets_a_short_answer(server: PanelServer) -> None:
    detail = put_refused(
        server, "overlaps", {"plots": [note(i, [0, 0, 1, 1]) for i in range(100_000)]}
    )
    assert detail.endswith("at most 64 plots (STREAMVIS_MAX_PLOTS), not 100,000")


def test_put_refuses_a_48_by_48_grid_of_plots(server: PanelServer) -> None:
    plots = [note(r * 48 + c, [r, c, 1, 1]) for r in range(48) for c in range(48)]
    detail = put_refused(server, "big-grid", {"grid": [48, 48], "plots": plots})
    assert "not 2,304" in detail


@pytest.mark.parametrize(
    ("plot", "problem"),
    [
        (
            {"kind": "histogram", "stream": "s", "value": "v", "bins": 300_000_000},
            "plots.h.bins: must be at most 10,000 (STREAMVIS_MAX_BINS), not 300000000",
        ),
        (
            {"kind": "number", "stream": "s", "value": "v", "format": "{:>300000000}"},
            "plots.h.format: width 300000000 is more than 100 (STREAMVIS_MAX_FORMAT_WIDTH)",
        ),
        (
            {"kind": "table", "stream": "s", "columns": ["v"], "rows": 10**9},
            "plots.h.rows: must be at most 1,000 (STREAMVIS_MAX_TABLE_ROWS)",
        ),
        (
            {"kind": "line", "stream": "s", "x": "x", "y": "y", "options": {"points": 10**12}},
            "plots.h.options.points: must be at most 1,000,000 (STREAMVIS_MAX_POINTS)",
        ),
    ],
)
def test_put_refuses_options_that_size_work(
    server: PanelServer, plot: dict[str, Any], problem: str
) -> None:
    layout = {"plots": [{"id": "h", "at": [0, 0, 1, 1], **plot}]}
    assert problem in put_refused(server, f"options-{plot['kind']}", layout)


def serve(layout: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`streamvis serve LAYOUT` on a free port, expected to refuse and exit at once."""
    return subprocess.run(
        [STREAMVIS, "serve", str(layout), "--port", str(free_port()), "--store", "none"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_streamvis_serve_refuses_a_layout_beyond_the_limits_at_start(tmp_path: Path) -> None:
    layout = tmp_path / "big.yaml"
    lines = ["plots:"] + [
        f"  - {{id: p{i}, kind: markdown, text: x, at: [{i // 9}, {i % 9}, 1, 1]}}"
        for i in range(65)
    ]
    layout.write_text("\n".join(lines) + "\n")
    done = serve(layout)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"streamvis: {layout}:1:1: plots: a layout may have at most 64 plots "
        "(STREAMVIS_MAX_PLOTS), not 65\n"
        "       1 | plots:\n"
    )
    assert "dashboard at" not in done.stdout  # no server was started
    done = serve(layout, {"STREAMVIS_MAX_PLOTS": "none"})
    assert done.returncode == 2
    assert (
        done.stderr
        == "streamvis: STREAMVIS_MAX_PLOTS='none' must be a whole number of at least 1\n"
    )


@pytest.mark.ui
def test_runs_patterns_are_answered_or_explained_on_the_page(
    server: PanelServer, open_page
) -> None:
    """`(a+)+$` against a long run name backtracks for ever in Python's re; the page still
    compares the runs it matches. A backreference is explained on the page."""
    port = server.port
    long_name = "a" * 120 + "b"
    for run in (long_name, "aaa"):
        status, _ = call(
            port, "POST", f"{API}/runs/{run}/streams/m", {"step": [1, 2], "v": [1.0, 2.0]}
        )
        assert status == 200
    layout = {"plots": [{"id": "loss", "kind": "line", "stream": "m", "x": "step", "y": "v",
                         "at": [0, 0, 1, 1]}]}  # fmt: skip
    assert call(port, "PUT", f"{API}/runs/aaa/layout", layout)[0] == 200
    open_, console = open_page
    page = open_(f"{server.url}?runs={urllib.parse.quote('(a+)+$')}")
    wait_until(lambda: page.get_by_text("runs: aaa").count() == 1, timeout=60, message="aaa")
    # the header names the matching runs only (the runs panel lists every run, unchecked)
    assert page.locator(".sv-run", has_text=long_name).count() == 0
    assert call(port, "GET", f"{API}/runs")[0] == 200  # the server answers meanwhile
    backreference = urllib.parse.quote("(a)\\1")
    refused = open_(f"{server.url}?runs={backreference}")
    message = refused.get_by_text("backreferences are not supported", exact=False)
    wait_until(lambda: message.count() == 1, timeout=60, message="the refusal shown")
    assert refused.get_by_text("is not a valid regular expression", exact=False).count() == 1
    assert console.errors() == [], console.messages
