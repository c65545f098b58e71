"""The first release's README example, made runnable against `streamvis_server`.

streamvis_server --rest_port 8080 --bokeh_port 5006 --run_name myapp &
python examples/seed_client.py localhost:8080 myapp [STEPS]
# watch at http://localhost:5006
"""

import math
import sys
from time import sleep

import numpy as np

from streamvis import Client

rest_uri, run_name = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 10000

# point your client to the running sv_rest_server service
client = Client(rest_uri, run_name)

# clear the data on the REST server associated with run_name
client.clear()

# specifies rectangular packing layout of plots
grid_map = dict(
    top_plot=(0, 0, 1, 2),  # (top,left,height,width)
    low_left_plot=(1, 0, 2, 1),
    low_right_plot=(1, 1, 2, 2),
)

# set the physical layout in the page for your plots
client.set_layout(grid_map)

# Generate some data
N = 1000
left_data = np.random.randn(N, 2)

for step in range(steps):
    sleep(0.2)
    top_data = [
        step,
        math.sin(1 + step / 10),
        0.5 * math.sin(1.5 + step / 20),
        1.5 * math.sin(2 + step / 15),
    ]

    left_data = left_data + np.random.randn(N, 2) * 0.1

    client.tandem_lines("top_plot", top_data)
    client.scatter("low_left_plot", left_data.tolist(), spatial_dim=1, append=False)
