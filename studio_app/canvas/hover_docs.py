"""What a node or a pin says when the pointer rests on it. A node: its label, class, id, service,
the first paragraph of its class's docstring, and its current problem or error. A pin: its name,
kind (exec, data, state), value type, description, and its live value while the graph runs.
Written when the pointer comes in (``StudioViewer.docs``), so nothing is built for nodes nobody
hovers.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from runtime.protocol.spec import NodeSpec
from studio_app.canvas.pins import format_value
from studio_app.document.catalog import parse_pin_key, schema_type

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

LIVE_CHARS = 80  # a live value in a pin's tooltip is cut to this many characters
_CODE = re.compile(r"``(.+?)``|`(.+?)`")
_KIND_WORDS = {
    "exec": "exec (control flow)",
    "data": "data (pulled when needed)",
    "state": "state (kept in KV)",
}


def plain(text: str) -> str:
    """A docstring paragraph as one line of plain text: code markup dropped, spaces folded."""
    text = _CODE.sub(lambda m: m.group(1) or m.group(2), text)
    return " ".join(text.split())


def pin_doc(spec: NodeSpec | None, kind: str, name: str, direction: str) -> tuple[str, str]:
    """A pin's value type (JSON Schema type, '' for exec) and description ('' if none)."""
    if spec is None:
        return "", ""
    if kind == "exec":
        ports = spec.execIn if direction == "in" else spec.execOut
        return "", next((p.description for p in ports if p.name == name), "")
    if kind == "data":
        data = spec.data_in(name) if direction == "in" else spec.data_out(name)
        if data is None:
            return "", ""
        return schema_type(data.schema_) or "any", data.description
    field = spec.state_field(name)
    if field is None:
        return "", ""
    return schema_type(field.schema_) or "any", field.description


class CanvasHoverDocs:
    """The tooltips of one canvas's nodes and pins, from its document, catalog and live state."""

    def __init__(self, canvas: QtGraphCanvas) -> None:
        self.canvas = canvas

    def _spec(self, item_id: str) -> NodeSpec | None:
        doc = self.canvas.doc
        return self.canvas.catalog.spec(doc.class_of(item_id)) if doc.item(item_id) else None

    def node_tip(self, view: Any) -> str:
        doc, item_id = self.canvas.doc, view.id
        item = doc.item(item_id)
        if item is None:
            return ""
        class_name = doc.class_of(item_id)
        spec = self._spec(item_id)
        e = html.escape
        role = "service" if doc.is_service(item_id) else "operator"
        label = spec.label if spec is not None else "unknown class"
        lines = [
            f"<b>{e(view.name)}</b> · {e(label)} ({role})",
            f"class <code>{e(class_name)}</code>",
            f"id <code>{e(item_id)}</code> · service <code>{e(item.serviceId)}</code>",
        ]
        if spec is not None and spec.description:
            lines.append(e(plain(spec.description)))
        if view.problem:
            lines.append(f"<font color='#f0a040'>⚠ {e(view.problem)}</font>")
        if view.error:
            lines.append(f"<font color='#ff6060'>error: {e(view.error)}</font>")
        return "<qt>" + "<br/>".join(lines) + "</qt>"

    def pin_tip(self, port: Any) -> str:
        try:
            kind, name = parse_pin_key(port.name)
        except ValueError:
            return ""
        node_id = port.node.id
        direction = "in" if port.port_type == "in" else "out"
        type_name, description = pin_doc(self._spec(node_id), kind, name, direction)
        e = html.escape
        side = "input" if direction == "in" else "output"
        lines = [f"<b>{e(name)}</b> · {_KIND_WORDS[kind]} {side}"]
        if type_name:
            lines.append(f"type <code>{e(type_name)}</code>")
        if description:
            lines.append(e(plain(description)))
        live = self.canvas.overlay.live.values(node_id)
        if kind == "state" and name in live:
            shown = format_value(live[name], limit=LIVE_CHARS)
            lines.append(f"live value <code>{e(shown)}</code>")
        return "<qt>" + "<br/>".join(lines) + "</qt>"
