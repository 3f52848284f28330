"""Find running services with the NATS micro discovery protocol ($SRV.PING / INFO / STATS).

These subjects are broadcasts: every service instance answers, so the replies are collected on an
inbox for a short window instead of taking the first one as a request would. Written against the
Transport protocol only, so it works on the memory transport and on NATS alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Literal

from runtime.transport.base import Msg, Transport

log = logging.getLogger(__name__)

Verb = Literal["PING", "INFO", "STATS"]


async def discover(
    transport: Transport,
    timeout: float = 0.15,  # noqa: ASYNC109 - a collection window, not a deadline
    *,
    name: str | None = None,
    verb: Verb = "INFO",
    quiet: float | None = None,
) -> list[dict[str, Any]]:
    """The JSON bodies of every ``$SRV.<verb>`` reply that arrives within ``timeout`` seconds.

    ``name`` narrows the question to the instances of one micro service name. With ``quiet``,
    collection ends early once replies have arrived and none came for ``quiet`` seconds (local
    services answer within a millisecond or two of each other).
    """
    subject = f"$SRV.{verb}" + (f".{name}" if name else "")
    replies: list[dict[str, Any]] = []

    async def on_reply(msg: Msg) -> None:
        if not msg.data:
            return  # a "no responders" status message: nobody is there
        try:
            body = json.loads(msg.data)
        except ValueError:
            log.warning("ignoring a malformed %s reply: %r", subject, msg.data[:200])
            return
        if isinstance(body, dict):
            replies.append(body)
            arrived.set()

    arrived = asyncio.Event()
    inbox = transport.new_inbox()
    sub = await transport.subscribe(inbox, on_reply)
    try:
        await transport.publish(subject, b"", reply=inbox)
        await transport.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if quiet is None:
            await asyncio.sleep(timeout)
        while quiet is not None and (remaining := deadline - loop.time()) > 0:
            arrived.clear()
            wait = remaining if not replies else min(quiet, remaining)
            try:
                await asyncio.wait_for(arrived.wait(), wait)
            except TimeoutError:
                if replies:
                    break
    finally:
        await sub.unsubscribe()
    return replies
