"""Line plots of a million-row run in headless Chromium against a real `panel serve`: the
first view is the whole run within 4 points per pixel column, a real box zoom into the middle
shows exactly the raw rows there, the range stays where the user put it while rows arrive,
and reset follows the newest rows again. For one run, two compared runs and a smoothed line.

One server for the module: tests/lod_producer.py writes ROWS rows to each of runs a, b, c
before any page opens; a run's rows keep coming once the test opens its gate, so its first
view is of exactly ROWS rows. Deadlines are generous (PATIENCE-scaled polls): the tests check
what is drawn, never how fast."""

from __future__ import annotations

import textwrap
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamvis.core.lod import Line, pixel_min_max
from streamvis.transforms.smoothing import ema
from tests.conftest import LIVE_MODEL, PanelServer, wait_until
from tests.lod_producer import ROWS, values

pytestmark = [pytest.mark.server, pytest.mark.ui]

WEIGHT = 0.9
LAYOUT = textwrap.dedent(f"""\
    title: level of detail
    run: a
    refresh_ms: 100
    plots:
      - {{id: loss, kind: line, stream: metrics, x: step, y: value, at: [0, 0, 1, 1]}}
      - {{id: smooth, kind: line, stream: metrics, x: step, y: value,
          options: {{smoothing: {WEIGHT}}}, at: [1, 0, 1, 1]}}
""")
POINTS_PER_PIXEL = 4

