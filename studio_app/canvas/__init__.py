"""The NodeGraphQt view of a document: viewer, scene builder, nodes, pins, overlay, actions."""
