"""Select the Qt binding before anything imports NodeGraphQt (Qt.py) or qasync.

Import this module first in every module that imports NodeGraphQt or qasync. It never overrides
a binding the user chose explicitly.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_PREFERRED_BINDING", "PySide6")
os.environ.setdefault("QT_API", "pyside6")

import PySide6  # noqa: F401  - qasync picks the binding that is already imported


def ensure() -> str:
    """The binding in use (importing this module already selected it)."""
    return os.environ["QT_PREFERRED_BINDING"]
