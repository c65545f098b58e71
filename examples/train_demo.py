"""The training demo (also `streamvis demo`): python examples/train_demo.py [--port 5006]."""

from streamvis.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
