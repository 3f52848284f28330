"""The history stream's configuration: durations and sizes from the environment, and the stream
that sources the bucket's node state keys with the window's limits."""

from __future__ import annotations

import pytest
from nats.js.api import DiscardPolicy, StorageType

from runtime.service.history import (
    DEFAULT_MAX_BYTES,
    DEFAULT_WINDOW_S,
    MAX_BYTES_ENV,
    WINDOW_ENV,
    HistoryConfig,
    parse_duration,
    parse_size,
    state_subject,
    stream_config,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("500ms", 0.5), ("10m", 600.0), ("2h", 7200.0), ("1d", 86400.0),
    (" 1.5h ", 5400.0), ("0", 0.0)])
def test_durations_read_with_their_unit(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "10 minutes", "-5m", "1e3"])
def test_a_malformed_duration_is_refused_naming_it(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [
    ("1048576", 1 << 20), ("256MiB", 256 << 20), ("1gib", 1 << 30), ("5kb", 5000)])
def test_sizes_read_with_their_unit(text, size):
    assert parse_size(text) == size


def test_the_config_comes_from_the_environment_with_defaults():
    assert HistoryConfig.from_env({}) == HistoryConfig(DEFAULT_WINDOW_S, DEFAULT_MAX_BYTES)
    config = HistoryConfig.from_env({WINDOW_ENV: "2h", MAX_BYTES_ENV: "1GiB"})
    assert config == HistoryConfig(7200.0, 1 << 30)
    assert not HistoryConfig.from_env({WINDOW_ENV: "0"}).enabled


def test_a_malformed_variable_is_named():
    with pytest.raises(ValueError, match=MAX_BYTES_ENV):
        HistoryConfig.from_env({MAX_BYTES_ENV: "lots"})


def test_the_stream_sources_the_buckets_node_state_keys_and_no_subject():
    config = stream_config("cam1", HistoryConfig(3600.0, 1 << 20), 3)
    assert config.name == "HIST_svc_cam1"
    assert config.subjects is None
    assert [(s.name, s.filter_subject) for s in config.sources or []] == [
        ("KV_svc_cam1", "$KV.svc_cam1.nodes.*.state.>")]
    assert (config.max_age, config.max_bytes, config.num_replicas) == (3600.0, 1 << 20, 3)
    assert config.discard is DiscardPolicy.OLD
    assert config.storage is StorageType.FILE
    assert config.allow_direct
    assert state_subject("cam1", "n1", "x") == "$KV.svc_cam1.nodes.n1.state.x"
