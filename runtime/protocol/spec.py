"""Specs of operator and service classes, derived from the classes and read by Studio's palette."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Access = Literal["rw", "ro", "wo"]


class StateFieldSpec(BaseModel):
    name: str
    schema_: dict[str, Any] = Field(alias="schema", default_factory=dict)
    access: Access = "rw"
    default: Any = None
    showOnNode: bool = False
    description: str = ""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class DataPortSpec(BaseModel):
    name: str
    schema_: dict[str, Any] = Field(alias="schema", default_factory=dict)
    description: str = ""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ExecPortSpec(BaseModel):
    name: str
    description: str = ""


class CommandSpec(BaseModel):
    name: str
    description: str = ""
    argsSchema: dict[str, Any] = Field(default_factory=dict)
    resultSchema: dict[str, Any] = Field(default_factory=dict)
    streaming: bool = False
    added: bool = False
    """Added at runtime by an ``editableCommands`` service, not declared on its class."""


class DependencySpec(BaseModel):
    """A service another service calls (``Depends`` on its class): ``rungraph serve`` starts it
    first, Studio and ``rungraph ls`` show it."""

    name: str
    """The attribute the depending service reaches it by."""
    serviceClass: str
    """The class (or interface) declared: any implementation of it may answer."""
    serviceId: str
    optional: bool = False
    description: str = ""


class EventSpec(BaseModel):
    """An event a service emits on ``svc.{sid}.events.{name}``; ``schema`` is its value's."""

    name: str
    schema_: dict[str, Any] = Field(alias="schema", default_factory=dict)
    description: str = ""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Resources(BaseModel):
    """What a service needs to run (seed 001): cpu cores, memory, gpus."""

    cpu: str = "0.1"
    memory: str = "64Mi"
    gpu: int = 0


class NodeSpec(BaseModel):
    """Everything Studio needs to draw, wire and validate a node of this class."""

    kind: Literal["operator", "service"]
    className: str
    label: str
    description: str = ""
    version: str = "0.1.0"
    category: str = "general"
    stateFields: list[StateFieldSpec] = Field(default_factory=list)
    dataIn: list[DataPortSpec] = Field(default_factory=list)
    dataOut: list[DataPortSpec] = Field(default_factory=list)
    execIn: list[ExecPortSpec] = Field(default_factory=list)
    execOut: list[ExecPortSpec] = Field(default_factory=list)
    commands: list[CommandSpec] = Field(default_factory=list)
    events: list[EventSpec] = Field(default_factory=list)
    resources: Resources | None = None
    mockClass: str | None = None
    isMock: bool = False
    dynamicExecOut: str | None = None
    editableCommands: bool = False
    """A service that may add and remove commands at runtime (seed 002); ``describe`` lists
    the ones it has now."""
    """State field deciding the number of exec outs (then0..then{n-1}, then the static ones)."""
    implements: list[str] = Field(default_factory=list)
    """Class names of the interfaces (``interface = True`` service classes) this class answers
    for: a client of the interface calls it unchanged."""
    dependsOn: list[DependencySpec] = Field(default_factory=list)
    """The services this service calls (its ``Depends`` declarations)."""

    def state_field(self, name: str) -> StateFieldSpec | None:
        return next((f for f in self.stateFields if f.name == name), None)

    def data_in(self, name: str) -> DataPortSpec | None:
        return next((p for p in self.dataIn if p.name == name), None)

    def data_out(self, name: str) -> DataPortSpec | None:
        return next((p for p in self.dataOut if p.name == name), None)
