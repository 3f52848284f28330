"""Python Script: a node whose compute (and optional exec) is Python code typed in its ``code``
field. The code is trusted: it runs inside the service process with the service's rights."""

from __future__ import annotations

import ast
import builtins
import logging
from types import CodeType, TracebackType
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from runtime import DataIn, DataOut, ExecContext, ExecIn, ExecOut, Inputs, Operator, State

MAX_CODE_LENGTH = 20_000
"""The most characters a script may have."""
SCRIPT_FILE = "<script>"
"""The file name the code is compiled under: a traceback's frames in it are the script's."""
INPUTS = ("in0", "in1", "in2", "in3")
OUTPUTS = ("out0", "out1", "out2", "out3")
SCRIPT_MEDIA_TYPE = "text/x-python"
DEFAULT_CODE = '''\
# Trusted code: it runs inside the service process, with the service's rights.
def compute(inputs):
    # inputs.in0 .. inputs.in3 are the data inputs; return one value for out0,
    # or a dict such as {"out0": a, "out1": b}.
    return inputs.in0
'''


class ScriptError(ValueError):
    """The script failed: its message starts with the script's line, ``line 3: ...``."""


def _signature_problem(fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> str | None:
    """Why ``fn`` cannot be called as ``name(one_argument)``, or None."""
    if isinstance(fn, ast.AsyncFunctionDef):
        return f"line {fn.lineno}: {name} must be a plain def, not async def"
    args = fn.args
    positional = len(args.posonlyargs) + len(args.args)
    takes_one = positional - len(args.defaults) <= 1 and (positional >= 1 or bool(args.vararg))
    if not takes_one or any(d is None for d in args.kw_defaults):
        return f"line {fn.lineno}: {name} must take exactly one argument"
    return None


def compile_script(text: str) -> CodeType:
    """The compiled script; raises ValueError ``line N: message`` for a syntax error, and for
    a script that does not define ``compute(inputs)`` (and, when it has one, ``exec(ctx)``)
    with one argument at its top level."""
    if len(text) > MAX_CODE_LENGTH:
        raise ValueError(f"the script has {len(text):,} characters, more than the "
                         f"{MAX_CODE_LENGTH:,} allowed")
    try:
        tree = ast.parse(text, SCRIPT_FILE)
        code = compile(tree, SCRIPT_FILE, "exec")
    except SyntaxError as exc:
        raise ValueError(f"line {exc.lineno or 1}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, deep nesting
        raise ValueError(f"the script cannot be compiled: {type(exc).__name__}: {exc}"
                         ) from None
    defined = {stmt.name: stmt for stmt in tree.body
               if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)}
    if "compute" not in defined:
        raise ValueError("line 1: the script must define compute(inputs) at its top level")
    for name in ("compute", "exec"):
        problem = _signature_problem(defined[name], name) if name in defined else None
        if problem:
            raise ValueError(problem)
    return code


def _check_script(text: str) -> str:
    compile_script(text)
    return text


ScriptText = Annotated[str, StringConstraints(max_length=MAX_CODE_LENGTH),
                       AfterValidator(_check_script),
                       Field(json_schema_extra={"contentMediaType": SCRIPT_MEDIA_TYPE})]
"""A script's text; its schema says it is Python (``contentMediaType``), so an editor can show
it as code."""


def script_line(tb: TracebackType | None) -> int | None:
    """The line of the script's innermost frame in a traceback, or None when none is its."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SCRIPT_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def script_error(exc: Exception, what: str) -> ScriptError:
    """``exc`` raised by the script's ``what`` as a ScriptError naming the script's line."""
    line = script_line(exc.__traceback__)
    where = f"line {line}" if line is not None else what
    return ScriptError(f"{where}: {type(exc).__name__}: {exc}")


class ScriptContext:
    """What the script's ``exec(ctx)`` gets: the pass's inputs and a logger."""

    __slots__ = ("_ctx", "log", "node_id")

    def __init__(self, ctx: ExecContext, node_id: str, log: logging.Logger) -> None:
        self._ctx, self.node_id, self.log = ctx, node_id, log

    @property
    def ctx_id(self) -> int:
        """The exec pass this call belongs to."""
        return self._ctx.ctx_id

    def input(self, port: str) -> Any:
        """The value on data input ``port`` (``"in0"`` .. ``"in3"``) in this pass."""
        if port not in INPUTS:
            raise KeyError(f"no input {port!r}: the inputs are {', '.join(INPUTS)}")
        return self._ctx.input(port)


class _Loaded:
    """The script's module namespace, built from one text (rebuilt when the text changes)."""

    __slots__ = ("compute", "exec", "namespace", "text")

    def __init__(self, text: str, namespace: dict[str, Any]) -> None:
        self.text, self.namespace = text, namespace
        self.compute = namespace.get("compute")
        self.exec = namespace.get("exec")


class PythonScript(Operator):
    """Runs Python code typed in ``code``: TRUSTED CODE, run inside the service process with the
    service's rights (files, network, its credentials); deploy only code you would run yourself.

    The code defines ``compute(inputs)``: ``inputs.in0`` .. ``inputs.in3`` are the data inputs
    (None when not wired); it returns one value for out0, or a dict by output name
    (``{"out0": a, "out1": b}``). It may also define ``exec(ctx)``, run on each exec into
    ``in``: ``ctx.input("in0")`` pulls an input, ``ctx.log`` logs; it returns None to continue
    on ``out`` or False to stop the pass there. Names set at the top level of the code (and
    ``global`` ones) persist between calls until the code changes.

    The ports are fixed (in0..in3, out0..out3, any value): a node's ports cannot depend on its
    state. ``code`` is compiled when it is set: a syntax error, or a script without
    ``compute(inputs)``, is refused as ``line N: message``; at most 20,000 characters. An error
    while it runs is recorded on the node with the script's line (``line 3: ZeroDivisionError:
    division by zero``). Each call runs under the node's time budget (1 s): one that runs over
    is stopped and recorded. With authentication on, only an admin may change ``code``
    (set_rungraph, set_state)."""

    class_name = "script.python"
    label = "Python Script"
    category = "script"
    in_ = ExecIn(name="in", doc="runs exec(ctx) when the code defines it, then continues")
    out = ExecOut(doc="continues after exec(ctx) (unless it returned False)")
    in0 = DataIn(Any, None, doc="inputs.in0")
    in1 = DataIn(Any, None, doc="inputs.in1")
    in2 = DataIn(Any, None, doc="inputs.in2")
    in3 = DataIn(Any, None, doc="inputs.in3")
    out0 = DataOut(Any, doc="compute's value, or its dict's out0")
    out1 = DataOut(Any, doc="compute's dict's out1")
    out2 = DataOut(Any, doc="compute's dict's out2")
    out3 = DataOut(Any, doc="compute's dict's out3")
    code = State(ScriptText, DEFAULT_CODE, admin=True,
                 doc="trusted Python code defining compute(inputs) and optionally exec(ctx); "
                     "only an admin may change it")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._loaded: _Loaded | None = None

    def on_state(self, name: str, value: Any) -> None:
        if name == "code":
            self._loaded = None  # the next call runs the new code from a fresh namespace

    def _module(self) -> _Loaded:
        text = self.code
        loaded = self._loaded
        if loaded is not None and (loaded.text is text or loaded.text == text):
            return loaded
        namespace: dict[str, Any] = {"__name__": "rungraph_script", "__builtins__": builtins}
        try:
            code = compile_script(text)  # checked when set; a document may have skipped that
        except ValueError as exc:
            raise ScriptError(str(exc)) from None
        try:
            exec(code, namespace)  # trusted code: see the class docstring
        except Exception as exc:
            raise script_error(exc, "the script's top level") from exc
        self._loaded = _Loaded(text, namespace)
        return self._loaded

    def compute(self, inputs: Inputs) -> dict[str, Any]:
        fn = self._module().compute
        if not callable(fn):
            raise ScriptError("line 1: the script's compute is not a function")
        try:
            result = fn(inputs)
        except Exception as exc:
            raise script_error(exc, "compute") from exc
        if not isinstance(result, dict):
            return {"out0": result}
        unknown = sorted(str(k) for k in result if k not in OUTPUTS)
        if unknown:
            raise ScriptError(f"compute: returned outputs {unknown[:8]}; the outputs are "
                              f"{', '.join(OUTPUTS)} (to output a dict, return "
                              "{'out0': the_dict})")
        return result

    def on_exec(self, pin: str, ctx: ExecContext) -> str | None:
        fn = self._module().exec
        if fn is None:
            return "out"
        if not callable(fn):
            raise ScriptError("line 1: the script's exec is not a function")
        try:
            verdict = fn(ScriptContext(ctx, self.node_id, self.log))
        except Exception as exc:
            raise script_error(exc, "exec") from exc
        return None if verdict is False else "out"
