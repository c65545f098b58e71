"""The crossfilter tutorial rebuilt: purchases over a websocket, a ring by year and a row chart
by person in one crossfilter group. Clicking the 2014 wedge filters the row chart to exactly
the 2014 purchases the feed sent, new purchases keep arriving under the filter, reset
restores the totals, and two pages filter independently."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

VALUES = """(name) => { const m = Bokeh.documents[0].get_model_by_name(name);
    if (!m) return null; const out = {};
    m.data.category.forEach((c, i) => { out[c] = m.data.value[i]; }); return out; }"""
WEDGE_CENTER = """() => {
    const doc = Bokeh.documents[0];
    const source = doc.get_model_by_name('sv:by_year:wedges');
    const index = Array.from(source.data.category).indexOf('2014');
    if (index < 0) return null;
    const flat = (v) => Array.isArray(v) || ArrayBuffer.isView(v)
        ? Array.from(v).flatMap(flat) : [v];
    const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
    const mx = mean(flat(source.data.xs[index])), my = mean(flat(source.data.ys[index]));
    const view = Bokeh.index.find_one(doc.get_model_by_name('sv-figure:by_year'));
    const box = view.canvas_view.el.getBoundingClientRect();
    return [box.left + view.frame.x_scale.compute(mx), box.top + view.frame.y_scale.compute(my)];
}"""

# True once the 2014 wedge is the selected one (the others dimmed by the alpha column)
SELECTED_2014 = """() => {
    const source = Bokeh.documents[0].get_model_by_name('sv:by_year:wedges');
    if (!source || !source.data.alpha) return false;
    const alpha = Array.from(source.data.alpha);
    const index = Array.from(source.data.category).indexOf('2014');
    return index >= 0 && alpha[index] === Math.max(...alpha) && Math.min(...alpha) < alpha[index];
}"""


def click_2014(page) -> None:
    """Tap the 2014 wedge until the page shows it selected: a tap that lands while the
    figure is being redrawn by new records can be lost, and a second tap on a wedge that
    is already selected would unselect it, so only tap again while nothing is selected."""
    for _ in range(5):
        center = wait_until(lambda: page.evaluate(WEDGE_CENTER), timeout=60, message="wedge")
        page.mouse.click(*center)
        try:
            wait_until(lambda: page.evaluate(SELECTED_2014), timeout=20, message="2014 dimmed")
            return
        except AssertionError:
            if page.evaluate(SELECTED_2014):
                return
    raise AssertionError("tapping the 2014 wedge never selected it")


def sums(records: list[dict], year: int | None = None) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for record in records:
        if year is None or record["Year"] == year:
            totals[record["Name"]] += record["Spent"]
    return dict(totals)


def close(a: dict[str, float] | None, b: dict[str, float]) -> bool:
    return a is not None and a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-6 for k in b)


def matches_feed(shown: dict[str, float] | None, log: Path, year: int | None = None) -> bool:
    """The page equals the exact sums over everything the feed had sent a moment ago: the
    whole log, or the log without its newest few records (still on their way to the page)."""
    if shown is None or not log.exists():
        return False
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return any(close(shown, sums(records[: len(records) - lag], year)) for lag in range(6))


@pytest.fixture
def feed(tmp_path: Path):
    port, log = free_port(), tmp_path / "sent.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "purchases_feed.py"),
            "--port",
            str(port),
            "--interval",
            "0.25",
            "--seed",
            "7",
            "--log",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, message="purchases feed")
    yield port, log
    process.terminate()
    process.wait(10)


def test_click_2014_wedge_filters_the_row_chart(
    feed, tmp_path: Path, panel_server, open_page
) -> None:
    port, log = feed
    layout = tmp_path / "purchases.yaml"
    layout.write_text(
        (ROOT / "examples" / "purchases.yaml")
        .read_text()
        .replace("ws://127.0.0.1:8001/ws", f"ws://127.0.0.1:{port}/ws")
    )
    server = panel_server(str(layout))
    open_, console = open_page
    page = open_(server.url)
    wait_until(
        lambda: matches_feed(page.evaluate(VALUES, "sv:by_name:value"), log),
        timeout=30,
        message="row chart totals match the feed",
    )
    click_2014(page)
    wait_until(
        lambda: matches_feed(page.evaluate(VALUES, "sv:by_name:value"), log, 2014),
        timeout=60,
        message="row chart shows only 2014",
    )
    seen = len(log.read_text().splitlines())
    wait_until(
        lambda: len(log.read_text().splitlines()) >= seen + 8, timeout=60, message="more records"
    )
    wait_until(
        lambda: matches_feed(page.evaluate(VALUES, "sv:by_name:value"), log, 2014),
        timeout=60,
        message="new records filtered too",
    )
    page.screenshot(path=str(tmp_path / "filtered.png"))

    other = open_(server.url)  # a second viewer is not filtered by the first
    wait_until(
        lambda: matches_feed(other.evaluate(VALUES, "sv:by_name:value"), log),
        timeout=60,
        message="second page shows all",
    )

    page.get_by_role("button", name="reset all (shop)").click()
    wait_until(
        lambda: matches_feed(page.evaluate(VALUES, "sv:by_name:value"), log),
        timeout=60,
        message="reset restores the totals",
    )
    assert console.errors() == [], console.messages
