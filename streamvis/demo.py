"""`streamvis demo`: a fake training run streamed live into the layout demo.yaml.

    streamvis demo                       # serves http://127.0.0.1:5006 and trains
    panel serve apps/dashboard.py --index dashboard --args streamvis/demo.yaml \\
        --producer streamvis.demo:produce   # the same data inside panel serve

Each demo is a new run (demo-YYYYmmdd-HHMMSS) in the store ./.streamvis/streamvis.db, so
restarting it leaves the earlier runs to compare with: open /?runs=demo-.* (docs/urls.md).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import streamvis as sv

LAYOUT = Path(__file__).with_name("demo.yaml")


def lr_at(step: int, warmup: int = 100, total: int = 3000, peak: float = 3e-3) -> float:
    """Linear warm-up, then cosine decay: the schedule most training runs use."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return 1e-5 + (peak - 1e-5) * 0.5 * (1 + math.cos(math.pi * progress))


def produce(
    steps: int = 1_000_000, delay: float = 0.05, seed: int | None = 0, run: str = "default"
) -> None:
    """Stream loss, learning rate and an embedding snapshot, like a training loop would."""
    rng = np.random.default_rng(seed)
    pace = rng.uniform(0.7, 1.3)  # each seed learns at its own speed: runs differ
    centers = rng.normal(scale=4.0, size=(3, 2))
    points = rng.normal(scale=3.0, size=(600, 2))
    cluster = np.repeat(np.arange(3), 200)
    for step in range(steps):
        train = 2.5 * math.exp(-step / (400 * pace)) + 0.08 + 0.05 * rng.random()
        val = 2.5 * math.exp(-step / (450 * pace)) + 0.12 + 0.03 * rng.random()
        sv.stream("loss", {"step": step, "train": train, "val": val}, run=run)
        sv.stream("lr", {"step": step, "lr": lr_at(step)}, run=run)
        if step % 10 == 0:
            points += 0.05 * (centers[cluster] - points) + rng.normal(
                scale=0.05, size=points.shape
            )
            sv.stream(
                "embedding",
                {"x": points[:, 0], "y": points[:, 1], "cluster": cluster},
                mode="replace",
                run=run,
            )
        time.sleep(delay)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the demo layout and train a fake model into a new run until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="streamvis demo",
        description="Serve a live dashboard of a fake training run.",
        epilog="examples:\n  streamvis demo\n  streamvis demo --port 8000 --store none\n"
        "  # then open http://127.0.0.1:5006 (compare runs: /?runs=demo-.*)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=5006)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument(
        "--store",
        default=".streamvis/streamvis.db",
        help="SQLite file the runs are kept in, or 'none' (default ./.streamvis/streamvis.db)",
    )
    parser.add_argument("--run", default=None, help="run name (default demo-<date>-<time>)")
    args = parser.parse_args(argv)
    sv.use_store(args.store)
    run = args.run or time.strftime("demo-%Y%m%d-%H%M%S")
    server = sv.serve(LAYOUT, port=args.port, run=run)
    print(
        f"streamvis demo: run '{run}' at http://127.0.0.1:{args.port}  (Ctrl-C to stop)\n"
        f"  compare with earlier demo runs: http://127.0.0.1:{args.port}/?runs=demo-.*",
        flush=True,
    )
    try:
        produce(args.steps, seed=None, run=run)  # a fresh seed: each demo run differs
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
