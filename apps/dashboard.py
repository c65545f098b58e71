"""Entry point for `panel serve apps/dashboard.py --args path/to/layout.yaml`."""

import sys

from streamvis.app import build_page

build_page(sys.argv[1:]).servable(title="streamvis")
