"""`sv.export` and `write_file`: what comes out equals what went in (dtypes, NaN, NaT,
missing text), from a store file and from memory; every stream of a run as a dict; clear
errors for unknown runs and streams; CSV and Parquet files that read back equal; and the
advice to install pyarrow when it is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamvis.core.hub import Hub
from streamvis.store import StoreError, hub_from_store, open_store
from streamvis.store.export import ExportError, export, write_file

INT = np.dtype(np.int64)
FLOAT = np.dtype(np.float64)
BOOL = np.dtype(bool)
TIME = np.dtype("datetime64[ns]")


def metrics(start: int, rows: int) -> dict[str, np.ndarray]:
    """Rows `start`..`start+rows-1` of a stream with every column type and missing values."""
    steps = np.arange(start, start + rows, dtype=np.int64)
    loss = steps / 10.0
    loss[steps % 7 == 3] = np.nan
    loss[steps == 5] = np.inf
    when = np.datetime64("2024-03-01T00:00:00", "ns") + steps.astype("timedelta64[s]")
    when[steps % 5 == 4] = np.datetime64("NaT")
    tag = np.empty(rows, dtype=object)
    tag[:] = [None if s % 4 == 1 else f"tag-{s}-é" for s in steps]
    return {
        "step": steps,
        "loss": loss,
        "ok": steps % 3 == 0,
        "when": when,
        "tag": tag,
    }


def expected_frame(pieces: list[dict[str, np.ndarray]], first_seq: int = 0) -> pd.DataFrame:
    columns = {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
    rows = len(columns["step"])
    return pd.DataFrame(columns, index=pd.RangeIndex(first_seq, first_seq + rows, name="seq"))


def missing_as_none(values: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in values.tolist()]


def assert_exported(frame: pd.DataFrame, sent: list[dict[str, np.ndarray]]) -> None:
    """Same rows in order, seq index, numeric/bool/time dtypes kept, every NaN, inf and NaT
    where it was sent, text equal with missing values still missing."""
    want = expected_frame(sent)
    assert list(frame.columns) == list(want.columns)
    assert frame.index.name == "seq"
    assert frame.index.tolist() == want.index.tolist()
    for name, dtype in (("step", INT), ("loss", FLOAT), ("ok", BOOL), ("when", TIME)):
        assert frame[name].dtype == dtype, (name, frame[name].dtype)
        assert frame[name].to_numpy().tobytes() == want[name].to_numpy().tobytes(), name
    assert np.isnan(frame["loss"]).sum() == np.isnan(want["loss"]).sum() > 0
    assert frame["when"].isna().sum() == want["when"].isna().sum() > 0
    tags = [v for piece in sent for v in piece["tag"].tolist()]  # as sent, with None
    assert missing_as_none(frame["tag"]) == tags
    assert frame["tag"].isna().sum() == tags.count(None) > 0


def fill(hub: Hub) -> list[dict[str, np.ndarray]]:
    sent = [metrics(0, 40), metrics(40, 25), metrics(65, 100)]
    for piece in sent:
        hub.stream("m", piece, run="exp")
        assert hub.flush(10)  # a commit each: the store holds several segments
    hub.stream("lr", {"step": [0, 1], "lr": [0.1, 0.05]}, run="exp")
    hub.stream("other", {"x": [1.0]}, run="another")
    assert hub.flush(10)
    return sent


@pytest.fixture
def stored(tmp_path: Path):
    """(store path, hub writing to it, what was sent) — the hub still holds the file."""
    path = tmp_path / "export.db"
    hub = hub_from_store(open_store(path))
    sent = fill(hub)
    yield path, hub, sent
    hub.store.close()


def test_export_from_a_store_file_equals_what_was_sent(stored) -> None:
    path, hub, sent = stored
    (record,) = [r for r in hub.store.streams("exp") if r.stream == "m"]
    segments = list(hub.store.segments(record))
    assert len(segments) >= 2, "the export must join several segments"
    frame = export("exp", "m", store=path)  # read-only, alongside the writing hub
    assert_exported(frame, sent)
    # the hub's own store gives the same, and wall_time adds each row's arrival
    assert_exported(export("exp", "m", hub=hub), sent)
    timed = export("exp", "m", store=path, wall_time=True)
    assert timed["wall_time"].dtype == TIME
    assert timed["wall_time"].notna().all()
    assert timed["wall_time"].is_monotonic_increasing


def test_export_from_memory_equals_what_was_sent() -> None:
    hub = Hub()
    sent = fill(hub)
    assert_exported(export("exp", "m", hub=hub), sent)


@pytest.mark.parametrize("source", ["store", "memory"])
def test_every_stream_of_a_run_as_a_dict(source: str, tmp_path: Path) -> None:
    if source == "store":
        hub = hub_from_store(open_store(tmp_path / "all.db"))
        fill(hub)
        hub.store.close()
        frames = export("exp", store=tmp_path / "all.db")
    else:
        hub = Hub()
        fill(hub)
        frames = export("exp", hub=hub)
    assert sorted(frames) == ["lr", "m"]
    assert frames["lr"]["lr"].tolist() == [0.1, 0.05]
    assert frames["lr"].index.tolist() == [0, 1]
    assert len(frames["m"]) == 165


def test_unknown_run_or_stream_is_a_clear_error(stored, tmp_path: Path) -> None:
    path, hub, _ = stored
    with pytest.raises(ExportError, match=r"run 'exp' has no stream 'nope' in store .*export\.db"):
        export("exp", "nope", store=path)
    with pytest.raises(ExportError, match=r"no run 'ghost' in store .*export\.db"):
        export("ghost", store=path)
    memory = Hub()
    memory.stream("loss", {"step": [1]}, run="exp")
    with pytest.raises(ExportError, match=r"run 'exp' has no stream 'los' in this process"):
        export("exp", "los", hub=memory)
    with pytest.raises(ExportError, match=r"no run 'ghost' in this process"):
        export("ghost", hub=memory)
    with pytest.raises(StoreError, match="no such file"):
        export("exp", "m", store=tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_write_file_csv_and_parquet_read_back_equal(stored, tmp_path: Path) -> None:
    path, _, sent = stored
    frame = export("exp", "m", store=path)

    csv = write_file(frame, tmp_path / "m.csv")
    back = pd.read_csv(csv, parse_dates=["when"])
    assert list(back.columns) == ["step", "loss", "ok", "when", "tag"]
    assert back["step"].tolist() == frame["step"].tolist()
    assert back["ok"].tolist() == frame["ok"].tolist()
    np.testing.assert_array_equal(back["loss"].to_numpy(), frame["loss"].to_numpy())
    assert back["when"].astype("datetime64[ns]").to_numpy().tobytes() == (
        frame["when"].to_numpy().tobytes()
    )
    assert missing_as_none(back["tag"]) == missing_as_none(frame["tag"])

    parquet = write_file(frame, tmp_path / "m.parquet")
    back = pd.read_parquet(parquet)
    # pandas 3 reads Parquet text as its own str dtype; everything else comes back identical
    pd.testing.assert_frame_equal(back.drop(columns="tag"), frame.drop(columns="tag"))
    assert missing_as_none(back["tag"]) == missing_as_none(frame["tag"])
    assert back.index.name == "seq"
    assert_exported(back, sent)

    with pytest.raises(ExportError, match=r"unknown file type '\.xlsx'; use \.csv or \.parquet"):
        write_file(frame, tmp_path / "m.xlsx")


def test_parquet_without_pyarrow_says_to_install_it(
    stored, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = stored
    frame = export("exp", "m", store=path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    target = tmp_path / "m.parquet"
    with pytest.raises(ExportError) as refused:
        write_file(frame, target)
    message = str(refused.value)
    assert "pip install pyarrow" in message
    assert str(target) in message
    assert not target.exists()
    write_file(frame, tmp_path / "m.csv")  # CSV still works without it


def test_text_columns_keep_object_dtype_and_none() -> None:
    hub = Hub()
    tag = np.empty(3, dtype=object)
    tag[:] = ["a", None, "c"]
    hub.stream("t", {"tag": tag})
    frame = export("default", "t", hub=hub)
    assert frame["tag"].dtype == np.dtype(object)
    assert frame["tag"].tolist() == ["a", None, "c"]
