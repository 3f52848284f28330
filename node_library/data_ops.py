"""State and data operators: Set State, Hold, Pull, JSON Path and Template."""

from __future__ import annotations

import re
import string
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

from runtime import DataIn, DataOut, ExecContext, ExecIn, ExecOut, Inputs, Operator, State
from runtime.protocol.graph import ID_PATTERN


def _check_node_id(node_id: str) -> str:
    if node_id and not re.match(ID_PATTERN, node_id):
        raise ValueError(f"{node_id!r} is not a node id: ids match {ID_PATTERN}")
    return node_id


NodeRef = Annotated[str, AfterValidator(_check_node_id)]
"""A node id, or empty (not set yet)."""
FieldRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]*$", max_length=128)]
MAX_PATH = 256
MAX_PATH_STEPS = 32
MAX_TEMPLATE = 2_000
MAX_TEXT = 100_000
MAX_WIDTH = 1_000
"""The largest width or precision a Template's format spec may ask for."""
TEMPLATE_INPUTS = ("a", "b", "c", "d")


class SetState(Operator):
    """On each exec, writes input to state field field of node targetNode of the
    same service, checked exactly as a set_state call is.

    The target's field must exist and be writable, the value must pass its type and bounds,
    and the service's set_state policy sees it (with this node as the actor). A refused write
    changes nothing: the error is recorded on this node and the branch stops; a write that
    succeeds continues on out. Nodes of other services are refused."""

    class_name = "data.set_state"
    label = "Set State"
    category = "data"
    in_ = ExecIn(name="in", doc="write input to the target field")
    out = ExecOut()
    input = DataIn(Any, None, doc="the value to write")
    targetNode = State(NodeRef, "", show=True, doc="id of a node of this service")
    field = State(FieldRef, "", show=True, doc="the state field to write")

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        target, field = self.targetNode, self.field
        if not target or not field:
            raise ValueError(f"Set State {self.node_id}: set targetNode and field first")
        self.set_node_state(target, field, ctx.input("input"))
        return "out"


class Hold(Operator):
    """Sample and hold: sample copies input into held; value outputs held
    in every pass, until the next sample (or clear, which puts initial back)."""

    class_name = "data.hold"
    label = "Hold"
    category = "data"
    sample = ExecIn(doc="take the input's value now")
    clear = ExecIn(doc="put initial back")
    out = ExecOut()
    input = DataIn(Any, None)
    value = DataOut(Any, doc="the held value")
    initial = State(Any, None, doc="the value held before the first sample and after clear")
    held = State(Any, None, access="ro", show=True, doc="the value held now")

    def on_create(self) -> None:
        if self.held is None and self.initial is not None:
            self.held = self.initial

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        self.held = ctx.input("input") if pin == "sample" else self.initial
        return "out"

    def compute(self, inputs: Inputs) -> Any:
        return self.held


class Pull(Operator):
    """On each exec, reads input on demand (computing its upstream nodes in this pass),
    keeps it in last and outputs it on value.

    Use it to sample a data chain at the moment an exec arrives and make the result visible in
    the node's state (and in KV)."""

    class_name = "data.pull"
    label = "Pull"
    category = "data"
    in_ = ExecIn(name="in", doc="read the input now")
    out = ExecOut()
    input = DataIn(Any, None)
    value = DataOut(Any, doc="the value read by the last exec")
    last = State(Any, None, access="ro", show=True, doc="the value read by the last exec")

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        self.last = ctx.input("input")
        return "out"

    def compute(self, inputs: Inputs) -> Any:
        return self.last


class PathError(ValueError):
    """A JSON Path that does not parse; the text says where."""


_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d{1,9})\]|\[\"([^\"\\]{0,128})\"\]")


