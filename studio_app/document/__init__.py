"""What Studio knows, without Qt (but for the undo edits on Qt's undo stack): the graph document
(``model``) and its ``events``, the ``live_state`` of a running graph, the ``editor`` controller and
its ``undo`` edits, the ``catalog`` of node specs, ``edge_check``, the file format (``files``) and
``layout``."""
