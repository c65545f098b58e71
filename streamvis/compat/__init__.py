"""The first release's client API, kept working: `set_layout` with a grid map,
`tandem_lines` and `scatter`.

    client = Client("localhost:8080", "myapp")
    client.set_layout(dict(top_plot=(0, 0, 1, 2), low_left_plot=(1, 0, 2, 1)))
    client.tandem_lines("top_plot", [step, y1, y2, y3])        # one line per y, appended
    client.scatter("low_left_plot", points, spatial_dim=1, append=False)

A plot named in the grid map is drawn as an empty frame until its first data call, which
fixes its kind (line or scatter) and columns and re-sends the run's layout.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from streamvis.core.normalize import float_dtype, to_host
from streamvis.errors import StreamError

# fig_kwargs of the first release (Bokeh figure arguments) -> layout options
_FIGURE_OPTIONS = {"title": "title", "x_axis_label": "xlabel", "y_axis_label": "ylabel"}


class SeedClientMethods:
    """Mixed into `Client`; relies on its `stream` and `_put_layout_dict`."""

    _grid: dict[str, tuple[int, int, int, int]]
    _plots: dict[str, dict[str, Any]]

    def stream(
        self,
        name: str,
        data: Any,
        *,
        run: str | None = None,
        mode: str = "append",
        columns: Any = None,
    ) -> int:
        raise NotImplementedError

    def _put_layout_dict(self, raw: dict[str, Any]) -> None:
        raise NotImplementedError

    @staticmethod
    def _is_grid_map(layout: Any) -> bool:
        return (
            isinstance(layout, Mapping)
            and bool(layout)
            and all(_is_cell(cell) for cell in layout.values())
        )

    def _set_grid_map(self, grid: Mapping[str, Any]) -> None:
        self._grid = {name: tuple(int(v) for v in cell) for name, cell in grid.items()}
        self._plots = {}
        self._send_grid_layout()

    def _send_grid_layout(self) -> None:
        plots = []
        for name, cell in getattr(self, "_grid", {}).items():
            plot = self._plots.get(name) or {"kind": "line", "x": "x", "y": "y"}
            plots.append({"id": name, "stream": name, "at": list(cell), **plot})
        self._put_layout_dict({"title": getattr(self, "run", "streamvis"), "plots": plots})

    def _declare(self, name: str, plot: dict[str, Any]) -> None:
        """Fix a plot's kind and columns on its first data call (re-sending the layout)."""
        if not hasattr(self, "_plots"):
            self._plots = {}
        if self._plots.get(name) != plot:
            self._plots[name] = plot
            if name in getattr(self, "_grid", {}):
                self._send_grid_layout()

    def tandem_lines(
        self, plot_name: str, values: Any, fig_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Append one x and k y values: k lines sharing x (columns x, y1 .. yk)."""
        try:
            array = _numbers(values).ravel()
            # float32 values stay float32 (np.float32 scalars); anything else is float64
            flat = array.tolist() if array.dtype == np.float64 else list(array)
        except (ValueError, TypeError) as exc:
            raise StreamError(
                f"tandem_lines('{plot_name}'): expected numbers [x, y1, ..., yk] ({exc})",
                stream=plot_name,
            ) from None
        if len(flat) < 2:
            raise StreamError(
                f"tandem_lines('{plot_name}'): expected [x, y1, ..., yk], "
                f"got {len(flat)} value(s)",
                stream=plot_name,
            )
        row = {"x": flat[0], **{f"y{i}": v for i, v in enumerate(flat[1:], start=1)}}
        self._declare(
            plot_name,
            {"kind": "line", "x": "x", "y": list(row)[1:], "options": _options(fig_kwargs)},
        )
        self.stream(plot_name, row)

    def scatter(
        self,
        plot_name: str,
        points: Any,
        spatial_dim: int = 1,
        append: bool = False,
        color_mode: str | None = None,
        palette: str = "Viridis",
        fig_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Draw N points of 2 coordinates laid out along `spatial_dim`; replace the previous
        points unless `append`. `color_mode="index"` colors points by their index."""
        try:
            array = _numbers(points)
        except (ValueError, TypeError) as exc:
            raise StreamError(
                f"scatter('{plot_name}'): points must be an N x 2 (or 2 x N) "
                f"array of numbers ({exc})",
                stream=plot_name,
            ) from None
        if spatial_dim not in (0, 1):
            raise StreamError(
                f"scatter('{plot_name}'): spatial_dim={spatial_dim!r}; it must be 0 (2 x N "
                f"points) or 1 (N x 2 points); the points have shape {array.shape}",
                stream=plot_name,
            )
        if array.ndim != 2 or array.shape[spatial_dim] != 2:
            raise StreamError(
                f"scatter('{plot_name}'): expected points with 2 coordinates along "
                f"spatial_dim={spatial_dim}, got an array of shape {array.shape}",
                stream=plot_name,
            )
        if spatial_dim == 0:
            array = array.T
        data: dict[str, Any] = {"x": array[:, 0], "y": array[:, 1]}
        plot: dict[str, Any] = {
            "kind": "scatter",
            "x": "x",
            "y": "y",
            "options": {**_options(fig_kwargs), "palette": palette},
        }
        if color_mode is not None:
            if color_mode != "index":
                raise StreamError(
                    f"scatter('{plot_name}'): color_mode must be None or "
                    f"'index', not {color_mode!r}",
                    stream=plot_name,
                )
            data["index"] = np.arange(len(array), dtype=float)
            plot["color"] = "index"
        self._declare(plot_name, plot)
        self.stream(plot_name, data, mode="append" if append else "replace")


def _numbers(values: Any) -> np.ndarray:
    """`values` (a list, array or tensor) as floats: float32 stays float32 (float16 widens
    to it), anything else becomes float64."""
    array = np.asarray(to_host(values))
    dtype = float_dtype(array.dtype) if array.dtype.kind == "f" else np.dtype(np.float64)
    return array.astype(dtype, copy=False)


def _is_cell(cell: Any) -> bool:
    """(top, left, height, width): four integers."""
    return (
        isinstance(cell, (tuple, list))
        and len(cell) == 4
        and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in cell
        )
    )


def _options(fig_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in (fig_kwargs or {}).items():
        if key in _FIGURE_OPTIONS:
            options[_FIGURE_OPTIONS[key]] = str(value)
        elif key in ("x_axis_type", "y_axis_type") and value == "log":
            options["logx" if key.startswith("x") else "logy"] = True
    return options
