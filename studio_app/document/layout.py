"""Auto-layout: one horizontal band per service, nodes in columns by their depth along the links.

Linear in nodes plus edges (a Kahn pass; links that close a cycle are ignored for ranking), so
a 1000-node graph lays out instantly. No Qt: sizes come from a callback.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable

from runtime.protocol.graph import RunGraph

Size = tuple[float, float]
COLUMN_GAP = 90.0
ROW_GAP = 36.0
BAND_GAP = 120.0


def ranks(graph: RunGraph, ids: set[str]) -> dict[str, int]:
    """Longest-path depth of each node over all links between nodes in ``ids``."""
    succ: dict[str, set[str]] = defaultdict(set)
    indeg: dict[str, int] = {i: 0 for i in ids}
    for e in graph.edges:
        a, b = e.source.node, e.target.node
        if a in ids and b in ids and a != b and b not in succ[a]:
            succ[a].add(b)
            indeg[b] += 1
    rank = {i: 0 for i in ids}
    queue = deque(sorted(i for i, d in indeg.items() if d == 0))
    seen: set[str] = set()
    while queue:
        n = queue.popleft()
        seen.add(n)
        for m in sorted(succ[n]):
            rank[m] = max(rank[m], rank[n] + 1)
            indeg[m] -= 1
            if indeg[m] == 0:
                queue.append(m)
    # nodes on a cycle keep the best rank found from their acyclic predecessors
    return rank


def auto_layout(
    graph: RunGraph,
    size_of: Callable[[str], Size],
    ids: set[str] | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
) -> dict[str, tuple[float, float]]:
    """Top-left positions for ``ids`` (default: every service and node)."""
    every = [s.serviceId for s in graph.services] + [n.nodeId for n in graph.nodes]
    chosen = set(every) if ids is None else set(ids)
    service_of = {s.serviceId: s.serviceId for s in graph.services}
    service_of.update({n.nodeId: n.serviceId for n in graph.nodes})
    bands: dict[str, list[str]] = defaultdict(list)
    for item in every:
        if item in chosen:
            bands[service_of[item]].append(item)
    rank = ranks(graph, chosen)
    positions: dict[str, tuple[float, float]] = {}
    y0 = origin[1]
    for sid in sorted(bands, key=lambda s: (every.index(s) if s in every else 0, s)):
        members = bands[sid]
        columns: dict[int, list[str]] = defaultdict(list)
        for m in members:
            # the service node sits left of its operators
            columns[-1 if m == sid else rank[m]].append(m)
        widths = {c: max(size_of(m)[0] for m in ms) for c, ms in columns.items()}
        x = origin[0]
        band_height = 0.0
        for col in sorted(columns):
            y = y0
            for m in columns[col]:
                positions[m] = (x, y)
                y += size_of(m)[1] + ROW_GAP
            band_height = max(band_height, y - y0)
            x += widths[col] + COLUMN_GAP
        y0 += band_height + BAND_GAP
    return positions
