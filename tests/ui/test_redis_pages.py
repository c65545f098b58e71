"""Headless Chromium against two real `panel serve apps/dashboard.py --plugins streamvis.ingest`
processes sharing one real redis-server (STREAMVIS_REDIS): rows sent to process A show in a
page served by process B; a layout PUT through B re-arranges a page open on A; with Redis
stopped, a page keeps what it shows and says the data service is unavailable, and once Redis
is back (same data directory) the notice goes and new rows flow again (docs/scale-out.md,
docs/lag-and-loss.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PanelServer, wait_until
from tests.redis_server import RedisServer
from tests.server.test_ingest_api import API, call, post

pytestmark = [pytest.mark.server, pytest.mark.ui]


@dataclass
class Pair:
    """Two dashboard processes, `a` and `b`, on one Redis."""

    redis: RedisServer
    a: PanelServer
    b: PanelServer


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One redis-server and two server processes on it, for every test of the module."""
    base = tmp_path_factory.mktemp("redis-pages")
    redis = RedisServer(base / "redis").start()
    # PanelServer points STREAMVIS_STORE at a SQLite file: both variables name the Redis here
    env = {"STREAMVIS_REDIS": redis.url, "STREAMVIS_STORE": redis.url}
    servers: list[PanelServer] = []
    try:
        servers.append(PanelServer([], base / "a.log", env, plugins=True))
        servers.append(PanelServer([], base / "b.log", env, plugins=True))
        yield Pair(redis, *servers)
    finally:
        for server in servers:
            server.stop()
        redis.stop()


@pytest.fixture(autouse=True)
def logs_on_failure(pair: Pair, request: pytest.FixtureRequest) -> Iterator[None]:
    """Print both servers' logs when a test of this module failed."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for name, server in (("A", pair.a), ("B", pair.b)):
            print(f"---- panel serve {name} ({server.log_path}) ----\n{server.output()}")


def layout(title: str, *plots: tuple[str, list[int]]) -> dict[str, Any]:
    """A layout of line plots of stream `metrics` (step against v), each at its place."""
    return {
        "title": title,
        "refresh_ms": 100,
        "plots": [
            {"id": plot, "kind": "line", "stream": "metrics", "x": "step", "y": "v", "at": at}
            for plot, at in plots
        ],
    }


def put_layout(server: PanelServer, run: str, spec: dict[str, Any]) -> None:
    reply = call(server.port, "PUT", f"{API}/runs/{run}/layout", json.dumps(spec))
    assert reply.status == 200, reply


def send(server: PanelServer, run: str, steps: range) -> None:
    """Rows `steps` of stream `metrics`, acknowledged by `server` (so stored in Redis)."""
    rows = {"step": list(steps), "v": [float(step % 7) for step in steps]}
    reply = post(server.port, run, "metrics", rows)
    assert reply.status == 200, reply


LIVE = """(name) => { const found = new Set();
    for (const root of Bokeh.documents[0].roots())
        for (const model of root.references()) if (model.name === name) found.add(model);
    return found.size === 1 ? [...found][0] : null; }"""
STEPS = f"""(name) => {{ const m = ({LIVE})(name); return m ? Array.from(m.data.step) : null; }}"""
PROP = f"""([name, prop]) => {{ const m = ({LIVE})(name); return m ? m[prop] : null; }}"""
PLACE = """(name) => { const m = Bokeh.documents[0].get_model_by_name('sv-grid');
    const found = m.children.find(([child]) => [...child.references()].some(r => r.name === name));
    return found ? found.slice(1) : null; }"""


def steps(page: Any, plot: str) -> list[int]:
    """The x values (steps) the page's line `plot` draws ([] before it has any)."""
    return page.evaluate(STEPS, f"sv:{plot}:v") or []


def note(page: Any, plot: str) -> str | None:
    """The text of the row-count note of `plot` on the page."""
    return page.evaluate(PROP, [f"sv-lod:{plot}", "text"])


