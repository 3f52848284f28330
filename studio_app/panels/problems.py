"""The validator's problems, listed: a status-bar label that counts them (its tooltip names the
first few, a click opens the list) and a panel with one row per problem, its kind and message.
Activating a row (double-click, Enter) asks to jump to what the problem names: its node, the ends
of its edge, or the nodes of its cycle (``jump_requested``); the window selects and shows them.
Problems arrive as ``runtime.protocol`` data; the panel decides on their fields, never on wording.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge
from runtime.protocol.problems import Problem
from studio_app.document.model import GraphDocument

TOOLTIP_LIMIT = 20  # problems named in the label's tooltip; the panel lists them all
WARN_COLOR = "#f0a040"
OK_COLOR = "#58c472"


def _edge_of(problem: Problem, doc: GraphDocument) -> GraphEdge | None:
    edges = doc.graph.edges
    if problem.edge is not None and 0 <= problem.edge < len(edges):
        return edges[problem.edge]
    return None


def where(problem: Problem, doc: GraphDocument) -> str:
    """The item a problem names, for a reader: an edge by its ends, else a node, else a cycle."""
    edge = _edge_of(problem, doc)
    if edge is not None:
        return f"{edge.kind} edge {edge.source} → {edge.target}"
    if problem.node:
        return f"node {problem.node}"
    if problem.cycle:
        return "cycle " + " → ".join(problem.cycle)
    return ""


def line(problem: Problem, doc: GraphDocument) -> str:
    """One problem on one line: kind, the item it names, the message."""
    at = where(problem, doc)
    kind = problem.kind.value.replace("_", " ")
    return f"[{kind}] {at + ': ' if at else ''}{problem.message}"


def tooltip(problems: Sequence[Problem], doc: GraphDocument, limit: int = TOOLTIP_LIMIT) -> str:
    """The first ``limit`` problems, one a line, and how many more; a click hint at the end."""
    lines = [line(p, doc) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"… and {len(problems) - limit} more")
    lines.append("Click to list them all in the Problems panel")
    return "\n".join(lines)


def targets(problem: Problem, doc: GraphDocument) -> list[str]:
    """The items of ``doc`` a problem names, to select: the two ends of its edge (those that
    exist), else its node, else the nodes of its cycle. Empty when it names nothing on the
    canvas (a missing node, a graph-wide problem)."""
    edge = _edge_of(problem, doc)
    if edge is not None:
        found = [edge.source.node, edge.target.node]
    elif problem.node:
        found = [problem.node]
    else:
        found = list(problem.cycle)
    unique = list(dict.fromkeys(found))
    return [i for i in unique if doc.item(i) is not None]


class QtProblemsLabel(QtWidgets.QLabel):
    """The status bar's count of problems; clicking it emits ``clicked``."""

    clicked = QtCore.Signal()

    def __init__(self, doc: GraphDocument, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self.show_problems([])

    def show_problems(self, problems: Sequence[Problem]) -> None:
        if problems:
            self.setText(f"⚠ {len(problems)} problem(s)")
            self.setToolTip(tooltip(problems, self.doc))
            self.setStyleSheet(f"color: {WARN_COLOR};")
        else:
            self.setText("✓ valid")
            self.setToolTip("The runtime's validator accepts this graph")
            self.setStyleSheet(f"color: {OK_COLOR};")

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class QtProblemsPanel(QtWidgets.QListWidget):
    """Every problem of the graph, one row each; activating a row emits ``jump_requested`` with
    the ids of the items it names (nothing when it names no item on the canvas)."""

    jump_requested = QtCore.Signal(list)

    def __init__(self, doc: GraphDocument, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.problems: list[Problem] = []
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)
        self.itemActivated.connect(self._on_activated)

    def set_problems(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        self.clear()
        for p in self.problems:
            item = QtWidgets.QListWidgetItem(line(p, self.doc))
            item.setToolTip(p.message)
            self.addItem(item)

    def _on_activated(self, item: QtWidgets.QListWidgetItem) -> None:
        row = self.row(item)
        if not 0 <= row < len(self.problems):
            return
        ids = targets(self.problems[row], self.doc)
        if ids:
            self.jump_requested.emit(ids)
