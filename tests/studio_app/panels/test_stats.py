"""The Stats dock in Simulate: every node that ran, the costliest (time share) first, refreshed
while the dock shows; View > Heat Overlay colours those nodes."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.protocol.naming import BUILTIN_CALLS
from studio_app.document.files import parse_document
from studio_app.panels.stats import SHARE_COLUMN
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

pytestmark = pytest.mark.gui


def test_the_stats_table_lists_the_nodes_by_time_share_and_the_heat_overlay_colours_them(
    window: Any, aloop: Any
) -> None:
    if "stats" not in BUILTIN_CALLS:
        pytest.skip("the runtime has no built-in call stats yet")
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_simulation()) is True
    window.stats_dock.show()
    window.stats_dock.raise_()
    ran = {"seq", "a", "b"}  # the nodes a pass runs (a Tick starts passes)
    aloop.until(
        lambda: ran <= set(window.stats_panel.nodes_in_order()),
        timeout=15,
        what="the nodes in the stats table",
    )
    rows = window.debugger.stats
    by_share = [r.node for r in sorted(rows, key=lambda r: (-r.time_share, r.node))]
    assert window.stats_panel.nodes_in_order() == by_share
    shown = [
        float(window.stats_panel.table.item(r, SHARE_COLUMN).text().rstrip("%"))
        for r in range(window.stats_panel.table.rowCount())
    ]
    assert shown == sorted(shown, reverse=True)
    assert sum(r.time_share for r in rows) == pytest.approx(1.0, abs=0.01)

    window.a_heat.trigger()
    aloop.until(
        lambda: all(window.debug_marks.heat_of(n) is not None for n in ran),
        what="a heat halo on each node that ran",
    )
    costliest = rows[0].node
    window.a_heat.trigger()
    assert window.debug_marks.heat_of(costliest) is None  # off: no halo left
