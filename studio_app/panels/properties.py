"""The properties panel: the selected node's label, service and state fields, with live values.

Built from each state field's JSON Schema (see ``fields``); read-only fields are shown but
disabled. Live values and the node's last runtime error come from the ``LiveState`` model while a
session runs; the design values from the document otherwise. The panel only asks: edits leave as
signals (``edit_requested`` ...), and the run controller decides whether they become a document
command or a ``set_state`` call. A refused edit comes back through ``rollback``. What the
connected identity may not do (``SessionInfo.refusal``: a viewer's live edits and commands) is
disabled, with the reason in the tooltip; design edits of a node whose service is not running
stay open.

Several selected nodes (``show_items``) show as their count and ids; when they are of one class,
the state fields they share are edited together: one edit leaves as ``edits_requested`` (all
ids, field, value), for the editor's ``set_state_values`` (one undo step). Live values are
edited one node at a time, so while a selected node's service runs the shared fields are
read-only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtWidgets

from runtime.protocol.graph import GraphService
from runtime.protocol.spec import DependencySpec
from studio_app.document.catalog import Catalog
from studio_app.document.live_state import LiveChange, LiveState
from studio_app.document.model import GraphDocument
from studio_app.document.session_info import SessionInfo
from studio_app.panels.code_field import editor_for
from studio_app.panels.fields import FieldEditor, schema_hint

ERROR_STYLE = "color: #ff7070;"
MAX_IDS_SHOWN = 12
LIVE_NOTE = "a selected node's service is running: edit live values one node at a time"


def selection_text(ids: Sequence[str]) -> str:
    """``3 nodes selected: a, b, c`` (a long selection's ids are cut after a dozen)."""
    shown = ", ".join(ids[:MAX_IDS_SHOWN])
    more = f" and {len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else ""
    return f"{len(ids)} nodes selected: {shown}{more}"


def depends_text(depends_on: list[DependencySpec]) -> str:
    """What a service depends on, in one line: ``depends on: w1 (demo.worker), ...``."""
    return "depends on: " + ", ".join(
        f"{d.serviceId} ({d.serviceClass}{', optional' if d.optional else ''})"
        for d in depends_on)


def depends_tooltip(depends_on: list[DependencySpec]) -> str:
    """One line per dependency: its name on the service, what it calls, and why."""
    return "\n".join(f"{d.name}: service {d.serviceId} of {d.serviceClass}"
                     + (f" - {d.description}" if d.description else "")
                     + (" (optional)" if d.optional else "") for d in depends_on)


@dataclass(frozen=True)
class CommandRow:
    """The widgets of one command of a service: its args, its Call button and what it does."""

    args: QtWidgets.QLineEdit
    button: QtWidgets.QPushButton
    description: str


class QtPropertiesPanel(QtWidgets.QScrollArea):
    edit_requested = QtCore.Signal(str, str, object)  # item id, field, value
    label_requested = QtCore.Signal(str, str)  # item id, label
    service_requested = QtCore.Signal(str, str)  # node id, service id
    call_requested = QtCore.Signal(str, str, dict)  # service id, command, args
    edits_requested = QtCore.Signal(list, str, object)  # item ids, field, value: one edit

    def __init__(
        self,
        doc: GraphDocument,
        catalog: Catalog,
        live: LiveState,
        info: SessionInfo | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.doc, self.catalog, self.live = doc, catalog, live
        self.info = info if info is not None else SessionInfo()
        self.item_id: str | None = None
        self.item_ids: list[str] = []  # the shown selection: [item_id], or several nodes
        self._reshow_pending = False
        self.editors: dict[str, FieldEditor] = {}
        self.commands: dict[str, CommandRow] = {}
        self._editable: dict[str, tuple[bool, str]] = {}  # field: (writable, tooltip)
        self.setWidgetResizable(True)
        self.setMinimumWidth(280)
        ev = doc.events
        ev.state_value.connect(self._on_state_value)
        ev.label.connect(self._refresh_if)
        ev.service.connect(self._refresh_if)
        ev.item_removed.connect(self._refresh_if)
        ev.item_added.connect(self._on_item_added)
        ev.reset.connect(lambda: self.show_item(None))
        live.events.values.connect(self._on_live)
        live.events.cleared.connect(self._reshow)
        live.events.services.connect(self._apply_access)
        self.info.events.changed.connect(self._apply_access)
        self.show_item(None)

    # -- building -----------------------------------------------------------------------------
    def show_item(self, item_id: str | None) -> None:
        self.item_id = item_id if item_id and self.doc.item(item_id) is not None else None
        self.item_ids = [self.item_id] if self.item_id is not None else []
        self._new_body()
        if self.item_id is None:
            hint = QtWidgets.QLabel(
                "Select a node to see its properties.\n\nTab on the canvas "
                "adds a node; drag from the palette works too."
            )
            hint.setWordWrap(True)
            hint.setStyleSheet("color: #9aa3b0;")
            self.form.addRow(hint)
            return
        self._build_one(self.item_id)

    def show_items(self, ids: Sequence[str]) -> None:
        """Show a selection: one node as ``show_item`` does; several as their count and ids,
        and, when they are of one class, the state fields they share."""
        present = [i for i in dict.fromkeys(ids) if self.doc.item(i) is not None]
        if len(present) <= 1:
            self.show_item(present[0] if present else None)
            return
        self.item_id, self.item_ids = None, present
        self._new_body()
        title = QtWidgets.QLabel(selection_text(present))
        title.setObjectName("selection")
        title.setWordWrap(True)
        title.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.form.addRow(title)
        self._add_error_label(None)
        classes = sorted({self.doc.class_of(i) for i in present})
        spec = self.catalog.spec(classes[0]) if len(classes) == 1 else None
        if spec is None:
            note = QtWidgets.QLabel(
                f"{len(classes)} classes: select nodes of one class to edit their shared fields."
                if len(classes) > 1 else f"unknown class {classes[0]}")
            note.setObjectName("selection_note")
            note.setWordWrap(True)
            note.setStyleSheet("color: #9aa3b0;")
            self.form.addRow(note)
            return
        if spec.stateFields:
            self.form.addRow(self._section(f"State of all {len(present)} ({spec.label})"))
        for f in spec.stateFields:
            values = [self._held(i, f.name, f.default) for i in present]
            same = all(v == values[0] for v in values)
            editor = editor_for(f.schema_, self)
            editor.setObjectName(f"field_{f.name}")
            editor.show_value(values[0])
            tip = f"{f.description}\n" if f.description else ""
            tip += f"{schema_hint(f.schema_)} · access {f.access}" + (
                " (read-only: the node writes it)" if f.access == "ro" else "")
            if not same:
                tip += f"\nthe values differ; shown is {present[0]}'s"
            self._editable[f.name] = (f.access != "ro", tip)
            editor.committed.connect(lambda v, name=f.name: self._edited_many(name, v))
            mark = " (read-only)" if f.access == "ro" else "" if same else " (differs)"
            label = QtWidgets.QLabel(
                f.name + (f" <span style='color:#7f8ba0'>{mark}</span>" if mark else ""))
            label.setToolTip(tip)
            self._add_field_row(label, editor)
            self.editors[f.name] = editor
        self._apply_access()

    def _held(self, item_id: str, field: str, default: Any) -> Any:
        """The value a node holds: live while its service runs, else its design value."""
        item = self.doc.item(item_id)
        design = item.stateValues.get(field, default) if item is not None else default
        return self.live.values(item_id).get(field, design)

    def _add_error_label(self, error: object | None) -> None:
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setText(str(error) if error else "")
        self.error_label.setVisible(error is not None)
        self.form.addRow(self.error_label)

    def _new_body(self) -> None:
        self.depends_label: QtWidgets.QLabel | None = None
        self.editors = {}
        self.commands = {}
        self._editable = {}
        body = QtWidgets.QWidget()
        self.form = QtWidgets.QFormLayout(body)
        self.form.setFieldGrowthPolicy(
            QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow
        )
        old = self.takeWidget()
        if old is not None:
            # the edit that led here may still be on the stack of one of its widgets
            old.hide()
            old.deleteLater()
        self.setWidget(body)

    def _build_one(self, item_id: str) -> None:
        item = self.doc.item(item_id)
        assert item is not None
        class_name = self.doc.class_of(item_id)
        spec = self.catalog.spec(class_name)
        title = QtWidgets.QLabel(f"<b>{item.label or item_id}</b>")
        title.setStyleSheet("font-size: 13pt;")
        self.form.addRow(title)
        kind = "service" if isinstance(item, GraphService) else "operator"
        info = QtWidgets.QLabel(
            f"{spec.label if spec else '?'} ({class_name}) · {kind} · "
            f"id <code>{item_id}</code>"
        )
        info.setWordWrap(True)
        self.form.addRow(info)
        if spec is not None and spec.description:
            desc = QtWidgets.QLabel(spec.description.replace("``", ""))
            desc.setWordWrap(True)
            desc.setStyleSheet("color: #9aa3b0;")
            self.form.addRow(desc)
        if spec is not None and spec.dependsOn:
            self.depends_label = QtWidgets.QLabel(depends_text(spec.dependsOn))
            self.depends_label.setObjectName("depends_on")
            self.depends_label.setWordWrap(True)
            self.depends_label.setToolTip(depends_tooltip(spec.dependsOn))
            self.form.addRow(self.depends_label)
        self._add_error_label(self.live.error(item_id))

        self.label_edit = QtWidgets.QLineEdit(item.label or "")
        self.label_edit.setPlaceholderText(item_id)
        self.label_edit.editingFinished.connect(self._label_done)
        self.form.addRow("Label", self.label_edit)
        if not isinstance(item, GraphService):
            self.service_box = QtWidgets.QComboBox()
            for sid in self.doc.service_ids():
                self.service_box.addItem(sid, sid)
            self.service_box.setCurrentIndex(self.service_box.findData(item.serviceId))
            self.service_box.setToolTip("The service that hosts this node")
            self.service_box.activated.connect(self._service_chosen)
            self.form.addRow("Service", self.service_box)
        if spec is None:
            return
        if spec.stateFields:
            self.form.addRow(self._section("State"))
        live = self.live.values(item_id)
        for f in spec.stateFields:
            editor = editor_for(f.schema_, self)
            editor.setObjectName(f"field_{f.name}")
            value = live.get(f.name, item.stateValues.get(f.name, f.default))
            editor.show_value(value)
            tip = f"{f.description}\n" if f.description else ""
            tip += f"{schema_hint(f.schema_)} · access {f.access}" + (
                " (read-only: the node writes it)" if f.access == "ro" else "")
            self._editable[f.name] = (f.access != "ro", tip)
            editor.setEnabled(f.access != "ro")
            editor.setToolTip(tip)
            editor.committed.connect(lambda v, name=f.name: self._edited(name, v))
            label = QtWidgets.QLabel(
                f.name
                + (" <span style='color:#7f8ba0'>(read-only)</span>" if f.access == "ro" else "")
            )
            label.setToolTip(editor.toolTip())
            self._add_field_row(label, editor)
            self.editors[f.name] = editor
        if isinstance(item, GraphService) and spec.commands:
            self.form.addRow(self._section("Commands"))
            for c in spec.commands:
                self._command_row(c.name, c.description)
        self._apply_access()

    def _add_field_row(self, label: QtWidgets.QLabel, editor: FieldEditor) -> None:
        if editor.wide:  # e.g. a code editor: the whole width, under its label
            self.form.addRow(label)
            self.form.addRow(editor)
        else:
            self.form.addRow(label, editor)

    def _section(self, text: str) -> QtWidgets.QLabel:
        label = QtWidgets.QLabel(text.upper())
        label.setStyleSheet("color: #7f8ba0; font-size: 8pt; margin-top: 8px;")
        return label

    def _command_row(self, name: str, description: str) -> None:
        row = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        args = QtWidgets.QLineEdit()
        args.setPlaceholderText('args as JSON, e.g. {"modelPath": "m.bin"}')
        button = QtWidgets.QPushButton("Call")
        button.setToolTip(description)
        lay.addWidget(args)
        lay.addWidget(button)

        def fire() -> None:
            try:
                value = json.loads(args.text() or "{}")
            except ValueError as exc:
                self.show_error(f"{name}: args are not JSON: {exc}")
                return
            if not isinstance(value, dict):
                self.show_error(f"{name}: args must be a JSON object")
                return
            assert self.item_id is not None
            self.call_requested.emit(self.item_id, name, value)

        button.clicked.connect(fire)
        args.returnPressed.connect(fire)
        self.form.addRow(name, row)
        self.commands[name] = CommandRow(args, button, description)

    def _apply_access(self) -> None:
        """Enable what the connected identity may do on the shown item's service; say why
        the rest is disabled."""
        if len(self.item_ids) > 1:
            self._apply_many_access()
            return
        item = self.doc.item(self.item_id) if self.item_id is not None else None
        if item is None:
            return
        sid = item.serviceId
        live = sid in self.live.services
        refusal = self.info.refusal("set_state", sid) if live else None
        for name, editor in self.editors.items():
            writable, tip = self._editable[name]
            editor.setEnabled(writable and refusal is None)
            editor.setToolTip(tip if refusal is None else f"{refusal}\n{tip}")
        for name, command in self.commands.items():
            refused = self.info.refusal(name, sid)
            command.args.setEnabled(refused is None)
            command.button.setEnabled(refused is None)
            command.button.setToolTip(refused or command.description)

    def _apply_many_access(self) -> None:
        live = any(self.doc.service_of(i) in self.live.services
                   for i in self.item_ids if self.doc.item(i) is not None)
        for name, editor in self.editors.items():
            writable, tip = self._editable[name]
            editor.setEnabled(writable and not live)
            editor.setToolTip(f"{LIVE_NOTE}\n{tip}" if live else tip)

    # -- edits out ----------------------------------------------------------------------------
    def _edited(self, field: str, value: Any) -> None:
        if self.item_id is not None:
            self.show_error(None)
            self.edit_requested.emit(self.item_id, field, value)

    def _edited_many(self, field: str, value: Any) -> None:
        if len(self.item_ids) > 1:
            self.show_error(None)
            self.edits_requested.emit(list(self.item_ids), field, value)

    def _label_done(self) -> None:
        if self.item_id is not None:
            self.label_requested.emit(self.item_id, self.label_edit.text().strip())

    def _service_chosen(self, index: int) -> None:
        if self.item_id is not None:
            self.service_requested.emit(self.item_id, self.service_box.itemData(index))

    # -- updates in ---------------------------------------------------------------------------
    def _refresh_if(self, item_id: str) -> None:
        if item_id in self.item_ids and not self._reshow_pending:
            self._reshow_pending = True
            QtCore.QTimer.singleShot(0, self._reshow)

    def _reshow(self) -> None:
        self._reshow_pending = False
        self.show_items(list(self.item_ids))

    def _on_item_added(self, _item_id: str) -> None:
        if self.item_ids:
            self._refresh_if(self.item_ids[0])

    def _on_state_value(self, item_id: str, field: str) -> None:
        if len(self.item_ids) > 1:
            if field in self.editors:  # one edit of many: show the shared value, or "differs"
                self._refresh_if(item_id)
            return
        editor = self.editors.get(field) if item_id == self.item_id else None
        item = self.doc.item(item_id)
        if editor is None or item is None:
            return
        if field not in self.live.values(item_id):
            spec = self.catalog.spec(self.doc.class_of(item_id))
            f = spec.state_field(field) if spec else None
            editor.force_value(item.stateValues.get(field, f.default if f else None))

    def _on_live(self, change: LiveChange) -> None:
        if self.item_id is None or self.item_id not in change.nodes:
            return
        values = self.live.values(self.item_id)
        for field in change.fields.get(self.item_id, ()):
            editor = self.editors.get(field)
            if editor is not None and field in values:
                editor.show_value(values[field])
        if self.item_id in change.errors:
            error = self.live.error(self.item_id)
            self.show_error(str(error) if error else None)

    def rollback(self, item_id: str, field: str, message: str) -> None:
        """A refused edit: show the value that holds (live, else design) and why."""
        if item_id != self.item_id:
            return
        editor = self.editors.get(field)
        item = self.doc.item(item_id)
        if editor is not None and item is not None:
            spec = self.catalog.spec(self.doc.class_of(item_id))
            declared = spec.state_field(field) if spec else None
            default = declared.default if declared else None
            held = self.live.values(item_id).get(field, item.stateValues.get(field, default))
            editor.refuse(held, message)
        self.show_error(message)

    def rollback_many(self, field: str, message: str) -> None:
        """A refused edit of several nodes (none changed): show what they hold, and why."""
        editor = self.editors.get(field)
        if len(self.item_ids) > 1 and editor is not None:
            spec = self.catalog.spec(self.doc.class_of(self.item_ids[0]))
            declared = spec.state_field(field) if spec else None
            editor.force_value(self._held(self.item_ids[0], field,
                                          declared.default if declared else None))
        self.show_error(message)

    def show_refusal(self, item_id: str, message: str) -> None:
        """An edit of ``item_id`` that did not go through: show the item as it is, and why."""
        self.show_item(item_id)
        self.show_error(message)

    def show_error(self, message: str | None) -> None:
        if not self.item_ids:
            return
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))