# Every column of a data source (NaN stays NaN through Playwright).
SOURCE = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const model = live(name);
    if (!model) return null;
    const out = {};
    for (const [key, column] of Object.entries(model.data)) out[key] = Array.from(column);
    return out;
}"""
)
# A plot's x range, pixel width and note.
PLOT = (
    """(id) => {"""
    + LIVE_MODEL
    + """
    const figure = live(`sv-figure:${id}`), range = live(`sv-x:${id}`);
    const note = live(`sv-lod:${id}`);
    if (!figure || !range || !note) return null;
    return {start: range.start, end: range.end, width: figure.inner_width, note: note.text};
}"""
)
# Where on the screen the plot's frame is, where data x values fall, and the toolbar button
# of a tool, from the figure's view.
SCREEN = (
    """([id, xs, tool]) => {"""
    + LIVE_MODEL
    + """
    const figure = live(`sv-figure:${id}`);
    const view = figure && Bokeh.index.find_one(figure);
    if (!view) return null;
    const canvas = view.canvas_view.el.getBoundingClientRect();
    const frame = view.frame.bbox;
    const wanted = figure.toolbar.tools.find((t) => t.type === tool);
    const buttons = [...Bokeh.index.query((v) => v.model && v.model.tool === wanted)];
    const box = buttons.length ? buttons[0].el.getBoundingClientRect() : null;
    const button = box && box.width ? [box.x + box.width / 2, box.y + box.height / 2] : null;
    return {
        top: canvas.y + frame.top,
        bottom: canvas.y + frame.bottom,
        xs: xs.map((x) => canvas.x + view.frame.x_scale.compute(x)),
        button,
        active: wanted ? wanted.active : false,
    };
}"""
)


# What a failed box zoom leaves to explain it: every model named like the plot's figure and
# x range (a re-render makes new ones), the toolbar's active drag, and the range now.
ZOOM_DIAGNOSIS = """(id) => {
    const doc = Bokeh.documents[0], named = (name) => {
        const found = new Set();
        for (const root of doc.roots())
            for (const model of root.references()) if (model.name === name) found.add(model);
        return [...found];
    };
    const figures = named(`sv-figure:${id}`), ranges = named(`sv-x:${id}`);
    return {
        figures: figures.map((f) => ({
            id: f.id,
            drag: String(f.toolbar.active_drag && f.toolbar.active_drag.type),
            views: [...Bokeh.index.query((v) => v.model === f)].length,
        })),
        ranges: ranges.map((r) => ({id: r.id, start: r.start, end: r.end})),
    };
}"""


@dataclass
class Served:
    server: PanelServer
    gates: Path

    def let_rows_flow(self, *runs: str) -> None:
        """From now on the producer keeps adding rows to these runs."""
        for run in runs:
            (self.gates / run).touch()

    def newest(self, run: str) -> int:
        """The newest step the producer wrote to `run` (ROWS - 1 before its gate opened)."""
        found = self.gates / f"{run}.newest"
        return int(found.read_text()) if found.exists() else ROWS - 1

    def wait_for_rows(self, run: str, rows: int) -> int:
        """Wait until `rows` more rows were written to `run`; returns the newest step."""
        target = self.newest(run) + rows
        wait_until(lambda: self.newest(run) >= target, timeout=120, message=f"{run}: new rows")
        return target


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("lod")
    gates = folder / "gates"
    gates.mkdir()
    layout = folder / "layout.yaml"
    layout.write_text(LAYOUT)
    server = PanelServer(
        [str(layout), "--producer", "tests/lod_producer.py:million_rows"],
        folder / "server.log",
        env={"STREAMVIS_TEST_GATES": str(gates)},
    )
    try:
        with urllib.request.urlopen(server.url, timeout=60 * 3) as response:
            response.read()  # the first session starts the producer
        wait_until(lambda: (gates / "written").exists(), timeout=120, message="rows written")
        yield Served(server, gates)
    except BaseException:
        print(f"---- panel serve log ----\n{server.output()}")
        raise
    finally:
        server.stop()


def source(page: Any, name: str) -> dict[str, np.ndarray] | None:
    data = page.evaluate(SOURCE, name)
    return None if data is None else {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}


def plot_state(page: Any, plot_id: str) -> dict[str, Any] | None:
    return page.evaluate(PLOT, plot_id)


Want = dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]]  # source -> column, values


def view_width(state: dict[str, Any]) -> int:
    """The pixel columns a view is computed at: the plot's width, capped by `points` / 4
    (the default 10,000 points: 2,500 columns)."""
    return min(int(state["width"]), 10_000 // POINTS_PER_PIXEL)


def expected(run: str, steps: np.ndarray) -> np.ndarray:
    return values(run, steps.astype(np.int64))


def first_view_is_the_whole_run(
    page: Any, plot_id: str, name: str, column: str, run: str, runs: int = 1
) -> None:
    """Wait for the whole-run view of ROWS rows and check it: x from the first row to the
    last, at most 4 points per pixel column, the same min and max per pixel column as every
    raw row, and the note saying so (the rows of all `runs` of the figure)."""
    steps = np.arange(ROWS)
    raw = Line(steps.astype(np.float64), expected(run, steps))

    def settled() -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        state, data = plot_state(page, plot_id), source(page, name)
        if not state or not data or not state["width"] or column not in data:
            return None
        x, y = data["step"], data[column]
        width = view_width(state)
        if len(x) == 0 or len(x) > POINTS_PER_PIXEL * width:  # the view at an older width
            return None
        got = pixel_min_max(Line(x, y), 0, ROWS - 1, width)
        want = pixel_min_max(raw, 0, ROWS - 1, width)
        same = all(np.array_equal(g, w, equal_nan=True) for g, w in zip(got, want, strict=True))
        return (data, state) if same else None

    data, state = wait_until(settled, timeout=120, message=f"whole-run view of {name}")
    width = view_width(state)
    x = data["step"]
    assert x[0] == 0, x[:3]
    assert x[-1] == ROWS - 1, x[-3:]
    assert np.all(np.diff(x) >= 0)
    state = plot_state(page, plot_id)  # and the x axis shows all of it
    assert state["start"] <= 0, state
    assert state["end"] >= ROWS - 1, state
    note = wait_until(lambda: plot_state(page, plot_id)["note"], message="note")
    rows, drawn = note.removesuffix(" drawn").split(" rows, ")
    assert rows == f"{runs * ROWS:,}", note
    # the longest line of the figure (a smoothed line may hold more points than its raw one)
    assert len(x) <= int(drawn.replace(",", "")) <= POINTS_PER_PIXEL * width, note


def box_zoom(page: Any, plot_id: str, lo: float, hi: float) -> tuple[float, float]:
    """Pick the plot's box zoom tool in its toolbar and drag a box from x=lo to x=hi over the
    frame's full height; returns the x range the browser then shows."""
    before = plot_state(page, plot_id)
    screen = wait_until(
        lambda: page.evaluate(SCREEN, [plot_id, [lo, hi], "BoxZoomTool"]), message="frame"
    )
    assert screen["button"], "no box zoom button in the toolbar"
    if not screen["active"]:  # a click on the active tool's button would turn it off
        page.mouse.click(*screen["button"])
        wait_until(
            lambda: page.evaluate(SCREEN, [plot_id, [], "BoxZoomTool"])["active"],
            message="box zoom picked",
        )
    (x0, x1), top, bottom = screen["xs"], screen["top"], screen["bottom"]
    # from the bottom edge up: the lines run near the top there, and a hover tooltip that
    # opens under the pointer as it reaches a line would take the press from the canvas
    diagnosis = page.evaluate(ZOOM_DIAGNOSIS, plot_id)
    page.mouse.move(x0, bottom - 2)
    page.mouse.down()
    page.mouse.move(x1, top + 2, steps=10)
    page.mouse.up()
    try:
        state = wait_until(
            lambda: (
                (s := plot_state(page, plot_id))
                and (s["start"], s["end"]) != (before["start"], before["end"])
                and s
            ),
            message=f"{plot_id} zoomed",
        )
    except AssertionError as failed:
        after = page.evaluate(ZOOM_DIAGNOSIS, plot_id)
        raise AssertionError(
            f"{failed}\nbefore: {before} {diagnosis}\nscreen: {screen}\nafter: {after}"
        ) from None
    pixel = (before["end"] - before["start"]) / before["width"]  # the box is a pixel exact
    assert lo - 2 * pixel < state["start"] < state["end"] < hi + 2 * pixel, (state, lo, hi)
    return state["start"], state["end"]


