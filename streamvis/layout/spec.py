"""Layouts: a YAML file or Python dicts -> a validated `Layout` of `Plot`s and `Source`s.

Errors are `SpecError`s that say where (file:line:col and the key path, such as
`plots.loss.kind`), what is required and what came, offer the closest valid word, and quote
the offending line. Only safe YAML loading is used. No Panel or HoloViews here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, cast

from streamvis.core.hub import check_name
from streamvis.errors import SpecError, StreamError
from streamvis.layout import limits
from streamvis.layout.catalogue import catalogue
from streamvis.layout.checks import (
    OPTION_CHECKS,
    Path_,
    Problem,
    check_count,
    check_group_name,
    check_keys,
    check_text,
    checked,
    describe_type,
    field_check,
    shown,
    suggest,
)
from streamvis.layout.loading import read_yaml
from streamvis.layout.source_types import registered as source_types

LAYOUT_KEYS = ("title", "refresh_ms", "run", "grid", "plots", "sources")
PLOT_KEYS = ("id", "kind", "stream", "at", "options", "crossfilter")
SOURCE_KEYS = ("name", "type", "stream")
MAX_GRID = limits.DEFAULTS.grid  # the default; STREAMVIS_MAX_GRID changes it (layout_limits.py)
PICTURE_CELLS = 24  # an overlap error draws the grid when it is at most this many cells wide


@dataclass(frozen=True)
class Plot:
    """One plot of a layout: what to draw (kind, stream, columns), where, and how."""

    id: str
    kind: str
    stream: str
    at: tuple[int, int, int, int]
    x: str | None = None
    y: tuple[str, ...] = ()
    color: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    crossfilter: str | None = None  # plots naming the same group (and stream) filter each other

    def get(self, key: str) -> Any:
        """A kind field's value (x, y, color or any other declared key), or its default."""
        if key in ("x", "color"):
            return getattr(self, key)
        if key == "y":
            return self.y
        if key in self.extra:
            return self.extra[key]
        declared = catalogue()[self.kind].fields.get(key)
        return declared.default if declared is not None else None

    def column_fields(self) -> list[tuple[str, list[str]]]:
        """(key, the columns it names) for every column-valued field that is set."""
        found = []
        for key, declared in catalogue()[self.kind].fields.items():
            value = self.get(key)
            if declared.names_columns and value:
                found.append((key, [value] if isinstance(value, str) else list(value)))
        return found

    @property
    def columns(self) -> list[str]:
        """Every stream column this plot reads, in the order its kind declares them."""
        return list(dict.fromkeys(n for _, names in self.column_fields() for n in names))

    @property
    def title(self) -> str:
        return str(self.options.get("title", self.id))


