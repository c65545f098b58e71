"""The source types by name, derived from the source classes, and the one place that tells
the layout validator about them (streamvis/layout/source_types.py).

A new source type is a class with `TYPE` and `SETTINGS` (and `complete` if some defaults
depend on other settings) added to `CLASSES`; the order of `CLASSES` is the order error
messages list the types in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis.layout import source_types
from streamvis.sources.base import BaseSource
from streamvis.sources.lines import FileSource, TcpSource
from streamvis.sources.messages import KafkaSource, PythonSource, WebSocketSource

if TYPE_CHECKING:
    from streamvis.core.hub import Hub
    from streamvis.layout.spec import Source

CLASSES: tuple[type[BaseSource], ...] = (
    WebSocketSource,
    FileSource,
    TcpSource,
    PythonSource,
    KafkaSource,
)
TYPES: dict[str, type[BaseSource]] = {cls.TYPE: cls for cls in CLASSES}


def declaration(cls: type[BaseSource]) -> source_types.SourceType:
    """What the layout validator needs to know of a source class."""
    return source_types.SourceType(cls.TYPE, cls.SETTINGS, cls.complete)


def register_with_layouts() -> None:
    """Make every type here valid in a layout's `sources:` (done once, on import)."""
    for cls in CLASSES:
        source_types.register(declaration(cls))


def make_source(
    spec: Source, hub: Hub | None = None, *, run: str = "default", **options: Any
) -> BaseSource:
    """The (not yet started) source object for one `sources:` entry."""
    return TYPES[spec.type](spec, hub, run=run, **options)


register_with_layouts()
