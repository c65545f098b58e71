"""The Content-Security-Policy of streamvis pages: a script runs only if it comes from this
server or carries the page's one-time nonce. Text that reached a page despite the escaping
(docs/security.md) therefore cannot run: an injected `<script>`, an `onerror=` attribute or
a `javascript:` link is refused by the browser.

Bokeh and Panel start a page with inline `<script>` blocks. Each page gets a fresh random
nonce on every `<script>` tag its template writes; those are the only scripts in the served
HTML (the page's models arrive as JSON over the websocket, and the title is escaped).

The policy is written twice, identically:
- as a `<meta http-equiv>` tag first in `<head>` (`protect(document)`, called for every
  streamvis page), which works however the page is served, plain `panel serve` included;
- as a `Content-Security-Policy` response header, by servers streamvis sets up
  (`install_header()`: `streamvis serve` and `--plugins streamvis.ingest`, `sv.serve`,
  `streamvis_server`), which copies the page's own policy into the header.
Styles stay `'unsafe-inline'`: Bokeh and Panel style every element inline.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

NONCE_VARIABLE = "sv_nonce"
POLICY_VARIABLE = "sv_policy"
META_START = '<meta http-equiv="Content-Security-Policy" content="'
_META = re.compile(re.escape(META_START) + r'([^"<>]+)">')
_template: Any = None
_installed = False

# Jinja template extending Panel's page: the policy first in <head>, a nonce on every
# <script> tag of the head (Bokeh's resources) and of the body (the bootstrap).
PAGE_TEMPLATE = """{% extends "base.html" %}
{% block inner_head %}
    <meta http-equiv="Content-Security-Policy" content="{{ sv_policy }}">
{{ super() | replace("<script", "<script nonce=\\"" ~ sv_nonce ~ "\\"") }}
{% endblock %}
{% block inner_body %}
{{ super() | replace("<script", "<script nonce=\\"" ~ sv_nonce ~ "\\"") }}
{% endblock %}
"""


def policy(nonce: str) -> str:
    """The page policy for one page load: scripts from this server or with `nonce`; no
    plugins, no `<base>` rewriting, data and websockets only to this server."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        )
    )


def page_template() -> Any:
    """Panel's page template with the policy and nonces added (built once)."""
    global _template
    if _template is None:
        import panel
        from jinja2 import Environment, FileSystemLoader

        panel_templates = Path(panel.__file__).parent / "_templates"
        environment = Environment(
            loader=FileSystemLoader(str(panel_templates)), trim_blocks=True, lstrip_blocks=True
        )
        _template = environment.from_string(PAGE_TEMPLATE)
    return _template


def protect(document: Any) -> None:
    """Serve `document` (one browser session's page) with a fresh nonce and the policy."""
    if document is None or document.session_context is None:
        return  # a notebook or a test document: no served page
    variables = document.template_variables
    if NONCE_VARIABLE not in variables:
        nonce = secrets.token_urlsafe(18)
        variables[NONCE_VARIABLE] = nonce
        variables[POLICY_VARIABLE] = policy(nonce)
    document.template = page_template()


def policy_of(page: str) -> str | None:
    """The policy a served page declares in its first `<meta>` tag, or None. Only a tag
    before `<title>` counts: nothing from outside the server is written there."""
    end = page.find("<title")
    match = _META.search(page, 0, end if end >= 0 else len(page))
    return match.group(1) if match is not None else None


def install_header() -> None:
    """Make Bokeh servers created from now on in this process send each page's policy as
    a header. Panel itself serves pages by putting its DocHandler into Bokeh's
    `per_app_patterns`; this wraps that handler the same way (once per process)."""
    global _installed
    if _installed:
        return
    import panel.io.server  # noqa: F401 - Panel puts its DocHandler in the table on import
    from bokeh.server import urls

    for index, (pattern, handler, *rest) in enumerate(urls.per_app_patterns):
        if pattern == r"/?":
            urls.per_app_patterns[index] = (pattern, _with_policy_header(handler), *rest)
    _installed = True


def _with_policy_header(handler: type) -> type:
    class PolicyHeader(handler):  # type: ignore[misc, valid-type]
        """Panel's page handler, sending the page's Content-Security-Policy as a header."""

        def write(self, chunk: Any) -> None:
            declared = policy_of(chunk) if isinstance(chunk, str) else None
            if declared is not None:  # the page (one write) declares its policy
                self.set_header("Content-Security-Policy", declared)
            super().write(chunk)

    PolicyHeader.__name__ = PolicyHeader.__qualname__ = f"PolicyHeader{handler.__name__}"
    return PolicyHeader