def zoom_to_raw(page: Any, plot_id: str, lines: Want, runs: int = 1) -> tuple[float, float]:
    """Two real box zooms into the middle of the run: first a range of about 30 pixel widths
    of rows, drawn per pixel column with the same min and max per column as every raw row
    (the note counting the rows of all `runs`), then a range of about two widths inside it
    (raw). `lines`: source name -> (column, the values of given steps)."""
    width = view_width(plot_state(page, plot_id))
    middle = ROWS * 0.43
    lo, hi = box_zoom(page, plot_id, middle - 15 * width, middle + 15 * width)
    inside = np.arange(int(np.ceil(lo)), int(np.floor(hi)) + 1)
    for name, (column, want) in lines.items():
        raw = Line(inside.astype(np.float64), want(inside))

        def pixel_exact(n: str = name, c: str = column, r: Line = raw) -> dict | None:
            state, data = plot_state(page, plot_id), source(page, n)
            if not state["note"].startswith(f"{runs * len(inside):,} rows, ") or not data:
                return None
            got = pixel_min_max(Line(data["step"], data[c]), lo, hi, view_width(state))
            same = pixel_min_max(r, lo, hi, view_width(state))
            if not all(
                np.array_equal(g, w, equal_nan=True) for g, w in zip(got, same, strict=True)
            ):
                return None
            return {"points": len(data["step"]), "width": view_width(state)}

        found = wait_until(pixel_exact, timeout=120, message=f"{name}: the zoomed range")
        # at most 4 points per pixel column, and the row just outside each edge
        assert found["points"] <= POINTS_PER_PIXEL * found["width"] + 2, (name, found)
    middle = (lo + hi) / 2
    return box_zoom(page, plot_id, middle - width, middle + width)


def raw_rows(lo: float, hi: float) -> np.ndarray:
    """The steps a raw view of [lo, hi] holds: every row in it and the row each side."""
    return np.arange(int(np.ceil(lo)) - 1, int(np.floor(hi)) + 2)


