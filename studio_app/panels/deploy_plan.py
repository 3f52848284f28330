"""The deploy plan: what a Deploy now would change, per service, before it is sent.

It shows a ``DeployDiff`` (the runtime's own diff, ``runtime.protocol.graph_diff``) of the
document against the graph Studio last deployed: services to launch and those left out, then per
service the nodes created, removed and kept, whether it rewires, and each state value that
changes (``node.field: old → new``). Long lists are cut (``MAX_ROWS``) with a count of the rest.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from runtime.protocol.graph_diff import DeployDiff, PartDiff, StateChange
from studio_app.canvas.pins import format_value

MAX_ROWS = 200  # per list: a big graph's preview stays a preview
VALUE_CHARS = 40


def change_text(change: StateChange) -> str:
    old = format_value(change.old, VALUE_CHARS) if change.was_set else "(unset)"
    return f"{change.node_id}.{change.field}: {old} → {format_value(change.new, VALUE_CHARS)}"


def part_summary(part: PartDiff) -> str:
    bits = [f"{len(part.created)} created", f"{len(part.removed)} removed",
            f"{len(part.kept)} kept", f"{len(part.state_changes)} value(s) changed"]
    if part.rewired:
        bits.append("rewires")
    return f"{part.service_id}: " + ", ".join(bits)


def plan_summary(diff: DeployDiff) -> str:
    if diff.count == 0:
        return "Nothing changed since the last Deploy: a Deploy sends the same graph again."
    return f"{diff.count} change(s) since the last Deploy."


class QtDeployPlan(QtWidgets.QDialog):
    """Run > Preview Deploy Plan…: a read-only tree of one ``DeployDiff``; its Deploy button
    asks for the deploy (``deploy_requested``), Close leaves everything as it is."""

    deploy_requested = QtCore.Signal()

    def __init__(self, diff: DeployDiff, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Deploy plan")
        self.resize(520, 460)
        self.summary = QtWidgets.QLabel()
        self.summary.setWordWrap(True)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        buttons = QtWidgets.QDialogButtonBox()
        self.deploy_button = buttons.addButton(
            "&Deploy", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self._deploy)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.diff = diff
        self.show_diff(diff)

    def show_diff(self, diff: DeployDiff) -> None:
        self.diff = diff
        self.summary.setText(plan_summary(diff))
        self.tree.clear()
        if diff.launch:
            self._group(None, f"Services to launch ({len(diff.launch)})", list(diff.launch))
        if diff.gone:
            self._group(None, f"Services left out of the graph ({len(diff.gone)}): "
                        "sent nothing, not stopped", list(diff.gone))
        for part in diff.parts:
            top = QtWidgets.QTreeWidgetItem(self.tree, [part_summary(part)])
            top.setData(0, QtCore.Qt.ItemDataRole.UserRole, part.service_id)
            self._group(top, f"created ({len(part.created)})", list(part.created))
            self._group(top, f"removed ({len(part.removed)})", list(part.removed))
            self._group(top, f"state values changed ({len(part.state_changes)})",
                        [change_text(c) for c in part.state_changes])
            self._group(top, f"kept ({len(part.kept)})", list(part.kept), expand=False)
            top.setExpanded(part.changed)

    def _group(self, parent: QtWidgets.QTreeWidgetItem | None, title: str, rows: list[str],
               expand: bool = True) -> None:
        if not rows:
            return
        group = (QtWidgets.QTreeWidgetItem(parent, [title]) if parent is not None
                 else QtWidgets.QTreeWidgetItem(self.tree, [title]))
        for row in rows[:MAX_ROWS]:
            QtWidgets.QTreeWidgetItem(group, [row])
        if len(rows) > MAX_ROWS:
            QtWidgets.QTreeWidgetItem(group, [f"… and {len(rows) - MAX_ROWS} more"])
        group.setExpanded(expand)

    def rows(self, service_id: str, group: str) -> list[str]:
        """The rows the tree lists under service ``service_id``'s group ``group`` ("created",
        "removed", "state values changed", "kept"), as shown."""
        tops = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        top = next((t for t in tops
                    if t is not None and t.data(0, QtCore.Qt.ItemDataRole.UserRole) == service_id),
                   None)
        groups = [top.child(j) for j in range(top.childCount())] if top is not None else []
        for g in groups:
            if g is not None and g.text(0).startswith(f"{group} ("):
                return [c.text(0) for k in range(g.childCount()) if (c := g.child(k)) is not None]
        return []

    def _deploy(self) -> None:
        self.accept()
        self.deploy_requested.emit()
