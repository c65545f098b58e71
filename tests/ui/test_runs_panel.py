"""The runs panel in a real page (streamvis/page/runs_panel.py): three runs POSTed over HTTP
to `panel serve` with the ingest API are listed with their colors; checking and unchecking
runs changes the page's data sources and its address (`?runs=`); that address opened in a
new page restores the selection; the filter box, All and None; a run started while the page
is open joins the list. Read from the DOM and the browser's Bokeh models."""

from __future__ import annotations

import json
import os
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streamvis.page.compare import names_pattern
from tests.conftest import LIVE_MODEL, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: runs panel
    run: alpha
    refresh_ms: 100
    plots:
      - {id: loss, kind: line, stream: metrics, x: step, y: v, at: [0, 0, 1, 1]}
      - {id: last, kind: number, stream: metrics, value: v, at: [1, 0, 1, 1]}
""")
VALUES = {"alpha": [1.0, 3.0, 2.0], "beta": [10.0, 8.0, 12.0], "gamma": [5.0, 5.5, 4.0]}
SHOTS = Path(os.environ.get("STREAMVIS_SHOTS", "/work/shots"))

# every drawn line of a figure: its data source's name -> its line color (not the hover
# table's invisible glyph, page/hover.py)
LINES = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const figure = live(name);
    if (!figure) return null;
    const lines = {};
    for (const r of figure.renderers)
        if (r.type === "GlyphRenderer" && r.visible && r.data_source.name
            && !r.data_source.name.startsWith("sv-hover:"))
            lines[r.data_source.name] = r.glyph.line_color.value ?? r.glyph.line_color;
    return lines;
}"""
)
# whether a figure draws a group's mean line
GROUPED = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const figure = live(name);
    return !!figure && figure.renderers.some((r) => r.data_source
        && (r.data_source.name || "").includes(":@group/"));
}"""
)
# the text of the grouping's problem line (its model's: the DOM's is in a shadow root)
GROUP_ERROR = """() => {
    const all = Bokeh.documents[0]._all_models;
    const models = all instanceof Map ? [...all.values()] : [...all];
    const line = models.find((m) => (m.css_classes || []).includes("sv-group-error"));
    return line && line.visible ? line.text : null;
}"""
# each listed run: name, checked, its swatch's color, whether it is marked live
PANEL = """() => {
    const all = (root, selector, found = []) => {
        for (const el of root.querySelectorAll("*")) {
            if (el.matches(selector)) found.push(el);
            if (el.shadowRoot) all(el.shadowRoot, selector, found);
        }
        return found;
    };
    return all(document, ".sv-run-row").map((row) => {
        const inner = (selector) => all(row.shadowRoot || row, selector)[0];
        const swatch = inner(".sv-swatch");
        return {
            name: inner(".sv-run-name").textContent,
            checked: inner("input[type=checkbox]").checked,
            color: swatch ? getComputedStyle(swatch).backgroundColor : null,
            live: !!inner(".sv-live"),
        };
    });
}"""


def post(port: int, run: str, values: list[float]) -> None:
    body = {"step": list(range(len(values))), "v": values}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/runs/{run}/streams/metrics",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # a loaded machine
        assert response.status == 200, response.read()


def rgb(hex_color: str) -> str:
    """'#30a2da' as the browser computes it: 'rgb(48, 162, 218)'."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def listed(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(PANEL)


def checked(page: Any) -> list[str]:
    return [row["name"] for row in listed(page) if row["checked"]]


def click_run(page: Any, run: str) -> None:
    page.locator(".sv-run-row", has_text=run).locator("input[type=checkbox]").click()


def drawn(page: Any) -> dict[str, str] | None:
    return page.evaluate(LINES, "sv-figure:loss")


def runs_in_address(page: Any) -> str | None:
    address = page.evaluate("() => window.location.href")  # set by history.pushState
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(address).query, keep_blank_values=True)
    return query.get("runs", [None])[-1]


