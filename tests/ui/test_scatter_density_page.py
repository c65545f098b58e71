"""A scatter plot of 200,000 rows in a real page: a density image whose counts add up to
every row, a note saying so, a box zoom in Chromium re-binned for the new range at the
plot's pixel size, a zoom into few rows drawn as points; and a small scatter beside it
drawn as points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import LIVE_MODEL, post_json, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: density
    refresh_ms: 100
    plots:
      - {id: cloud, kind: scatter, stream: big, x: x, y: y, at: [0, 0, 1, 1]}
      - {id: few, kind: scatter, stream: small, x: x, y: y, at: [0, 1, 1, 1]}
""")
ROWS = 200_000
BATCH = 50_000

# What the page holds of the density: the image's counts, its area, and the plot's size.
DENSITY = (
    """() => {"""
    + LIVE_MODEL
    + """
    const source = live("sv-density:cloud");
    const figure = live("sv-figure:cloud");
    const note = live("sv-lod:cloud");
    if (!source || !figure || !note || !source.data.image || !source.data.image.length)
        return null;
    const image = source.data.image[0];
    let total = 0;
    for (const value of image) if (!Number.isNaN(value)) total += value;
    const shape = image.shape || [];
    return {total, x: source.data.x[0], dw: source.data.dw[0], columns: shape[1],
            width: figure.inner_width, note: note.text,
            xrange: [figure.x_range.start, figure.x_range.end]};
}"""
)
POINTS = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const source = live(name);
    return source && source.data.x ? source.data.x.length : null;
}"""
)
BOX_ZOOM = (
    """() => {"""
    + LIVE_MODEL
    + """
    const figure = live("sv-figure:cloud");
    const tool = figure && figure.toolbar.tools.find((t) => t.type === "BoxZoomTool");
    if (!tool) return false;
    tool.active = true;
    return true;
}"""
)
NOTE = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const note = live(name);
    return note ? note.text : null;
}"""
)


def post(port: int, stream: str, body: dict) -> None:
    post_json(port, f"runs/default/streams/{stream}", body)


def drag_box(page, left: float, top: float, size: float) -> None:
    """Drag a box on the first plot: from (`left`, `top`), `size` of its width and height
    (fractions of the canvas)."""
    box = page.locator(".bk-Canvas").first.bounding_box()
    x, y = box["x"] + box["width"] * left, box["y"] + box["height"] * top
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + box["width"] * size, y + box["height"] * size, steps=8)
    page.mouse.up()


def test_a_big_scatter_is_a_density_that_a_box_zoom_rebins(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = tmp_path / "density.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), plugins=True)
    rng = np.random.default_rng(12)
    for _batch in range(ROWS // BATCH):
        x = np.round(rng.normal(size=BATCH), 5).tolist()
        y = np.round(rng.normal(size=BATCH) + np.asarray(x) * 0.5, 5).tolist()
        post(server.port, "big", {"x": x, "y": y})
    post(server.port, "small", {"x": list(range(500)), "y": [v % 7 for v in range(500)]})

    open_, console = open_page
    page = open_(server.url)
    whole = wait_until(
        lambda: (
            (found := page.evaluate(DENSITY))
            and found["total"] == ROWS
            and found["note"] == "200,000 rows as density"
            and page.evaluate(POINTS, "sv:cloud:y") == 0  # no point drawn over the density
            and found
        ),
        message="a density of every row, said in the note",
    )
    wait_until(lambda: page.evaluate(POINTS, "sv:few:y") == 500, message="small: points")
    assert page.evaluate(NOTE, "sv-lod:few") == "500 rows"
    page.screenshot(path=str(tmp_path / "density.png"))

    # a box zoom on the middle of the plot: a new image for the range chosen, at 2 px a bin
    assert page.evaluate(BOX_ZOOM)  # the toolbar's box zoom, chosen as a click on it would
    drag_box(page, 0.35, 0.35, 0.2)
    zoomed = wait_until(
        lambda: (
            (found := page.evaluate(DENSITY))
            and found["x"] != whole["x"]
            and found["note"] == f"200,000 rows as density, {int(found['total']):,} rows in view"
            and found["columns"] == found["width"] // 2  # binned at the plot's size, 2 px a bin
            and found
        ),
        message="the density re-binned for the zoom, and the note",
    )
    assert zoomed["dw"] < whole["dw"] / 2
    assert zoomed["x"] == pytest.approx(zoomed["xrange"][0])  # the image fills the new range
    assert zoomed["x"] + zoomed["dw"] == pytest.approx(zoomed["xrange"][1])
    assert 0 < zoomed["total"] < ROWS
    page.screenshot(path=str(tmp_path / "density-zoomed.png"))

    # a second box zoom into a few hundred rows: they are drawn as points, the image is gone
    drag_box(page, 0.45, 0.45, 0.08)
    few = wait_until(
        lambda: (text := page.evaluate(NOTE, "sv-lod:cloud")) and "as points" in text and text,
        message="a zoom into few rows drawn as points",
    )
    drawn = int(few.split(", ")[1].split(" ")[0].replace(",", ""))
    assert 0 < drawn <= 10_000
    wait_until(
        lambda: page.evaluate(POINTS, "sv:cloud:y") == drawn and page.evaluate(DENSITY) is None,
        message="those points, and no image under them",
    )
    page.screenshot(path=str(tmp_path / "density-points.png"))
    assert console.errors() == [], console.messages
