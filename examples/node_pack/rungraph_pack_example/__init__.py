"""An example node pack: Clamp and Greeting, registered through the ``rungraph.nodes`` entry
point (see ``pyproject.toml``), exactly as Rungraph's own nodes are."""

from rungraph_pack_example.nodes import Clamp, Greeting
from runtime import Registry


def register(registry: Registry) -> None:
    """Called once per registry (Studio's, ``rungraph describe``'s, each service's)."""
    registry.register_operator(Clamp)
    registry.register_operator(Greeting)


__all__ = ["Clamp", "Greeting", "register"]
