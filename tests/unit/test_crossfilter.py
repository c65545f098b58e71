"""Crossfilter (dc.js semantics) over shared per-stream encodings, checked against pandas.

A selection in one chart filters the others, not itself; every member aggregates the
stream's rows held in memory, exactly, while rows arrive under a filter and while the hub's
memory budget drops the oldest rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from streamvis.core.hub import Hub
from streamvis.transforms.crossfilter import Crossfilter, Selection, toggle
from streamvis.transforms.encodings import encodings_of
from streamvis.transforms.members import CategoryMember, RowsState

YEARS = np.array(["2012", "2013", "2014", "2015"], dtype=object)
NAMES = np.array(["Ben", "Aziz", "Vijay", "Jarrod"], dtype=object)
PAYS = np.array(["cash", "visa", "tab", "amex", "debit"], dtype=object)


def purchases(rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    spent = rng.integers(1, 500, rows).astype(float)
    spent[rng.random(rows) < 0.02] = np.nan  # rows without a value are not summed
    name = rng.choice(NAMES, rows)
    name[rng.random(rows) < 0.02] = None  # nor are rows without a category
    return {"year": rng.choice(YEARS, rows), "name": name, "pay": rng.choice(PAYS, rows),
            "spent": spent}  # fmt: skip


class Plot:
    def __init__(self, plot_id: str, columns: list[str]) -> None:
        self.id, self.columns = plot_id, columns


def a_group(hub: Hub, aggs: dict[str, str]) -> tuple[Crossfilter, dict[str, CategoryMember]]:
    group = Crossfilter("shop", table=lambda: hub.table("default", "p"))
    members = {column: CategoryMember(column, "spent", agg) for column, agg in aggs.items()}
    for column, member in members.items():
        group.join(column, member)
    group.sync()
    return group, members


def shown(group: Crossfilter, member: CategoryMember, agg: str) -> dict[str, float]:
    """What the member holds per category with rows held (pandas' groupby drops the rest)."""
    assert group.encodings is not None
    categories = group.encodings.categories[member.column]
    values = member.tally.values(agg)
    return {
        name: float(values[code])
        for code, name in enumerate(categories.names, start=1)
        if code < len(member.tally.count) and member.tally.count[code] > 0
    }


def held(hub: Hub) -> pd.DataFrame:
    table = hub.table("default", "p")
    assert table is not None
    return pd.DataFrame(table.rows(table.first_seq)[2])


def expected(frame: pd.DataFrame, column: str, agg: str) -> dict[str, float]:
    found = frame.dropna(subset=[column, "spent"]).groupby(column)["spent"].agg(agg)
    return {str(k): float(v) for k, v in found.items()}


def check(group: Crossfilter, members: dict[str, CategoryMember], hub: Hub, aggs: dict) -> None:
    """Each member equals pandas over the rows held passing the other members' selections."""
    frame = held(hub)
    for column, member in members.items():
        keep = np.ones(len(frame), dtype=bool)
        for other, selection in group.selections.items():
            if other != column:
                keep &= frame[selection.column].astype(str).isin(selection.categories)
        want = expected(frame[keep], column, aggs[column])
        got = shown(group, member, aggs[column])
        assert got.keys() == want.keys(), column
        for name, value in want.items():
            assert got[name] == pytest.approx(value, rel=1e-9), (column, name)


def test_selections_filter_the_others_exactly_while_rows_arrive() -> None:
    rng = np.random.default_rng(7)
    hub = Hub()
    hub.stream("p", purchases(5_000, rng))
    aggs = {"year": "sum", "name": "count", "pay": "mean"}
    group, members = a_group(hub, aggs)
    check(group, members, hub, aggs)
    group.select("year", Selection("year", frozenset({"2014"})))
    check(group, members, hub, aggs)
    for _ in range(3):  # new rows under the filter are folded in exactly
        hub.stream("p", purchases(int(rng.integers(1, 700)), rng))
        group.sync()
        check(group, members, hub, aggs)
    group.select("pay", toggle(toggle(None, "pay", "cash"), "pay", "visa"))
    hub.stream("p", purchases(300, rng))
    group.sync()
    check(group, members, hub, aggs)
    group.select("name", Selection("name", frozenset({"Ben", "Aziz", "Vijay", "Jarrod"})))
    check(group, members, hub, aggs)
    group.reset(["year"])
    check(group, members, hub, aggs)
    group.reset()
    assert not group.active
    check(group, members, hub, aggs)


def test_min_and_max_follow_the_filter() -> None:
    rng = np.random.default_rng(3)
    hub = Hub()
    hub.stream("p", purchases(2_000, rng))
    aggs = {"year": "min", "name": "max"}
    group, members = a_group(hub, aggs)
    group.select("year", Selection("year", frozenset({"2013", "2015"})))
    hub.stream("p", purchases(100, rng))
    group.sync()
    check(group, members, hub, aggs)


def test_rows_leaving_memory_leave_the_sums() -> None:
    rng = np.random.default_rng(11)
    hub = Hub(memory="3MB")
    aggs = {"year": "sum", "name": "count"}
    hub.stream("p", purchases(1_000, rng))
    group, members = a_group(hub, aggs)
    group.select("year", Selection("year", frozenset({"2012"})))
    table = hub.table("default", "p")
    assert table is not None
    while table.first_seq == 0:  # until the budget drops the oldest chunk
        hub.stream("p", purchases(20_000, rng))
        group.sync()
        check(group, members, hub, aggs)
    assert group.rows == table.row_count < table.next_seq


def test_two_sessions_share_the_encodings_and_filter_independently() -> None:
    rng = np.random.default_rng(5)
    hub = Hub()
    hub.stream("p", purchases(3_000, rng))
    aggs = {"year": "sum", "name": "sum"}
    first, first_members = a_group(hub, aggs)
    second, second_members = a_group(hub, aggs)
    assert first.encodings is second.encodings
    first.select("year", Selection("year", frozenset({"2015"})))
    hub.stream("p", purchases(500, rng))
    second.sync()  # the second session encodes the new rows; the first only folds them
    first.sync()
    check(first, first_members, hub, aggs)
    check(second, second_members, hub, aggs)
    assert shown(second, second_members["name"], "sum") == expected(held(hub), "name", "sum")


def test_category_codes_keep_first_seen_order_whatever_is_filtered() -> None:
    hub = Hub()
    hub.stream("p", {"year": ["2014", "2012"], "spent": [1.0, 2.0]})
    group, _ = a_group(hub, {"year": "sum"})
    group.select("year", Selection("year", frozenset({"2012"})))
    hub.stream("p", {"year": ["2013"], "spent": [3.0]})
    group.sync()
    table = hub.table("default", "p")
    assert table is not None
    assert encodings_of(table).categories["year"].names == ["2014", "2012", "2013"]
    hub.clear("p")  # a clear empties the rows; a category keeps its code when it comes back
    hub.stream("p", {"year": ["2013", "2012"], "spent": [1.0, 1.0]})
    group.sync()
    assert encodings_of(table).categories["year"].code_of == {"2014": 1, "2012": 2, "2013": 3}


def test_a_range_filters_the_rows_a_table_member_shows() -> None:
    hub = Hub()
    hub.stream("p", {"x": np.arange(10.0), "kind": list("aabbccddee")})
    group = Crossfilter("g", table=lambda: hub.table("default", "p"))
    rows = RowsState(Plot("recent", ["x", "kind"]), keep=3, column="x")
    kinds = CategoryMember("kind", None, "count")
    group.join("recent", rows)
    group.join("kinds", kinds)
    group.sync()
    assert list(rows.kept["x"]) == [7.0, 8.0, 9.0]
    group.select("kinds", Selection("kind", frozenset({"b"})))
    assert list(rows.kept["x"]) == [2.0, 3.0]
    hub.stream("p", {"x": [10.0, 11.0], "kind": ["b", "z"]})
    group.sync()
    assert list(rows.kept["x"]) == [2.0, 3.0, 10.0]
    group.select("recent", Selection("x", low=2.5, high=10.0))
    assert shown(group, kinds, "count") == {"b": 2.0, "c": 2.0, "d": 2.0, "e": 2.0}


def test_a_selection_made_before_new_rows_were_synced() -> None:
    rng = np.random.default_rng(2)
    hub = Hub()
    hub.stream("p", purchases(1_000, rng))
    aggs = {"year": "sum", "name": "sum", "pay": "count"}
    group, members = a_group(hub, aggs)
    group.select("year", Selection("year", frozenset({"2013"})))
    hub.stream("p", purchases(200, rng))
    group.select("pay", Selection("pay", frozenset({"tab"})))  # the click comes first
    check(group, members, hub, aggs)
    hub.stream("p", purchases(200, rng))
    group.select("year", None)
    check(group, members, hub, aggs)


def test_codes_outgrowing_one_byte_keep_their_totals() -> None:
    rng = np.random.default_rng(4)
    hub = Hub()
    rows = {"tag": rng.integers(0, 200, 4_000).astype(str).astype(object),
            "year": rng.choice(YEARS, 4_000), "spent": rng.random(4_000)}  # fmt: skip
    hub.stream("p", rows)
    aggs = {"tag": "sum", "year": "count"}
    group, members = a_group(hub, aggs)
    group.select("year", Selection("year", frozenset({"2012"})))
    rows["tag"] = rng.integers(150, 400, 4_000).astype(str).astype(object)  # 400 tags
    hub.stream("p", rows)
    group.sync()
    check(group, members, hub, aggs)


def test_the_note_says_when_the_store_holds_rows_memory_dropped(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamvis.core import _ring
    from streamvis.store import open_store

    monkeypatch.setattr(_ring, "CHUNK_ROWS", 1024)
    hub = Hub(store=open_store(tmp_path / "s.db"), memory=200_000)
    try:
        rng = np.random.default_rng(8)
        group, members = a_group(hub, {"year": "count"})
        assert group.note() == ""
        table = None
        while table is None or table.first_seq == 0:
            hub.stream("p", purchases(1024, rng))
            hub.flush()
            hub.keep_within_budget()
            table = hub.table("default", "p")
        group.sync()
        check(group, members, hub, {"year": "count"})
        assert f"counts the {table.row_count:,} rows in memory" in group.note()
        assert f"{table.first_seq:,} older rows are only in the store" in group.note()
    finally:
        hub.store.close()  # type: ignore[union-attr]
