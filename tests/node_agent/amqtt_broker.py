"""The embedded demo broker (amqtt 0.12, MQTT 3.1.1): ``python amqtt_broker.py PORT``."""

from __future__ import annotations

import asyncio
import logging
import sys


async def main(port: int) -> None:
    from amqtt.broker import Broker

    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
