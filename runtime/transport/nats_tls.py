"""The nats-py client of a NATS connection, held to the TLS the connection asked for.

nats-py upgrades to TLS only when the server's INFO says ``tls_required``, so a ``tls://`` URL
alone would not stop a server (or someone in between) that leaves it out: ``TLSClient`` refuses
such an INFO before anything, credentials included, is sent. And a certificate that fails
verification ends the first connect at once with a ``TLSRefused`` that says why (nats-py would
retry it, and 2.16 then hangs); once connected, a reconnect that fails so is retried as nats-py
does. Which CA a connection trusts is ``runtime.auth.tls.find_trust``'s to say.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import nats.errors

from runtime.auth.tls import TLSTrust
from runtime.transport.base import TransportError
from runtime.transport.nats_direct import DirectClient


class TLSRefused(TransportError):
    """TLS with the server failed: its certificate is not trusted (or not for the host name
    connected to), or it does not offer TLS where TLS was asked for (a ``tls://`` URL, a CA)."""


class _QuietTLSEOF(logging.Filter):
    """asyncio warns "returning true from eof_received() has no effect when using ssl" each
    time a server ends a TLS connection nats-py reads with a stream protocol: noise, dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("returning true from eof_received()")


logging.getLogger("asyncio").addFilter(_QuietTLSEOF())


class TLSClient(DirectClient):
    """nats-py's client (with the direct paths of ``nats_direct``), held to the TLS a
    connection asked for (``trust``; None: whatever the server offers)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust: TLSTrust | None = None

    def _where(self) -> str:
        server = self._current_server
        return server.uri.geturl() if server is not None else "the server"

    async def _process_info(self, info: dict[str, Any], initial_connection: bool = False) -> None:
        server = self._current_server
        websocket = server is not None and server.uri.scheme in ("ws", "wss")  # TLS is wss://
        if initial_connection and self.trust is not None and self.trust.required and not (
            info.get("tls_required") or websocket
        ):
            message = (f"NATS at {self._where()} does not offer TLS, but {self.trust.why} asks "
                       "for it; nothing was sent (start the server with rungraph nats --tls)")
            if self.is_reconnecting:
                raise nats.errors.Error(message)
            raise TLSRefused(message)
        await super()._process_info(info, initial_connection)

    async def _process_connect_init(self) -> None:
        try:
            await super()._process_connect_init()
        except ssl.SSLError as exc:
            # asyncio closed the socket when the handshake failed; the plain stream nats-py
            # still holds was taken over by the TLS layer and would never report it closed,
            # so closing it (on close, or before a reconnect's next try) would wait forever:
            # let go of it, and a reconnect opens a new one.
            self._transport = None
            if self.is_reconnecting:
                raise
            raise TLSRefused(self._tls_failure(exc)) from None

    def _tls_failure(self, exc: ssl.SSLError) -> str:
        where = self._where()
        source = self.trust.source if self.trust is not None else "the system's trust store"
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or exc.reason or str(exc)
            if "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
                server = self._current_server
                host = self.options.get("tls_hostname") or (
                    server.uri.hostname if server is not None else "that host")
                return (f"the TLS certificate of NATS at {where} is not valid for {host} "
                        f"({reason}); connect by a name it holds, or have the server's "
                        f"certificate cover it (rungraph nats --tls --tls-host {host})")
            return (f"the TLS certificate of NATS at {where} is not trusted ({reason}; verified "
                    f"with {source}); give the server's CA file (its <store>/auth/tls/ca.pem) "
                    "with --tls-ca FILE or RUNGRAPH_TLS_CA")
        return f"TLS with NATS at {where} failed: {exc.reason or exc}"
