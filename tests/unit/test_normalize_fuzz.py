"""Property tests: whatever a producer passes, `normalize` returns a well-formed batch or
raises StreamError (never a foreign exception), and a hub write it refuses changes nothing,
in memory or in the store. Bounded and derandomized, so CI runs the same examples every
time."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamvis.core.hub import Hub
from streamvis.core.normalize import BOOL, FLOAT, INT, TEXT, TIME, normalize
from streamvis.errors import StreamError
from streamvis.store import open_store

ALLOWED = {FLOAT, INT, BOOL, TEXT, TIME}
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# text of every kind, lone surrogates included ("\ud800" arrives as valid JSON)
text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.binary(max_size=4),
    st.datetimes(),
)
names = st.one_of(text, st.integers(), st.none())
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(names, inner, max_size=4)
    ),
    max_leaves=20,
)
arrays = st.one_of(
    st.builds(
        np.array,
        st.lists(st.lists(st.floats(), min_size=2, max_size=2), max_size=4),
    ),
    st.sampled_from(
        [
            np.array([b"\xff"]),
            np.array([2**63], dtype=np.uint64),
            np.array(["a", "\ud800"]),
            np.zeros((2, 2, 2)),
            np.array(5),
            np.array([[1, 2], [3, 4]], dtype=np.int8),
            np.array(["2024-01-01"], dtype="datetime64[D]"),
            np.array([1 + 2j]),
        ]
    ),
)
data_values = st.one_of(json_like, arrays)
columns_values = st.one_of(
    st.none(),
    st.lists(names, max_size=3),
    st.integers(),
    text,
    st.just(("x", "y")),
)


def check_batch(batch: dict[str, np.ndarray]) -> None:
    lengths = {len(values) for values in batch.values()}
    assert len(lengths) <= 1
    for name, values in batch.items():
        assert isinstance(name, str)
        assert name
        assert values.ndim == 1
        assert values.dtype in ALLOWED, values.dtype
        if values.dtype == TEXT:
            for value in values:
                assert value is None or isinstance(value, str)
                if value is not None:
                    value.encode("utf-8")  # storable as it is


@SETTINGS
@given(data=data_values, columns=columns_values)
def test_normalize_returns_a_batch_or_raises_stream_error(data: Any, columns: Any) -> None:
    try:
        batch = normalize(data, columns=columns, where="fuzz")
    except StreamError as exc:
        message = str(exc)
    else:
        check_batch(batch)
        return
    assert message.startswith("fuzz")


def snapshot(hub: Hub) -> dict[str, Any]:
    """Each stream's seq, generation and rows as plain values (NaN-safe)."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        return value

    shown = {}
    for table in hub.tables():
        batch = hub.read(table.name, run=table.run)
        shown[table.name] = (
            table.next_seq,
            table.generation,
            {name: [plain(v) for v in values.tolist()] for name, values in batch.items()},
        )
    return shown


@settings(SETTINGS, max_examples=60)
@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]), data_values, st.sampled_from(["append", "replace"])
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_refused_write_changes_nothing_and_memory_equals_the_store(
    writes: list[tuple[str, Any, str]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.db"
        store = open_store(path)
        hub = Hub(store=store)
        hub.stream("a", {"step": 0, "v": 0.5, "s": "seed"})
        for stream, data, mode in writes:
            before = snapshot(hub)
            try:
                hub.stream(stream, data, mode=mode)  # type: ignore[arg-type]
            except StreamError:
                assert snapshot(hub) == before
        assert hub.flush(60)
        shown = snapshot(hub)
        store.close()  # type: ignore[union-attr]
        again = Hub(store=open_store(path))
        try:
            replayed = snapshot(again)
        finally:
            again.store.close()  # type: ignore[union-attr]
        assert {k: (v[0], v[2]) for k, v in replayed.items()} == {
            k: (v[0], v[2]) for k, v in shown.items()
        }
