"""The per-chart tools in a real page (`panel serve` with the ingest API, headless Chromium):
the log y toggle (read through Bokeh.documents), the CSV download (captured by Playwright and
compared with the rows POSTed, within the x range the browser shows, for two compared runs,
cut at a low cap with its note, producer text guarded against formulas) and the full-window
view (the cell covers the viewport while rows keep arriving)."""

from __future__ import annotations

import csv
import io
import json
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import COLUMN, LIVE_MODEL, post_json, wait_until
from tests.ui.test_lod_lines import SCREEN, box_zoom, plot_state

pytestmark = [pytest.mark.server, pytest.mark.ui]

CAP = 40  # STREAMVIS_CSV_ROWS for this server
PAYLOAD = '=HYPERLINK("http://x","<b>y</b>")'  # a y column named like a formula
LAYOUT = textwrap.dedent(f"""\
    title: tools
    run: a
    refresh_ms: 100
    plots:
      - {{id: loss, kind: line, stream: metrics, x: step, y: v, at: [0, 0, 1, 1]}}
      - id: big
        kind: line
        stream: big
        x: step
        y: [{json.dumps(PAYLOAD)}]
        at: [0, 1, 1, 1]
      - {{id: pts, kind: scatter, stream: metrics, x: step, y: v, at: [1, 0, 1, 2]}}
""")
STEPS = list(range(20))
VALUES = {"a": [1.0 + 0.5 * s for s in STEPS], "b": [100.0 / (s + 1) for s in STEPS]}
BIG = {"a": 100, "b": 25}  # rows of the `big` stream per run: more than CAP in all

FIGURE = (
    """(id) => {"""
    + LIVE_MODEL
    + """
    const figure = live(`sv-figure:${id}`);
    if (!figure) return null;
    return {scale: figure.y_scale.type, axes: figure.left.map((a) => a.type),
            start: figure.x_range.start, end: figure.x_range.end};
}"""
)


def post(port: int, run: str, stream: str, body: dict[str, Any]) -> None:
    post_json(port, f"runs/{run}/streams/{stream}", body)


def download(page: Any, index: int) -> tuple[list[list[str]], list[str]]:
    """Click the CSV button of the page's `index`th chart: (rows, `#` lines) of the file."""
    with page.expect_download() as caught:
        page.locator(".sv-tool-csv .bk-btn").nth(index).click()
    text = Path(caught.value.path()).read_text()
    lines = text.splitlines()
    notes = [line for line in lines if line.startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(x for x in lines if not x.startswith("#")))))
    return rows, notes


def expected_rows(lo: float = -1e18, hi: float = 1e18) -> list[list[str]]:
    """The rows POSTed to `metrics` with step in [lo, hi], both runs, as the CSV writes them."""
    return [
        [run, str(step), repr(value) if not value.is_integer() else str(int(value))]
        for run in ("a", "b")
        for step, value in zip(STEPS, VALUES[run], strict=True)
        if lo <= step <= hi
    ]


@pytest.fixture
def served(tmp_path: Path, panel_server: Any) -> Any:
    layout = tmp_path / "tools.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(
        str(layout),
        plugins=True,
        env={"STREAMVIS_CSV_ROWS": str(CAP)},
    )
    for run in ("a", "b"):
        post(server.port, run, "metrics", {"step": STEPS, "v": VALUES[run]})
        count = BIG[run]
        post(server.port, run, "big", {"step": list(range(count)), PAYLOAD: [0.25] * count})
    return server


