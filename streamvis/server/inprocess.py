"""`sv.serve`: the dashboard served by a Panel server inside the producer's own process.

It lives in the server room, not with the page, because serving starts the layout's
sources (streamvis/sources), which sit above the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamvis.core.hub import Hub, default_hub, hub_or_default
from streamvis.layout.spec import Layout, load_layout
from streamvis.sources import start_sources


def serve(
    layout: Layout | dict[str, Any] | str | None = None,
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    show: bool = False,
    threaded: bool = True,
    hub: Hub | None = None,
    run: str | None = None,
    memory: int | str | None = None,
    **server_settings: Any,
) -> Any:
    """Serve `layout` from this process (the producer keeps calling `sv.stream`). With no
    layout the page draws the run's layout set through the API, else the automatic one (a
    chart per numeric column of every stream: docs/run-explorer.md).

    Returns Panel's server handle; with `threaded=True` (default) it runs in a background
    thread and `handle.stop()` ends it, closing the connections open pages still hold.
    Extra keyword arguments go to `panel.serve` and on to
    Bokeh's server under Bokeh's names, e.g. `unused_session_lifetime_milliseconds=5000`
    (not the `panel serve` flag spellings, which Tornado would silently ignore).
    Panel's `warm=True` is the default here: one page is built before the server listens,
    so the first browser's page does not pay the cold imports and caches (about 1.5 s on a
    2-core machine); `warm=False` starts faster.
    `memory` sets the hub's byte budget ('8GB', '512MiB' or bytes; docs/memory.md)."""
    import panel as pn

    from streamvis.page.csp import install_header
    from streamvis.page.dashboard import dashboard
    from streamvis.page.served import ServedDashboard, check_listen

    check_listen(port, address)
    hub = hub_or_default(hub, "serve") if hub is not None else None
    if memory is not None:
        (hub or default_hub()).set_memory(memory)
    checked = load_layout(layout) if layout is not None else None
    followed = None
    if checked is None:
        followed = run or "default"
    elif isinstance(layout, str | Path):  # a file: pages follow its edits (layout/watch.py)
        from streamvis.layout.watch import follow_file

        followed = run or checked.run
        follow_file(hub or default_hub(), followed, layout)
    if checked is not None:
        start_sources(checked, hub=hub, run=run)
    # pages load BokehJS from this server (Bokeh's server default) and Panel's CSS too
    # (dashboard() pins each session's stylesheets; see page/assets.py), never from a CDN
    install_header()  # each page's Content-Security-Policy also as a response header

    def page() -> Any:
        if followed is not None:
            return dashboard(None, hub=hub, run=followed)
        return dashboard(checked, hub=hub, run=run)

    server_settings.setdefault("warm", True)  # one page built before it listens
    handle = pn.serve(
        {"/": page},
        port=port,
        address=address,
        show=show,
        threaded=threaded,
        title=checked.title if checked is not None else "streamvis",
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        **server_settings,
    )
    if not threaded:
        return handle
    served = ServedDashboard(handle)
    served.wait_listening()
    return served
