"""Runs grouped for a line plot: which group each run is in, and each group's mean and band
per x bucket (Aim's and W&B's grouping of seeds). numpy only; the page draws the result
(streamvis/page/group_lines.py). docs/run-explorer.md, "Grouped runs", is the definition.

Grouping rule (text from the page, `?group=`):
- `name:REGEX` (or just `REGEX`): the first capture group of the leftmost match of REGEX in
  the run name (the whole match when REGEX has no group), found by the linear-time engine
  of streamvis/layout/runpattern.py. A run whose name does not match is a group of its own.
- `attr:NAME`: the value of the run's attribute NAME (runs without it form one group).

The band, per x bucket (the view's pixel columns: [lo, hi] cut into W equal buckets, each
[edge_i, edge_i+1), the last one including hi): a run's value in a bucket is the mean of its
finite rows there; over the runs of the group that have a value in the bucket: the mean,
min, max, population standard deviation (ddof=0) and how many runs. A bucket no run has a
value in is a gap (NaN, count 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamvis.core.lod import pixel_edges
from streamvis.layout.runpattern import PatternError, compile_runs

NAME_PREFIX = "name:"
ATTRIBUTE_PREFIX = "attr:"
BANDS = ("min-max", "std")
UNSET = "(not set)"  # the group of runs without the attribute grouped by


class GroupingError(ValueError):
    """A grouping rule that cannot be used (a bad regular expression, an empty name)."""


@dataclass(frozen=True)
class GroupRule:
    """How runs are grouped: by a regex on the run name or by an attribute's value."""

    by: str  # "name" or "attribute"
    value: str  # the regex, or the attribute's name

    def describe(self) -> str:
        return f"{NAME_PREFIX if self.by == 'name' else ATTRIBUTE_PREFIX}{self.value}"


def parse_rule(text: str | None) -> GroupRule | None:
    """The rule in `text` (`name:REGEX`, `attr:NAME`, or a bare REGEX); None for no grouping
    (empty text). GroupingError saying what is wrong for a bad one."""
    if text is None or not text.strip():
        return None
    if text.startswith(ATTRIBUTE_PREFIX):
        name = text[len(ATTRIBUTE_PREFIX) :].strip()
        if not name:
            raise GroupingError("group=attr: needs an attribute name (attr:seed)")
        return GroupRule("attribute", name)
    pattern = text[len(NAME_PREFIX) :] if text.startswith(NAME_PREFIX) else text
    try:
        compile_runs(pattern)
    except PatternError as exc:
        shown = repr(pattern) if len(pattern) <= 200 else f"{pattern[:60]!r}..."
        raise GroupingError(f"group={shown} is not a valid regular expression: {exc}") from None
    return GroupRule("name", pattern)


def parse_band(text: str | None) -> str:
    """`min-max` (the default) or `std`; GroupingError for anything else."""
    if text is None or text == "":
        return BANDS[0]
    if text not in BANDS:
        raise GroupingError(f"band={text!r:.60} is not one of {', '.join(BANDS)}")
    return text


def group_of(
    rule: GroupRule, run: str, attributes: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """The key of the group `run` is in under `rule` (see the module docstring)."""
    if rule.by == "attribute":
        held = (attributes or {}).get(run) or {}
        if rule.value not in held:
            return f"{rule.value}: {UNSET}"
        return f"{rule.value}={held[rule.value]}"
    found = compile_runs(rule.value).search_group(run)
    return run if found is None else found


def group_runs(
    rule: GroupRule, runs: Sequence[str], attributes: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, list[str]]:
    """Group key -> its runs (in the order given), groups in the order of their first run."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        groups.setdefault(group_of(rule, run, attributes), []).append(run)
    return groups


@dataclass(frozen=True)
class Band:
    """Per bucket of one group: bucket centre x, mean, min, max, std (ddof=0), run count."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    std: np.ndarray
    count: np.ndarray

    def bounds(self, band: str) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) edge of the shaded band: min and max, or mean -/+ std."""
        if band == "std":
            return self.mean - self.std, self.mean + self.std
        return self.low, self.high


def bucket_of(x: np.ndarray, lo: float, hi: float, width: int) -> np.ndarray:
    """The bucket of each x in [lo, hi] (buckets [edge_i, edge_i+1), the last includes hi);
    -1 for x outside [lo, hi] or not finite."""
    xs = np.asarray(x, dtype=np.float64)
    edges = pixel_edges(lo, hi, width)
    bucket = np.clip(np.searchsorted(edges, xs, "right") - 1, 0, width - 1)
    inside = np.isfinite(xs) & (xs >= lo) & (xs <= hi)
    return np.where(inside, bucket, -1)


def bucket_means(x: np.ndarray, y: np.ndarray, lo: float, hi: float, width: int) -> np.ndarray:
    """A run's value in each bucket: the mean of its finite y there, NaN where it has none.
    O(rows given): the page gives a raw view's rows, or uses `means_of_sums` instead."""
    ys = np.asarray(y, dtype=np.float64)
    bucket = bucket_of(x, lo, hi, width)
    keep = (bucket >= 0) & np.isfinite(ys)
    count = np.bincount(bucket[keep], minlength=width)[:width]
    total = np.bincount(bucket[keep], weights=ys[keep], minlength=width)[:width]
    return means_of_sums(count, total)


def means_of_sums(count: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Per bucket total / count, NaN where the count is 0 (from a view's pixel stats)."""
    counts = np.asarray(count, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.asarray(total, dtype=np.float64) / counts
    return np.where(counts > 0, means, np.nan)


def aggregate(per_run: Sequence[np.ndarray], lo: float, hi: float, width: int) -> Band:
    """The band of a group from its runs' bucket values (each `width` long, NaN: no value),
    over the runs that have a value in each bucket."""
    values = (
        np.vstack([np.asarray(v, dtype=np.float64) for v in per_run])
        if per_run
        else np.full((0, width), np.nan)
    )
    values = np.where(np.isfinite(values), values, np.nan)
    present = np.isfinite(values)
    count = present.sum(axis=0)
    filled = np.where(present, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / count
        spread = np.where(present, values - mean, 0.0)
        std = np.sqrt((spread**2).sum(axis=0) / count)
    empty = count == 0
    low = np.where(present, values, np.inf).min(axis=0, initial=np.inf)
    high = np.where(present, values, -np.inf).max(axis=0, initial=-np.inf)
    nan = np.nan
    edges = pixel_edges(lo, hi, width)
    centres = (edges[:-1] + edges[1:]) / 2
    return Band(
        x=centres,
        mean=np.where(empty, nan, mean),
        low=np.where(empty, nan, low),
        high=np.where(empty, nan, high),
        std=np.where(empty, nan, std),
        count=count.astype(np.int64),
    )


def group_band(
    rows: Mapping[str, tuple[np.ndarray, np.ndarray]], lo: float, hi: float, width: int
) -> Band:
    """The band of a group from each run's raw (x, y) rows (the definition; O(rows))."""
    return aggregate([bucket_means(x, y, lo, hi, width) for x, y in rows.values()], lo, hi, width)
