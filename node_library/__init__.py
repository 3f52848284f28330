"""Built-in operators and CPU mock services, registered like any third-party node package."""

from runtime import Registry


def register(registry: Registry) -> None:
    from node_library import data_ops, filters, gates, signals, timing
    from node_library.bridges_file import FileTail, FileWrite
    from node_library.bridges_nats import NatsPublish, NatsSubscribe
    from node_library.bridges_net import HttpRequest, UdpIn, UdpOut
    from node_library.events import EventIn
    from node_library.flow import Branch, Delay, Sequence, Tick
    from node_library.math_ops import Expression, Math
    from node_library.script import PythonScript
    from node_library.sensors import RandomWalk
    from node_library.services import MockModelWorker, ModelWorker
    from node_library.values import Constant, Counter, Print

    for op in (Tick, Sequence, Branch, Delay, Constant, Counter, Print, Math, Expression,
               RandomWalk, EventIn):
        registry.register_operator(op)
    for signal_op in (signals.Signal, signals.Envelope, filters.RangeMap, filters.Smooth,
                      filters.RateLimiter, filters.Window, filters.ChangeDetector,
                      data_ops.SetState, data_ops.Hold, data_ops.Pull, data_ops.JsonPath,
                      data_ops.Template):
        registry.register_operator(signal_op)
    for flow_op in (gates.Gate, gates.Switch, gates.Merge, timing.Trigger, timing.Debounce,
                    timing.Throttle, timing.Interval, timing.Cron, timing.Once):
        registry.register_operator(flow_op)
    registry.register_operator(PythonScript)
    for bridge_op in (NatsSubscribe, NatsPublish, UdpIn, UdpOut, HttpRequest, FileTail,
                      FileWrite):
        registry.register_operator(bridge_op)
    registry.register_service(ModelWorker)
    registry.register_service(MockModelWorker)


__all__ = ["register"]
