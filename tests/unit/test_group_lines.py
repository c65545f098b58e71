"""A grouped plot's bands as the page computes them (page/group_lines.py `GroupDrawer`,
from each run's level-of-detail view: raw rows, or the summary's per-bucket sums) equal
the definition over every raw row (transforms/groups.py `group_band`), following, zoomed
and on the relative time axis. No browser: the drawer's computation only."""

from __future__ import annotations

import numpy as np
import pytest

from streamvis.core.hub import Hub
from streamvis.layout.spec import layout_from_dict
from streamvis.page.group_lines import (
    NAME_MODE,
    WIDGET_MARGIN,
    GroupDrawer,
    GroupSettings,
    fitted_to_bar,
    page_grouping,
)
from streamvis.page.lines import LineFeed
from streamvis.transforms.groups import group_band, group_runs, parse_rule

RUNS = ["lr0.1-seed1", "lr0.1-seed2", "lr0.01-seed1", "lr0.01-seed2"]


def drawer_for(rows: int, width: int) -> tuple[GroupDrawer, dict]:
    hub = Hub()
    rng = np.random.default_rng(rows)
    raw = {}
    for index, run in enumerate(RUNS):
        steps = np.arange(index, rows + index, dtype=np.int64)  # runs start apart
        loss = rng.normal(size=rows)
        loss[rng.random(rows) < 0.05] = np.nan
        hub.write("metrics", {"step": steps, "loss": loss}, run=run)
        raw[run] = (steps.astype(float), loss)
    plot = layout_from_dict(
        {
            "plots": [
                {
                    "id": "loss",
                    "kind": "line",
                    "stream": "metrics",
                    "x": "step",
                    "y": "loss",
                    "at": [0, 0, 1, 1],
                }
            ]
        }  # fmt: skip
    ).plots[0]
    feed = LineFeed(plot, hub, RUNS)
    feed.width = width
    groups = group_runs(parse_rule(r"^(lr[\d.]+)-"), RUNS)
    return GroupDrawer(plot, feed, groups, "std"), raw


def assert_same(drawer: GroupDrawer, raw: dict, lo: float, hi: float) -> None:
    frame = drawer.frame
    assert frame is not None
    assert (frame.lo, frame.hi) == pytest.approx((lo, hi))
    for key, runs in drawer.groups.items():
        got = drawer.bands[(key, "loss")]
        want = group_band({run: raw[run] for run in runs}, frame.lo, frame.hi, frame.width)
        for name in ("mean", "low", "high", "std"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9)
        np.testing.assert_array_equal(got.count, want.count)


@pytest.mark.parametrize(("rows", "width"), [(300, 200), (20_000, 150)])
def test_bands_from_views_equal_the_definition(rows: int, width: int) -> None:
    drawer, raw = drawer_for(rows, width)  # 300 rows: raw views; 20,000: summarised
    drawer._compute()
    assert_same(drawer, raw, 0, rows - 1 + len(RUNS) - 1)  # the union of the runs' ranges
    assert drawer.frame is not None
    assert drawer.frame.width == width
    drawer.feed.requested = (rows * 0.25, rows * 0.5)  # a zoom: that range, same buckets
    drawer._compute()
    assert_same(drawer, raw, rows * 0.25, rows * 0.5)


def test_relative_axis_buckets_each_run_by_its_own_seconds() -> None:
    drawer, _ = drawer_for(500, 100)
    drawer.feed.x_axis = "relative"
    drawer._compute()
    assert drawer.frame is not None
    assert drawer.frame.lo >= 0  # seconds since each run's first row
    assert all(band.count.sum() > 0 for band in drawer.bands.values())


def test_page_grouping_reads_the_address_and_refuses_bad_rules() -> None:
    settings, problem = page_grouping({"group": [b"attr:seed"], "band": [b"std"]})
    assert (settings, problem) == (GroupSettings("attr:seed", "std"), None)
    _, problem = page_grouping({"group": [b"name:(a"]})
    assert problem is not None
    assert "not a valid regular expression" in problem
    _, problem = page_grouping({"band": [b"iqr"]})
    assert problem is not None
    assert "band='iqr'" in problem


