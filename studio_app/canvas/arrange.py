"""Align and distribute the selected nodes: their edges or centres lined up, or equal gaps
between them. The new positions go to the Editor as one move, one undo step named after the
arrangement (nothing here writes a position)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from PySide6 import QtWidgets

from studio_app.document.editor import Editor
from studio_app.document.layout import Size
from studio_app.document.model import GraphDocument


class Arrangement(StrEnum):
    LEFT = "left"
    CENTRE = "centre"  # centres on one vertical line
    RIGHT = "right"
    TOP = "top"
    MIDDLE = "middle"  # centres on one horizontal line
    BOTTOM = "bottom"
    HORIZONTAL = "horizontal"  # equal gaps from left to right
    VERTICAL = "vertical"  # equal gaps from top to bottom


LABELS = {
    Arrangement.LEFT: "Align &Left",
    Arrangement.CENTRE: "Align &Centre",
    Arrangement.RIGHT: "Align &Right",
    Arrangement.TOP: "Align &Top",
    Arrangement.MIDDLE: "Align &Middle",
    Arrangement.BOTTOM: "Align &Bottom",
    Arrangement.HORIZONTAL: "Distribute &Horizontally",
    Arrangement.VERTICAL: "Distribute &Vertically",
}
MIN_COUNT = {Arrangement.HORIZONTAL: 3, Arrangement.VERTICAL: 3}  # else 2


@dataclass(frozen=True)
class Box:
    id: str
    x: float
    y: float
    w: float
    h: float


def _distributed(boxes: list[Box], across: bool) -> dict[str, tuple[float, float]]:
    """The first and last boxes stay; the others move so that the gaps between neighbours are
    equal (left to right when ``across``, else top to bottom)."""

    def start(b: Box) -> float:
        return b.x if across else b.y

    def length(b: Box) -> float:
        return b.w if across else b.h

    order = sorted(boxes, key=lambda b: (start(b), b.id))
    span = start(order[-1]) + length(order[-1]) - start(order[0])
    gap = (span - sum(length(b) for b in order)) / (len(order) - 1)
    out, at = {}, start(order[0])
    for b in order:
        out[b.id] = (at, b.y) if across else (b.x, at)
        at += length(b) + gap
    return out


def arranged(boxes: list[Box], how: Arrangement) -> dict[str, tuple[float, float]]:
    """New top-left positions of ``boxes`` for ``how`` (every box, moved or not)."""
    if len(boxes) < MIN_COUNT.get(how, 2):
        return {}
    if how in (Arrangement.HORIZONTAL, Arrangement.VERTICAL):
        return _distributed(boxes, how == Arrangement.HORIZONTAL)
    left, top = min(b.x for b in boxes), min(b.y for b in boxes)
    right, bottom = max(b.x + b.w for b in boxes), max(b.y + b.h for b in boxes)
    centre_x, middle_y = (left + right) / 2, (top + bottom) / 2  # of the selection's bounds
    place: dict[Arrangement, Callable[[Box], tuple[float, float]]] = {
        Arrangement.LEFT: lambda b: (left, b.y),
        Arrangement.CENTRE: lambda b: (centre_x - b.w / 2, b.y),
        Arrangement.RIGHT: lambda b: (right - b.w, b.y),
        Arrangement.TOP: lambda b: (b.x, top),
        Arrangement.MIDDLE: lambda b: (b.x, middle_y - b.h / 2),
        Arrangement.BOTTOM: lambda b: (b.x, bottom - b.h),
    }
    return {b.id: place[how](b) for b in boxes}


def too_few(how: Arrangement) -> str:
    """Why ``how`` did nothing: too few nodes selected."""
    return f"{LABELS[how].replace('&', '')} needs {MIN_COUNT.get(how, 2)} or more selected nodes"


def arrange(
    editor: Editor,
    doc: GraphDocument,
    size_of: Callable[[str], Size],
    ids: Iterable[str],
    how: Arrangement,
) -> bool:
    """Arrange the items ``ids`` as one undoable move; False when there are too few of them
    (nothing changes, and nothing is pushed when they are arranged already)."""
    boxes = [Box(i, *doc.position(i), *size_of(i)) for i in ids if doc.item(i) is not None]
    new = arranged(boxes, how)
    if not new:
        return False
    moves = {b.id: ((b.x, b.y), new[b.id]) for b in boxes if new[b.id] != (b.x, b.y)}
    if moves:
        editor.undo.beginMacro(LABELS[how].replace("&", ""))
        try:
            editor.move(moves)
        finally:
            editor.undo.endMacro()
    return True


def arrange_menu(parent: QtWidgets.QWidget, run: Callable[[Arrangement], None]) -> QtWidgets.QMenu:
    """An "Arrange" menu with one entry per arrangement, each calling ``run``."""
    menu = QtWidgets.QMenu("Arra&nge", parent)
    for how, label in LABELS.items():
        if how == Arrangement.HORIZONTAL:
            menu.addSeparator()
        menu.addAction(label).triggered.connect(lambda _=False, h=how: run(h))
    return menu