def test_log_toggle_csv_and_full_window(served: Any, open_page: Any, tmp_path: Path) -> None:
    open_, console = open_page
    page = open_(f"{served.url}?runs={urllib.parse.quote('a|b')}")

    def drawn(run: str) -> list[float] | None:
        return page.evaluate(COLUMN, [f"sv:loss:{run}/v", "v"])

    wait_until(lambda: drawn("a") == VALUES["a"], message="run a drawn")
    wait_until(lambda: drawn("b") == VALUES["b"], message="run b drawn")
    figure = page.evaluate(FIGURE, "loss")
    assert (figure["scale"], figure["axes"]) == ("LinearScale", ["LinearAxis"])
    # each chart shows a "tools" button; a click puts its tool row in its place
    openers = page.locator(".sv-tools-open .bk-btn")
    wait_until(lambda: openers.count() == 3, message="a tools button per chart")
    assert page.locator(".sv-tool-full").count() == 0  # no tool row made before it is asked
    for left in (2, 1, 0):
        openers.first.click()
        wait_until(lambda left=left: openers.count() == left, message="tool row shown")
    # line plots get all three tools, the scatter plot the full-window view only
    counts = {name: page.locator(f".sv-tool-{name}").count() for name in ("log", "csv", "full")}
    assert counts == {"log": 2, "csv": 2, "full": 3}

    # log y: the figure is built again with a log scale and axis; the data stays
    page.locator(".sv-tool-log .bk-btn").first.click()
    wait_until(
        lambda: (f := page.evaluate(FIGURE, "loss")) and f["scale"] == "LogScale" and f,
        message="log scale",
    )
    assert page.evaluate(FIGURE, "loss")["axes"] == ["LogAxis"]
    wait_until(lambda: drawn("a") == VALUES["a"] and drawn("b") == VALUES["b"], message="kept")
    page.locator(".sv-tool-log .bk-btn").first.click()
    wait_until(
        lambda: (f := page.evaluate(FIGURE, "loss")) and f["scale"] == "LinearScale",
        message="linear again",
    )
    wait_until(lambda: drawn("a") == VALUES["a"], message="data after linear")

    # CSV while following: every row of both runs, a run column first
    rows, notes = download(page, 0)
    assert rows[0] == ["run", "step", "v"]
    assert rows[1:] == expected_rows()
    assert notes == []

    # after a real box zoom: the rows within the x range the browser shows
    wait_until(lambda: (s := plot_state(page, "loss")) and s["width"], message="laid out")
    lo, hi = box_zoom(page, "loss", 4.5, 12.5)
    want = expected_rows(lo, hi)
    assert 0 < len(want) < len(expected_rows())

    def zoomed_csv() -> bool:  # the zoom's range event reaches the server in its own time
        return download(page, 0)[0][1:] == want

    wait_until(zoomed_csv, message="CSV of the zoomed range")

    # log y while zoomed keeps the user's x range, and the CSV still holds that range
    page.locator(".sv-tool-log .bk-btn").first.click()
    seen: list[Any] = []

    def log_over_range() -> bool:
        figure = page.evaluate(FIGURE, "loss")
        seen.append(figure)
        if not figure or figure["scale"] != "LogScale":
            return False
        return (figure["start"], figure["end"]) == pytest.approx((lo, hi))

    try:
        wait_until(log_over_range, message="log scale over the zoomed range")
    except AssertionError as failed:
        raise AssertionError(f"{failed}: wanted {(lo, hi)}, saw {seen[-3:]}") from None
    assert download(page, 0)[0][1:] == want

    # the cap: fair shares of CAP rows per run, and a note saying so; the y column's name
    # is producer text starting with "=", written with a leading "'"
    rows, notes = download(page, 1)
    assert rows[0] == ["run", "step", "'" + PAYLOAD]
    share = CAP // 2
    assert rows[1:] == [[run, str(step), "0.25"] for run in ("a", "b") for step in range(share)]
    total = sum(BIG.values())
    assert notes == [
        f"# truncated: {CAP:,} of {total:,} rows written "
        f"(at most {CAP:,} rows per download; the first rows of each run)"
    ]
    label = page.locator(".sv-tool-csv .bk-btn").first.inner_text()
    assert f"≤{CAP:,}" in label

    # the toolbar's reset: the chart follows the whole run again, and so does the CSV
    reset = page.evaluate(SCREEN, ["loss", [], "ResetTool"])["button"]
    page.mouse.click(*reset)
    wait_until(lambda: download(page, 0)[0][1:] == expected_rows(), message="CSV after reset")
    steps = [float(row[1]) for row in expected_rows()]

    def whole_run_shown() -> bool:  # not the zoom the log toggle's new figure started at
        figure = page.evaluate(FIGURE, "loss")
        return bool(figure) and figure["start"] <= min(steps) and figure["end"] >= max(steps)

    wait_until(whole_run_shown, message="the whole run's x range after reset")

    # full window: the cell covers the viewport, new rows keep arriving, and back
    page.locator(".sv-tool-full .bk-btn").first.click()
    cell = page.locator(".sv-full-window")
    viewport = page.viewport_size
    wait_until(
        lambda: (
            cell.count() == 1
            and (box := cell.bounding_box())
            and abs(box["x"]) < 1
            and abs(box["y"]) < 1
            and box["width"] >= viewport["width"] - 1
            and box["height"] >= viewport["height"] - 1
        ),
        message="cell over the whole window",
    )
    wait_until(
        lambda: (s := plot_state(page, "loss")) and s["width"] > viewport["width"] * 0.8,
        message="figure stretched over the window",
    )
    post(served.port, "a", "metrics", {"step": [20], "v": [12.25]})
    wait_until(lambda: 12.25 in (drawn("a") or []), message="new row drawn while enlarged")
    Path("/work/shots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path="/work/shots/tools.png")
    page.locator(".sv-tool-full .bk-btn").first.click()
    wait_until(lambda: cell.count() == 0, message="back in the grid")
    wait_until(
        lambda: (s := plot_state(page, "loss")) and s["width"] < viewport["width"] * 0.6,
        message="figure back to its cell",
    )
    assert console.errors() == [], console.messages
