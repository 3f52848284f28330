"""What Studio is doing with the graph right now: one enum for the shell, the bridge and the
sessions. No Qt."""

from __future__ import annotations

from enum import StrEnum


class RunMode(StrEnum):
    IDLE = "idle"  # editing; nothing runs
    SIMULATE = "simulate"  # the graph runs in this process
    PAUSED = "paused"  # a simulation whose sources are stopped; Step fires them once
    DEPLOY = "deploy"  # connected to NATS: service processes run the graph
    BUSY = "busy"  # starting, loading or deploying: the run actions wait
