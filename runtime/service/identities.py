"""The identity directory as a service reads it, also while the directory cannot be watched.

``runtime.auth.IdentityCache`` holds the namespace's directory (public key -> identity) in memory,
kept current by a KV watch. The keeper creates the bucket when it writes the first entry; a
service that starts before that (or that may not watch it) reads single entries instead and
tries the watch again now and then, rather than failing for the life of the process.
"""

from __future__ import annotations

import asyncio
import logging

from runtime.auth import DIRECTORY_BUCKET, Identity, IdentityCache, lookup
from runtime.transport.base import Transport, TransportError

log = logging.getLogger(__name__)

WATCH_RETRY_S = 10.0
"""How long a service reads single entries before it tries to watch the directory again."""
WATCH_START_S = 3.0


class ServiceDirectory:
    """``IdentityCache`` opened on demand (implements ``access.IdentityDirectory``)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.cache: IdentityCache | None = None
        self._retry_at = 0.0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._retry_at = loop.time() + WATCH_RETRY_S
        try:
            self.cache = await asyncio.wait_for(IdentityCache.start(self.transport),
                                                WATCH_START_S)
        except (TransportError, TimeoutError) as exc:
            log.warning("cannot watch the identity directory %s (%s); reading single entries",
                        DIRECTORY_BUCKET, exc or type(exc).__name__)

    async def stop(self) -> None:
        if self.cache is not None:
            await self.cache.stop()

    def get(self, public_key: str) -> Identity | None:
        return self.cache.get(public_key) if self.cache is not None else None

    async def resolve(self, public_key: str) -> Identity | None:
        if self.cache is None and asyncio.get_running_loop().time() >= self._retry_at:
            await self.start()
        if self.cache is not None:
            return await self.cache.resolve(public_key)
        return await lookup(self.transport, public_key)
