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
    resources: Resources | None = None
    mockClass: str | None = None
    isMock: bool = False
    dynamicExecOut: str | None = None
    """State field deciding the number of exec outs (then0..then{n-1}, then the static ones)."""

    def state_field(self, name: str) -> StateFieldSpec | None:
        return next((f for f in self.stateFields if f.name == name), None)

    def data_in(self, name: str) -> DataPortSpec | None:
        return next((p for p in self.dataIn if p.name == name), None)

    def data_out(self, name: str) -> DataPortSpec | None:
        return next((p for p in self.dataOut if p.name == name), None)
