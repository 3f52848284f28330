"""Built-in operators and CPU mock services, registered like any third-party node package."""

from runtime import Registry


def register(registry: Registry) -> None:
    from node_library.events import EventIn
    from node_library.flow import Branch, Delay, Sequence, Tick
    from node_library.math_ops import Expression, Math
    from node_library.sensors import RandomWalk
    from node_library.services import MockModelWorker, ModelWorker
    from node_library.values import Constant, Counter, Print

    for op in (Tick, Sequence, Branch, Delay, Constant, Counter, Print, Math, Expression,
               RandomWalk, EventIn):
        registry.register_operator(op)
    registry.register_service(ModelWorker)
    registry.register_service(MockModelWorker)


__all__ = ["register"]
