"""No text from producers, layouts or page addresses runs in a page (docs/security.md).

A real `panel serve` with the ingest API serves a layout whose every text (page title, plot
titles, axis labels, markdown, number format, crossfilter group, a source's path) and whose
streams' column names and category values carry payloads: `<script>`, `<img onerror>`,
`<svg onload>`, `javascript:` links, template strings (`{{7*7}}`, `${7*7}`, `{label}`) and
TeX (`$$x$$`). Every payload calls `sv_pwn(tag)`, which the test defines before the page
loads; a payload that ran would leave its tag in `window.__pwned`. The browser must show
each text literally (read back from Bokeh's models and the DOM) and report no console error
and no Content-Security-Policy violation (a violation would mean a sink that the escaping
missed). The last test hits a sink on purpose and sees the policy refuse it.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import post_json, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

RUN = "xss"
WATCH = """
window.__pwned = [];
window.__violations = [];
window.sv_pwn = (tag) => window.__pwned.push(String(tag));
document.addEventListener("securitypolicyviolation", (event) => window.__violations.push(
    {directive: event.violatedDirective, blocked: event.blockedURI, sample: event.sample}));
"""


def payload(tag: str) -> str:
    """Every kind of active text, each calling sv_pwn(tag), plus template strings and TeX."""
    return (
        f"<script>sv_pwn('{tag}')</script><img src=x onerror=sv_pwn('{tag}')>"
        f"<svg onload=sv_pwn('{tag}')></svg><a href=\"javascript:sv_pwn('{tag}')\">{tag}</a>"
        " {{7*7}} ${7*7} {label} $$x^2$$"
    )


TITLE = payload("title")
COL_A, COL_B = payload("col a"), payload("col b")
CATEGORY = payload("by")
CATEGORIES = [payload("category"), "{{7*7}}", "${7*7}", "$$x$$"]
MATRIX = [payload("matrix 1"), payload("matrix 2")]
PLOT_TEXT = {key: payload(key) for key in ("plot title", "x label", "y label", "table title")}
NUMBER_FORMAT = "<img src=x onerror=sv_pwn('format')>{:.1f}"
MARKDOWN = (
    "## Notes\n\n" + payload("markdown") + "\n\n[a js link](javascript:sv_pwn('md link')) "
    "[a web link](https://example.org/page) `{{7*7}}`"
)


def layout(source_path: Path) -> dict[str, Any]:
    """A plot of every kind, each text a payload; plus a failing source named by a payload."""
    titled = {"title": PLOT_TEXT["plot title"]}
    labelled = {**titled, "xlabel": PLOT_TEXT["x label"], "ylabel": PLOT_TEXT["y label"]}
    cats = {"stream": "cats", "by": CATEGORY}
    return {
        "title": TITLE,
        "run": RUN,
        "refresh_ms": 100,
        "sources": [
            {"name": "feed", "type": "file", "stream": "fed", "path": str(source_path),
             "format": "jsonl"}
        ],
        "plots": [
            {"id": "ln", "kind": "line", "stream": "lines", "x": "step", "y": [COL_A, COL_B],
             "at": [0, 0, 1, 1], "options": labelled},
            {"id": "sc", "kind": "scatter", "stream": "lines", "x": "step", "y": [COL_A],
             "at": [0, 1, 1, 1], "options": labelled},
            {"id": "br", "kind": "bar", **cats, "at": [0, 2, 1, 1], "options": labelled,
             "crossfilter": payload("group")},
            {"id": "rw", "kind": "row", **cats, "at": [1, 0, 1, 1], "options": titled,
             "crossfilter": payload("group")},
            {"id": "rg", "kind": "ring", **cats, "at": [1, 1, 1, 1], "options": titled},
            {"id": "tb", "kind": "table", "stream": "cats", "columns": [CATEGORY, "v"],
             "at": [1, 2, 1, 1], "options": {"title": PLOT_TEXT["table title"]}},
            {"id": "nm", "kind": "number", "stream": "cats", "value": "v",
             "format": NUMBER_FORMAT, "at": [2, 0, 1, 1], "options": titled},
            {"id": "md", "kind": "markdown", "text": MARKDOWN, "at": [2, 1, 1, 1]},
            {"id": "hm", "kind": "heatmap", "stream": "matrix", "at": [2, 2, 1, 1],
             "options": titled},
            {"id": "badpalette", "kind": "heatmap", "stream": "matrix", "at": [3, 0, 1, 1],
             "options": {"palette": payload("palette")}},
            {"id": "nocolumn", "kind": "line", "stream": "lines", "x": "step",
             "y": [payload("missing")], "at": [3, 1, 1, 1]},
        ],
    }  # fmt: skip


def post(port: int, path: str, body: Any) -> None:
    post_json(port, f"runs/{RUN}/{path}", body, timeout=20)


class Watched:
    """A page opened with the payload trap installed, collecting console errors and
    dialogs (an `alert` that ran)."""

    def __init__(self, browser: Any, url: str, bokeh: bool = True) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1200})
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.console: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("dialog", self._dialog)
        self.response = self.page.goto(url)
        if bokeh:  # a streamvis page: wait until Bokeh has its document
            self.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def errors(self) -> list[tuple[str, str]]:
        return [(kind, text) for kind, text in self.console if kind in ("error", "pageerror")]

    def evaluate(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    def nothing_ran(self) -> None:
        """No payload ran, no dialog opened, the policy refused nothing, no console error."""
        assert self.evaluate("window.__pwned") == []
        assert self.dialogs == []
        assert self.evaluate("window.__violations") == []
        assert self.errors() == [], self.console

    def texts(self, selector: str) -> list[str]:
        """textContent of every element matching `selector` (in open shadow roots too)."""
        return [element.text_content() for element in self.page.locator(selector).all()]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any) -> Any:
    opened: list[Watched] = []

    def open_(url: str, bokeh: bool = True) -> Watched:
        page = Watched(browser, url, bokeh)
        opened.append(page)
        return page

    yield open_
    for page in opened:
        page.close()


SOURCE = """([name, column]) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model && model.data[column] ? Array.from(model.data[column]) : null;
}"""
MODELS = """const all = Bokeh.documents[0]._all_models;
    const models = all instanceof Map ? [...all.values()] : [...all];"""
FIGURE_TEXT = """(name) => {
    const figure = Bokeh.documents[0].get_model_by_name(name);
    if (!figure) return null;
    const text = (t) => t == null ? null : typeof t === "string" ? {str: t} : {[t.type]: t.text};
    const panels = [...figure.above, ...figure.below, ...figure.left, ...figure.right,
                    ...figure.center];
    const axes = panels.filter((m) => m.axis_label !== undefined);
    const legends = panels.filter((m) => m.type === "Legend");
    return {
        title: text(figure.title.text),
        axes: axes.map((a) => text(a.axis_label)).filter((t) => t !== null),
        ticks: axes.flatMap((a) => [...(a.major_label_overrides?.values?.() ?? [])].map(text)),
        legend: legends.flatMap((l) => l.items.map((i) => typeof i.label === "string"
            ? i.label : i.label.value ?? i.label.field)),
    };
}"""
BUTTON_LABELS = (
    "() => {"
    + MODELS
    + """
    return models.filter((m) => m.type.endsWith("Button")).map((m) => m.label);
}"""
)


def rows(page: Watched, source: str, column: str) -> list[Any] | None:
    return page.evaluate(SOURCE, [source, column])


FRAME_MIDDLE = """(name) => {
    const figure = Bokeh.documents[0].get_model_by_name(name);
    const view = figure && Bokeh.index.find_one(figure);
    if (!view) return null;
    const canvas = view.canvas_view.el.getBoundingClientRect();
    return [canvas.x + view.frame.bbox.hcenter, canvas.y + view.frame.bbox.vcenter];
}"""


def hover_labels(page: Watched, figure: str) -> list[str] | None:
    """The row labels of the tooltip the mouse over the middle of `figure` opens."""
    middle = page.evaluate(FRAME_MIDDLE, figure)
    if not middle:
        return None
    page.page.mouse.move(middle[0], middle[1] - 20)
    page.page.mouse.move(*middle)
    labels = page.page.locator(".bk-tooltip-row-label:visible").all()
    return [(label.text_content() or "").removesuffix(": ") for label in labels] or None


def test_producer_and_layout_text_is_shown_literally_and_never_runs(
    tmp_path: Path, panel_server, watched
) -> None:
    source_path = tmp_path / payload("source path")  # missing: its error names it
    layout_path = tmp_path / "layout.yaml"
    layout_path.write_text(json.dumps(layout(source_path)))  # JSON is YAML
    server = panel_server(str(layout_path), plugins=True)
    post(server.port, "streams/lines", {"step": [1, 2, 3], COL_A: [1, 2, 3], COL_B: [3, 2, 1]})
    post(server.port, "streams/cats", {CATEGORY: CATEGORIES, "v": [1.0, 2.0, 3.0, 4.0]})
    post(server.port, "streams/matrix", {MATRIX[0]: [1.0, 2.0], MATRIX[1]: [3.0, 4.0]})
    page = watched(server.url)
    wait_until(lambda: rows(page, "sv:tb:table", "v") == [4.0, 3.0, 2.0, 1.0], message="table")
    wait_until(lambda: rows(page, "sv:ln:" + COL_B, COL_B) == [3, 2, 1], message="line drawn")
    assert page.response.headers.get("content-security-policy")  # see test_page_policy.py

    # hover the charts: Bokeh builds tooltips from column names and values
    for selector in (".bk-Canvas",):
        for canvas in page.page.locator(selector).all()[:6]:
            box = canvas.bounding_box()
            if box:
                page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)

    # the header: title, and the failing source's path
    assert page.texts(".sv-title h2") == [TITLE]
    status = page.page.locator(".sv-sources").locator("div").first
    wait_until(lambda: "file not found" in (status.text_content() or ""), message="source error")
    assert f"file not found: {source_path}" in status.text_content()

    # figures: titles and axis labels are plain text (no HTML, no TeX, braces kept)
    line = page.evaluate(FIGURE_TEXT, "sv-figure:ln")
    assert line["title"] == {"PlainText": PLOT_TEXT["plot title"]}
    assert line["axes"] == [
        {"PlainText": PLOT_TEXT["x label"]},
        {"PlainText": PLOT_TEXT["y label"]},
    ]
    assert line["legend"] == [COL_A, COL_B]  # column names in a multi-column legend
    # the line plot's hover table: a row per column, the column names as text
    labels = wait_until(lambda: hover_labels(page, "sv-figure:ln"), message="hover table")
    assert labels == ["step", COL_A, COL_B]
    scatter = page.evaluate(FIGURE_TEXT, "sv-figure:sc")
    assert scatter["title"] == {"PlainText": PLOT_TEXT["plot title"]}
    bar = page.evaluate(FIGURE_TEXT, "sv-figure:br")
    assert {"PlainText": PLOT_TEXT["x label"]} in bar["axes"]
    assert sorted(rows(page, "sv:br:value", "category")) == sorted(CATEGORIES)
    assert sorted(rows(page, "sv:rw:value", "category")) == sorted(CATEGORIES)
    assert sorted(rows(page, "sv:rg:wedges", "label")) == sorted(f"{c}: 1" for c in CATEGORIES)
    heatmap = page.evaluate(FIGURE_TEXT, "sv-figure:hm")
    assert heatmap["ticks"] == [{"PlainText": name} for name in MATRIX]
    assert {f"reset all ({payload('group')})"} <= set(page.evaluate(BUTTON_LABELS))

    # the table: headers, cells and title as text
    assert CATEGORY in page.texts(".slick-column-name")
    cells = page.texts(".slick-cell")
    assert all(category in cells for category in CATEGORIES), cells
    assert PLOT_TEXT["table title"] in page.texts(".bk-Div .bk-clearfix")

    # the number card: title and the value its layout format makes
    card = page.page.locator(".sv-number").first
    assert card.locator("div").first.text_content() == PLOT_TEXT["plot title"]
    assert page.texts(".sv-number-value") == ["<img src=x onerror=sv_pwn('format')>4.0"]

    # markdown: raw HTML is text, the javascript: link is not a link, the web link is
    markdown = page.page.locator(".sv-markdown").first
    text = markdown.evaluate("(el) => (el.shadowRoot || el).textContent")
    shown_html, _, template_and_tex = payload("markdown").partition("</a> ")
    assert shown_html + "</a>" in text  # `*` in the template strings is markdown emphasis
    assert "{label} $$x^2$$" in text
    assert "{{7*7}}" in text  # in backticks: code, shown as written
    inner = markdown.evaluate("(el) => (el.shadowRoot || el).innerHTML")
    for active in ("<img", "<svg", "<script", "javascript:sv_pwn('md link')\""):
        assert active not in inner
    hrefs = markdown.evaluate(
        "(el) => [...(el.shadowRoot || el).querySelectorAll('a')].map((a) => a.href)"
    )
    assert hrefs == ["https://example.org/page"]

    # error boxes quoting layout text (a plot that cannot be built, a column that is missing)
    wait_until(lambda: len(page.texts(".sv-error pre")) >= 2, message="both error boxes")
    errors = "\n".join(page.texts(".sv-error pre"))
    assert "plot 'badpalette' (heatmap) could not be built" in errors
    assert payload("palette") in errors
    assert f"has no column '{payload('missing')}'" in errors

    page.page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)
    page.nothing_ran()


ONE_PLOT = {"id": "m", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, 0, 1, 1]}


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        # ?run= names outside the allowed characters: refused, the refusal quotes them
        ({"run": payload("run")}, ".sv-page-error pre"),
        ({"run": "{{7*7}}"}, ".sv-page-error pre"),
        # a valid ?runs= pattern that matches nothing: said in the header and the note
        ({"runs": "<svg onload=sv_pwn(1)>|<img src=x onerror=sv_pwn(2)>|${7*7}"}, ".sv-run span"),
        # an invalid ?runs= pattern: the error quotes it
        ({"runs": "(" + payload("runs")}, ".sv-page-error pre"),
        # an invalid ?group= rule (grouped runs, issue 15): the error quotes it
        ({"group": "(" + payload("group"), "runs": "x.*"}, ".sv-page-error pre"),
    ],
)
def test_page_address_text_is_shown_literally_and_never_runs(
    tmp_path: Path, panel_server, watched, query: dict[str, str], shown: str
) -> None:
    layout_path = tmp_path / "layout.yaml"
    layout_path.write_text(json.dumps({"title": "t", "run": RUN, "plots": [ONE_PLOT]}))
    server = panel_server(str(layout_path))
    page = watched(server.url + "?" + urllib.parse.urlencode(query))
    value = next(iter(query.values()))
    box = page.page.locator(shown).first
    # as written, or as Python writes it in quotes (runs='...' in a regex error)
    wait_until(
        lambda: value in (box.text_content() or "") or repr(value) in (box.text_content() or ""),
        message=f"{value!r} shown",
    )
    if shown == ".sv-run span":
        assert box.text_content() == f"runs: {value}"
        note = page.page.locator("p", has_text="no run matches").first
        assert f"no run matches runs={value!r} yet" in note.text_content()
        # the runs panel's note quotes the pattern as text too
        said = page.page.get_by_text(f"runs matching {value} (new ones join)", exact=True)
        wait_until(lambda: said.count() == 1, message="the runs panel's note")
    page.page.screenshot(path=str(tmp_path / "address.png"))
    page.nothing_ran()


INJECT = """(html) => {"""  # a sink that escaping missed: raw HTML into a Panel HTML model
INJECT += MODELS
INJECT += """
    const pane = models.find((m) => (m.css_classes || []).includes("sv-run"));
    // Panel sends HTML entity-escaped and the browser side decodes it, then sets innerHTML
    // and re-creates the <script> elements (run_scripts)
    const escaped = html.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
    pane.text = escaped;
    return true;
}"""


def test_policy_refuses_script_that_reaches_the_page_anyway(
    tmp_path: Path, panel_server, watched
) -> None:
    layout_path = tmp_path / "layout.yaml"
    layout_path.write_text(json.dumps({"title": "t", "plots": [ONE_PLOT]}))
    server = panel_server(str(layout_path), plugins=True)
    page = watched(server.url)
    header = page.response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in header
    assert "unsafe-inline" not in header.split("script-src", 1)[1].split(";", 1)[0]

    has_header = f"() => {{ {MODELS} return models.some((m) => "
    has_header += "(m.css_classes || []).includes('sv-run')); }"
    wait_until(lambda: page.evaluate(has_header), message="the page is drawn")
    page.evaluate(
        INJECT,
        "<img id=sv-bad src=data:,x onerror=sv_pwn('handler')><script>sv_pwn('script')</script>"
        "<a id=sv-bad-link href=\"javascript:sv_pwn('link')\">x</a>",
    )
    bad = page.page.locator("#sv-bad")
    wait_until(lambda: bad.count() == 1, message="the injected HTML is in the page")
    page.page.locator("#sv-bad-link").click()
    wait_until(
        lambda: len(page.evaluate("window.__violations")) >= 3,
        message="the policy reports the handler, the script and the link",
    )
    assert page.evaluate("window.__pwned") == []
    directives = {v["directive"] for v in page.evaluate("window.__violations")}
    assert directives <= {"script-src-attr", "script-src-elem", "script-src"}, directives
    assert page.dialogs == []
    # what the console says is only the browser reporting the refusals we caused (the image
    # is a data: URL that fails to decode, so its error event fires without a request)
    assert page.errors(), "the refusals are reported"
    assert all("Content Security Policy" in text for _kind, text in page.errors()), page.errors()


ATTACKS = """async (target) => {
    const outcomes = {};
    const attempt = async (name, url, init) => {
        try {
            const response = await fetch(url, init);
            outcomes[name] = response.type === "opaque" ? "opaque" : response.status;
        } catch (error) {
            outcomes[name] = "blocked";
        }
    };
    const json = {"Content-Type": "application/json"};
    const body = JSON.stringify({"v": [666]});
    await attempt("post json", `${target}/streams/s`, {method: "POST", headers: json, body});
    await attempt("put layout", `${target}/layout`, {method: "PUT", headers: json,
        body: JSON.stringify({"plots": []})});
    await attempt("delete run", target, {method: "DELETE"});
    await attempt("delete streams", `${target}/streams`, {method: "DELETE"});
    await attempt("post text/plain", `${target}/streams/s`,
        {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
    return outcomes;
}"""
FORM = """(target) => {
    const form = document.createElement("form");
    form.method = "POST";
    form.action = `${target}/streams/s`;
    form.target = "sink";
    form.enctype = "text/plain";
    const field = document.createElement("input");
    field.name = '{"v": [667], "x": "';
    field.value = '"}';
    form.appendChild(field);
    const sink = document.createElement("iframe");
    sink.name = "sink";
    document.body.append(sink, form);
    form.submit();
    return true;
}"""


def test_another_site_cannot_write_delete_or_replace_a_layout(panel_server, watched) -> None:
    """A page of another origin (a second local server) tries what a forged request would:
    JSON writes, a layout PUT, DELETEs, a text/plain POST and a form post."""
    server = panel_server(plugins=True)
    post(server.port, "streams/s", {"v": [1.0, 2.0]})
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/runs/{RUN}/layout",
        data=json.dumps({"plots": [ONE_PLOT]}).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            page = b"<!doctype html><title>another site</title><p>hello</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            return

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        page = watched(f"http://localhost:{attacker.server_address[1]}/", bokeh=False)
        target = target_url(server.port)
        outcomes = page.evaluate(ATTACKS, target)
        # JSON bodies, PUT and DELETE need a CORS preflight, which the server never approves
        for name in ("post json", "put layout", "delete run", "delete streams"):
            assert outcomes[name] == "blocked", outcomes
        assert outcomes["post text/plain"] == "opaque"  # sent, but refused: 415 (below)
        page.evaluate(FORM, target)

        def refusal() -> str:
            frame = page.page.frame(name="sink")
            try:
                return frame.content() if frame is not None else ""
            except PlaywrightError:  # still navigating to the answer: ask again
                return ""

        wait_until(lambda: "unsupported_media_type" in refusal(), message="the form refused")
    finally:
        attacker.shutdown()
        attacker.server_close()

    with urllib.request.urlopen(f"{target_url(server.port)}/streams/s", timeout=20) as reply:
        assert json.load(reply)["columns"]["v"] == [1.0, 2.0]  # nothing written or deleted
    with urllib.request.urlopen(f"{target_url(server.port)}/layout", timeout=20) as reply:
        assert json.load(reply)["plots"][0]["id"] == "m"  # the layout was not replaced


def target_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api/v1/runs/{RUN}"