def holds_raw_rows(page: Any, name: str, column: str, steps: np.ndarray, want: np.ndarray):
    """The source holds exactly these rows first (rows that arrived since may follow)."""
    data = source(page, name)
    if not data or column not in data or len(data["step"]) < len(steps):
        return None
    x, y = data["step"], data[column]
    head = len(steps)
    if not np.array_equal(x[:head], steps) or not (x[head:] > steps[-1]).all():
        return None
    np.testing.assert_allclose(y[:head], want, rtol=1e-12, equal_nan=True, err_msg=name)
    return data


def held_range(page: Any, plot_id: str) -> tuple[float, float]:
    state = plot_state(page, plot_id)
    return state["start"], state["end"]


def click_reset(page: Any, plot_id: str) -> None:
    screen = wait_until(lambda: page.evaluate(SCREEN, [plot_id, [], "ResetTool"]), message="frame")
    assert screen["button"], "no reset button in the toolbar"
    page.mouse.click(*screen["button"])


def newest_step(page: Any, name: str) -> float:
    data = source(page, name)
    return float(np.nanmax(data["step"])) if data and len(data["step"]) else -1.0


def holds_while_rows_arrive(page: Any, served: Served, plots: dict[str, Want], run: str) -> None:
    """Each plot's x range stays while more than a pixel width of rows arrives (so its range
    was resolved again meanwhile): its sources still hold the raw rows of the range, and new
    rows still reach the page. `plots`: plot id -> source name -> (column, the values of
    given steps)."""
    held = {plot_id: held_range(page, plot_id) for plot_id in plots}
    width = max(view_width(plot_state(page, plot_id)) for plot_id in plots)
    newest = served.wait_for_rows(run, width + 100)
    for plot_id, lines in plots.items():
        steps = raw_rows(*held[plot_id])
        for name, (column, want) in lines.items():
            values = want(steps)
            wait_until(
                lambda n=name, c=column, s=steps, w=values: (
                    (data := holds_raw_rows(page, n, c, s, w)) and data["step"][-1] >= newest
                ),
                timeout=120,
                message=f"{name}: the range's raw rows and rows newer than step {newest}",
            )
        assert held_range(page, plot_id) == held[plot_id]


def reset_follows(page: Any, served: Served, plots: dict[str, list[str]], run: str) -> None:
    """The reset tool of each plot: the whole run again in every source, and the x range
    follows the newest rows (`run`'s) through more than a pixel width of them.
    `plots`: plot id -> its source names."""

    def whole_run(plot_id: str) -> float | None:
        state = plot_state(page, plot_id)
        for name in plots[plot_id]:
            data = source(page, name)
            first, last = data["step"][0], data["step"][-1]
            if first > last - ROWS + 1 or state["start"] > first or state["end"] < last:
                return None  # not yet the whole run of kept rows, or not all of it on screen
            # a whole-run view within 4 points per pixel column, plus the rows sent as
            # deltas since (at most a pixel width of them: then the whole run is resolved).
            # The frame can narrow by a few pixels as the y axis' labels change after the
            # reset; the server answers the new width in its next tick: wait for that.
            if len(data["step"]) > (POINTS_PER_PIXEL + 1) * view_width(state):
                return None
        return state["end"]

    for plot_id, names in plots.items():
        newest = max(newest_step(page, name) for name in names)
        click_reset(page, plot_id)
        end = wait_until(
            lambda p=plot_id: whole_run(p), timeout=120, message=f"{plot_id}: whole run"
        )
        assert end >= newest
    # following through more than a pixel width of rows (a whole-run view resolved again)
    width = max(view_width(plot_state(page, plot_id)) for plot_id in plots)
    target = served.wait_for_rows(run, width + 100)
    for plot_id in plots:
        wait_until(
            lambda p=plot_id: (end := whole_run(p)) and end >= target,
            timeout=120,
            message=f"{plot_id}: follows the newest rows",
        )


