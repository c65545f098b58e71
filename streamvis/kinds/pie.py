"""`pie`: the `ring` chart without a hole (`inner_radius` defaults to 0). Same fields."""

from __future__ import annotations

from dataclasses import replace

from streamvis.kinds import ring
from streamvis.layout import fields

KIND = replace(
    ring.KIND,
    name="pie",
    fields={**ring.KIND.fields, "inner_radius": fields.number(default=0.0)},
)
