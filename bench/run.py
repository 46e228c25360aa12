"""Run every benchmark, print one table, and write bench/results.json.

python bench/run.py            # full sizes, median of 3 runs
python bench/run.py --quick    # smaller sizes, one run (under two minutes)
python bench/run.py --only core,django

Each module ``bench/bench_<name>.py`` defines ``measure(quick) -> list[Result]``
(see ``harness.py``); every module found is run. The table shows each figure,
its target and whether the median meets it, then what the figure is made of.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Result, median_results  # noqa: E402


def _modules(only: set[str] | None) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    return [n for n in names if only is None or n.removeprefix("bench_") in only]


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
    }


def _format(result: Result) -> str:
    value = result.value
    shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    verdict = {True: "met", False: "MISSED", None: ""}[result.ok]
    line = f"{result.name:<66} {shown:>10} {result.unit:<10} {result.target:<9}"
    return f"{line} {verdict:<6} {result.detail}".rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--only", default=None, help="comma-separated: core,django,...")
    parser.add_argument("--output", default=str(HERE / "results.json"))
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    only = set(args.only.split(",")) if args.only else None

    all_results: dict[str, list[Result]] = {}
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for name in _modules(only):
        print(f"running {name} ({runs} run{'s' * (runs > 1)})...", file=sys.stderr)
        module_started = time.perf_counter()
        try:
            module = importlib.import_module(name)
            all_results[name] = median_results(
                [module.measure(quick=args.quick) for _ in range(runs)]
            )
        except Exception as e:  # a missing server must not hide the other figures
            failures[name] = "".join(traceback.format_exception_only(e)).strip()
            print(f"  {name} failed: {failures[name]}", file=sys.stderr)
            traceback.print_exc()
        seconds[name] = round(time.perf_counter() - module_started, 1)
        print(f"  {name}: {seconds[name]:.0f} s", file=sys.stderr)

    header = f"{'measure':<66} {'value':>10} {'unit':<10} {'target':<9} {'met':<6}"
    print(f"\n{header} detail")
    for results in all_results.values():
        for result in results:
            print(_format(result))
    for name, error in failures.items():
        print(f"{name}: FAILED: {error}")
    missed = [r.name for rs in all_results.values() for r in rs if r.ok is False]
    elapsed = time.perf_counter() - started
    print(f"\n{len(missed)} target(s) missed; {elapsed:.0f} s", file=sys.stderr)

    report = {
        "machine": _machine(),
        "quick": args.quick,
        "runs": runs,
        "seconds": round(elapsed, 1),
        "module_seconds": seconds,
        "results": {n: [r.as_dict() for r in rs] for n, rs in all_results.items()},
        "failures": failures,
    }
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
