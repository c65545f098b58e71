"""Charts scrolled out of view wait, and catch up when shown (page/on_screen.py), in a real
page of an automatic layout of 18 charts (six rows of three; the viewport shows about two
rows): a new step reaches the charts on screen, not those below; scrolled down, the lower
charts catch up with every step and the top ones wait in turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamvis.layout.auto import chart_id
from tests.conftest import LIVE_MODEL, post_json, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

STREAMS = [f"s{index:02d}" for index in range(18)]
TOP, BOTTOM = STREAMS[0], STREAMS[-1]
NEWEST = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const model = live(name);
    const steps = model && model.data.step ? Array.from(model.data.step) : [];
    return steps.length ? Math.max(...steps) : null;
}"""
)

# scroll whatever scrolls the page (the document or a panel's container) to its end
SCROLL_DOWN = """() => {
  let scrolled = 0;
  const visit = (root) => {
    for (const element of root.querySelectorAll("*")) {
      if (element.shadowRoot) visit(element.shadowRoot);
      if (element.scrollHeight > element.clientHeight + 10) {
        const before = element.scrollTop;
        element.scrollTop = element.scrollHeight;
        scrolled += element.scrollTop - before;
      }
    }
  };
  visit(document);
  return scrolled;
}"""


def post(port: int, run: str, stream: str, rows: dict[str, list[float]]) -> None:
    post_json(port, f"runs/{run}/streams/{stream}", rows)


def test_charts_out_of_view_wait_and_catch_up_when_scrolled_to(
    panel_server, open_page, tmp_path: Path
) -> None:
    run = "many"
    server = panel_server("--run", run, plugins=True)
    for stream in STREAMS:
        post(server.port, run, stream, {"step": [0, 1, 2], "loss": [1.0, 0.5, 0.25]})
    open_, console = open_page
    page = open_(server.url)

    def newest(stream: str) -> float | None:
        value = page.evaluate(NEWEST, f"sv:{chart_id(stream, 'loss')}:loss")
        return None if value is None else float(value)

    wait_until(lambda: all(newest(s) == 2 for s in STREAMS), message="every chart drawn")
    step = 2

    def log_step() -> int:
        nonlocal step
        step += 1
        for stream in STREAMS:
            post(server.port, run, stream, {"step": [step], "loss": [1.0 / step]})
        return step

    # the browser's first report of what is on screen comes in its own time: until it has,
    # every chart is ticked; once it has, a step reaches the top chart and not the last
    def top_only() -> bool:
        logged = log_step()
        wait_until(lambda: newest(TOP) == logged, message=f"step {logged} on the top chart")
        return (newest(BOTTOM) or 0) < logged

    wait_until(top_only, interval=0.5, message="a step drawn on screen only")
    waiting_at = newest(BOTTOM)
    for _ in range(3):
        logged = log_step()
        wait_until(lambda at=logged: newest(TOP) == at, message=f"step {logged} on top")
        assert newest(BOTTOM) == waiting_at  # out of view: not one step more
    page.screenshot(path=str(tmp_path / "top.png"))

    # scrolled to the bottom: the last chart catches up at once, the top one waits in turn
    assert page.evaluate(SCROLL_DOWN) > 0  # (a wheel over a chart would zoom it instead)
    wait_until(lambda: newest(BOTTOM) == step, message="the last chart caught up when shown")

    def bottom_only() -> bool:
        logged = log_step()
        wait_until(lambda: newest(BOTTOM) == logged, message=f"step {logged}, last chart")
        return (newest(TOP) or 0) < logged

    wait_until(bottom_only, interval=0.5, message="the top chart waits once out of view")
    page.screenshot(path=str(tmp_path / "bottom.png"))
    assert console.errors() == [], console.messages
