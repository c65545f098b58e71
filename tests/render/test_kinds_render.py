"""The histogram, table, number and markdown kinds, rendered without a server."""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import pytest

from streamvis.errors import SpecError
from streamvis.kinds.histogram import StableEdges, counts
from streamvis.kinds.number import render as number_html
from streamvis.layout.spec import load_layout


def layout(**plot: object) -> dict[str, object]:
    return {"plots": [{"id": "k", "stream": "s", "at": [0, 0, 1, 1], **plot}]}


def test_stable_edges_stay_put_while_data_fits_and_double_when_it_does_not() -> None:
    edges = StableEdges(bins=4)
    first = edges.edges(np.array([0.0, 10.0]))
    assert first[0] == pytest.approx(-0.5)
    assert first[-1] == pytest.approx(10.5)
    np.testing.assert_array_equal(edges.edges(np.array([1.0, 9.0, np.nan])), first)
    wider = edges.edges(np.array([12.0]))
    assert (wider[0], wider[-1]) == (pytest.approx(-0.5), pytest.approx(21.5))
    assert StableEdges(3).edges(np.array([np.nan])).tolist() == [0.0, 1 / 3, 2 / 3, 1.0]
    assert counts(np.array([1.0, 2.0, np.inf, np.nan]), np.array([0.0, 1.5, 3.0])).tolist() == [
        1,
        1,
    ]


def test_histogram_draws_exact_counts_of_the_kept_rows(render) -> None:
    view = render(layout(kind="histogram", value="v", bins=5))
    values = np.array([0.0, 1.0, 1.5, 2.0, 4.0, np.nan])
    view.hub.stream("s", {"v": values})
    view.session.tick()
    drawn = view.column("sv:k:count", "top")
    assert drawn.sum() == 5  # NaN is not counted
    view.hub.stream("s", {"v": [1.1, 1.2]})
    view.session.tick()
    assert view.column("sv:k:count", "top").sum() == 7


def test_table_shows_the_newest_rows_newest_first(render) -> None:
    view = render(layout(kind="table", columns=["step", "tag"], rows=3))
    view.hub.stream("s", {"step": [1, 2, 3, 4, 5], "tag": list("abcde"), "other": [0.0] * 5})
    view.session.tick()
    assert view.column("sv:k:table", "step").tolist() == [5, 4, 3]
    assert view.column("sv:k:table", "tag").tolist() == ["e", "d", "c"]
    assert "other" not in view.source("sv:k:table").data


def card(view) -> pn.pane.HTML:
    return next(p for p in view.page.select(pn.pane.HTML) if p.name == "sv-number:k")


def test_number_shows_the_latest_value_and_its_change(render) -> None:
    view = render(layout(kind="number", value="loss", options={"title": "<b>Loss</b>"}))
    assert "waiting for data" in card(view).object
    view.hub.stream("s", {"loss": [0.5, 0.25]})
    view.session.tick()
    html = card(view).object
    assert ">0.25<" in html
    assert "▼" in html
    assert "-0.25" in html
    assert "&lt;b&gt;Loss&lt;/b&gt;" in html  # producer text escaped
    view.hub.stream("s", {"loss": 0.75})
    view.session.tick()
    assert "▲" in card(view).object
    assert ">0.75<" in card(view).object


def test_number_html_handles_text_and_formats() -> None:
    plot = load_layout(layout(kind="number", value="v", format="{:.1f}")).plots[0]
    assert ">2.5<" in number_html(plot, [1.0, 2.5])
    assert "sv-number-change" not in number_html(plot, ["<x>", "y"])  # no change for text
    shown = number_html(plot, ["a", "<x>"])  # text values: the latest, escaped
    assert "&lt;x&gt;" in shown
    assert "<x>" not in shown


def test_markdown_needs_no_stream_and_shows_raw_html_as_text(render) -> None:
    text = "## Notes\n<script>alert(1)</script> **bold**"
    view = render({"plots": [{"id": "n", "kind": "markdown", "text": text, "at": [0, 0, 1, 1]}]})
    assert view.session.feeds == {}  # nothing to subscribe to
    (pane,) = [p for p in view.page.select(pn.pane.HTML) if p.name == "sv-markdown:n"]
    assert pane.object == (  # rendered and sanitised in Python (streamvis/kinds/sanitize.py)
        "<h2>Notes</h2>\n<p>&lt;script&gt;alert(1)&lt;/script&gt; <strong>bold</strong></p>\n"
    )
    assert pane.disable_math


def test_new_kinds_validate_their_fields() -> None:
    with pytest.raises(SpecError, match=r"plots\.k: 'columns' is required for a table plot"):
        load_layout(layout(kind="table"))
    with pytest.raises(SpecError, match=r"plots\.k\.bins: must be at least 1, not 0"):
        load_layout(layout(kind="histogram", value="v", bins=0))
    with pytest.raises(SpecError, match=r"plots\.k: 'text' is required for a markdown plot"):
        load_layout({"plots": [{"id": "k", "kind": "markdown", "at": [0, 0, 1, 1]}]})
    with pytest.raises(SpecError, match=r"plots\.k\.valu: unknown key .* Did you mean 'value'"):
        load_layout(layout(kind="number", valu="v"))
    plot = load_layout(layout(kind="histogram", value="v")).plots[0]
    assert (plot.get("bins"), plot.columns) == (30, ["v"])


def test_a_kind_column_missing_from_the_stream_is_reported_on_its_key(render) -> None:
    view = render(layout(kind="number", value="loss"))
    view.hub.stream("s", {"lost": 1.0})
    view.session.tick()
    (error,) = view.errors()
    assert "plots.k.value: stream 's' has no column 'loss'" in error


def test_literal_pane_escapes_what_panel_str_does_not() -> None:
    from streamvis.page.panes import literal

    text = "<img src=x onerror=sv_pwn(1)> & {{7*7}}"
    pane = literal(text)
    assert isinstance(pane, pn.pane.Str)
    assert pane.object == text
    sent = html.unescape(pane._transform_object(pane.object)["object"])  # what the browser gets
    assert sent == f"<pre>{html.escape(text)}</pre>"
    unsafe = html.unescape(pn.pane.Str(text)._transform_object(text)["object"])
    assert "<img" in unsafe  # why LiteralStr exists
