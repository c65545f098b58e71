"""What `panel serve apps/dashboard.py --args LAYOUT [--producer MOD:FUNC]` runs per session.

The layout comes from the first argument or STREAMVIS_LAYOUT. A producer (`module:function`
or `path/to/file.py:function`, also STREAMVIS_PRODUCER) is started once per server process
in a daemon thread, for data generated inside the server; remote producers use the ingest
API instead. The layout's `sources:` start once per process too, writing to the run shown.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Sequence
from typing import Any

from streamvis.core.hub import Hub, default_hub
from streamvis.errors import StreamvisError
from streamvis.layout.watch import watch
from streamvis.page.assets import use_server_assets
from streamvis.server.startup import parse_args
from streamvis.sources import start_sources
from streamvis.sources.reference import resolve
from streamvis.store import server_hub

log = logging.getLogger("streamvis")
_started: set[str] = set()
_started_lock = threading.Lock()


def start_producer(reference: str) -> None:
    """Run the producer once per process in a daemon thread; log (not raise) its failure."""
    with _started_lock:
        if reference in _started:
            return
        _started.add(reference)
    function = resolve(reference)

    def run() -> None:
        try:
            function()
        except Exception:
            log.exception("producer %s stopped with an error", reference)

    threading.Thread(target=run, name=f"streamvis-producer:{reference}", daemon=True).start()


def build_page(argv: Sequence[str]) -> Any:
    """The page for one session, or a page explaining what is wrong with the arguments."""
    import panel as pn

    from streamvis.page.csp import protect
    from streamvis.page.dashboard import dashboard
    from streamvis.page.panes import literal
    from streamvis.server.startup import refuse_bad_layout, warming_up

    if warming_up():  # `panel serve --warm`: a bad layout stops the server before it starts
        refuse_bad_layout(argv)
    use_server_assets()  # the error page too takes its stylesheets from this server
    protect(pn.state.curdoc)  # also for the page that explains a problem
    args: argparse.Namespace = parse_args(argv)
    try:
        server_hub(argv)  # this process's store, replayed once, before anything is drawn
        layout_file = watch(args.layout) if args.layout else None  # one watcher per process
        layout = layout_file.layout if layout_file is not None else None  # its last good one
        run = args.run or (layout.run if layout is not None else "default")
        if warming_up():  # Panel's warm-up page: drawn over a private hub, no run touched
            return dashboard(layout, hub=Hub(), run=run)
        if layout_file is not None and layout is not None:
            layout_file.follow(default_hub(), run)  # the run's layout unless the API set one
            start_sources(layout, run=run)  # once per process, like the producer
        if args.producer:
            start_producer(args.producer)
        return dashboard(None, run=run)
    except StreamvisError as exc:
        log.error("%s", exc)
        return pn.Column(
            pn.pane.HTML("<h2>streamvis cannot show this layout</h2>"),
            literal(str(exc), styles={"color": "#b00020"}),
        )
