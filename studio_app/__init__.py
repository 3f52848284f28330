"""Rungraph Studio: the Qt desktop editor for rungraphs (wire, simulate, deploy, watch, toggle).

``document`` holds what Studio knows, Qt-free except for its undo edits: the graph document and its
events, the live state a running graph reports, the editor controller, the catalog, edge checks,
the file format and layout. ``canvas`` (the NodeGraphQt view) and ``panels`` (palette, properties,
services, log) show it; ``bridge`` is the one door to a running runtime. The shell on top:
``app`` (start it with ``studio_app.app.main``), ``main_window``, ``run_controller``,
``file_controller``, ``settings`` and ``smoke``.
"""

__all__: list[str] = []
