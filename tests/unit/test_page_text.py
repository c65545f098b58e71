"""Text from producers and layouts on a page: markdown is sanitised by an allowlist,
HoloViews titles keep their braces, and the page policy is found only where the server
wrote it (streamvis/kinds/sanitize.py, csp.py). The escaping error pane is in
tests/render/test_kinds_render.py (it needs Panel)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from streamvis.kinds.sanitize import format_literal, markdown_html, safe_url, sanitize_html
from streamvis.page.csp import META_START, policy, policy_of

PAYLOADS = [
    "<script>sv_pwn(1)</script>",
    "<img src=x onerror=sv_pwn(2)>",
    "<svg onload=sv_pwn(3)></svg>",
    '<a href="javascript:sv_pwn(4)">x</a>',
    '<a href="jav&#x09;ascript:sv_pwn(5)">x</a>',
    '<a href=" JAVASCRIPT:sv_pwn(6)">x</a>',
    '<a href="data:text/html,<script>sv_pwn(7)</script>">x</a>',
    '<p onmouseover=sv_pwn(8) style="background:url(javascript:x)">p</p>',
    '<iframe src="javascript:sv_pwn(9)"></iframe>',
    "<object data=x></object><embed src=x><form action=x><input autofocus onfocus=x>",
    "<scr<script>ipt>sv_pwn(10)</script>",
    "<!--<img src=x onerror=sv_pwn(11)>-->",
    "<math><mtext></p><img src=x onerror=sv_pwn(12)></mtext></math>",
]


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from a fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def _has_active_content(fragment: str) -> bool:
    """A script element, an event handler, a style, or a link that is not http(s)/mailto or
    relative."""
    parser = _Elements()
    parser.feed(fragment)
    parser.close()
    for tag, attrs in parser.found:
        if tag in ("script", "img", "svg", "iframe", "object", "embed", "form", "input", "math"):
            return True
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "src", "srcdoc", "action"):
                return True
            target = "".join((value or "").split()).lower()
            if name == "href" and target.split(":", 1)[0] in ("javascript", "data", "vbscript"):
                return True
    return False


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if not p.startswith(("<!--", "<scr<"))])
def test_the_check_sees_the_raw_payloads(payload: str) -> None:
    assert _has_active_content(payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitiser_leaves_no_script_handler_or_dangerous_link(payload: str) -> None:
    assert not _has_active_content(sanitize_html(payload))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_shows_raw_html_as_text(payload: str) -> None:
    rendered = markdown_html(f"## Notes\n\n{payload} **bold**")
    assert not _has_active_content(rendered)
    assert "<h2>Notes</h2>" in rendered
    assert "<strong>bold</strong>" in rendered


def test_markdown_keeps_safe_formatting_and_links() -> None:
    rendered = markdown_html(
        "# T\n\n- [site](https://example.org/a?b=1&c=2)\n- [mail](mailto:a@b.c)\n"
        "- [page](/other) and [bad](javascript:sv_pwn(1))\n\n"
        "| a | b |\n|---|---|\n| `x<y` | ~~old~~ |\n\n![a <b> picture](x.png)"
    )
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">' in (
        rendered
    )
    assert '<a href="mailto:a@b.c"' in rendered
    assert '<a href="/other"' in rendered
    assert "javascript" in rendered
    assert 'href="javascript' not in rendered
    assert "<td><code>x&lt;y</code></td>" in rendered
    assert "<s>old</s>" in rendered
    assert "<img" not in rendered
    assert "a &lt;b&gt; picture" in rendered


def test_template_strings_in_markdown_are_not_evaluated() -> None:
    rendered = markdown_html("`{{7*7}}` and `${7*7}`")
    assert "<code>{{7*7}}</code>" in rendered
    assert "<code>${7*7}</code>" in rendered
    assert "49" not in rendered


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.org", True),
        ("http://example.org", True),
        ("mailto:a@b.c", True),
        ("/path?q=1", True),
        ("#anchor", True),
        ("relative/page.html", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("\x01javascript:alert(1)", False),
        ("vbscript:x", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
    ],
)
def test_safe_url(url: str, kept: bool) -> None:
    assert (safe_url(url) == url) is kept


def test_unclosed_and_stray_tags_are_balanced() -> None:
    assert sanitize_html("<p>a <b>b") == "<p>a <b>b</b></p>"
    assert sanitize_html("a</p></b>c") == "ac"
    assert sanitize_html("<ol start=3 onclick=x><li>x</ol>") == '<ol start="3"><li>x</li></ol>'
    assert sanitize_html('<ol start="3;x"><li>x</ol>') == "<ol><li>x</li></ol>"
    assert sanitize_html("<div><span>kept text</span></div>") == "kept text"
    assert sanitize_html("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"


@pytest.mark.parametrize("title", ["{label}", "${7*7}", "{{7*7}}", "{0.__class__}", "a}b{"])
def test_format_literal_survives_holoviews_formatting(title: str) -> None:
    assert format_literal(title).format(label="L", group="G", type="T", dimensions="D") == title


def test_policy_forbids_inline_script_except_the_nonce() -> None:
    text = policy("abc123")
    directives = dict(part.split(" ", 1) for part in text.split("; "))
    assert directives["script-src"] == "'self' 'nonce-abc123'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in directives["script-src"]
    assert "unsafe-eval" not in text


def test_policy_is_read_only_before_the_title() -> None:
    declared = policy("n1")
    page = f'<html><head>{META_START}{declared}"><title>t</title>'
    assert policy_of(page) == declared
    injected = f'<html><head><title>t</title>{META_START}script-src *">'
    assert policy_of(injected) is None
    assert policy_of("<html><head><title>x</title></head></html>") is None
