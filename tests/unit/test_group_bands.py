"""Grouped runs (streamvis/transforms/groups.py): group keys by a name regex's capture or by
an attribute, and each group's mean and band per x bucket, checked against pandas (a
groupby of the bucket index) on random data and on the edge cases."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from streamvis.layout.runpattern import RunPattern
from streamvis.transforms.groups import (
    GroupingError,
    GroupRule,
    aggregate,
    bucket_means,
    group_band,
    group_runs,
    means_of_sums,
    parse_band,
    parse_rule,
)


def pandas_band(
    rows: dict[str, tuple[np.ndarray, np.ndarray]], lo: float, hi: float, width: int
) -> pd.DataFrame:
    """The documented band, by pandas: bucket = pd.cut over the same edges ([a, b), the last
    closed), a run's value = its mean in the bucket, then mean/min/max/std(ddof=0)/count."""
    edges = lo + (hi - lo) * np.arange(width + 1) / width
    frames = []
    for run, (x, y) in rows.items():
        frame = pd.DataFrame({"run": run, "x": x, "y": y})
        frame = frame[np.isfinite(frame.x) & np.isfinite(frame.y)]
        frame = frame[(frame.x >= lo) & (frame.x <= hi)]
        bucket = np.searchsorted(edges, frame.x.to_numpy(), side="right") - 1
        frame = frame.assign(bucket=np.minimum(bucket, width - 1))
        frames.append(frame)
    rows_frame = pd.concat(frames)
    per_run = rows_frame.groupby(["bucket", "run"]).y.mean().reset_index()
    stats = per_run.groupby("bucket").y.agg(
        mean="mean", low="min", high="max", std=lambda v: v.std(ddof=0), count="count"
    )
    return stats.reindex(range(width))


def assert_band_equals(band, expected: pd.DataFrame) -> None:
    for name in ("mean", "low", "high", "std"):
        np.testing.assert_allclose(
            getattr(band, name), expected[name].to_numpy(float), rtol=1e-9, atol=1e-12
        )
    np.testing.assert_array_equal(band.count, expected["count"].fillna(0).to_numpy(int))


@pytest.mark.parametrize("seed", range(6))
def test_band_equals_pandas_on_random_runs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = {}
    for run in range(rng.integers(1, 6)):
        size = int(rng.integers(0, 400))
        x = np.sort(rng.uniform(-5, 105, size))
        y = rng.normal(size=size)
        y[rng.random(size) < 0.1] = np.nan
        y[rng.random(size) < 0.02] = np.inf
        rows[f"run{run}"] = (x, y)
    width = int(rng.integers(1, 60))
    band = group_band(rows, 0.0, 100.0, width)
    assert_band_equals(band, pandas_band(rows, 0.0, 100.0, width))


def test_one_run_is_its_own_mean_with_no_spread() -> None:
    x = np.arange(10.0)
    y = x**2
    band = group_band({"a": (x, y)}, 0.0, 9.0, 3)
    assert_band_equals(band, pandas_band({"a": (x, y)}, 0.0, 9.0, 3))
    assert (band.std == 0).all()
    assert (band.low == band.high).all()
    assert (band.count == 1).all()


def test_a_run_without_a_value_in_a_bucket_is_left_out_of_it() -> None:
    rows = {"a": (np.array([0.5, 1.5]), np.array([1.0, 3.0])), "b": (np.array([0.5]), [5.0])}
    band = group_band(rows, 0.0, 2.0, 2)
    assert band.count.tolist() == [2, 1]
    assert band.mean.tolist() == [3.0, 3.0]
    assert band.std.tolist() == [2.0, 0.0]


def test_nan_and_inf_are_gaps_and_empty_buckets_are_nan() -> None:
    rows = {"a": (np.array([0.5, 1.5, 2.5]), np.array([np.nan, np.inf, 4.0]))}
    band = group_band(rows, 0.0, 3.0, 3)
    assert band.count.tolist() == [0, 0, 1]
    assert np.isnan(band.mean[:2]).all()
    assert band.mean[2] == 4.0
    assert np.isnan(group_band({}, 0.0, 1.0, 4).mean).all()


