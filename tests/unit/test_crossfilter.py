"""Crossfilter semantics (dc.js): a selection in one chart filters the others, not itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from streamvis.transforms.aggregate import GroupAggregate
from streamvis.transforms.crossfilter import Crossfilter, Selection, toggle


class Totals:
    """A minimal member: the sum of `spent` per category of `column`."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.groups = GroupAggregate(column, "spent")

    def rebuild(self, rows: dict) -> None:
        self.groups.reset()
        self.fold(rows)

    def fold(self, rows: dict) -> None:
        if rows and len(rows[self.column]):
            self.groups.add(rows)

    def shown(self) -> dict[str, float]:
        table = self.groups.table("sum", sort="name")
        return dict(zip(table["category"], table["value"], strict=True))


PURCHASES = pd.DataFrame(
    {
        "year": ["2012", "2013", "2014", "2014", "2015", "2012"],
        "name": ["Ben", "Aziz", "Ben", "Vijay", "Jarrod", "Aziz"],
        "pay": ["cash", "visa", "visa", "cash", "tab", "cash"],
        "spent": [330.0, 1350.0, 440.0, 555.0, 100.0, 20.0],
    }
)


def batch(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy() for name in frame.columns}


def group_of_three() -> tuple[Crossfilter, Totals, Totals, Totals]:
    group = Crossfilter("shop")
    years, names, pays = Totals("year"), Totals("name"), Totals("pay")
    for member_id, member in (("years", years), ("names", names), ("pays", pays)):
        group.join(member_id, member)
    group.ingest(batch(PURCHASES), reset=True)
    return group, years, names, pays


def expected(frame: pd.DataFrame, column: str) -> dict[str, float]:
    return frame.groupby(column)["spent"].sum().to_dict()


def test_a_selection_filters_the_others_but_not_itself() -> None:
    group, years, names, pays = group_of_three()
    group.select("years", Selection("year", frozenset({"2014"})))
    rows_2014 = PURCHASES[PURCHASES["year"] == "2014"]
    assert names.shown() == expected(rows_2014, "name")
    assert pays.shown() == expected(rows_2014, "pay")
    assert years.shown() == expected(PURCHASES, "year")  # the selecting chart keeps all


def test_several_selections_combine_and_toggle_off() -> None:
    group, years, names, pays = group_of_three()
    chosen = toggle(None, "year", "2012")
    chosen = toggle(chosen, "year", "2014")
    group.select("years", chosen)
    group.select("pays", Selection("pay", frozenset({"cash"})))
    both = PURCHASES[PURCHASES["year"].isin(["2012", "2014"]) & (PURCHASES["pay"] == "cash")]
    assert names.shown() == expected(both, "name")
    # each chart is filtered by the others only
    assert years.shown() == expected(PURCHASES[PURCHASES["pay"] == "cash"], "year")
    assert toggle(toggle(None, "year", "2012"), "year", "2012") is None


def test_reset_restores_the_totals() -> None:
    group, years, names, pays = group_of_three()
    group.select("years", Selection("year", frozenset({"2013"})))
    group.select("pays", Selection("pay", frozenset({"visa"})))
    group.reset(["years"])
    assert names.shown() == expected(PURCHASES[PURCHASES["pay"] == "visa"], "name")
    group.reset()
    assert not group.active
    assert names.shown() == expected(PURCHASES, "name")


def test_new_rows_under_an_active_filter_are_filtered_exactly() -> None:
    group, years, names, pays = group_of_three()
    group.select("years", Selection("year", frozenset({"2012"})))
    more = pd.DataFrame(
        {
            "year": ["2012", "2013", "2012"],
            "name": ["Ben", "Ben", "Zoe"],
            "pay": ["tab", "tab", "visa"],
            "spent": [5.0, 7.0, 9.0],
        }
    )
    group.ingest(batch(more), reset=False, key=(0, 9, False))
    group.ingest(batch(more), reset=False, key=(0, 9, False))  # the same update: once only
    everything = pd.concat([PURCHASES, more])
    assert names.shown() == expected(everything[everything["year"] == "2012"], "name")
    assert years.shown() == expected(everything, "year")
    group.reset()
    assert names.shown() == expected(everything, "name")


def test_range_selection_filters_numbers() -> None:
    group, years, names, pays = group_of_three()
    group.select("years", Selection("spent", low=300.0, high=600.0))
    middle = PURCHASES[PURCHASES["spent"].between(300.0, 600.0)]
    assert names.shown() == expected(middle, "name")


def test_a_group_keeps_at_most_its_window_and_stays_exact_over_it() -> None:
    group = Crossfilter("shop", keep=4)
    names = Totals("name")
    group.join("names", names)
    frame = pd.DataFrame({"name": list("abcdef"), "spent": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    group.ingest(batch(frame.iloc[:4]), reset=True)
    group.ingest(batch(frame.iloc[4:]), reset=False, key=(0, 6, False))  # 6 > 4 * 1.1: trim
    assert len(group.rows["name"]) == 4
    assert names.shown() == {"c": 3.0, "d": 4.0, "e": 5.0, "f": 6.0}
