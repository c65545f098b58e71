"""A scatter plot above `density_above` rows: a density image of every kept row, re-binned
for a zoom by the session's tick, and the note saying what is drawn (no server)."""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.events import RangesUpdate, Reset

from streamvis.errors import SpecError
from streamvis.kinds import scatter_density
from streamvis.layout.spec import load_layout
from streamvis.transforms.density import Grid, bin_counts
from tests.render.conftest import one_plot


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Images and re-binnings are rate-limited in time; here every tick may do them."""
    monkeypatch.setattr(scatter_density, "IMAGE_SECONDS", 0.0)
    monkeypatch.setattr(scatter_density, "REBIN_SECONDS", 0.0)


def scatter(**options: object) -> dict[str, object]:
    return one_plot(kind="scatter", options={"density_above": 100, **options})


def cloud(size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=size), "y": rng.normal(size=size) * 2}


def image_of(view) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    data = view.source("sv-density:m").data
    image = np.asarray(data["image"][0])
    x, y, dw, dh = data["x"][0], data["y"][0], data["dw"][0], data["dh"][0]
    return image, (x, x + dw, y, y + dh)


def note(view) -> str:
    return str(view.model("sv-lod:m").text)


def test_below_the_threshold_points_are_drawn_and_counted_in_the_note(render) -> None:
    view = render(scatter())
    view.hub.stream("s", cloud(80))
    view.session.tick()
    assert view.rows("sv:m:y") == 80
    assert view.source("sv-density:m").data["image"] == []
    assert note(view) == "80 rows"


def test_above_the_threshold_every_kept_row_is_binned_and_no_point_drawn(render) -> None:
    view = render(scatter(points=50))
    rows = cloud(150)
    rows["y"][:10] = np.nan  # gaps are not counted
    view.hub.stream("s", {name: values[:60] for name, values in rows.items()})
    view.session.tick()
    assert note(view) == "60 rows, newest 50 drawn"
    view.hub.stream("s", {name: values[60:] for name, values in rows.items()})
    view.session.tick()
    image, area = image_of(view)
    assert np.nansum(image) == 140
    assert np.isnan(image).any()
    assert not (image == 0).any()
    assert area[0] <= np.nanmin(rows["x"])
    assert area[1] >= np.nanmax(rows["x"])
    assert view.rows("sv:m:y") == 0
    assert note(view) == "150 rows as density"
    assert not view.model("sv-waiting:m").visible
    figure = view.model("sv-figure:m")
    assert type(figure.renderers[0].glyph).__name__ == "Image"  # under the points

    view.hub.stream("s", {"x": [0.0, 0.1], "y": [0.0, 0.1]})  # inside: counted as they come
    view.session.tick()
    assert np.nansum(image_of(view)[0]) == 142
    assert image_of(view)[1] == area
    assert note(view) == "152 rows as density"

    view.hub.stream("s", {"x": [40.0], "y": [-30.0]})  # outside: the picture grows to hold it
    view.session.tick()
    image, grown = image_of(view)
    assert np.nansum(image) == 143
    assert grown[1] >= 40.0
    assert grown[2] <= -30.0


def test_a_zoom_rebins_its_range_and_reset_follows_the_whole_cloud_again(render) -> None:
    view = render(scatter())
    rows = cloud(2_000, seed=3)
    view.hub.stream("s", rows)
    view.session.tick()
    figure = view.model("sv-figure:m")
    whole = image_of(view)[1]
    figure._trigger_event(RangesUpdate(figure, x0=-1.0, x1=0.5, y0=-2.0, y1=1.0))
    figure._trigger_event(RangesUpdate(figure, x0=-0.5, x1=1.0, y0=-1.0, y1=2.0))
    view.session.tick()  # the last of quick zooms is binned
    image, area = image_of(view)
    assert area == (-0.5, 1.0, -1.0, 2.0)
    expected = bin_counts(rows["x"], rows["y"], Grid(*area, image.shape[1], image.shape[0]))
    np.testing.assert_array_equal(np.nan_to_num(image), expected)
    assert note(view) == f"2,000 rows as density, {expected.sum():,} rows in view"

    view.hub.stream("s", {"x": [0.0, 50.0], "y": [0.0, 50.0]})  # the zoom stays put
    view.session.tick()
    assert image_of(view)[1] == area
    assert np.nansum(image_of(view)[0]) == expected.sum() + 1

    figure._trigger_event(Reset(figure))
    view.session.tick()
    image, area = image_of(view)
    assert area[1] >= 50.0
    assert area[0] == whole[0]
    assert np.nansum(image) == 2_002
    assert note(view) == "2,002 rows as density"


def test_a_replace_with_fewer_rows_draws_points_again(render) -> None:
    view = render(scatter())
    view.hub.stream("s", cloud(500))
    view.session.tick()
    assert np.nansum(image_of(view)[0]) == 500
    view.hub.stream("s", cloud(30, seed=1), mode="replace")
    view.session.tick()
    assert view.rows("sv:m:y") == 30
    assert view.source("sv-density:m").data["image"] == []
    assert note(view) == "30 rows"


def test_several_y_columns_share_one_density(render) -> None:
    view = render(one_plot(kind="scatter", y=["a", "b"], options={"density_above": 10}))
    view.hub.stream("s", {"x": np.arange(20.0), "a": np.ones(20), "b": np.arange(20.0)})
    view.session.tick()
    assert np.nansum(image_of(view)[0]) == 40


def test_log_axes_always_draw_points(render) -> None:
    view = render(scatter(logx=True))
    view.hub.stream("s", {"x": np.arange(1.0, 301.0), "y": np.ones(300)})
    view.session.tick()
    assert view.rows("sv:m:y") == 300
    assert note(view) == "300 rows"


def test_compared_runs_draw_points_and_say_so(render) -> None:
    from streamvis.core.hub import Hub

    hub = Hub()
    hub.stream("s", cloud(300), run="a")
    hub.stream("s", cloud(40, seed=2), run="b")
    view = render(scatter(points=200), hub=hub, runs="a|b")
    view.session.tick()
    assert view.rows("sv:m:a/y") == 200
    assert view.rows("sv:m:b/y") == 40
    assert note(view) == "240 rows as points (newest 200 per run)"


@pytest.mark.parametrize(
    ("value", "problem"), [(0, "at least 1"), ("many", "must be an integer"), (True, "integer")]
)
def test_the_layout_checks_density_above(value: object, problem: str) -> None:
    assert load_layout(scatter()).plots[0].options["density_above"] == 100
    with pytest.raises(SpecError, match=f"options.density_above.*{problem}"):
        load_layout(scatter(density_above=value))


def test_a_zoom_holding_few_rows_draws_them_as_points(render) -> None:
    view = render(scatter())
    rows = cloud(2_000, seed=5)
    view.hub.stream("s", rows)
    view.session.tick()
    figure = view.model("sv-figure:m")
    figure._trigger_event(RangesUpdate(figure, x0=1.0, x1=1.5, y0=0.0, y1=1.0))
    view.session.tick()
    inside = (rows["x"] >= 1.0) & (rows["x"] <= 1.5) & (rows["y"] >= 0.0) & (rows["y"] <= 1.0)
    assert 0 < inside.sum() <= 100
    np.testing.assert_array_equal(np.sort(view.column("sv:m:y", "x")), np.sort(rows["x"][inside]))
    assert view.source("sv-density:m").data["image"] == []
    assert note(view) == f"2,000 rows, {inside.sum():,} in view drawn as points"

    view.hub.stream("s", {"x": [1.2, 9.0], "y": [0.5, 9.0]})  # one new row in the zoom
    view.session.tick()
    assert view.rows("sv:m:y") == inside.sum() + 1
    assert note(view) == f"2,002 rows, {inside.sum() + 1:,} in view drawn as points"

    figure._trigger_event(Reset(figure))
    view.session.tick()
    assert view.rows("sv:m:y") == 0
    assert np.nansum(image_of(view)[0]) == 2_002
    assert note(view) == "2,002 rows as density"


def test_time_x_is_binned_in_bokeh_milliseconds(render) -> None:
    view = render(scatter())
    start = np.datetime64("2026-01-01T00:00:00", "ns")
    times = start + np.arange(300) * np.timedelta64(1, "s")
    view.hub.stream("s", {"x": times, "y": np.arange(300.0)})
    view.session.tick()
    image, area = image_of(view)
    assert np.nansum(image) == 300
    first = float(start.astype("datetime64[ms]").astype(np.int64))
    assert area[0] == pytest.approx(first)
    assert area[1] == pytest.approx(first + 299_000)


def test_the_density_covers_the_newest_limit_rows(render, monkeypatch) -> None:
    monkeypatch.setattr(scatter_density.ScatterState, "limit", 300)
    view = render(scatter())
    rows = cloud(500)
    rows["x"][:200] = 1000.0  # the oldest rows, far away: not in the picture
    view.hub.stream("s", rows)
    view.session.tick()
    image, area = image_of(view)
    assert np.nansum(image) == 300
    assert area[1] < 1000.0
    assert note(view) == "newest 300 rows as density"


def test_float32_columns_are_binned(render) -> None:
    view = render(scatter())
    rows = {name: values.astype(np.float32) for name, values in cloud(400).items()}
    view.hub.stream("s", rows)
    view.session.tick()
    assert np.nansum(image_of(view)[0]) == 400
