"""Benchmarks of the issue's figures, run by ``make bench`` (``python -m benchmarks``).

Each benchmark module exposes

- ``FIGURES``: ``{figure name: (unit, target, reference, direction)}`` where ``direction`` is
  ``"lower"`` or ``"higher"`` (which way is better). The runner uses it to report an error for
  every figure of a module that failed.
- ``run() -> dict[str, dict]``: the measured figures, each built with ``common.figure(...)``.

``__main__`` runs every module in ``MODULES`` (or one, with ``--only NAME``), merges their figures
and prints ONE JSON object on stdout. Progress goes to stderr. To add a benchmark (NATS round
trips, Studio responsiveness, ...), write a module with ``FIGURES`` and ``run()`` and list it here.
"""

MODULES = [
    "exec_pass",
    "probe_bench",
    "history_bench",
    "debug_bench",
    "stats_bench",
    "state_writes",
    "set_rungraph",
    "rss",
    "nats_bench",
    "rtt_bench",
    "steady_bench",
    "studio_bench",
    "fuzz",
    "replicas_bench",
    "cluster_bench",
    "node_costs",
    "mixed_graph",
]
