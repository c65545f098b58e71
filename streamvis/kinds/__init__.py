"""Plot kinds, registered by name. Each module declares one frozen `Kind` record (`KIND`,
see contract.py): its layout fields and options, `build`, and what else the page needs to
know (state, buffer shape, comparison, line controls). Adding a kind means one module here
and one entry in KINDS. Importing this package registers every kind's schema with the
layout validator (streamvis.layout.catalogue), which never imports kinds itself. HoloViews is
imported inside `build`, so reading the records does not load the plotting stack."""

from __future__ import annotations

from dataclasses import replace

from streamvis.kinds import (
    bar,
    histogram,
    image,
    line,
    markdown,
    number,
    pie,
    ring,
    row,
    scatter,
    table,
)
from streamvis.kinds.contract import Kind
from streamvis.layout.catalogue import register

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        line.KIND,
        scatter.KIND,
        bar.KIND,
        row.KIND,
        ring.KIND,
        pie.KIND,
        histogram.KIND,
        replace(image.KIND, name="heatmap"),
        image.KIND,
        table.KIND,
        number.KIND,
        markdown.KIND,
    )
}
for _kind in KINDS.values():
    register(_kind)
