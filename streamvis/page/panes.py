"""Panel panes for text that came from producers, layouts or page addresses: shown
literally, never parsed as HTML (docs/security.md).

Panel's own `Str` pane wraps its text in `<pre>` but does not escape it, and the browser
side puts the result into the page with innerHTML (running `<img onerror>` and scripts), so
every error message and note that can quote outside text goes through `LiteralStr`."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

WRAP = "pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }"


class LiteralStr(pn.pane.Str):
    """A `Str` pane whose text is escaped before Panel wraps it: `<script>` shows as the
    characters `<script>`. `.object` stays the plain text."""

    def _transform_object(self, obj: Any) -> dict[str, Any]:
        text = "" if obj is None else str(obj)
        return super()._transform_object(html.escape(text) if text else text)


def literal(text: str, **params: Any) -> LiteralStr:
    """A pane showing `text` exactly as it is (fixed width, like `pn.pane.Str`; long lines
    wrap)."""
    params.setdefault("stylesheets", [WRAP])
    return LiteralStr(text, **params)