def test_one_run_and_a_smoothed_line(served: Served, open_page, tmp_path: Path) -> None:
    open_, console = open_page
    page = open_(served.server.url)
    first_view_is_the_whole_run(page, "loss", "sv:loss:value", "value", "a")
    first_view_is_the_whole_run(page, "smooth", "sv:smooth:value", "value", "a")
    page.screenshot(path=str(tmp_path / "lod-whole-run.png"))

    # a zoom into the middle: exactly the raw rows of the range, as the producer wrote them
    values_of_a = partial(expected, "a")
    lo, hi = zoom_to_raw(page, "loss", {"sv:loss:value": ("value", values_of_a)})
    steps = raw_rows(lo, hi)
    wait_until(
        lambda: holds_raw_rows(page, "sv:loss:value", "value", steps, expected("a", steps)),
        timeout=120,
        message="raw rows of the zoomed range",
    )
    note = plot_state(page, "loss")["note"]
    assert note == f"{len(steps) - 2:,} rows (raw)", note

    # the smoothed line zoomed in: the EMA over every row from step 0, not just the zoomed ones
    smoothed = ema(expected("a", np.arange(ROWS)), WEIGHT)
    smooth_lines: Want = {
        "sv:smooth:value": ("value", values_of_a),
        "sv:smooth:value_smoothed": ("value_smoothed", lambda steps: smoothed[steps]),
    }
    lo, hi = zoom_to_raw(page, "smooth", smooth_lines)
    steps = raw_rows(lo, hi)
    wait_until(
        lambda: holds_raw_rows(page, "sv:smooth:value", "value", steps, expected("a", steps)),
        timeout=120,
        message="raw rows of the smoothed plot's range",
    )
    wait_until(
        lambda: holds_raw_rows(
            page, "sv:smooth:value_smoothed", "value_smoothed", steps, smoothed[steps]
        ),
        timeout=120,
        message="smoothed raw rows",
    )
    page.screenshot(path=str(tmp_path / "lod-zoomed.png"))

    # rows keep arriving: the ranges stay; smoothing continues over them
    served.let_rows_flow("a")
    plots = {"loss": {"sv:loss:value": ("value", values_of_a)}, "smooth": smooth_lines}
    holds_while_rows_arrive(page, served, plots, "a")

    def smoothing_continues() -> bool:
        data = source(page, "sv:smooth:value_smoothed")
        fresh = data["step"] >= ROWS
        if not fresh.any():  # the range was just resolved again: wait for more deltas
            return False
        everything = ema(expected("a", np.arange(int(data["step"][-1]) + 1)), WEIGHT)
        np.testing.assert_allclose(
            data["value_smoothed"][fresh], everything[data["step"][fresh].astype(int)], rtol=1e-9
        )
        return True

    wait_until(smoothing_continues, timeout=120, message="new rows smoothed")

    sources = {
        "loss": ["sv:loss:value"],
        "smooth": ["sv:smooth:value", "sv:smooth:value_smoothed"],
    }
    reset_follows(page, served, sources, "a")
    page.screenshot(path=str(tmp_path / "lod-reset.png"))
    assert console.errors() == [], console.messages


def test_two_compared_runs(served: Served, open_page, tmp_path: Path) -> None:
    open_, console = open_page
    page = open_(f"{served.server.url}?runs={urllib.parse.quote('b|c')}")
    names = {run: f"sv:loss:{run}/value" for run in ("b", "c")}
    for run, name in names.items():
        first_view_is_the_whole_run(page, "loss", name, "value", run, runs=2)
    page.screenshot(path=str(tmp_path / "lod-compare.png"))

    lines: Want = {name: ("value", partial(expected, run)) for run, name in names.items()}
    lo, hi = zoom_to_raw(page, "loss", lines, runs=2)
    steps = raw_rows(lo, hi)
    for run, name in names.items():
        wait_until(
            lambda r=run, n=name: holds_raw_rows(page, n, "value", steps, expected(r, steps)),
            timeout=120,
            message=f"raw rows of run {run}",
        )
    page.screenshot(path=str(tmp_path / "lod-compare-zoomed.png"))

    served.let_rows_flow("b", "c")
    holds_while_rows_arrive(page, served, {"loss": lines}, "c")
    reset_follows(page, served, {"loss": list(names.values())}, "c")
    assert console.errors() == [], console.messages
