"""Finding the nats-servers a store runs: one server, or the live nodes of a cluster."""

from __future__ import annotations

import json
import os
from pathlib import Path


def test_cluster_servers_are_only_live_nats_servers_the_record_names(tmp_path: Path) -> None:
    from runtime.auth.server_process import CLUSTER_FILE, cluster_servers

    assert cluster_servers(tmp_path) == []  # no cluster.json
    (tmp_path / CLUSTER_FILE).write_text("{not json")
    assert cluster_servers(tmp_path) == []
    (tmp_path / CLUSTER_FILE).write_text(json.dumps({"nodes": [
        {"name": "n1", "clientUrl": "nats://127.0.0.1:1", "pid": os.getpid()},  # not a server
        {"name": "n2", "clientUrl": "nats://127.0.0.1:2", "pid": None},
        {"name": "n3", "clientUrl": "nats://127.0.0.1:3", "pid": "12"}]}))
    assert cluster_servers(tmp_path) == []