@dataclass(frozen=True)
class Source:
    """A feed the server reads by itself (layout key `sources`), writing rows to `stream`
    of the layout's run. `options` holds its type's keys (url, path, port...), defaults
    filled in; the layout knows only what the type declares (layout/source_types.py),
    `streamvis.sources` runs it."""

    name: str
    type: str
    stream: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.options[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass(frozen=True)
class Layout:
    """A validated dashboard: title, refresh period, the run it shows, its plots, and the
    sources that feed it. (`source` is the file the layout came from, for error messages.)"""

    plots: Sequence[Plot | Mapping[str, Any]]
    title: str = "streamvis"
    refresh_ms: int = 50
    run: str = "default"
    grid: tuple[int, int] | None = None
    source: str | None = None
    sources: Sequence[Source | Mapping[str, Any]] = ()
    _marks: Mapping[Path_, tuple[int, int]] = field(default_factory=dict, repr=False)
    _lines: tuple[str, ...] = field(default=(), repr=False)
    _checked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Built in Python (`sv.Layout(plots=[...], title=...)`): validate like YAML."""
        if self._checked:
            return
        raw = {
            "plots": _as_dicts(self.plots, Plot, _plot_to_dict),
            "title": self.title,
            "refresh_ms": self.refresh_ms,
            "run": self.run,
        }
        if self.grid is not None:
            raw["grid"] = list(self.grid)
        if self.sources:
            raw["sources"] = _as_dicts(self.sources, Source, _source_to_dict)
        validated = layout_from_dict(raw, source=self.source)
        for name in ("plots", "grid", "sources"):
            object.__setattr__(self, name, getattr(validated, name))

    @property
    def checked_plots(self) -> Sequence[Plot]:
        """The plots, validated (`__post_init__` replaced any mapping given by a `Plot`)."""
        return cast(Sequence[Plot], self.plots)

    @property
    def checked_sources(self) -> Sequence[Source]:
        """The sources, validated like the plots."""
        return cast(Sequence[Source], self.sources)

    @property
    def shape(self) -> tuple[int, int]:
        """Grid rows and columns: declared, or just enough to hold every plot."""
        if self.grid:
            return self.grid
        rows = max((p.at[0] + p.at[2] for p in self.checked_plots), default=1)
        cols = max((p.at[1] + p.at[3] for p in self.checked_plots), default=1)
        return rows, cols

    def plot(self, plot_id: str) -> Plot:
        for plot in self.checked_plots:
            if plot.id == plot_id:
                return plot
        raise KeyError(plot_id)

    def error(self, path: Path_, message: str) -> SpecError:
        """A SpecError located at `path` in this layout's source, quoting the line."""
        return _located(
            path, message, self.source, self._marks, self._lines, self.plots, self.sources
        )

    def check_columns(self, plot: Plot, available: Iterable[str]) -> SpecError | None:
        """The error to show when `plot` names a column its stream does not have."""
        available = list(available)
        for key, names in plot.column_fields():
            for position, name in enumerate(names):
                if name not in available:
                    path: Path_ = ("plots", self.plots.index(plot), key)
                    if len(names) > 1:
                        path = (*path, position)
                    return self.error(
                        path,
                        f"stream '{plot.stream}' has no column '{name}'; it has "
                        f"{sorted(available)}.{suggest(name, available)}",
                    )
        return None


def _as_dicts(items: Any, kind: type, to_dict: Any) -> Any:
    """A list of `Plot`s/`Source`s (or mappings) as mappings; anything else is passed on
    as it is, for validation to refuse with a located SpecError."""
    if not isinstance(items, list | tuple):
        return items
    return [to_dict(item) if isinstance(item, kind) else item for item in items]


def _render_path(path: Path_, plots: Sequence[Any], sources: Sequence[Any] = ()) -> str:
    """`plots.loss.kind`, `sources.feed.url`: list indexes become the item's id or name."""
    parts: list[str] = []
    for index, part in enumerate(path):
        if index == 1 and path[0] in ("plots", "sources") and isinstance(part, int):
            items, key = (plots, "id") if path[0] == "plots" else (sources, "name")
            item = items[part] if part < len(items) else None
            label = (
                getattr(item, key)
                if isinstance(item, Plot | Source)
                else (item.get(key) if isinstance(item, Mapping) else None)
            )
            parts.append(str(label) if isinstance(label, str) else f"[{part}]")
        elif isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(str(part))
    return ".".join(parts).replace(".[", "[")


def _located(
    path: Path_,
    message: str,
    source: str | None,
    marks: Mapping[Path_, tuple[int, int]],
    lines: Sequence[str],
    plots: Sequence[Any],
    sources: Sequence[Any] = (),
) -> SpecError:
    probe = path
    while probe and probe not in marks:
        probe = probe[:-1]
    where = source or "layout"
    snippet = ""
    found = marks.get(probe)  # (line, col), counted from 0
    if found is not None:
        line, col = found
        where = f"{where}:{line + 1}:{col + 1}"
        if line < len(lines):
            snippet = f"\n    {line + 1:>4} | {lines[line]}"
    key = _render_path(path, plots, sources)
    return SpecError(
        f"{where}: {key}: {message}{snippet}" if key else f"{where}: {message}{snippet}",
        file=source,
        line=found[0] + 1 if found else None,
        col=found[1] + 1 if found else None,
        path=path,
    )


def _check_at(value: Any, path: Path_) -> tuple[int, int, int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise Problem(
            path, f"must be four integers [top, left, height, width], not {shown(value)}"
        )
    top, left, height, width = value
    most = limits.current().grid
    for name, number, least in (
        ("top", top, 0),
        ("left", left, 0),
        ("height", height, 1),
        ("width", width, 1),
    ):
        if number < least:
            raise Problem(path, f"{name} must be at least {least}, not {shown(number)}")
        if number > most:
            raise Problem(
                path,
                f"{name} must be at most {most} ({limits.ENVIRONMENT['grid']}), "
                f"not {shown(number)}",
            )
    if top + height > most or left + width > most:
        raise Problem(
            path,
            f"cell {list(value)} reaches row {top + height} and column {left + width}; "
            f"a grid has at most {most} of each ({limits.ENVIRONMENT['grid']})",
        )
    return top, left, height, width


def _chosen(
    raw: Mapping[str, Any], path: Path_, key: str, known: Mapping[str, Any], what: str, title: str
) -> str:
    """The value of the required `key` that picks an entry of `known` (a plot's kind, a
    source's type); a Problem listing the choices, with a suggestion, when it does not."""
    name = raw.get(key)
    if name is None:
        raise Problem(path, f"'{key}' is required (one of: {', '.join(known)})")
    if not isinstance(name, str) or name not in known:
        raise Problem(
            (*path, key),
            f"unknown {what} {shown(name)}.{suggest(name, known)} {title}: {', '.join(known)}.",
        )
    return name


def _parse_plot(raw: Any, index: int) -> Plot:
    path: Path_ = ("plots", index)
    if not isinstance(raw, Mapping):
        raise Problem(path, f"each plot must be a mapping of keys, not {describe_type(raw)}")
    kinds = catalogue()
    kind_name = _chosen(raw, path, "kind", kinds, "kind", "Kinds")
    kind = kinds[kind_name]
    check_keys(raw, (*PLOT_KEYS, *kind.fields), path, f"a {kind_name} plot")
    required = [k for k, declared in kind.fields.items() if declared.required]
    for key in ("id", "at", *(["stream"] if kind.streams else []), *required):
        if key not in raw:
            raise Problem(path, f"'{key}' is required for a {kind_name} plot")
    for key in ("id", "stream"):
        if key in raw:
            try:
                check_name(key, raw[key])
            except StreamError as exc:
                raise Problem((*path, key), str(exc)) from None
    fields = {
        key: checked(field_check(declared), raw[key], (*path, key))
        for key, declared in kind.fields.items()
        if key in raw
    }
    problem = kind.validate(fields) if kind.validate is not None else None
    if problem is not None:
        raise Problem((*path, problem[0]), problem[1])
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise Problem((*path, "options"), f"must be a mapping, not {describe_type(options)}")
    check_keys(options, kind.options, (*path, "options"), f"{kind_name} options")
    clean = {}
    for key, value in options.items():
        try:
            clean[key] = OPTION_CHECKS[key](value)
        except ValueError as exc:
            raise Problem((*path, "options", key), str(exc)) from None
    return Plot(
        id=raw["id"],
        kind=kind_name,
        stream=raw.get("stream", ""),
        at=_check_at(raw["at"], (*path, "at")),
        x=fields.pop("x", None),
        y=tuple(fields.pop("y", ())),
        color=fields.pop("color", None),
        options=clean,
        extra=fields,
        crossfilter=checked(check_group_name, raw["crossfilter"], (*path, "crossfilter"))
        if "crossfilter" in raw
        else None,
    )


def _parse_source(raw: Any, index: int) -> Source:
    """One `sources:` entry, checked against the settings its type declares (the source
    classes register them in streamvis/layout/source_types.py)."""
    path: Path_ = ("sources", index)
    if not isinstance(raw, Mapping):
        raise Problem(path, f"each source must be a mapping of keys, not {describe_type(raw)}")
    types = source_types()
    type_name = _chosen(raw, path, "type", types, "source type", "Types")
    settings = types[type_name].settings
    check_keys(raw, (*SOURCE_KEYS, *settings), path, f"a {type_name} source")
    for key in ("name", "stream", *(k for k, s in settings.items() if s.required)):
        if key not in raw:
            raise Problem(path, f"'{key}' is required for a {type_name} source")
    for key in ("name", "stream"):
        try:
            check_name("source" if key == "name" else key, raw[key])
        except StreamError as exc:
            raise Problem((*path, key), str(exc)) from None
    options = {
        key: checked(setting.check, raw[key], (*path, key))
        for key, setting in settings.items()
        if key in raw
    }
    problem = types[type_name].complete(options)
    if problem is not None:
        raise Problem((*path, problem[0]), problem[1])
    for key, setting in settings.items():
        if setting.default is not None:
            options.setdefault(key, setting.default)
    return Source(name=raw["name"], type=type_name, stream=raw["stream"], options=options)


def _parse_sources(raw: Any) -> tuple[Source, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Problem(
            ("sources",), f"'sources' must be a list of sources, not {describe_type(raw)}"
        )
    most = limits.current().sources
    if len(raw) > most:
        raise Problem(
            ("sources",),
            f"a layout may have at most {most} sources ({limits.ENVIRONMENT['sources']}), "
            f"not {len(raw):,}",
        )
    sources = [_parse_source(s, i) for i, s in enumerate(raw)]
    seen: set[str] = set()
    for index, source in enumerate(sources):
        if source.name in seen:
            raise Problem(("sources", index, "name"), f"source name '{source.name}' is used twice")
        seen.add(source.name)
    return tuple(sources)


def _occupancy(plots: Sequence[Plot], rows: int, cols: int) -> str:
    """The grid drawn in text, one letter per plot and # where plots overlap; empty when
    the grid is too large, or has too many plots, for a picture to help."""
    if rows > PICTURE_CELLS or cols > PICTURE_CELLS or len(plots) > 26:
        return ""
    grid = [["." for _ in range(cols)] for _ in range(rows)]
    letters = {}
    for number, plot in enumerate(plots):
        letter = chr(ord("A") + number)
        letters[letter] = plot.id
        top, left, height, width = plot.at
        for r in range(top, min(top + height, rows)):
            for c in range(left, min(left + width, cols)):
                grid[r][c] = "#" if grid[r][c] != "." else letter
    legend = ", ".join(f"{k}={v}" for k, v in letters.items())
    body = "\n".join("      " + " ".join(row) for row in grid)
    return f"\n{body}\n      ({legend}; # = overlap)"


def _check_grid(plots: Sequence[Plot], grid: tuple[int, int] | None) -> None:
    """Every plot inside the declared grid, and no two plots sharing a cell. The error
    names the first overlap found (and draws the grid when it is small): its length does
    not grow with the number of plots."""
    rows = max(p.at[0] + p.at[2] for p in plots)
    cols = max(p.at[1] + p.at[3] for p in plots)
    if grid:
        for index, plot in enumerate(plots):
            top, left, height, width = plot.at
            if top + height > grid[0] or left + width > grid[1]:
                raise Problem(
                    ("plots", index, "at"),
                    f"cell {list(plot.at)} reaches row {top + height} and column "
                    f"{left + width}, outside the {grid[0]}x{grid[1]} grid",
                )
        rows, cols = max(rows, grid[0]), max(cols, grid[1])
    # Rectangles against rectangles, not cell by cell: the cost does not grow with the grid.
    for index, plot in enumerate(plots):
        top, left, height, width = plot.at
        overlaps = []
        for earlier in range(index):
            other_top, other_left, other_height, other_width = plots[earlier].at
            if (
                top < other_top + other_height
                and other_top < top + height
                and left < other_left + other_width
                and other_left < left + width
            ):
                overlaps.append((max(top, other_top), max(left, other_left), earlier))
        if overlaps:
            row, column, earlier = min(overlaps)  # the first shared cell, row by row
            raise Problem(
                ("plots", index, "at"),
                f"overlaps plot '{plots[earlier].id}' at row {row}, column {column}"
                + _occupancy(plots, rows, cols),
            )


def _parse_layout(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise Problem((), f"a layout must be a mapping with 'plots', not {describe_type(raw)}")
    check_keys(raw, LAYOUT_KEYS, (), "the layout")
    plots_raw = raw.get("plots")
    if not isinstance(plots_raw, list) or not plots_raw:
        raise Problem(("plots",), "'plots' must be a non-empty list of plots")
    most = limits.current().plots
    if len(plots_raw) > most:  # before any plot is read: the cost of a refusal stays small
        raise Problem(
            ("plots",),
            f"a layout may have at most {most} plots ({limits.ENVIRONMENT['plots']}), "
            f"not {len(plots_raw):,}",
        )
    plots = [_parse_plot(p, i) for i, p in enumerate(plots_raw)]
    seen: dict[str, int] = {}
    for index, plot in enumerate(plots):
        if plot.id in seen:
            raise Problem(("plots", index, "id"), f"plot id '{plot.id}' is used twice")
        seen[plot.id] = index
    values: dict[str, Any] = {"plots": tuple(plots), "sources": _parse_sources(raw.get("sources"))}
    if "title" in raw:
        values["title"] = checked(check_text, raw["title"], ("title",))
    if "refresh_ms" in raw:
        refresh = checked(check_count, raw["refresh_ms"], ("refresh_ms",))
        if not 10 <= refresh <= 60_000:
            raise Problem(("refresh_ms",), f"must be between 10 and 60000, not {refresh}")
        values["refresh_ms"] = refresh
    if "run" in raw:
        try:
            values["run"] = check_name("run", raw["run"])
        except StreamError as exc:
            raise Problem(("run",), str(exc)) from None
    if raw.get("grid") is not None:
        grid = raw["grid"]
        most = limits.current().grid
        if (
            not isinstance(grid, list | tuple)
            or len(grid) != 2
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= most for v in grid
            )
        ):
            raise Problem(
                ("grid",),
                f"must be [rows, columns] between 1 and {most} ({limits.ENVIRONMENT['grid']}), "
                f"not {shown(grid)}",
            )
        values["grid"] = tuple(grid)
    _check_grid(plots, values.get("grid"))
    return values


def layout_from_dict(
    raw: Any,
    *,
    source: str | None = None,
    marks: Mapping[Path_, tuple[int, int]] | None = None,
    lines: Sequence[str] = (),
) -> Layout:
    """Validate a layout given as plain data (the YAML schema); raise SpecError if invalid."""
    marks = marks or {}
    try:
        values = _parse_layout(raw)
    except Problem as problem:
        plots, sources = (
            (raw.get(key) if isinstance(raw, Mapping) else None) for key in ("plots", "sources")
        )
        raise _located(
            problem.path,
            problem.message,
            source,
            marks,
            lines,
            plots if isinstance(plots, list) else [],
            sources if isinstance(sources, list) else [],
        ) from None
    return Layout(**values, source=source, _marks=dict(marks), _lines=tuple(lines), _checked=True)


def layout_from_yaml(text: str, *, source: str = "<layout>") -> Layout:
    """Parse and validate layout YAML text; errors name `source` with line and column.
    Only SpecError comes out, whatever the text."""
    data, marks, lines = read_yaml(text, source)
    return layout_from_dict(data, source=source, marks=marks, lines=lines)


def load_layout(layout: Layout | Mapping[str, Any] | str | Path) -> Layout:
    """Accept a Layout, a dict of the YAML schema, or a path to a YAML file."""
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, Mapping):
        return layout_from_dict(layout)
    if not isinstance(layout, str | PathLike):
        raise SpecError(
            "a layout must be a Layout, a dict of the YAML schema or the path of a YAML file, "
            f"not {describe_type(layout)}"
        )
    path = Path(layout)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        message = f"cannot read layout file {str(path)!r}: {exc.strerror}"
        raise SpecError(message, file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path}: a layout file must be UTF-8 text; byte {exc.start} is not", file=str(path)
        ) from None
    return layout_from_yaml(text, source=str(path))


def layout_to_dict(layout: Layout) -> dict[str, Any]:
    """The YAML schema of a layout, as plain data (what GET .../layout returns)."""
    raw: dict[str, Any] = {
        "title": layout.title,
        "refresh_ms": layout.refresh_ms,
        "run": layout.run,
        "plots": [_plot_to_dict(p) for p in layout.checked_plots],
    }
    if layout.grid:
        raw["grid"] = list(layout.grid)
    if layout.sources:
        raw["sources"] = [_source_to_dict(s) for s in layout.checked_sources]
    return raw


def _source_to_dict(source: Source) -> dict[str, Any]:
    return {"name": source.name, "type": source.type, "stream": source.stream, **source.options}


def _plot_to_dict(plot: Plot) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": plot.id,
        "kind": plot.kind,
        "stream": plot.stream,
        "at": list(plot.at),
        "options": dict(plot.options),
    }
    if plot.x:
        raw["x"] = plot.x
    if plot.y:
        raw["y"] = list(plot.y)
    if plot.color:
        raw["color"] = plot.color
    raw.update(plot.extra)
    if plot.crossfilter:
        raw["crossfilter"] = plot.crossfilter
    if not plot.stream:
        del raw["stream"]
    return raw