def parse_path(path: str) -> tuple[str | int, ...]:
    """a.b[0].c as its steps ("a", "b", 0, "c"): names, list indexes (negative from the
    end) and quoted keys (["a key"]). The empty path is the whole value."""
    if len(path) > MAX_PATH:
        raise PathError(f"path is {len(path)} characters, more than {MAX_PATH}")
    steps: list[str | int] = []
    at = 0
    while at < len(path):
        match = _STEP.match(path, at)
        if match is None or (match.group(1) and at > 0 and path[at] != "."):
            raise PathError(f"bad path {path!r} at character {at + 1}: expected .name, "
                            "[index] or [\"key\"]")
        if at == 0 and path.startswith("."):
            raise PathError(f"bad path {path!r}: it starts with '.'")
        name, index, key = match.groups()
        steps.append(int(index) if index is not None else (name if key is None else key))
        at = match.end()
        if len(steps) > MAX_PATH_STEPS:
            raise PathError(f"path {path!r} has more than {MAX_PATH_STEPS} steps")
    return tuple(steps)


def _check_path(path: str) -> str:
    parse_path(path)
    return path


def pick(value: Any, steps: tuple[str | int, ...]) -> tuple[bool, Any]:
    """Follow steps into value: (found, what is there)."""
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list | tuple) or not -len(value) <= step < len(value):
                return False, None
            value = value[step]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return False, None
    return True, value


class JsonPath(Operator):
    """Picks a field out of a structured input (dicts and lists, as JSON gives them) by
    path, such as a.b[0].c; value is what is there, found whether it was.

    Steps: .name (or a leading name), [index] (negative counts from the end) and
    ["any key"]; the empty path is the whole input. A path that does not parse is refused
    when it is set (at most 256 characters and 32 steps). A missing field gives fallback
    and found = false."""

    class_name = "data.json_path"
    label = "JSON Path"
    category = "data"
    input = DataIn(Any, None)
    value = DataOut(Any, doc="the picked field, or fallback")
    found = DataOut(bool, doc="whether the path was found in the input")
    path = State(Annotated[str, AfterValidator(_check_path)], "", show=True,
                 doc="where to look, e.g. a.b[0].c")
    fallback = State(Any, None, doc="the value when the path is not found")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._parsed: tuple[str, tuple[str | int, ...]] = ("", ())

    def compute(self, inputs: Inputs) -> dict[str, Any]:
        path = self.path
        if self._parsed[0] != path:
            self._parsed = (path, parse_path(path))
        found, value = pick(inputs["input"], self._parsed[1])
        return {"value": value if found else self.fallback, "found": found}


def check_template(text: str) -> str:
    """Refuse a template that names anything but a, b, c, d, reaches into an attribute or an
    index, nests fields in a format spec, or asks for a width past MAX_WIDTH."""
    if len(text) > MAX_TEMPLATE:
        raise ValueError(f"template is {len(text)} characters, more than {MAX_TEMPLATE}")
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"bad template: {exc}") from None
    for _, name, spec, _ in parts:
        if name is None:
            continue
        if name not in TEMPLATE_INPUTS:
            raise ValueError(f"template field {{{name}}}: use only {{a}}, {{b}}, {{c}} or "
                             "{d}, without attributes or indexes")
        if spec and "{" in spec:
            raise ValueError(f"template field {{{name}}}: nested fields in a format spec are "
                             "not allowed")
        if any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", spec or "")):
            raise ValueError(f"template field {{{name}}}: width or precision over {MAX_WIDTH}")
    return text


class _Inputs(dict[str, Any]):
    """The values a Template formats: a, b, c and d only."""

    def __missing__(self, key: str) -> Any:
        raise KeyError(f"template field {{{key}}} is not an input")


class Template(Operator):
    """Formats template with inputs a, b, c, d into text, e.g. "{a} is {b:.1f}".

    Python format syntax over the four inputs only: no attribute or index access, no nested
    fields; widths and precisions up to 1,000; the template has at most 2,000 characters and
    the text at most maxLength (longer text is cut)."""

    class_name = "data.template"
    label = "Template"
    category = "data"
    a = DataIn(Any, None)
    b = DataIn(Any, None)
    c = DataIn(Any, None)
    d = DataIn(Any, None)
    text = DataOut(str, doc="the formatted text")
    template = State(Annotated[str, AfterValidator(check_template)], "{a}", show=True)
    maxLength = State(int, 1_000, ge=1, le=MAX_TEXT, doc="the most characters of text")

    def compute(self, inputs: Inputs) -> str:
        values = _Inputs((k, inputs[k]) for k in TEMPLATE_INPUTS)
        text: str = self.template.format_map(values)
        return text[: self.maxLength]