class AttributeHub(Hub):
    """A hub keeping run attributes (the `Hub.attributes(run)` of issue 15's attributes)."""

    held = {"r1": {"lr": 0.1, "seed": 1}, "r2": {"lr": 0.1, "seed": 2}, "r3": {"lr": 0.01}}

    def attributes(self, run: str) -> dict:
        return dict(self.held.get(run, {}))


def test_grouping_by_attribute_through_the_hub_makes_runs_faint_in_the_group_colour() -> None:
    from streamvis.page.group_lines import FAINT, attribute_names, regroup

    hub = AttributeHub()
    runs = ["r1", "r2", "r3", "r4"]
    plot = layout_from_dict(
        {
            "plots": [
                {
                    "id": "p",
                    "kind": "line",
                    "stream": "s",
                    "x": "step",
                    "y": "v",
                    "at": [0, 0, 1, 1],
                }
            ]
        }  # fmt: skip
    ).plots[0]
    feed = LineFeed(plot, hub, runs)
    grouped = GroupSettings("attr:lr").apply(plot)
    found = regroup(grouped, dict.fromkeys(runs, feed))
    assert found is not None
    faint, colors = found
    assert faint.options["alpha"] == pytest.approx(FAINT)
    assert feed.groups.groups == {
        "lr=0.1": ["r1", "r2"],
        "lr=0.01": ["r3"],
        "lr: (not set)": ["r4"],
    }
    assert colors["r1"] == colors["r2"] != colors["r3"]
    assert attribute_names(hub, runs) == ["lr", "seed"]
    assert attribute_names(Hub(), runs) == []
    assert regroup(plot, dict.fromkeys(runs, feed)) is None  # no rule: no groups drawn
    assert feed.groups is None


@pytest.mark.parametrize(("rows", "width"), [(300, 200), (20_000, 150)])
def test_the_views_the_feed_just_resolved_are_reused(rows: int, width: int, monkeypatch) -> None:
    from streamvis.core.table import Table

    drawer, raw = drawer_for(rows, width)
    feed = drawer.feed
    for run in RUNS:
        feed.line_buffer(run, "loss")
    layout = layout_from_dict(
        {
            "plots": [
                {
                    "id": "loss",
                    "kind": "line",
                    "stream": "metrics",
                    "x": "step",
                    "y": "loss",
                    "at": [0, 0, 1, 1],
                }
            ]
        }  # fmt: skip
    )
    feed.tick(layout)  # the feed resolves every run's whole range (following)
    asked: list[str] = []
    original = Table.view

    def counted(self: Table, *args: object, **kwargs: object) -> object:
        asked.append("view")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Table, "view", counted)
    drawer._compute()
    # the whole-run views come from the feed; each run is asked once, for the union range
    # (the runs start a step apart, so no run's own range is the union)
    assert len(asked) == len(RUNS)
    assert_same(drawer, raw, 0, rows - 1 + len(RUNS) - 1)


def test_grouping_controls_fit_the_runs_panel_and_keep_the_address_values() -> None:
    """In the runs panel's bar: "group by" and "band" side by side, the regex and its
    problem under them, nothing wider than the bar (Panel's 10 px margin each side)."""
    from streamvis.page.controls import LineControls
    from streamvis.page.runs_panel import WIDTH

    settings = GroupSettings(r"name:^(lr[\d.]+)-", "std")
    mode, regex, band, problem = settings.widgets(LineControls(), ["lr"])
    pair, *rest = fitted_to_bar([mode, regex, band, problem], WIDTH)
    assert list(pair.objects) == [mode, band]
    assert rest == [regex, problem]
    assert mode.width + band.width + 4 * WIDGET_MARGIN <= WIDTH
    assert regex.width + 2 * WIDGET_MARGIN <= WIDTH
    assert problem.width == regex.width
    assert (mode.value, regex.value, band.value) == (NAME_MODE, r"^(lr[\d.]+)-", "std")
    assert fitted_to_bar([], WIDTH) == []
