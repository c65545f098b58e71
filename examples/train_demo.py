"""A fake training run streamed live into examples/training.yaml.

    python examples/train_demo.py            # serves http://127.0.0.1:5006 and trains
    panel serve apps/dashboard.py --args examples/training.yaml \\
        --producer examples/train_demo.py:produce   # the same data inside panel serve
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

import streamvis as sv

LAYOUT = Path(__file__).with_name("training.yaml")


def lr_at(step: int, warmup: int = 100, total: int = 3000, peak: float = 3e-3) -> float:
    """Linear warm-up, then cosine decay: the schedule most training runs use."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return 1e-5 + (peak - 1e-5) * 0.5 * (1 + math.cos(math.pi * progress))


def produce(steps: int = 1_000_000, delay: float = 0.05, seed: int = 0) -> None:
    """Stream loss, learning rate and an embedding snapshot, like a training loop would."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(3, 2))
    points = rng.normal(scale=3.0, size=(600, 2))
    cluster = np.repeat(np.arange(3), 200)
    for step in range(steps):
        train = 2.5 * math.exp(-step / 400) + 0.08 + 0.05 * rng.random()
        val = 2.5 * math.exp(-step / 450) + 0.12 + 0.03 * rng.random()
        sv.stream("loss", {"step": step, "train": train, "val": val})
        sv.stream("lr", {"step": step, "lr": lr_at(step)})
        if step % 10 == 0:
            points += 0.05 * (centers[cluster] - points) + rng.normal(
                scale=0.05, size=points.shape
            )
            sv.stream(
                "embedding",
                {"x": points[:, 0], "y": points[:, 1], "cluster": cluster},
                mode="replace",
            )
        time.sleep(delay)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5006)
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args()
    server = sv.serve(LAYOUT, port=args.port)
    print(f"streamvis demo: open http://127.0.0.1:{args.port}  (Ctrl-C to stop)", flush=True)
    try:
        produce(args.steps)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
