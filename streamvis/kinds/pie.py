"""`pie`: the `ring` chart without a hole (`inner_radius` defaults to 0). Same fields."""

from __future__ import annotations

from streamvis.kinds import ring
from streamvis.layout import fields

FIELDS = {**ring.FIELDS, "inner_radius": fields.number(default=0.0)}
OPTIONS = ring.OPTIONS
make_state = ring.make_state
buffer_columns = ring.buffer_columns
validate = ring.validate
build = ring.build
