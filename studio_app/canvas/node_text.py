"""The measures of a node's texts, which follow the fonts (``pins.FONT_PT``): the service line,
the error lines, the live values' column, and an error wrapped to the node's width.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from PySide6 import QtCore

from studio_app.canvas.pins import metrics

VALUE_CHARS = 10  # a live value is cut to this many characters (format_value's default)
ERROR_LINES = 2  # an error longer than the node is wide wraps once, then is cut (tooltip: all)


# Text sizes follow the fonts (pins.FONT_PT), measured once the application exists.
def subtitle_h() -> float:
    return metrics("small").height() + 3.0


def error_line_h() -> float:
    return metrics("small").height() + 1.0


def value_w() -> float:
    return metrics("value").horizontalAdvance("0" * VALUE_CHARS) + 6.0


def wrap(text: str, width: float, max_lines: int = ERROR_LINES) -> list[str]:
    """``text`` in lines of at most ``width`` (in the small font), at most ``max_lines``;
    the last one is cut with an ellipsis when the text goes on."""
    fm = metrics("small")
    lines: list[str] = []
    rest = text.split()
    while rest and len(lines) < max_lines - 1:
        line = rest.pop(0)
        while rest and fm.horizontalAdvance(f"{line} {rest[0]}") <= width:
            line = f"{line} {rest.pop(0)}"
        lines.append(line)
    if rest:
        lines.append(fm.elidedText(" ".join(rest), QtCore.Qt.TextElideMode.ElideRight, width))
    return [fm.elidedText(line, QtCore.Qt.TextElideMode.ElideRight, width) for line in lines]
