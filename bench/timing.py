"""Timing helpers shared by the benchmarks (run as scripts: bench/ is on sys.path)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def best(fn: Callable[[], object], runs: int) -> float:
    """The shortest of `runs` calls of `fn`, in seconds (garbage collected before each)."""
    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
