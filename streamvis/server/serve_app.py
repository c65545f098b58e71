"""The page `streamvis serve` hands to `panel serve` (apps/dashboard.py does the same from a
checkout): the layout and options come from `--args`."""

import sys

from streamvis.server.app import build_page

build_page(sys.argv[1:]).servable(title="streamvis")
