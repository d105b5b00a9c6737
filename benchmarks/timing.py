"""Small timing helpers shared by the benchmarks."""
from __future__ import annotations

import statistics
import time


def measure(fn, repeats: int = 3, warmup: int = 1) -> dict:
    """Run ``fn()`` ``warmup`` times untimed, then ``repeats`` times; seconds as median/min/all."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs_s": times}