def test_the_last_bucket_includes_hi_and_outside_rows_are_dropped() -> None:
    means = bucket_means(np.array([-1.0, 0.0, 1.0, 2.0, 3.0]), np.arange(5.0), 0.0, 2.0, 2)
    assert means.tolist() == [1.0, 2.5]  # x=0 -> bucket 0; x=1 and x=2 (hi) -> bucket 1


def test_sums_from_pixel_stats_give_the_same_means() -> None:
    assert np.isnan(means_of_sums(np.array([0, 2]), np.array([0.0, 3.0]))[0])
    assert means_of_sums(np.array([0, 2]), np.array([0.0, 3.0]))[1] == 1.5
    band = aggregate([np.array([1.0, np.nan]), np.array([3.0, 2.0])], 0.0, 1.0, 2)
    assert band.count.tolist() == [2, 1]
    assert band.x.tolist() == [0.25, 0.75]
    assert band.bounds("std")[0].tolist() == [1.0, 2.0]
    assert band.bounds("min-max")[1].tolist() == [3.0, 2.0]


RUNS = ["lr0.1-seed1", "lr0.1-seed2", "lr0.01-seed1", "lr0.01-seed2", "baseline"]


def test_grouping_by_the_first_capture_of_a_name_regex() -> None:
    groups = group_runs(parse_rule(r"name:^(lr[\d.]+)-"), RUNS)
    assert groups == {
        "lr0.1": ["lr0.1-seed1", "lr0.1-seed2"],
        "lr0.01": ["lr0.01-seed1", "lr0.01-seed2"],
        "baseline": ["baseline"],  # no match: a group of its own
    }
    by_whole_match = group_runs(parse_rule(r"seed\d"), RUNS)  # no group: the whole match
    assert by_whole_match["seed1"] == ["lr0.1-seed1", "lr0.01-seed1"]


def test_all_runs_in_one_group() -> None:
    assert group_runs(parse_rule("(lr|base)"), RUNS[:4]) == {"lr": RUNS[:4]}


def test_grouping_by_an_attribute() -> None:
    attributes = {"a": {"lr": 0.1}, "b": {"lr": 0.1, "seed": 2}, "c": {"lr": 0.01}, "d": {}}
    groups = group_runs(GroupRule("attribute", "lr"), ["a", "b", "c", "d"], attributes)
    assert groups == {"lr=0.1": ["a", "b"], "lr=0.01": ["c"], "lr: (not set)": ["d"]}
    assert parse_rule("attr:lr") == GroupRule("attribute", "lr")


def test_bad_rules_and_bands_say_what_is_wrong() -> None:
    assert parse_rule("") is None
    assert parse_rule(None) is None
    with pytest.raises(GroupingError, match="not a valid regular expression"):
        parse_rule("name:(a")
    with pytest.raises(GroupingError, match="attribute name"):
        parse_rule("attr:")
    with pytest.raises(GroupingError, match="band='iqr'"):
        parse_band("iqr")
    assert parse_band(None) == "min-max"
    assert parse_band("std") == "std"


PATTERNS = [r"(.*)-seed\d+", r"^(lr[0-9.]+)", r"(a|ab)(c|bcd)(d*)", r"(a+?)a*", r"x(y)?z"]
PATTERNS += [r"(?:ab)+(c)", r"(a|b)*", r"a{2,3}(a*)", r"(.*?)-", r"$", r"(b)|a", r"((a)b)"]
PATTERNS += [r"(a??)(a*)", r"(a*?)b", r"(a|b)+c", r"([a-c]+)\d", r"(\d+)$", r"seed\d+"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_search_group_agrees_with_python_re(pattern: str) -> None:
    rng = np.random.default_rng(len(pattern))
    compiled, expected_re = RunPattern(pattern), re.compile(pattern)
    for _ in range(300):
        name = "".join(rng.choice(list("ab-cdse0123xyz"), size=int(rng.integers(0, 9))))
        match = expected_re.search(name)
        expected = None
        if match is not None:
            first = match.group(1) if expected_re.groups else None
            expected = first if first is not None else match.group(0)
        assert compiled.search_group(name) == expected, (pattern, name)


def test_search_group_is_linear_in_the_name() -> None:
    compiled = RunPattern("(a+)+$")
    compiled.search_group("a" * 200 + "b")
    short = compiled.steps
    compiled.steps = 0
    compiled.search_group("a" * 2000 + "b")
    assert compiled.steps < 20 * short
