"""Safe arithmetic expressions for the Expression node: numbers, named inputs, operators and a
whitelist of functions.

The bounded evaluator itself lives in ``runtime.protocol.expr`` (breakpoint conditions use it
too); its module docstring lists every limit. This module is its face for the node library:
``compile_expression`` checks the text against this module's ``MAX_TEXT_LENGTH``.
"""

from __future__ import annotations

import ast

from runtime.protocol import expr
from runtime.protocol.expr import (
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_INT_BITS,
    MAX_NODES,
    MAX_ROUND_DIGITS,
    MAX_SEQUENCE_LENGTH,
    MAX_STEPS,
    ExpressionError,
    ExpressionLimitError,
    ExpressionOverflowError,
    evaluate,
)

MAX_TEXT_LENGTH = expr.MAX_TEXT_LENGTH

__all__ = [
    "CONSTANTS", "FUNCTIONS", "MAX_DEPTH", "MAX_INT_BITS", "MAX_NODES", "MAX_ROUND_DIGITS",
    "MAX_SEQUENCE_LENGTH", "MAX_STEPS", "MAX_TEXT_LENGTH", "ExpressionError",
    "ExpressionLimitError", "ExpressionOverflowError", "compile_expression", "evaluate",
]


def compile_expression(text: str, names: set[str]) -> ast.Expression:
    """Parse and check an expression (``runtime.protocol.expr.compile_expression``); raises
    ExpressionError naming what is not allowed."""
    return expr.compile_expression(text, names, max_length=MAX_TEXT_LENGTH)
