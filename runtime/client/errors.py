"""What a client call can raise, as types with a code: callers decide on the class or ``.code``,
never on the message.

``ServiceUnavailable`` and its subclasses mean no usable reply came back (the CLI exits 3);
``RequestTooLarge`` means the request was never sent, because the server would refuse it (the
caller's input is at fault: the CLI exits 2); ``DeployError`` means services answered and one
refused its part.
"""

from __future__ import annotations

from runtime.protocol.envelope import CommandReply, ErrorCode


class ServiceUnavailable(Exception):
    """No usable reply from ``service_id``; ``code`` says why, in the envelope's terms."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, service_id: str, message: str) -> None:
        super().__init__(message)
        self.service_id = service_id
        self.message = message


class NoService(ServiceUnavailable):
    """Nobody answers for the service id (no responders on its subject)."""

    code = ErrorCode.NOT_FOUND


class CallTimeout(ServiceUnavailable):
    """The service is there, but no reply to ``call`` came within ``timeout`` seconds."""

    code = ErrorCode.TIMEOUT

    def __init__(self, service_id: str, call: str, timeout: float) -> None:
        super().__init__(service_id,
                         f"service {service_id!r} did not answer {call!r} within {timeout:g}s")
        self.call = call
        self.timeout = timeout


class BadReply(ServiceUnavailable):
    """Something answered, but not with a reply envelope."""

    code = ErrorCode.INTERNAL


class ServiceExited(NoService):
    """A launched service process ended before it answered; ``returncode`` is its exit code."""

    def __init__(self, service_id: str, returncode: int) -> None:
        super().__init__(service_id, f"service {service_id!r} exited with code {returncode}")
        self.returncode = returncode


class RequestTooLarge(Exception):
    """The encoded ``call`` request to ``service_id`` is ``size`` bytes, more than the ``limit``
    the server accepts in one message (its ``max_payload``), so it was not sent: sent, the
    server would drop it and the caller would wait for a reply that cannot come. ``code`` is the
    envelope's INVALID_ARGS, as a service refuses a value too large for KV."""

    code: ErrorCode = ErrorCode.INVALID_ARGS

    def __init__(self, service_id: str, call: str, size: int, limit: int) -> None:
        remedy = ("split the graph across more services (each is sent only its own part) or "
                  "make its stateValues smaller" if call == "set_rungraph"
                  else "send smaller values")
        message = (f"the {call!r} request to service {service_id!r} is {size:,} bytes, more "
                   f"than the server's max_payload of {limit:,} bytes; it was not sent: "
                   f"{remedy}")
        super().__init__(message)
        self.service_id = service_id
        self.call = call
        self.size = size
        self.limit = limit
        self.message = message


class DeployError(Exception):
    """A service refused its part of a deploy.

    ``replies`` holds each service's last reply (the refusal among them); ``rolled_back`` lists the
    services that had taken their part and were sent their previous rungraph again, and
    ``rollbacks`` their replies to that.
    """

    def __init__(self, replies: dict[str, CommandReply], rolled_back: list[str],
                 rollbacks: dict[str, CommandReply] | None = None) -> None:
        self.replies = replies
        self.rolled_back = rolled_back
        self.rollbacks = rollbacks or {}
        msgs = [f"{sid}: {r.error.message if r.error else None}"
                for sid, r in replies.items() if not r.ok]
        super().__init__("deploy refused by " + "; ".join(msgs) +
                         (f" (rolled back: {', '.join(rolled_back)})" if rolled_back else ""))
