"""`streamvis layout --from-run RUN`: a stored run's automatic layout (layout/auto.py) as
layout YAML, a starting point to edit that loads back to the same charts."""

from __future__ import annotations

from typing import Any

from streamvis.errors import StoreError
from streamvis.layout import limits
from streamvis.layout.auto import auto_layout, stored_streams
from streamvis.layout.spec import Layout, layout_to_dict


def layout_yaml(layout: Layout) -> str:
    """The layout as YAML, after a comment saying where it came from (and, past the plots
    limit, the setting that lets it load)."""
    import yaml

    plots = len(layout.checked_plots)
    notes = [
        f"# the automatic layout of run '{layout.run}' (streamvis layout --from-run):",
        "# one line chart per numeric column of each stream; edit it, then",
        "#   streamvis serve THIS_FILE",
    ]
    most = limits.current().plots
    if plots > most:
        notes.append(
            f"# it has {plots} plots, more than a layout may have ({most}): set "
            f"{limits.ENVIRONMENT['plots']}={plots} or more, or remove some"
        )
    body = yaml.safe_dump(layout_to_dict(layout), sort_keys=False, allow_unicode=True, width=99)
    return "\n".join(notes) + "\n" + body


def stored_layout_yaml(store: Any, run: str) -> str:
    """The YAML of `run`'s automatic layout from a store's stream records; StoreError for a
    run the store does not have, or one with nothing to chart."""
    from streamvis.store.codec import CODE_DTYPES

    records = store.streams(run)
    if not records:
        raise StoreError(f"no run '{run}' in {store.location}")
    layout = auto_layout(stored_streams(records, CODE_DTYPES), run)
    if layout is None:
        raise StoreError(
            f"run '{run}' in {store.location} has no numeric column to chart "
            f"(its streams: {', '.join(record.stream for record in records)})"
        )
    return layout_yaml(layout)
