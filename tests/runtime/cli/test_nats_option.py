"""``rungraph nats`` names its server option ``--nats`` as every other command does; the old
``--url`` still works and is no longer offered in the help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cli.main import build_parser
from runtime.service.main import DEFAULT_NATS
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]


def test_nats_takes_the_server_url_as_nats() -> None:
    args = build_parser().parse_args(["nats", "--nats", "nats://0.0.0.0:4333"])
    assert args.url == "nats://0.0.0.0:4333"


def test_the_old_url_option_still_works() -> None:
    args = build_parser().parse_args(["nats", "--url", "nats://0.0.0.0:4334"])
    assert args.url == "nats://0.0.0.0:4334"


def test_without_the_option_the_default_server_is_used() -> None:
    assert build_parser().parse_args(["nats"]).url == DEFAULT_NATS


def test_help_offers_nats_and_not_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["nats", "--help"])
    out = capsys.readouterr().out
    assert "--nats URL" in out
    assert "--url" not in out


def test_nats_reuses_the_running_server_named_by_nats(nats_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "nats", "--nats", nats_url],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"NATS already answers at {nats_url}; reusing it" in out.stdout
