"""Rungraph Studio: the Qt desktop editor for rungraphs (wire, simulate, deploy, watch, toggle).

Model (no Qt): ``document`` (the RunGraph plus layout, with events), ``files`` (the diff-friendly
file format), ``catalog`` (node specs from the registry and from discovery), ``edge_check`` and
``layout``, ``session`` (Simulate and Deploy behind one interface), ``settings``.
Controller: ``editor`` and ``commands`` (every gesture is a validated undo command),
``run_controller`` and ``file_controller``. The one runtime-to-Qt adapter: ``bridge``.
Views: ``qt_*.py`` and ``main_window``. Start it with ``studio_app.app.main``.
"""

__all__: list[str] = []
