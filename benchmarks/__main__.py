"""``python -m benchmarks [--only NAME] [--list] [--strict] [--profile]``

Prints ONE JSON object on stdout: ``{"machine": {...}, "figures": {...}}``; progress on stderr.
Exit status: 1 if a module failed or a sanity check failed; with ``--strict`` also 2 if a figure
missed its target. ``--profile`` runs the selected modules under cProfile and prints the top
functions (by cumulative and own time) to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from typing import Any

from benchmarks import MODULES
from benchmarks.common import error_figures, progress


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
    }
    try:
        import psutil

        info["cpu_count_physical"] = psutil.cpu_count(logical=False)
        freq = psutil.cpu_freq()
        if freq is not None:
            info["cpu_mhz"] = round(freq.current)
        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:  # noqa: BLE001 - machine info is best effort
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if hasattr(os, "getloadavg"):
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return info


def _profiled(fn: Any) -> Any:
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    try:
        return prof.runcall(fn)
    finally:
        for order in ("cumulative", "tottime"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(order).print_stats(25)
            print(buf.getvalue(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", metavar="NAME", choices=MODULES,
                    help="run only this module (repeatable): " + ", ".join(MODULES))
    ap.add_argument("--list", action="store_true", help="list the modules and their figures")
    ap.add_argument("--strict", action="store_true",
                    help="exit 2 when a figure misses its target")
    ap.add_argument("--profile", action="store_true",
                    help="run under cProfile; top functions go to stderr")
    args = ap.parse_args(argv)

    if args.list:
        for name in MODULES:
            mod = importlib.import_module(f"benchmarks.{name}")
            print(f"{name}: {', '.join(mod.FIGURES)}")
        return 0

    figures: dict[str, dict[str, Any]] = {}
    failed = False
    t_all = time.perf_counter()
    for name in args.only or MODULES:
        t0 = time.perf_counter()
        mod: Any = None
        try:
            mod = importlib.import_module(f"benchmarks.{name}")
            result = _profiled(mod.run) if args.profile else mod.run()
            figures.update(result)
            progress(f"{name}: done in {time.perf_counter() - t0:.1f}s")
        except Exception as exc:  # noqa: BLE001 - a failing module reports, the rest run on
            failed = True
            message = f"{type(exc).__name__}: {exc}"
            progress(f"{name}: FAILED: {message}\n{traceback.format_exc()}")
            known = getattr(mod, "FIGURES", None) or {f"{name}": ("", 0, 0, "lower")}
            figures.update(error_figures(known, message))

    for name, fig in figures.items():
        if "error" in fig:
            failed = True
        elif not fig.get("sanity", {}).get("ok", True):
            failed = True
            progress(f"{name}: SANITY CHECK FAILED: {json.dumps(fig['sanity'])}")
    missed = [n for n, f in figures.items() if "error" not in f and not f.get("meets_target")]

    out = {"machine": machine(), "figures": figures,
           "summary": {"ok": not failed, "missed_targets": missed,
                       "elapsed_s": round(time.perf_counter() - t_all, 1)}}
    print(json.dumps(out, indent=2))
    if failed:
        return 1
    return 2 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
