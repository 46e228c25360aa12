"""Run every benchmark, print one table, and write bench/results.json.

python bench/run.py            # full sizes, median of 3 runs
python bench/run.py --quick    # smaller sizes, one run (under two minutes)
python bench/run.py --only core,django

Full runs write ``bench/results.json`` (the recorded figures), quick runs
``bench/results-quick.json``; ``--output`` chooses another file.
``--markdown bench/results.json`` prints a saved file as a Markdown table.

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
import subprocess
import sys
import tempfile
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


def _shown(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _format(result: Result) -> str:
    verdict = {True: "met", False: "MISSED", None: ""}[result.ok]
    line = (
        f"{result.name:<66} {_shown(result.value):>10} {result.unit:<10} "
        f"{result.target:<9}"
    )
    return f"{line} {verdict:<6} {result.detail}".rstrip()


def markdown(report: dict, only: set[str] | None = None) -> str:
    """A saved report as a Markdown table, with the machine it ran on;
    *only* names the modules to show (``core``, ``firestore``...)."""
    machine = report["machine"]
    took = ", ".join(
        f"{name.removeprefix('bench_')} {seconds:.0f} s"
        for name, seconds in report.get("module_seconds", {}).items()
        if only is None or name.removeprefix("bench_") in only
    )
    lines = [
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"{machine['platform']}; {'quick' if report['quick'] else 'full'} sizes, "
        f"median of {report['runs']} run{'s' * (report['runs'] > 1)} ({took}).",
        "",
        "| measure | value | target | met | detail |",
        "|---|---:|---|---|---|",
    ]
    shown = {
        name: results
        for name, results in report["results"].items()
        if only is None or name.removeprefix("bench_") in only
    }
    for results in shown.values():
        for r in (Result(**data) for data in results):
            verdict = {True: "yes", False: "**no**", None: ""}[r.ok]
            target = r.target.replace(">=", "≥").replace("<=", "≤")
            lines.append(
                f"| {r.name} | {_shown(r.value)} {r.unit} | {target} | {verdict} "
                f"| {r.detail} |"
            )
    for name, error in report["failures"].items():
        if only is None or name.removeprefix("bench_") in only:
            lines.append(f"| {name} | failed: {error} | | | |")
    return "\n".join(lines)


QUICK_BUDGET_SECONDS = 120
"""What ``--quick`` may take for all modules together."""


def _run_module(name: str, quick: bool, runs: int) -> list[Result]:
    """Run one module *runs* times in this process; the median of each figure."""
    module = importlib.import_module(name)
    return median_results([module.measure(quick=quick) for _ in range(runs)])


def _run_isolated(name: str, quick: bool, runs: int) -> tuple[list[Result], str]:
    """Run one module in a child interpreter, so that what it sets up (Django
    settings, environment variables, servers) cannot reach the next one.
    Returns its results, or an error message."""
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "results.json"
        command = [sys.executable, __file__, "--module", name, "--runs", str(runs)]
        command += ["--output", str(output)] + ["--quick"] * quick
        completed = subprocess.run(command, check=False)
        if completed.returncode != 0 or not output.exists():
            return [], f"exited with status {completed.returncode}"
        data = json.loads(output.read_text())
    if data.get("error"):
        return [], data["error"]
    return [Result(**r) for r in data["results"]], ""


def _module_main(args: argparse.Namespace, runs: int) -> int:
    """The child's side of :func:`_run_isolated`."""
    try:
        results = _run_module(args.module, args.quick, runs)
        data: dict = {"results": [r.as_dict() for r in results]}
    except Exception as e:  # a missing server must not hide the other figures
        traceback.print_exc()
        data = {"error": "".join(traceback.format_exception_only(e)).strip()}
    Path(args.output).write_text(json.dumps(data))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--only", default=None, help="comma-separated: core,django,...")
    parser.add_argument(
        "--output",
        default=None,
        help="default: bench/results.json, or bench/results-quick.json with --quick",
    )
    parser.add_argument(
        "--markdown",
        metavar="RESULTS",
        default=None,
        help="print a saved results file as a Markdown table, and run nothing",
    )
    parser.add_argument("--module", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    if args.module:
        return _module_main(args, runs)
    only = set(args.only.split(",")) if args.only else None
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text()), only))
        return 0
    output = args.output or str(
        HERE / ("results-quick.json" if args.quick else "results.json")
    )

    all_results: dict[str, list[Result]] = {}
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for name in _modules(only):
        print(f"running {name} ({runs} run{'s' * (runs > 1)})...", file=sys.stderr)
        module_started = time.perf_counter()
        results, error = _run_isolated(name, args.quick, runs)
        if error:
            failures[name] = error
            print(f"  {name} failed: {error}", file=sys.stderr)
        else:
            all_results[name] = results
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
    if args.quick and only is None and elapsed > QUICK_BUDGET_SECONDS:
        slowest = ", ".join(f"{n} {s:.0f} s" for n, s in seconds.items())
        print(
            f"--quick took {elapsed:.0f} s, over its budget of "
            f"{QUICK_BUDGET_SECONDS} s ({slowest})",
            file=sys.stderr,
        )

    report = {
        "machine": _machine(),
        "quick": args.quick,
        "runs": runs,
        "seconds": round(elapsed, 1),
        "module_seconds": seconds,
        "results": {n: [r.as_dict() for r in rs] for n, rs in all_results.items()},
        "failures": failures,
    }
    Path(output).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
