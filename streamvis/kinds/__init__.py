"""Plot kinds, registered by name. Each module declares its layout fields, the options it
accepts, and `build(plot, buffer, state=None)` returning a HoloViews DynamicMap (or a Panel
object); kinds with a `make_state` get that state passed in. Adding a kind means
one module here and one line in KINDS. HoloViews is imported inside `build` so that the
layout validator can read FIELDS and OPTIONS without loading the plotting stack."""

from __future__ import annotations

from types import ModuleType

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

KINDS: dict[str, ModuleType] = {
    "line": line,
    "scatter": scatter,
    "bar": bar,
    "row": row,
    "ring": ring,
    "pie": pie,
    "histogram": histogram,
    "heatmap": image,
    "image": image,
    "table": table,
    "number": number,
    "markdown": markdown,
}
