"""The Qt-free graph document: model, events, undo commands, editor, catalog, files, layout."""
