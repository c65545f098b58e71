"""Grouped runs in a real page: four runs in two groups of two (`?group=` a capture of the
run name), each group's mean and band read from the browser's Bokeh models and compared with
pandas over the same buckets; the band switched to std on the page; the runs faint behind;
new rows and a real box zoom recompute the bands."""

from __future__ import annotations

import textwrap
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import LIVE_MODEL, post_json, wait_until
from tests.ui.test_lod_lines import box_zoom
from tests.ui.test_runs_panel import fits_the_window, grouping_in_the_bar_only

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: seeds
    run: lr0.1-seed1
    refresh_ms: 100
    plots:
      - {id: loss, kind: line, stream: metrics, x: step, y: loss, at: [0, 0, 1, 1]}
""")
GROUPS = {"lr0.1": ["lr0.1-seed1", "lr0.1-seed2"], "lr0.01": ["lr0.01-seed1", "lr0.01-seed2"]}
STEPS = 300
SHOTS = Path("/work/shots")

READ = (
    """([name, columns]) => {"""
    + LIVE_MODEL
    + """
    const model = live(name);
    if (!model) return null;
    const out = {tags: model.tags};
    for (const column of columns) {
        if (!model.data[column]) return null;
        out[column] = Array.from(model.data[column]);
    }
    return out;
}"""
)
FIGURE = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const figure = live(name);
    if (!figure) return null;
    // drawn lines and bands (not the hover table, page/hover.py: an invisible glyph)
    const drawn = (r) => r.data_source && r.data_source.name
        && !r.data_source.name.startsWith("sv-hover:");
    return figure.renderers.filter(drawn).map((r) => ({
        source: r.data_source.name, type: r.glyph.type,
        alpha: r.glyph.line_alpha !== undefined ? r.glyph.line_alpha.value : null,
        color: r.glyph.line_color !== undefined ? r.glyph.line_color.value
            : r.glyph.fill_color.value}));
}"""
)
SET_WIDGET = """([title, label]) => {
    const all = Bokeh.documents[0]._all_models;
    const models = all instanceof Map ? [...all.values()] : [...all];
    const widget = models.find((m) => /(Select|TextInput)$/.test(m.type) && m.title === title);
    if (!widget) return false;
    if (widget.options === undefined) {
        widget.value = label;
        return true;
    }
    const option = widget.options.find((o) => (Array.isArray(o) ? o[1] : o) === label);
    if (option === undefined) return false;
    widget.value = Array.isArray(option) ? option[0] : option;
    return true;
}"""


def post(port: int, run: str, body: dict) -> None:
    post_json(port, f"runs/{run}/streams/metrics", body)


def loss_rows(run: str, steps: np.ndarray) -> pd.DataFrame:
    """A decaying loss with the run's own noise; seed 2 of lr0.01 skips every third step."""
    lr = 0.1 if run.startswith("lr0.1-") else 0.01
    seed = int(run[-1])
    rng = np.random.default_rng(seed * 1000 + int(steps[0]))
    loss = 2.0 * np.exp(-steps * lr * 0.2) + 0.15 * rng.normal(size=len(steps)) + 0.1 * seed
    frame = pd.DataFrame({"step": steps, "loss": loss})
    return frame[steps % 3 != 0] if run == "lr0.01-seed2" else frame


def pandas_band(rows: dict[str, pd.DataFrame], lo: float, hi: float, width: int) -> pd.DataFrame:
    """docs/run-explorer.md's band by pandas: bucket [edge_i, edge_i+1) (the last closed),
    a run's value = its mean there, then over the runs with a value: mean, min, max, std
    (ddof=0), count."""
    edges = lo + (hi - lo) * np.arange(width + 1) / width
    frames = []
    for run, frame in rows.items():
        inside = frame[(frame.step >= lo) & (frame.step <= hi)]
        bucket = np.minimum(np.searchsorted(edges, inside.step, side="right") - 1, width - 1)
        frames.append(inside.assign(run=run, bucket=bucket))
    per_run = pd.concat(frames).groupby(["bucket", "run"]).loss.mean().reset_index()
    return per_run.groupby("bucket").loss.agg(
        mean="mean", min="min", max="max", std=lambda v: v.std(ddof=0), count="count"
    )


def read_group(page: Any, group: str) -> tuple[dict, dict] | None:
    mean = page.evaluate(READ, [f"sv:loss:@group/{group}/loss/mean", ["x", "bucket", "mean"]])
    band = page.evaluate(READ, [f"sv:loss:@group/{group}/loss/band", ["x", "lower", "upper"]])
    if not mean or not band or not band["tags"] or not mean["x"]:
        return None
    more = ["min", "max", "std", "count"]
    mean.update(page.evaluate(READ, [f"sv:loss:@group/{group}/loss/mean", more]) or {})
    return mean, band


