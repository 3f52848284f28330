"""One parser of NATS server URLs for every command, process and Studio: a URL, a comma list (a
cluster), or a list, in the order given."""

from __future__ import annotations

import argparse

import pytest

from runtime.transport.urls import join_urls, nats_urls_arg, server_urls


def test_a_comma_list_is_split_stripped_and_kept_in_order() -> None:
    assert server_urls(" nats://a:1, nats://b:2 ,,nats://c:3") == [
        "nats://a:1", "nats://b:2", "nats://c:3"]


def test_a_list_of_urls_and_comma_lists_is_flattened_without_repeats() -> None:
    assert server_urls(["nats://a:1,nats://b:2", "nats://a:1"]) == ["nats://a:1", "nats://b:2"]
    assert join_urls(["nats://a:1", "nats://b:2"]) == "nats://a:1,nats://b:2"


def test_nothing_given_is_no_url() -> None:
    assert server_urls(None) == []
    assert server_urls(" , ") == []


def test_urls_separated_by_spaces_are_refused_naming_the_separator() -> None:
    with pytest.raises(ValueError, match="separate URLs with commas"):
        server_urls("nats://a:1 nats://b:2")


def test_the_nats_option_normalizes_a_list_and_refuses_an_empty_one() -> None:
    assert nats_urls_arg("nats://a:1 ,nats://b:2") == "nats://a:1,nats://b:2"
    with pytest.raises(argparse.ArgumentTypeError, match="no NATS URL"):
        nats_urls_arg(",")
