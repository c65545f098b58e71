"""Smoothing (TensorBoard's debiased moving average), the `smoothing` and `x_axis` options,
the arrival-time columns, and which runs a `?runs=` page compares."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from streamvis.core.hub import Hub
from streamvis.errors import SpecError
from streamvis.layout.spec import layout_from_dict, layout_from_yaml
from streamvis.page.compare import matching_runs, run_color, shared_layout
from streamvis.page.dashboard import page_query
from streamvis.transforms.smoothing import PALETTE, RELATIVE, WALL, ema, with_times


def tensorboard_smoothing(values: list[float], weight: float) -> list[float]:
    """TensorBoard's scalar smoothing, written out by hand: a running average started at 0
    and debiased by the weight's power; non-finite values pass through and do not count."""
    last, count, out = 0.0, 0, []
    for value in values:
        if not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        out.append(last / (1 - weight**count))
    return out


def test_ema_is_tensorboards_debiased_average_and_skips_missing_values() -> None:
    values = [1.0, 3.0, float("nan"), 2.0, 10.0, 4.0]
    for weight in (0.3, 0.6, 0.9, 0.99):
        expected = tensorboard_smoothing(values, weight)
        np.testing.assert_allclose(ema(values, weight), expected, rtol=1e-12)
    # spelled out for weight 0.5: 1, (0.25+1.5)/0.75, NaN, (0.875+1)/0.875, ...
    smoothed = ema(values, 0.5)
    assert smoothed[0] == 1.0
    assert smoothed[1] == pytest.approx(1.75 / 0.75)
    assert math.isnan(smoothed[2])
    assert smoothed[3] == pytest.approx(1.875 / 0.875)
    assert smoothed[4] == pytest.approx((0.9375 + 5) / 0.9375)


def test_ema_weight_zero_is_the_raw_series() -> None:
    values = np.array([5.0, np.nan, -2.0])
    out = ema(values, 0.0)
    np.testing.assert_array_equal(out, values)
    assert out is not values
    assert len(ema([], 0.5)) == 0


def line_layout(**options: object) -> dict:
    return {
        "plots": [
            {"id": "loss", "kind": "line", "stream": "s", "x": "step", "y": "v",
             "at": [0, 0, 1, 1], "options": options}
        ]
    }  # fmt: skip


def test_x_axis_option_accepts_the_three_axes_and_names_plot_and_key_when_wrong() -> None:
    for axis in ("step", "wall", "relative"):
        assert layout_from_dict(line_layout(x_axis=axis)).plots[0].options["x_axis"] == axis
    with pytest.raises(SpecError) as error:
        layout_from_yaml(
            "plots:\n"
            "  - {id: loss, kind: line, stream: s, x: step, y: v, at: [0, 0, 1, 1],\n"
            "     options: {x_axis: walltime}}\n",
            source="l.yaml",
        )
    message = str(error.value)
    assert "plots.loss.options.x_axis" in message
    assert "must be one of step, wall, relative, not 'walltime'" in message
    assert "Did you mean 'wall'?" in message
    assert message.startswith("l.yaml:3:")


def test_smoothing_option_is_a_weight_below_one_for_line_plots_only() -> None:
    assert layout_from_dict(line_layout(smoothing=0.6)).plots[0].options["smoothing"] == 0.6
    assert layout_from_dict(line_layout(smoothing=0)).plots[0].options["smoothing"] == 0.0
    for bad in (1.0, -0.1, "high", True):
        with pytest.raises(SpecError, match=r"plots\.loss\.options\.smoothing: must be a number"):
            layout_from_dict(line_layout(smoothing=bad))
    scatter = line_layout(smoothing=0.5)
    scatter["plots"][0]["kind"] = "scatter"
    with pytest.raises(SpecError, match="unknown key in scatter options"):
        layout_from_dict(scatter)


def test_with_times_adds_wall_time_and_seconds_since_the_first_row() -> None:
    start = 1_700_000_000_000_000_000
    times = np.array([start + 500_000_000, start + 2_000_000_000], dtype=np.int64)
    frame = with_times(pd.DataFrame({"v": [1.0, 2.0]}), times, origin=start)
    assert frame[WALL].dtype == "datetime64[ns]"
    assert frame[WALL].iloc[0] == pd.Timestamp(start + 500_000_000, unit="ns")
    assert list(frame[RELATIVE]) == [0.5, 2.0]
    own = with_times(pd.DataFrame({"v": [1.0, 2.0]}), times, origin=None)
    assert list(own[RELATIVE]) == [0.0, 1.5]
    missing = with_times(pd.DataFrame({"v": [1.0]}), None, origin=None)
    assert missing[WALL].isna().all()
    assert missing[RELATIVE].isna().all()


def test_runs_pattern_must_match_the_whole_name_and_runs_come_sorted() -> None:
    runs = ["b", "a", "ab", "exp-2", "exp-10", "other"]
    assert matching_runs("a|b", runs) == ["a", "b"]  # not "ab": the whole name must match
    assert matching_runs("exp-.*", runs) == ["exp-10", "exp-2"]
    assert matching_runs("a.*", runs) == ["a", "ab"]
    assert matching_runs("nothing", runs) == []
    with pytest.raises(ValueError, match=r"runs='\(a' is not a valid regular expression"):
        matching_runs("(a", runs)


def test_run_colors_follow_the_position_among_matching_runs() -> None:
    runs = ["a", "b", "c"]
    assert [run_color(runs, r) for r in runs] == list(PALETTE[:3])
    assert run_color(["a", "b"], "b") == run_color(["a", "b", "c"], "b")


def test_compared_runs_share_the_page_run_layout_else_the_first_that_has_one() -> None:
    hub = Hub()
    layout_b = layout_from_dict(line_layout())
    hub.set_layout("b", layout_b)
    assert shared_layout(hub, "home", ["a", "b", "c"])[1] is layout_b
    layout_home = layout_from_dict(line_layout(smoothing=0.5))
    hub.set_layout("home", layout_home)
    assert shared_layout(hub, "home", ["a", "b"])[1] is layout_home
    assert shared_layout(Hub(), "home", ["a"]) == (0, None)


def test_page_query_reads_run_and_runs_and_explains_bad_ones() -> None:
    assert page_query({}) == (None, None, None)
    assert page_query({"run": [b"b"], "runs": [b"a|b"]}) == ("b", "a|b", None)
    _, _, problem = page_query({"run": [b"../etc"]})
    assert problem is not None
    assert "cannot show ?run=../etc" in problem
    assert "not allowed" in problem
    _, runs, problem = page_query({"runs": [b"a("]})
    assert runs is None
    assert problem is not None
    assert "not a valid regular expression" in problem
