"""Served pages take every script and stylesheet from the server that serves them, never a CDN.

Why this is needed: Panel decides where a component's stylesheets point per document, from
the document's `dist_url` template variable, and falls back to its CDN when that is unset.
Panel sets it only while it writes a session's HTML page, so every model built before then,
and every model of a session that never had its HTML page written (a browser whose
session expired before its websocket connected gets a fresh one that way) keeps
`cdn.holoviz.org` addresses, whatever BOKEH_RESOURCES says. Setting it when the session's
document is first built, before any model exists, closes both gaps.
"""

from __future__ import annotations


def resources_mode() -> str:
    """The resource mode the Bokeh server hands pages: `server` unless BOKEH_RESOURCES (or
    code setting Bokeh's settings) asks for `cdn`, `inline`, ..."""
    from bokeh.settings import settings

    return str(settings.resources(default="server"))


def use_server_assets() -> bool:
    """Point the current served session's stylesheets at this server; True if it did.

    A no-op outside a server session (a notebook, a document built in a test) and when the
    user explicitly chose other resources through BOKEH_RESOURCES."""
    import panel as pn
    from panel.io.resources import LOCAL_DIST  # where Panel's server serves its dist files

    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return False
    if not resources_mode().startswith("server"):
        return False
    relative = pn.state.rel_path  # "../.." for an app served below the root, else ""
    doc.template_variables["dist_url"] = f"{relative}/{LOCAL_DIST}" if relative else LOCAL_DIST
    return True
