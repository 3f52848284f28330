"""The service process's log format, which Studio reads a line's level from."""

from __future__ import annotations

import logging

import pytest

from runtime.service.main import LOG_FORMAT, log_level_of


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_the_level_of_a_formatted_record_is_read_back(level):
    record = logging.LogRecord("rungraph.service", getattr(logging, level), __file__, 1,
                               "a message that says ERROR and WARNING", None, None)

    line = logging.Formatter(LOG_FORMAT).format(record)

    assert log_level_of(line) == level


@pytest.mark.parametrize("line", ["Traceback (most recent call last):", "ready: main on nats://x",
                                  "", "2026-12-02 02:40:31,123 LOUD x: y"])
def test_a_line_in_another_format_has_no_level(line):
    assert log_level_of(line) is None
