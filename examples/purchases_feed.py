"""A websocket feed of purchases, like the crossfilter tutorial's: one random record per
second (Name, Year, Spent, payType, quantity, total, tip) to every connected client.

    python examples/purchases_feed.py            # ws://127.0.0.1:8001/ws
    panel serve apps/dashboard.py --args examples/purchases.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random

from tornado import web, websocket

NAMES = ("Ben", "Aziz", "Vijay", "Jarrod", "Maria", "Chen")
PAY_TYPES = ("cash", "visa", "tab")


def purchase(rng: random.Random) -> dict[str, object]:
    """One random record in the tutorial's shape."""
    quantity = rng.randint(1, 5)
    spent = float(rng.randint(10, 600))
    tip = round(spent * rng.choice((0.0, 0.1, 0.15, 0.2)), 2)
    return {
        "Name": rng.choice(NAMES),
        "Year": rng.choice((2012, 2013, 2014, 2015)),
        "Spent": spent,
        "payType": rng.choice(PAY_TYPES),
        "quantity": quantity,
        "total": spent + tip,
        "tip": tip,
    }


class Feed(websocket.WebSocketHandler):
    """Sends every record of the shared clock to each connected client."""

    clients: set[Feed] = set()

    def check_origin(self, origin: str) -> bool:
        return True  # a demo feed of made-up data: any page may listen

    def open(self) -> None:
        Feed.clients.add(self)

    def on_close(self) -> None:
        Feed.clients.discard(self)


async def publish(interval: float, seed: int | None, log: str | None) -> None:
    """Send a record to every client each `interval`; with `log`, append each record that
    reached at least one client to that JSONL file (what tests compare the page against)."""
    rng = random.Random(seed)
    while True:
        message = json.dumps(purchase(rng))
        sent = False
        for client in list(Feed.clients):
            try:
                client.write_message(message)
                sent = True
            except websocket.WebSocketClosedError:
                Feed.clients.discard(client)
        if sent and log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(message + "\n")
        await asyncio.sleep(interval)


async def main(port: int, interval: float, seed: int | None, log: str | None) -> None:
    web.Application([(r"/ws", Feed)]).listen(port, "127.0.0.1")
    print(f"purchases feed on ws://127.0.0.1:{port}/ws, one record every {interval}s", flush=True)
    await publish(interval, seed, log)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log", default=None, help="append the records sent to this JSONL file")
    options = parser.parse_args()
    asyncio.run(main(options.port, options.interval, options.seed, options.log))