def grouping_in_the_bar_only(page: Any) -> None:
    """The "group by" and "band" controls are in the runs panel, and nowhere else."""
    for control in (".sv-group-by", ".sv-band"):
        wait_until(
            lambda control=control: page.locator(f".sv-runs-controls {control}").count() == 1,
            message=f"{control} in the runs panel",
        )
        assert page.locator(control).count() == 1, f"{control} shown twice"


def fits_the_window(page: Any) -> None:
    """The header's title on one line, and every chart's toolbar inside the window."""
    width = page.viewport_size["width"]
    title = page.locator(".sv-title h2").first.bounding_box()
    assert title is not None
    assert title["height"] < 40, title  # one line of the title
    toolbars = page.locator(".bk-Toolbar")
    assert toolbars.count() > 0
    for index in range(toolbars.count()):
        box = toolbars.nth(index).bounding_box()
        if box is not None:  # a hidden toolbar has no box
            assert box["x"] + box["width"] <= width, (index, box, width)


def test_runs_panel_lists_checks_filters_and_shares_runs(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = tmp_path / "runs.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), plugins=True)
    for run, values in VALUES.items():
        post(server.port, run, values)
    open_, console = open_page
    page = open_(server.url)

    # the three runs, each with its own color; the page's own run is checked
    rows = wait_until(lambda: len(listed(page)) == 3 and listed(page), message="3 runs listed")
    assert [row["name"] for row in rows] == ["alpha", "beta", "gamma"]
    assert checked(page) == ["alpha"]
    colors = {row["name"]: row["color"] for row in rows}
    assert len(set(colors.values())) == 3, colors
    wait_until(lambda: set(drawn(page) or ()) == {"sv:loss:v"}, message="alpha drawn")

    # checking beta, then gamma: the page compares them, in the swatches' colors
    click_run(page, "beta")
    wait_until(lambda: runs_in_address(page) == "alpha|beta", message="?runs= in the address")
    click_run(page, "gamma")
    three = {"sv:loss:alpha/v", "sv:loss:beta/v", "sv:loss:gamma/v"}
    lines = wait_until(lambda: (drawn(page) or {}).keys() == three and drawn(page), message="3")
    assert {rgb(color) for color in lines.values()} == set(colors.values())
    for run in VALUES:
        assert rgb(lines[f"sv:loss:{run}/v"]) == colors[run]
    assert runs_in_address(page) == "alpha|beta|gamma"

    # unchecking beta takes its line away; the others keep their colors
    click_run(page, "beta")
    two = {"sv:loss:alpha/v", "sv:loss:gamma/v"}
    lines = wait_until(lambda: (drawn(page) or {}).keys() == two and drawn(page), message="2")
    assert {rgb(color) for color in lines.values()} == {colors["alpha"], colors["gamma"]}
    wait_until(lambda: runs_in_address(page) == "alpha|gamma", message="address follows")
    assert checked(page) == ["alpha", "gamma"]
    # the number card compares nothing: it shows the first run and says so
    card = page.locator(".sv-number").first
    wait_until(lambda: "(run alpha)" in (card.text_content() or ""), message="first run said")

    # the shared address restores the selection in a new page
    shared = open_(page.evaluate("() => window.location.href"))
    wait_until(lambda: checked(shared) == ["alpha", "gamma"], message="selection restored")
    wait_until(lambda: (drawn(shared) or {}).keys() == two, message="restored lines")
    assert [row["color"] for row in listed(shared)] == [colors[run] for run in VALUES]

    # the filter box lists only what matches (a regex); All / None act on the listed runs
    page.locator(".sv-runs-filter input").fill("g.*")
    wait_until(lambda: [row["name"] for row in listed(page)] == ["gamma"], message="filtered")
    page.locator(".sv-runs-none button").click()
    wait_until(lambda: runs_in_address(page) == "alpha", message="None unchecks gamma")
    wait_until(lambda: (drawn(page) or {}).keys() == {"sv:loss:alpha/v"}, message="alpha only")
    page.locator(".sv-runs-filter input").fill("")
    wait_until(lambda: len(listed(page)) == 3, message="filter cleared")
    assert checked(page) == ["alpha"]
    page.locator(".sv-runs-all button").click()
    wait_until(lambda: checked(page) == ["alpha", "beta", "gamma"], message="All checks all")
    wait_until(lambda: (drawn(page) or {}).keys() == three, message="all three drawn")
    page.locator(".sv-runs-none button").click()
    wait_until(lambda: runs_in_address(page) == "", message="None: nothing checked")
    note = page.locator("p", has_text="no run checked")
    wait_until(lambda: note.count() == 1, message="the page says no run is checked")
    page.locator(".sv-runs-all button").click()
    wait_until(lambda: (drawn(page) or {}).keys() == three, message="all three again")

    # a run started while the page is open joins the list, unchecked (runs picked by hand)
    post(server.port, "delta", [0.5, 0.25])
    wait_until(lambda: len(listed(page)) == 4, message="delta listed")
    assert checked(page) == ["alpha", "beta", "gamma"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "runs_panel.png"))

    # grouping is chosen in the bar (a bad regex said there); the header stays on one line
    # and every chart's toolbar within the 1400 px window
    grouping_in_the_bar_only(page)
    page.locator(".sv-group-by select").select_option(label="run name (regex)")
    regex = page.locator(".sv-group-regex input")
    regex.fill("(")
    regex.press("Enter")
    problem = page.locator(".sv-runs-panel .sv-group-error")
    said = wait_until(lambda: problem.is_visible() and page.evaluate(GROUP_ERROR), message="said")
    assert "not a valid regular expression" in said
    regex.fill("")  # back to no grouping: the problem goes
    regex.press("Enter")
    wait_until(lambda: not problem.is_visible(), message="the problem goes with a good regex")
    # three runs compared and grouped (each its own group) from a shared address
    query = urllib.parse.urlencode({"runs": "alpha|beta|gamma", "group": "name:^(.*)$"})
    grouped = open_(f"{server.url}?{query}")
    wait_until(lambda: grouped.evaluate(GROUPED, "sv-figure:loss"), message="grouped")
    grouping_in_the_bar_only(grouped)
    assert grouped.locator(".sv-group-regex input").input_value() == "^(.*)$"
    fits_the_window(grouped)
    grouped.screenshot(path=str(SHOTS / "gctl.png"))

    # collapsed, the bar leaves its toggle only
    bar, row = page.locator(".sv-runs-panel").first, page.locator(".sv-run-row").first
    page.locator(".sv-runs-toggle button").click()
    wait_until(lambda: bar.bounding_box()["width"] < 60 and not row.is_visible(), message="closed")
    page.locator(".sv-runs-toggle button").click()
    wait_until(lambda: bar.bounding_box()["width"] > 200 and row.is_visible(), message="open")
    assert console.errors() == [], console.messages


def test_a_regex_selection_takes_in_new_matching_runs(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = tmp_path / "runs.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), plugins=True)
    post(server.port, "seed.1", [1.0, 2.0])
    post(server.port, "other", [3.0, 4.0])
    open_, console = open_page
    page = open_(f"{server.url}?runs={urllib.parse.quote('seed.*')}")
    wait_until(lambda: checked(page) == ["seed.1"], message="the matching run checked")
    post(server.port, "seed.2", [2.0, 1.0])
    wait_until(lambda: checked(page) == ["seed.1", "seed.2"], message="a new matching run")
    wait_until(
        lambda: (drawn(page) or {}).keys() == {"sv:loss:seed.1/v", "sv:loss:seed.2/v"},
        message="both drawn",
    )
    assert page.get_by_text("runs matching seed.* (new ones join)").count() == 1
    # an escaped name set, as the panel writes it, names exactly its runs
    exact = open_(f"{server.url}?runs={urllib.parse.quote(names_pattern(['seed.1']))}")
    wait_until(lambda: checked(exact) == ["seed.1"], message="exactly seed.1")
    assert console.errors() == [], console.messages
