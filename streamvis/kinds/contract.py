"""A plot kind's contract: one frozen `Kind` record per kind, declared once in its module.

The layout validator reads the record's schema part (name, fields, options, `streams`,
`validate`: streamvis.layout.fields.KindSchema); the page reads the rest. Nothing probes a
kind module for optional attributes or compares kind names: a capability is a field here.

`build(plot, rows, state=..., marks=...)` returns what draws the plot (a HoloViews
DynamicMap or a Panel object) from `rows`, the stream object the page feeds. It does not
subscribe to the hub, tick, or touch a Bokeh document: how new rows reach the browser is
the page's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from streamvis.layout.fields import KindSchema

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot


@dataclass
class PlotMarks:
    """What one plot's render hooks remember between renders, per Bokeh figure (by model id):
    the one-time setups done and small values such as the tick labels shown. The page keeps
    one per plot id; a figure drawn anew (a rebuilt chart, a second notebook view) starts
    fresh because its id is new."""

    done: set[tuple[str, str]] = field(default_factory=set)
    values: dict[tuple[str, str], Any] = field(default_factory=dict)

    def first(self, figure: Any, step: str) -> bool:
        """True the first time `step` runs for `figure`, False afterwards."""
        key = (str(figure.id), step)
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def changed(self, figure: Any, name: str, value: Any) -> bool:
        """Remember `value` as `figure`'s `name`; True if it differs from the last one."""
        key = (str(figure.id), name)
        if key in self.values and self.values[key] == value:
            return False
        self.values[key] = value
        return True


class Build(Protocol):
    """A kind's `build`: what draws `plot` from `rows` (see the module docstring)."""

    def __call__(self, plot: Plot, rows: Any, *, state: Any, marks: PlotMarks) -> Any: ...


class CompareRuns(Protocol):
    """A comparable kind's figure of several runs: (the overlay, the Smoothing streams it
    listens to), from each run's rows, the run's color, and the data source key of a
    drawn element (`run/column`)."""

    def __call__(
        self,
        plot: Plot,
        rows: Mapping[str, Any],
        colors: Mapping[str, str],
        source_key: Callable[[Any], str],
        marks: PlotMarks,
    ) -> tuple[Any, list[Any]]: ...


@dataclass(frozen=True, kw_only=True)
class Kind(KindSchema):
    """A plot kind: its layout schema (KindSchema) and how the page draws it.

    - `build`: the drawing (see the module docstring).
    - `make_state(plot)`: the running summary the page feeds instead of raw rows (a bar's
      aggregate, a crossfilter member's filtered rows), or None.
    - `buffer_length(plot)`: rows the page keeps for it (default: the `points` option).
    - `buffer_columns(plot)`: the kept table's columns and dtypes (default: the plot's
      columns as float64).
    - `compare`: set when runs compared on a `?runs=` page share one figure of this kind;
      other kinds show the first matching run.
    - `line_controls`: the page's smoothing slider and x axis select restyle it.
    - `level_of_detail`: outside a crossfilter group the page feeds it a level-of-detail
      feed (streamvis/page/lines.py: whole-run views at the plot's pixel width) instead
      of a Buffer of the newest rows.
    """

    build: Build
    make_state: Callable[[Plot], Any] | None = None
    buffer_length: Callable[[Plot], int] | None = None
    buffer_columns: Callable[[Plot], dict[str, str]] | None = None
    compare: CompareRuns | None = None
    line_controls: bool = False
    level_of_detail: bool = False

    @property
    def comparable(self) -> bool:
        return self.compare is not None
