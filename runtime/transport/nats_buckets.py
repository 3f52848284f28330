"""Making, binding and deleting JetStream KV buckets for ``NatsTransport.key_value``.

A bucket is bound with one request (its stream's info, which also gives its replicas) and made,
when missing and allowed, with the connection's configuration: file storage, ``kv_history``, and
``kv_replicas`` replicas (None: ``min(DEFAULT_KV_REPLICAS, cluster size)``). Making it is asked
again after a short timeout (``CREATE_TIMEOUTS_S``), and a bucket just made is bound again while
the cluster catches up (``BIND_RETRY_S``). An existing bucket keeps its replicas. The bucket
itself (writes, watches) is ``runtime.transport.nats_kv``'s and ``nats_kv_batch``'s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import KV_PRE_TEMPLATE, KV_STREAM_TEMPLATE
from nats.js.kv import KeyValue as NatsKeyValue

from runtime.transport.base import TransportError, TransportTimeout
from runtime.transport.nats_kv import NatsKV
from runtime.transport.nats_kv_batch import PipelinedKV

if TYPE_CHECKING:
    from runtime.transport.nats import NatsTransport

log = logging.getLogger(__name__)

CREATE_TIMEOUTS_S = (0.5, 1.0, 1.5, 2.0)
"""The timeout of each attempt to make a KV bucket (5 s in all, nats-py's own timeout)."""
DEFAULT_KV_REPLICAS = 3
"""The most replicas a bucket is made with when ``kv_replicas`` is automatic."""
BIND_RETRY_S = (0.05, 0.1, 0.2, 0.4, 0.8)
"""Waits before binding a bucket just made is asked again (a cluster catching up)."""


def bucket_replicas(transport: NatsTransport) -> int:
    """The replicas a bucket made by ``transport`` gets: its ``kv_replicas``, else
    ``min(3, cluster size)``."""
    if transport.kv_replicas is not None:
        return transport.kv_replicas
    return min(DEFAULT_KV_REPLICAS, transport.cluster_size())


UNAVAILABLE_RETRY_S = (0.1, 0.2, 0.4, 0.8, 1.6)
"""Waits before asking again when JetStream answers 503 (a cluster just started or electing
its meta leader): about 3 s in all, then the refusal is the caller's."""


async def open_bucket(transport: NatsTransport, bucket: str, *, create: bool,
                      wanted: bool) -> NatsKV:
    """KV ``bucket`` bound, made first when missing and ``create``; missing and not made, an
    error that says why (``wanted``: the caller asked for it to be made). JetStream that is
    unavailable for now (503) is asked again, bounded (``UNAVAILABLE_RETRY_S``)."""
    for delay in UNAVAILABLE_RETRY_S:
        try:
            return await _open_bucket(transport, bucket, create=create, wanted=wanted)
        except TransportError as exc:
            if not isinstance(exc.__cause__, nats.js.errors.ServiceUnavailableError):
                raise
            log.info("KV bucket %s: JetStream unavailable for now; asking again", bucket)
            await asyncio.sleep(delay)
    return await _open_bucket(transport, bucket, create=create, wanted=wanted)


async def _open_bucket(transport: NatsTransport, bucket: str, *, create: bool,
                       wanted: bool) -> NatsKV:
    try:
        try:
            kv, replicas = await _bind_bucket(transport, bucket)
            _note_replicas(transport, bucket, replicas)
        except nats.js.errors.BucketNotFoundError:
            if not create:
                raise TransportError(_missing(transport, bucket, wanted)) from None
            await _create_bucket(transport, bucket)
            kv, replicas = await _bind_created(transport, bucket)
    except nats.errors.NoRespondersError:
        raise TransportError(
            f"JetStream is not enabled on {transport.url} (start nats-server with -js)"
        ) from None
    except nats.errors.TimeoutError:
        raise TransportTimeout(f"JetStream on {transport.url} did not answer") from None
    except nats.js.errors.APIError as exc:
        raise TransportError(f"KV bucket {bucket}: JetStream refused it "
                             f"({exc.description or exc!r})") from exc
    except nats.errors.Error as exc:
        raise TransportError(f"KV bucket {bucket}: {exc!r}") from exc
    return PipelinedKV(transport, kv, bucket, replicas, transport.request_mux)


def _missing(transport: NatsTransport, bucket: str, wanted: bool) -> str:
    if not wanted or transport.public_key is None:
        return f"no KV bucket {bucket}"
    return (f"no KV bucket {bucket} on {transport.url}: with authentication on, only the "
            "namespace's keeper creates buckets, a service's one when the service's "
            "identity is issued (rungraph creds service --service-id ID, or a local "
            "service's own start) and whenever the local server starts")


async def _bind_created(transport: NatsTransport, bucket: str) -> tuple[NatsKeyValue, int]:
    """Bind a bucket just made: in a cluster under load the server that answers may not
    know the new stream yet for a moment, so a not-found is asked again (bounded)."""
    for delay in BIND_RETRY_S:
        try:
            return await _bind_bucket(transport, bucket)
        except nats.js.errors.BucketNotFoundError:
            await asyncio.sleep(delay)
    return await _bind_bucket(transport, bucket)


async def _bind_bucket(transport: NatsTransport, bucket: str) -> tuple[NatsKeyValue, int]:
    """The bucket as nats-py's ``key_value`` binds it, and its replicas (one request)."""
    stream = KV_STREAM_TEMPLATE.format(bucket=bucket)
    try:
        info = await transport.js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        raise nats.js.errors.BucketNotFoundError from None
    if (info.config.max_msgs_per_subject or 0) < 1:
        raise nats.js.errors.BadBucketError
    kv = NatsKeyValue(name=bucket, stream=stream, pre=KV_PRE_TEMPLATE.format(bucket=bucket),
                      js=transport.js, direct=bool(info.config.allow_direct))
    return kv, int(info.config.num_replicas or 1)


def _note_replicas(transport: NatsTransport, bucket: str, replicas: int) -> None:
    """An existing bucket keeps its replicas: say so when this connection would make it
    with others (changing a stream's replicas is the keeper's, not done here)."""
    wanted = bucket_replicas(transport)
    if replicas != wanted:
        log.info("KV bucket %s keeps its %d replica(s) (this connection makes buckets with "
                 "%d)", bucket, replicas, wanted)


async def _create_bucket(transport: NatsTransport, bucket: str) -> None:
    """Create the bucket, asking again after each of ``CREATE_TIMEOUTS_S`` (making a stream
    is idempotent): a request JetStream dropped (a cluster electing its meta leader) or
    nats-server refused (an identity whose permission to make it is being reloaded on
    every node of a cluster) costs a short wait, not nats-py's 5 s."""
    replicas = bucket_replicas(transport)
    config = KeyValueConfig(
        bucket=bucket,
        history=transport.kv_history,
        storage=StorageType.FILE,
        replicas=replicas,
    )
    log.info("creating KV bucket %s with %d replica(s)", bucket, replicas)
    for attempt, timeout in enumerate(CREATE_TIMEOUTS_S):
        try:
            await transport.nc.jetstream(timeout=timeout).create_key_value(config)
            return
        except nats.js.errors.BadRequestError:
            return  # someone else created it first, with another config: theirs is used
        except nats.errors.TimeoutError:
            if attempt == len(CREATE_TIMEOUTS_S) - 1:
                raise


async def delete_bucket(transport: NatsTransport, bucket: str) -> None:
    try:
        await transport.js.delete_key_value(bucket)
    except nats.js.errors.NotFoundError:
        pass  # already gone: deleting is idempotent, as in memory
    except nats.errors.Error as exc:
        raise TransportError(f"deleting KV bucket {bucket}: {exc!r}") from exc
