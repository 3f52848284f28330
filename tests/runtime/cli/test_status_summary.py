"""What ``rungraph status`` prints for the person at the prompt, beside the status JSON: the
commands in flight and refused BUSY, the cross-service queues and their drops, and the values
skipped at restore."""

from __future__ import annotations

from runtime.cli.remote import status_summary


def test_the_summary_names_refusals_drops_and_restore_problems():
    status = {
        "admission": {"inFlight": 5, "peak": 64, "limit": 64, "busyRefused": 12},
        "edges": [
            {"node": "p", "port": "value", "source": "A.a.value", "strategy": "queue",
             "depth": 83, "bytes": 8_300_000, "dropped": 117, "undecodable": 2},
            {"node": "q", "port": "in", "source": "A.b.out", "strategy": "latest",
             "depth": 1, "bytes": 10, "dropped": 0, "undecodable": 0},
        ],
        "edgeTotals": {"inputs": 2, "shown": 2, "depth": 84, "bytes": 8_300_010,
                       "dropped": 117, "undecodable": 2},
        "restoreProblems": [{"nodeId": "c", "field": "step", "reason": "not an integer"}],
    }

    assert status_summary(status) == [
        "admission: 5 in flight (peak 64, limit 64), 12 refused BUSY",
        "edges: 2 cross-service input(s), 84 queued (8300010 bytes), 117 dropped, 2 undecodable",
        "  p.value <- A.a.value (queue): 83 queued, 117 dropped, 2 undecodable",
        "restore problems: 1",
        "  c.step: not an integer",
    ]


def test_a_status_without_these_fields_gives_no_summary():
    assert status_summary({"serviceId": "old", "active": True}) == []