def band_matches(page: Any, rows: dict[str, pd.DataFrame], kind: str, last: float) -> bool:
    """Every group's sources equal pandas over the buckets their tags name, the band edges
    are min-max or mean -/+ std as `kind` says, and the buckets reach x = `last`."""
    for group, runs in GROUPS.items():
        found = read_group(page, group)
        if found is None:
            return False
        mean, band = found
        lo, hi, width, shown_kind = band["tags"]
        if shown_kind != kind or hi < last:
            return False
        expected = pandas_band({run: rows[run] for run in runs}, lo, hi, int(width))
        if mean["bucket"] != expected.index.tolist():
            return False
        for column in ("mean", "min", "max", "std"):
            if not np.allclose(mean[column], expected[column], rtol=1e-9, atol=1e-12):
                return False
        if mean["count"] != expected["count"].tolist():
            return False
        centres = lo + (hi - lo) * (np.asarray(mean["bucket"]) + 0.5) / width
        assert np.allclose(mean["x"], centres), (mean["x"][:3], centres[:3])
        lower, upper = (
            (expected["min"], expected["max"])
            if kind == "min-max"
            else (expected["mean"] - expected["std"], expected["mean"] + expected["std"])
        )
        if not (np.allclose(band["lower"], lower) and np.allclose(band["upper"], upper)):
            return False
    return True


def test_grouped_runs_show_each_groups_mean_and_band_as_pandas_computes_them(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = tmp_path / "seeds.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), plugins=True)
    steps = np.arange(STEPS)
    rows = {run: loss_rows(run, steps) for runs in GROUPS.values() for run in runs}
    for run, frame in rows.items():
        post(server.port, run, {"step": frame.step.tolist(), "loss": frame.loss.tolist()})

    open_, console = open_page
    query = urllib.parse.urlencode({"runs": "lr.*", "group": r"name:^(lr[\d.]+)-"})
    page = open_(f"{server.url}?{query}")
    wait_until(
        lambda: band_matches(page, rows, "min-max", STEPS - 1), message="min-max bands as pandas"
    )

    # the runs are drawn faint in their group's colour, each group's mean over them
    drawn = wait_until(lambda: page.evaluate(FIGURE, "sv-figure:loss"), message="figure")
    by_source = {r["source"]: r for r in drawn}
    for group, runs in GROUPS.items():
        mean_line = by_source[f"sv:loss:@group/{group}/loss/mean"]
        assert mean_line["type"] == "Line"
        assert by_source[f"sv:loss:@group/{group}/loss/band"]["type"] == "VArea"
        for run in runs:
            line = by_source[f"sv:loss:{run}/loss"]
            assert line["alpha"] == pytest.approx(0.25)
            assert line["color"] == mean_line["color"]
    colors = {by_source[f"sv:loss:@group/{g}/loss/mean"]["color"] for g in GROUPS}
    assert len(colors) == 2
    # its controls in the runs panel, showing `?group=`; the header fits the window
    grouping_in_the_bar_only(page)
    assert page.locator(".sv-group-regex input").input_value() == r"^(lr[\d.]+)-"
    fits_the_window(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "groups.png"))

    # the band chosen on the page: mean -/+ std
    assert page.evaluate(SET_WIDGET, ["band", "std"])
    wait_until(lambda: band_matches(page, rows, "std", STEPS - 1), message="std bands")

    # grouping off on the page: the runs at full strength, no group drawn; then on again
    assert page.evaluate(SET_WIDGET, ["group by", "none"])

    def plain() -> bool:
        drawn = page.evaluate(FIGURE, "sv-figure:loss") or []
        runs = [r for r in drawn if not r["source"].startswith("sv:loss:@group/")]
        return len(runs) == len(drawn) == len(rows) and all(r["alpha"] == 1 for r in runs)

    wait_until(plain, message="grouping turned off")
    assert page.evaluate(SET_WIDGET, ["group by", "run name (regex)"])
    wait_until(lambda: band_matches(page, rows, "std", STEPS - 1), message="grouped again")
    # the regex typed into its box (Enter): emptied, the runs plain; typed, grouped again
    box = page.locator(".sv-group-regex input")
    box.fill("")
    box.press("Enter")
    wait_until(plain, message="an empty regex: grouping off")
    box.fill(r"^(lr[\d.]+)-")
    box.press("Enter")
    wait_until(lambda: band_matches(page, rows, "std", STEPS - 1), message="typed regex")

    # new rows of every run are taken in
    more = np.arange(STEPS, STEPS + 30)
    for run in rows:
        new = loss_rows(run, more)
        rows[run] = pd.concat([rows[run], new])
        post(server.port, run, {"step": new.step.tolist(), "loss": new.loss.tolist()})
    last = STEPS + 29
    wait_until(lambda: band_matches(page, rows, "std", last), message="bands with new rows")

    # a real box zoom: the bands are recomputed for the zoomed range at the view's buckets
    start, end = box_zoom(page, "loss", 100, 160)

    def zoomed() -> bool:
        found = read_group(page, "lr0.1")
        if found is None:
            return False
        lo, hi, _, _ = found[1]["tags"]
        return abs(lo - start) < 1e-6 and abs(hi - end) < 1e-6

    wait_until(zoomed, message="bands of the zoomed range")
    assert band_matches(page, rows, "std", 0)
    page.screenshot(path=str(tmp_path / "groups-zoomed.png"))
    assert console.errors() == [], console.messages
