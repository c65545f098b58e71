"""Exact, incremental group-by aggregates (bar, row and ring charts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from streamvis.transforms.aggregate import GroupAggregate


def feed(groups: GroupAggregate, **columns: list) -> None:
    groups.add({name: np.asarray(values) for name, values in columns.items()})


def test_aggregates_match_pandas_over_all_rows_fed_in_pieces() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"who": rng.choice(list("abcde"), 1000), "spent": rng.integers(1, 500, 1000).astype(float)}
    )
    groups = GroupAggregate("who", "spent")
    for start in range(0, 1000, 137):  # new rows only, in uneven batches
        piece = frame.iloc[start : start + 137]
        feed(groups, who=list(piece["who"]), spent=list(piece["spent"]))
    expected = frame.groupby("who")["spent"]
    for agg in ("count", "sum", "mean", "min", "max"):
        table = groups.table(agg, sort="name")
        want = getattr(expected, agg)()
        assert table["category"].tolist() == list(want.index)
        np.testing.assert_allclose(table["value"], want.to_numpy())


def test_categories_appearing_later_keep_first_seen_ranks() -> None:
    groups = GroupAggregate("k", None)
    feed(groups, k=["b", "a", "b"])
    feed(groups, k=["c", "a"])
    table = groups.table("count", sort="value")
    assert table.to_dict("list") == {
        "category": ["b", "a", "c"],
        "value": [2.0, 2.0, 1.0],
        "rank": [0.0, 1.0, 2.0],
    }
    assert groups.table("count", sort="first")["category"].tolist() == ["b", "a", "c"]


def test_missing_keys_and_values_are_not_counted_and_reset_starts_over() -> None:
    groups = GroupAggregate("k", "v")
    groups.add({"k": np.array(["a", None, "a"], dtype=object), "v": np.array([1.0, 5.0, np.nan])})
    assert groups.table("sum").to_dict("list")["value"] == [1.0]
    groups.reset()
    assert groups.table("count").empty
    with pytest.raises(ValueError, match="agg must be one of"):
        groups.values("median")
