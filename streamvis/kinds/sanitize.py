"""Text from producers and layouts made safe for the places a page shows it
(docs/security.md): HoloViews titles, HTML fragments, and markdown.

- HoloViews reads a title as a `str.format` template (`{label}`), so a title holding
  `{7*7}` would fail the plot and `{label}` would be replaced: `format_literal` doubles
  braces so the text is shown as written.
- Markdown is rendered here, with raw HTML shown as text, and the result passes an
  allowlist: only the tags markdown produces, only `href` (http, https, mailto, relative)
  on links and `start` on lists; everything else is dropped, its text kept and escaped.
  No script, no event handler, no `javascript:` or `data:` link, no image (its alt text
  is shown instead: pages load nothing from other sites).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

ALLOWED_TAGS = frozenset(
    "a b blockquote br code del em h1 h2 h3 h4 h5 h6 hr i li ol p pre s strong "
    "table tbody td th thead tr ul".split()
)
VOID_TAGS = frozenset({"br", "hr"})
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template", "iframe", "object", "svg"})
ALLOWED_ATTRIBUTES = {"a": ("href", "title"), "ol": ("start",)}
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f]+")


def format_literal(text: str) -> str:
    """`text` for a HoloViews title (a format template): braces doubled, shown as written."""
    return text.replace("{", "{{").replace("}", "}}")


def safe_url(url: str) -> str | None:
    """`url` when it is relative or http(s)/mailto, else None (javascript:, data:, ...).
    Control characters and spaces are ignored when finding the scheme, as browsers do."""
    squeezed = _INVISIBLE.sub("", url)
    match = _SCHEME.match(squeezed)
    if match is None:
        return url if ":" not in squeezed.split("/", 1)[0] else None
    return url if match.group(1).lower() in SAFE_SCHEMES else None


class _Allowlist(HTMLParser):
    """Rebuilds an HTML fragment keeping only allowlisted tags and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skipping: list[str] = []  # inside a dropped element whose text is dropped too

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping or tag in DROPPED_WITH_CONTENT:
            if tag not in VOID_TAGS:
                self.skipping.append(tag)
            return
        if tag not in ALLOWED_TAGS:
            return
        kept = []
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES.get(tag, ()) or value is None:
                continue
            if name == "href":
                value = safe_url(value)
                if value is None:
                    continue
            if name == "start" and not value.isdigit():
                continue
            kept.append(f' {name}="{html.escape(value)}"')
        if tag == "a":
            kept.append(' rel="noopener noreferrer nofollow"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self.open and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag in self.open:
            while self.open:
                closed = self.open.pop()
                self.out.append(f"</{closed}>")
                if closed == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def sanitize_html(fragment: str) -> str:
    """`fragment` with only allowlisted tags and attributes (see the module docstring);
    comments, doctype and processing instructions are dropped."""
    parser = _Allowlist()
    parser.feed(fragment)
    return parser.result()


def markdown_html(text: str) -> str:
    """Markdown (CommonMark with tables and strikethrough) as sanitised HTML; raw HTML in
    `text` is shown as text, images as their alt text."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.add_render_rule("image", _image_as_alt_text)
    return sanitize_html(parser.render(text))


def _image_as_alt_text(
    renderer: object, tokens: list[Any], index: int, options: object, env: object
) -> str:
    """markdown-it render rule: an image becomes its alt text (escaped)."""
    token = tokens[index]
    return html.escape("".join(child.content for child in token.children or ()), quote=False)
