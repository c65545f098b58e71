"""A server refuses a bad layout before it serves a page, instead of showing a healthy start
and the error only to the first browser.

Where each serving path checks (docs/layout.md, "Errors you may see"):
- `streamvis serve` and `sv.serve` check before the server is made;
- `panel serve apps/dashboard.py --plugins streamvis.ingest ...` checks when Panel loads the
  plugin, before it listens;
- `panel serve apps/dashboard.py --warm ...` checks when Panel runs the app once before it
  listens (the warm-up). Plain `panel serve apps/dashboard.py` runs nothing of streamvis
  until a browser opens the page, so there the page (and the log) shows the error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Sequence

from streamvis.errors import StreamvisError


def app_arguments(argv: Sequence[str] | None = None) -> list[str]:
    """What follows `--args` on a `panel serve` command line (the app's own arguments)."""
    argv = list(sys.argv if argv is None else argv)
    return argv[argv.index("--args") + 1 :] if "--args" in argv else []


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments of `panel serve apps/dashboard.py --args ...` (server/app.py), with
    STREAMVIS_LAYOUT and STREAMVIS_PRODUCER as defaults; the startup check reads them too."""
    parser = argparse.ArgumentParser(
        prog="panel serve apps/dashboard.py --args",
        description="Serve a streamvis layout.",
        epilog="example: panel serve apps/dashboard.py --args examples/training.yaml",
    )
    parser.add_argument(
        "layout",
        nargs="?",
        default=os.environ.get("STREAMVIS_LAYOUT"),
        help="layout YAML file (default: $STREAMVIS_LAYOUT)",
    )
    parser.add_argument(
        "--producer",
        default=os.environ.get("STREAMVIS_PRODUCER"),
        help="module:function or file.py:function run in a background thread",
    )
    parser.add_argument("--run", default=None, help="run to show (default: the layout's)")
    parser.add_argument(
        "--store",
        default=None,
        help="SQLite file the data is kept in, or 'none' for memory only "
        "(default: $STREAMVIS_STORE or ./.streamvis/streamvis.db)",
    )
    parser.add_argument("--keep-rows", default=None, help="keep at most this many rows per stream")
    parser.add_argument("--keep-seconds", default=None, help="drop stored rows older than this")
    parser.add_argument("--keep-bytes", default=None, help="keep the store under this size")
    parser.add_argument(
        "--memory",
        default=None,
        help="bytes of rows kept in memory, e.g. 8GB or 512MiB (default: $STREAMVIS_MEMORY "
        "or min(4 GiB, a quarter of physical memory); see docs/memory.md",
    )
    return parser.parse_args(list(argv))


def refuse_bad_layout(arguments: Sequence[str]) -> None:
    """Exit 2 with the layout's error (file:line:column and the offending line) on stderr
    when the layout the app's arguments name is invalid; nothing when it is valid or none."""
    from streamvis.layout.spec import load_layout

    try:
        with contextlib.redirect_stderr(io.StringIO()):  # not ours to judge: the app says it
            layout = parse_args(arguments).layout  # the file, or STREAMVIS_LAYOUT
    except SystemExit:  # arguments of another app served with the plugin
        return
    if not layout:
        return
    try:
        load_layout(layout)
    except StreamvisError as exc:
        print(f"streamvis: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def warming_up() -> bool:
    """True while `panel serve --warm` runs the app once before it serves."""
    import panel as pn

    from streamvis.page.served import warm_up_session

    return bool(warm_up_session(pn.state.curdoc))
