"""Entry point for `panel serve apps/dashboard.py --args path/to/layout.yaml` (with `--warm`
or `--plugins streamvis.ingest`, a bad layout stops the server at start)."""

import sys

from streamvis.server.app import build_page

build_page(sys.argv[1:]).servable(title="streamvis")
