"""Values that can be read, in headless Chromium against a real `panel serve`: the mouse over
a line plot at a known step shows one tooltip listing every drawn line's value there, equal
to the raw rows (a downsampled whole-run view of two y columns, and two compared runs); a
log axis labels 0.1 and 0.01; a step axis reaching 2e6 has plain labels; a table shows
2014, not 2,014.

One server for the module: tests/hover_producer.py writes every row before a page opens
and then stops, so the test knows each raw row."""

from __future__ import annotations

import textwrap
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import LIVE_MODEL, PanelServer, wait_until
from tests.hover_producer import ROWS, STEP, acc, loss

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: hover
    run: a
    refresh_ms: 100
    plots:
      - {id: loss, kind: line, stream: metrics, x: step, y: [loss, acc], at: [0, 0, 1, 1]}
      - {id: logloss, kind: line, stream: metrics, x: step, y: loss,
         options: {logy: true}, at: [1, 0, 1, 1]}
      - {id: years, kind: table, stream: years, columns: [year, score], at: [0, 1, 2, 1]}
""")
LAST_STEP = (ROWS - 1) * STEP

# The hover source of a plot (its representative x per pixel column) and its note.
HOVER = (
    """(id) => {"""
    + LIVE_MODEL
    + """
    const source = live(`sv-hover:${id}`), note = live(`sv-lod:${id}`);
    if (!source || !source.data.x || !note) return null;
    return {x: Array.from(source.data.x), note: note.text};
}"""
)
# Where a data x falls on the screen, and the vertical middle of the plot's frame.
SCREEN = (
    """([id, x]) => {"""
    + LIVE_MODEL
    + """
    const figure = live(`sv-figure:${id}`);
    const view = figure && Bokeh.index.find_one(figure);
    if (!view) return null;
    const canvas = view.canvas_view.el.getBoundingClientRect();
    const frame = view.frame.bbox;
    return {x: canvas.x + view.frame.x_scale.compute(x), y: canvas.y + frame.vcenter};
}"""
)
# The tick labels each axis of a plot shows now: {x: [label, ...], y: [...]}.
AXIS_LABELS = (
    """(id) => {"""
    + LIVE_MODEL
    + """
    const figure = live(`sv-figure:${id}`);
    if (!figure) return null;
    const out = {};
    for (const axis of [...figure.below, ...figure.left]) {
        const view = [...Bokeh.index.query((v) => v.model === axis)][0];
        if (!view || axis.formatter === undefined) continue;
        const ticks = view.tick_coords.major[view.dimension];
        out[view.dimension == 0 ? "x" : "y"] = axis.formatter.doFormat(ticks, {loc: 0});
    }
    return out;
}"""
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    folder = tmp_path_factory.mktemp("hover")
    layout = folder / "layout.yaml"
    layout.write_text(LAYOUT)
    served = PanelServer(
        [str(layout), "--producer", "tests/hover_producer.py:write_runs"], folder / "server.log"
    )
    try:
        with urllib.request.urlopen(served.url, timeout=60 * 3) as response:
            response.read()  # the first session starts the producer
        yield served
    except BaseException:
        print(f"---- panel serve log ----\n{served.output()}")
        raise
    finally:
        served.stop()


def whole_hover(page: Any, plot_id: str) -> list[float]:
    """The hover rows once they cover the whole run (every row written, a downsampled view)."""

    def ready() -> list[float] | None:
        found = page.evaluate(HOVER, plot_id)
        if not found or not found["x"] or np.nanmax(found["x"]) != LAST_STEP:
            return None
        assert found["note"].endswith(" drawn"), found["note"]  # M4, not every row
        return found["x"]

    return wait_until(ready, timeout=120, message=f"{plot_id}: hover rows of the whole run")


def tooltip(page: Any) -> list[tuple[str, str]]:
    """(label, value) of each row of the visible tooltip."""
    labels = page.locator(".bk-tooltip-row-label:visible").all_inner_texts()
    values = page.locator(".bk-tooltip-row-value:visible").all_inner_texts()
    return [(a.strip().removesuffix(":"), b.strip()) for a, b in zip(labels, values, strict=True)]


def hover_at(page: Any, plot_id: str, fraction: float) -> dict[str, str]:
    """Move the mouse over the plot at the hover row `fraction` of the way along the x axis
    (a known x: the raw step that row stands for) and read the tooltip once it shows that
    step. The hover rows change when the view does (the browser's first report of the
    plot's width): each try reads them again."""
    tried: list[Any] = []

    def shown() -> dict[str, str] | None:
        xs = whole_hover(page, plot_id)
        step = xs[int(fraction * (len(xs) - 1))]
        screen = page.evaluate(SCREEN, [plot_id, step])
        if not screen:
            return None
        page.mouse.move(screen["x"], screen["y"] - 30)
        page.mouse.move(screen["x"], screen["y"])
        rows = dict(tooltip(page))
        tried.append((step, rows))
        return rows if rows.get("step") == str(int(step)) else None

    try:
        return wait_until(shown, interval=0.3, message=f"a tooltip {fraction:.0%} along x")
    except AssertionError as failed:
        raise AssertionError(f"{failed}\nlast tries: {tried[-3:]}") from None


def close(shown: str, want: float) -> bool:
    """The tooltip's %.6g text stands for `want`."""
    return bool(np.isclose(float(shown), want, rtol=1e-5, atol=0))


def test_hover_axes_and_table_of_one_run(server: PanelServer, open_page, tmp_path: Path) -> None:
    open_, console = open_page
    page = open_(server.url)
    for fraction in (1 / 3, 2 / 3):
        shown = hover_at(page, "loss", fraction)
        step = int(shown["step"])
        steps = np.array([step])
        assert set(shown) == {"step", "loss", "acc"}, shown
        assert close(shown["loss"], loss("a", steps)[0]), (step, shown)
        assert close(shown["acc"], acc("a", steps)[0]), (step, shown)
        assert step % STEP == 0  # a raw row's own step
    page.screenshot(path=str(tmp_path / "hover-one-run.png"))

    # a log axis over 1.4 .. 0.005 labels 0.1 and 0.01; steps up to 2e6 read plainly
    labels = wait_until(
        lambda: (
            (found := page.evaluate(AXIS_LABELS, "logloss")) and "0.01" in found["y"] and found
        ),
        message="log axis labels",
    )
    assert {"0.1", "0.01", "1"} <= set(labels["y"]), labels
    assert all("e" not in label for label in labels["x"]), labels
    steps = page.evaluate(AXIS_LABELS, "loss")["x"]
    assert "2000000" in steps or "1000000" in steps, steps
    assert not any("e" in label or "," in label for label in steps), steps

    # a table: the year as written, fractions in full
    cells = wait_until(
        lambda: (found := page.locator(".slick-cell").all_inner_texts()) and found,
        message="table cells",
    )
    assert {"2014", "2013", "0.25", "1234567.5"} <= set(cells), cells
    assert "2,014" not in cells
    assert console.errors() == [], console.messages


def test_hover_lists_every_compared_run(server: PanelServer, open_page) -> None:
    open_, console = open_page
    page = open_(f"{server.url}?runs={urllib.parse.quote('a|b')}")
    shown = hover_at(page, "loss", 0.5)
    steps = np.array([int(shown["step"])])
    assert set(shown) == {"step", "a: loss", "a: acc", "b: loss", "b: acc"}, shown
    for run in ("a", "b"):
        assert close(shown[f"{run}: loss"], loss(run, steps)[0]), (run, shown)
        assert close(shown[f"{run}: acc"], acc(run, steps)[0]), (run, shown)
    shots = Path("/work/shots")
    if shots.is_dir():
        page.screenshot(path=str(shots / "hover.png"))
    assert console.errors() == [], console.messages
