"""`make bench` prints one JSON object: each figure beside its target, never pass/fail on time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_prints_one_json_object_with_figures_beside_targets():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "exec_pass"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)  # the whole of stdout is one object
    figure = report["figures"]["exec_pass_pull_chain_100"]
    assert {"value", "unit", "target", "reference", "meets_target"} <= set(figure)
    assert figure["sanity"]["ok"] is True
    assert figure["sanity"]["value"] == figure["sanity"]["expected"]


@pytest.mark.integration
def test_fuzz_bench_reports_throughput_rss_growth_and_no_invalid_reply():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "fuzz"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["figures"]
    assert set(figures) == {"fuzz_envelopes_per_s", "fuzz_rss_growth_mb", "fuzz_invalid_replies"}
    for name, unit in (("fuzz_envelopes_per_s", "envelopes/s"), ("fuzz_rss_growth_mb", "MB"),
                       ("fuzz_invalid_replies", "replies")):
        assert {"value", "unit", "target", "meets_target"} <= set(figures[name]), name
        assert figures[name]["unit"] == unit
    throughput = figures["fuzz_envelopes_per_s"]
    assert throughput["sanity"]["ok"] is True, throughput["sanity"]
    assert sum(throughput["replies_by_code"].values()) == sum(throughput["mix"].values())
    assert figures["fuzz_invalid_replies"]["value"] == 0


@pytest.mark.integration
def test_replicas_bench_reports_leader_failover_and_command_scale_out():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "replicas_bench"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["figures"]
    assert set(figures) == {"replicas_leader_failover_p50_s",
                            "replicas_command_scaleout_2_instances",
                            "replicas_upgrade_handover_p50_s"}
    failover = figures["replicas_leader_failover_p50_s"]
    assert failover["unit"] == "s"
    assert failover["sanity"]["counter_never_went_back"] is True
    scale = figures["replicas_command_scaleout_2_instances"]
    assert set(scale["commands_per_s"]) == {"1", "2", "4"}
    assert scale["sanity"]["failed_calls"] == 0
    upgrade = figures["replicas_upgrade_handover_p50_s"]
    assert upgrade["sanity"]["failed_calls"] == 0
    assert set(upgrade["sanity"]["old_exit_codes"]) == {0}


@pytest.mark.integration
def test_cluster_bench_reports_failover_by_node_and_the_cost_of_replication():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "cluster_bench"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["figures"]
    assert set(figures) == {"cluster_failover_follower_node_p50_s",
                            "cluster_failover_leader_node_max_s",
                            "cluster_state_writes_per_s_3_replicas"}
    for name in ("cluster_failover_follower_node_p50_s", "cluster_failover_leader_node_max_s"):
        failover = figures[name]
        assert failover["unit"] == "s", failover
        assert {"p50", "max", "samples"} <= set(failover)
        assert failover["sanity"]["kills"] == failover["sanity"]["expected_kills"]
    sanity = figures["cluster_failover_follower_node_p50_s"]["sanity"]
    assert sanity["service_reconnects"] == sanity["expected_reconnects"]
    writes = figures["cluster_state_writes_per_s_3_replicas"]
    assert writes["unit"] == "writes/s"
    assert writes["one_replica_per_s"] > 0
    assert writes["sanity"]["replicas"] == {"3": 3, "1": 1}


@pytest.mark.integration
def test_rtt_bench_reports_status_and_a_user_command_beside_a_raw_echo():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "rtt_bench"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["figures"]
    assert set(figures) == {"status_rtt_p50_ratio_to_raw_echo",
                            "typed_call_p50_ratio_to_raw_echo"}
    status = figures["status_rtt_p50_ratio_to_raw_echo"]
    assert {"value", "unit", "target", "meets_target", "raw_p50_ms", "status_p50_ms",
            "typed_p50_ms", "raw_p90_ms"} <= set(status)
    assert status["round_trips_each"] > 0
    assert figures["typed_call_p50_ratio_to_raw_echo"]["target"] == 0.9


@pytest.mark.integration
def test_steady_bench_reports_cpu_per_pass_and_the_tick_rate():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "steady_bench"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["figures"]
    assert set(figures) == {"counters_cpu_per_pass_ratio_to_bare", "tick_33ms_passes_per_s"}
    cpu = figures["counters_cpu_per_pass_ratio_to_bare"]
    assert cpu["sanity"]["ok"] is True, cpu["sanity"]
    assert cpu["bare_cpu_ms_per_pass"] > 0
    assert figures["tick_33ms_passes_per_s"]["unit"] == "passes/s"


def test_node_costs_bench_reports_every_new_class_beside_math_and_the_sources_apart():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "node_costs"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["figures"]
    for cls in ("timing_debounce", "timing_throttle", "flow_gate", "data_set_state",
                "bridge_http_request"):
        chain = figures[f"node_cost_{cls}"]
        assert chain["unit"] == "x Math", cls
        assert chain["section"] == "chains", cls
        assert chain["math_us_per_node"] > 0, cls
        assert chain["sanity"]["ok"] is True, (cls, chain["sanity"])
    assert figures["node_cost_timing_debounce"]["chain"] == "fan"
    assert figures["node_cost_bridge_http_request"]["sanity"]["last_status"] == 200
    sources = {n: f for n, f in figures.items() if n.startswith("node_cost_source_")}
    assert set(sources) == {f"node_cost_source_{k}" for k in (
        "timing_interval", "timing_cron", "timing_once", "bridge_nats_subscribe",
        "bridge_udp_in", "bridge_file_tail")}
    for name, fig in sources.items():
        assert fig["section"] == "sources", name
        assert fig["unit"] == "x Tick per firing", name
        assert fig["sanity"]["ok"] is True, (name, fig["sanity"])
        assert fig["sanity"]["firings"] > 0, name


@pytest.mark.integration
def test_mixed_graph_bench_reports_cpu_share_and_pass_p99_of_a_service_process():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "mixed_graph"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["figures"]
    assert set(figures) == {"mixed_1000_cpu_share_pct", "mixed_1000_pass_p99_ms"}
    cpu, p99 = figures["mixed_1000_cpu_share_pct"], figures["mixed_1000_pass_p99_ms"]
    assert cpu["unit"] == "% of one core"
    assert p99["unit"] == "ms"
    sanity = cpu["sanity"]
    assert sanity["ok"] is True, sanity
    assert sanity["nodes"] >= 1000
    assert sanity["counted"] == sanity["passes_total"]
    assert p99["spread"]["n"] > 0
    assert p99["stats"]["timed_passes"] > 0