def figure(page: Any, plot: str) -> str | None:
    """The id of the Bokeh figure of `plot` on the page (None: not drawn)."""
    return page.evaluate(PROP, [f"sv-figure:{plot}", "id"])


def test_rows_sent_to_a_show_in_a_page_on_b(pair: Pair, open_page, tmp_path: Path) -> None:
    put_layout(pair.a, "across", layout("across", ("trend", [0, 0, 1, 1])))
    send(pair.a, "across", range(0, 20))
    open_, console = open_page
    page = open_(f"{pair.b.url}?run=across")
    wait_until(lambda: steps(page, "trend") == list(range(20)), message="A's rows on B")
    for first in (20, 40):  # live rows, each batch through A while B's page is open
        send(pair.a, "across", range(first, first + 20))
        wait_until(
            lambda f=first: steps(page, "trend") == list(range(f + 20)),
            message=f"A's rows up to {first + 19} on B",
        )
    page.screenshot(path=str(tmp_path / "rows-on-b.png"))
    assert console.errors() == [], console.messages


def test_a_layout_put_through_b_rearranges_a_page_on_a(
    pair: Pair, open_page, tmp_path: Path
) -> None:
    before = layout("arranged one", ("trend", [0, 0, 1, 1]), ("gone", [0, 1, 1, 1]))
    put_layout(pair.b, "arranged", before)
    send(pair.b, "arranged", range(0, 30))
    open_, console = open_page
    page = open_(f"{pair.a.url}?run=arranged")
    wait_until(lambda: figure(page, "gone") is not None, message="the first layout on A")
    wait_until(lambda: len(steps(page, "trend")) == 30, message="rows on A")
    kept = figure(page, "trend")

    after = layout("arranged two", ("fresh", [0, 0, 1, 1]), ("trend", [1, 0, 1, 2]))
    put_layout(pair.b, "arranged", after)
    wait_until(lambda: figure(page, "fresh") is not None, message="B's new plot on A")
    wait_until(lambda: page.get_by_text("arranged two").count() == 1, message="the new title")
    wait_until(lambda: figure(page, "gone") is None, message="the removed plot gone from A")
    assert page.evaluate(PLACE, "sv-figure:trend") == [1, 0, 1, 2]
    assert page.evaluate(PLACE, "sv-figure:fresh") == [0, 0, 1, 1]
    assert figure(page, "trend") == kept  # re-arranged in place, not redrawn
    wait_until(lambda: len(steps(page, "fresh")) == 30, message="the new plot's rows")
    page.screenshot(path=str(tmp_path / "rearranged-on-a.png"))
    assert console.errors() == [], console.messages


def test_redis_down_the_page_says_so_keeps_its_rows_and_recovers(
    pair: Pair, open_page, tmp_path: Path
) -> None:
    put_layout(pair.a, "outage", layout("outage", ("trend", [0, 0, 1, 1])))
    send(pair.a, "outage", range(0, 25))
    open_, console = open_page
    page = open_(f"{pair.a.url}?run=outage")
    wait_until(lambda: steps(page, "trend") == list(range(25)), message="rows before")
    notice = page.locator(".sv-store-notice pre")
    assert notice.count() == 0 or not notice.is_visible()

    pair.redis.stop()
    try:
        wait_until(
            lambda: (
                notice.count() == 1
                and notice.is_visible()
                and "data service unavailable (" in (notice.text_content() or "")
            ),
            message="the data service notice",
        )
        assert steps(page, "trend") == list(range(25))  # what the page showed stays
        page.screenshot(path=str(tmp_path / "redis-down.png"))
    finally:
        pair.redis.start()  # the same port and data directory

    wait_until(lambda: not notice.is_visible(), message="the notice gone with Redis back")
    send(pair.a, "outage", range(25, 40))
    wait_until(lambda: steps(page, "trend") == list(range(40)), message="rows after")
    wait_until(lambda: note(page, "trend") == "40 rows (raw)", message="the plot's row count")
    page.screenshot(path=str(tmp_path / "redis-back.png"))
    assert console.errors() == [], console.messages
