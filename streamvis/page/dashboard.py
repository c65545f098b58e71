"""`sv.dashboard`: a live page (page/live.py) for a layout or a run.

Call `dashboard(layout)` once per session (Panel runs the app script per session); each
call makes fresh Buffers and subscriptions, so viewers never share state. The page address
picks what is drawn: `?run=NAME` another run, `?runs=REGEX` several runs compared
(streamvis/page/compare.py). Line plots follow the header's smoothing and x axis controls
(streamvis/page/controls.py); the header and reset buttons are in streamvis/page/header.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis.core.hub import Hub, check_name, hub_or_default
from streamvis.errors import StreamError
from streamvis.layout.spec import Layout, load_layout
from streamvis.page import compare, notebook
from streamvis.page.assets import use_server_assets
from streamvis.page.group_lines import page_grouping
from streamvis.page.regrid import ROW_HEIGHT

if TYPE_CHECKING:
    from streamvis.page.live import LivePage

__all__ = ["ROW_HEIGHT", "dashboard", "page_query"]


def page_query(arguments: dict[str, list[bytes]]) -> tuple[str | None, str | None, str | None]:
    """(`?run=`, `?runs=`, the problem with them or None) from a page request's arguments."""
    values = {key: arguments[key][-1].decode("utf-8", "replace") for key in ("run", "runs")
              if arguments.get(key)}  # fmt: skip
    shown, runs = values.get("run"), values.get("runs")
    if shown is not None:
        try:
            check_name("run", shown)
        except StreamError as exc:
            return None, None, f"cannot show ?run={shown}: {exc}"
    if runs is not None:
        try:
            compare.matching_runs(runs, ())
        except ValueError as exc:
            return shown, None, str(exc)
    return shown, runs, None


def dashboard(
    layout: Layout | dict[str, Any] | str | None = None,
    *,
    hub: Hub | None = None,
    run: str | None = None,
    runs: str | None = None,
    start: bool = True,
) -> LivePage:
    """A live page: for `layout` (a Layout, a dict of the YAML schema, or a YAML path), or,
    with no layout, for whatever layout the hub holds for `run` (updated live).

    `runs` (a regular expression) compares the matching runs. In a server the page address
    overrides both: `?run=NAME` shows that run, `?runs=REGEX` compares runs.
    Returns the page, a Panel `Viewer` (streamvis/page/live.py); `.servable()` it in an app,
    or make it a notebook cell's last expression: it shows itself live, with nothing else
    to call. Its `session` and `view` (the Panel layout shown) are attributes."""
    import panel as pn

    from streamvis.page.live import LivePage

    use_server_assets()  # before any model exists: a served page never points at a CDN

    from streamvis.page.csp import protect

    protect(pn.state.curdoc)  # served: the page's Content-Security-Policy (streamvis/page/csp.py)
    fixed = load_layout(layout) if layout is not None else None
    shown, pattern, problem = page_query(pn.state.session_args)
    grouping, group_problem = page_grouping(pn.state.session_args)
    served = start and getattr(pn.state.curdoc, "session_context", None) is not None
    page = LivePage(
        hub_or_default(hub, "dashboard"),
        run,
        fixed,
        shown=shown,
        runs=pattern or runs,
        problem=problem or group_problem,
        grouping=grouping,
        build=not served,  # served: built once the browser is connected (LivePage.start)
    )
    if notebook.in_kernel():  # Jupyter: inline resources, no lost rows (page/notebook.py)
        notebook.prepare()
        notebook.attach(page)
    if start:
        page.start()
    return page
