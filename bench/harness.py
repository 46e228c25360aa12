"""The shared shape of Maestro's benchmarks.

Each ``bench/bench_*.py`` module defines ``measure(quick: bool) ->
list[Result]``. ``run.py`` calls every module several times, keeps the median
of each figure, prints one table and writes ``results.json``. Targets are
ratios measured in the same run, or rates shown beside their raw baseline,
because machines here are shared and noisy.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Result:
    """One figure: its name, value, unit, and the target it must meet."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None  # None: no target; True/False: target met or not
    detail: str = ""
    samples: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def at_least(
    name: str, value: float, unit: str, minimum: float, detail: str = ""
) -> Result:
    return Result(name, value, unit, f">= {minimum:g}", value >= minimum, detail)


def at_most(
    name: str, value: float, unit: str, maximum: float, detail: str = ""
) -> Result:
    return Result(name, value, unit, f"<= {maximum:g}", value <= maximum, detail)


def info(name: str, value: float, unit: str, detail: str = "") -> Result:
    return Result(name, value, unit, detail=detail)


class Elapsed:
    """What :func:`stopwatch` yields: call it for the wall-clock seconds of the
    block; :attr:`cpu` gives this process's CPU seconds over it.

    The in-memory backend does no I/O, so its CPU time is all it costs, and
    unlike wall time it does not count the time other processes on a shared
    machine held the CPU: its growth ratios are measured in CPU time.
    Backends that talk to a server spend time there too; they use wall time.
    """

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._done: tuple[float, float] | None = None

    def stop(self) -> None:
        self._done = (
            time.perf_counter() - self._wall,
            time.process_time() - self._cpu,
        )

    def __call__(self) -> float:
        if self._done is None:
            return time.perf_counter() - self._wall
        return self._done[0]

    @property
    def cpu(self) -> float:
        if self._done is None:
            return time.process_time() - self._cpu
        return self._done[1]


@contextmanager
def stopwatch(*, cold: bool = False) -> Iterator[Elapsed]:
    """Time a block; call the yielded :class:`Elapsed` for the seconds it took.

    Collects garbage first, so the block does not pay for what came before;
    with *cold*, then evicts the CPU caches too (see :func:`evict_caches`).
    """
    gc.collect()
    if cold:
        evict_caches()
    elapsed = Elapsed()
    try:
        yield elapsed
    finally:
        elapsed.stop()


def _largest_cache_mib() -> int:
    """The size of the CPU's largest cache in MiB, as Linux reports it."""
    sizes = [0]
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip()
        try:
            if text.endswith("K"):
                sizes.append(int(text[:-1]) // 1024)
            elif text.endswith("M"):
                sizes.append(int(text[:-1]))
        except ValueError:
            continue
    return max(sizes)


def evict_caches(mib: int | None = None) -> None:
    """Push the measured data out of the CPU caches by writing a larger buffer
    (*mib*, by default four times the largest cache and at least 128 MiB).

    A store built just before a timed block sits in the cache when it is
    small and not when it is large, which flatters the smaller size in a
    growth ratio; evicting before each timed block starts every size cold.
    """
    size = mib or max(128, 4 * _largest_cache_mib())
    buffer = bytearray(b"\x01") * (size * 2**20)
    del buffer


def isolated(fn: Callable[..., T], *args: object) -> T:
    """Call ``fn(*args)`` in a fresh interpreter, so that sizes measured one
    after the other do not inherit each other's heap."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def rss_mb() -> float:
    """The process's resident memory now, in MiB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> bool:
    """Start the peak of :func:`peak_rss_mb` afresh from the memory held now.

    Linux allows it through ``/proc/self/clear_refs``; where it does not, the
    peak keeps counting from the start of the process (an upper bound), and
    this returns False.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The process's peak resident memory, in MiB, since it started or since
    :func:`reset_peak_rss`."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_results(runs: list[list[Result]]) -> list[Result]:
    """Merge repeated runs of one module: the median of each figure, shown
    with the detail of the run closest to it (details hold that run's parts).
    """
    merged: dict[str, list[Result]] = {}
    for run in runs:
        for result in run:
            merged.setdefault(result.name, []).append(result)
    out = []
    for name, results in merged.items():
        samples = [r.value for r in results]
        value = statistics.median(samples)
        nearest = min(results, key=lambda r: abs(r.value - value))
        first = results[0]
        ok = first.ok
        if first.target.startswith(">="):
            ok = value >= float(first.target[2:])
        elif first.target.startswith("<="):
            ok = value <= float(first.target[2:])
        out.append(
            Result(name, value, first.unit, first.target, ok, nearest.detail, samples)
        )
    return out
