"""Benchmark 1: vectorised data generation against a per-sample Python loop of the same distribution.

The speed-up is the ratio of median wall times at the same ``n``. The per-sample versions live in
:mod:`benchmarks.reference`; a distribution check compares per-class means of both outputs, so the
speed-up is not bought by generating something else.
"""
from __future__ import annotations

import torch

from course_utils.data.synthetic import make_information_dataset, make_reference_tutorial_data

from .reference import loop_information_dataset, loop_reference_tutorial_data
from .timing import measure


def _class_means(data) -> torch.Tensor:
    """Per class and modality, the mean feature vector, concatenated: ``(num_classes, sum of dims)``."""
    rows = []
    for c in range(data.num_classes):
        mask = data.labels == c
        rows.append(torch.cat([m[mask].mean(0) for m in data.modalities]))
    return torch.stack(rows)


def _same_distribution(fast, slow, noise: float) -> dict:
    """Per-class means and class fractions of the two generators agree within sampling error."""
    fractions = [torch.bincount(d.labels, minlength=d.num_classes).float() / len(d) for d in (fast, slow)]
    mean_gap = float((_class_means(fast) - _class_means(slow)).abs().max())
    smallest_class = int(min(torch.bincount(d.labels).min() for d in (fast, slow)))
    tolerance = 6 * max(noise, 0.5) * (2 / smallest_class) ** 0.5  # 6 sigma of a difference of two means
    frac_gap = float((fractions[0] - fractions[1]).abs().max())
    return {"max_class_mean_gap": mean_gap, "tolerance": tolerance, "max_class_fraction_gap": frac_gap,
            "ok": mean_gap < tolerance and frac_gap < 6 * (0.25 * 2 / len(fast)) ** 0.5 + 1e-9}


def run(quick: bool = False, threads: int | None = None) -> dict:
    """Every case with ``threads`` intra-op threads (``None``: torch's default)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return {"threads": torch.get_num_threads(), **_run(quick)}
    finally:
        torch.set_num_threads(before)


def _run(quick: bool) -> dict:
    sizes = [300] if quick else [3000, 30000]
    cases = []
    for n in sizes:
        for name, fast, slow, noise in [
            ("reference tutorial (3 classes)",
             lambda n=n: make_reference_tutorial_data(n, seed=0),
             lambda n=n: loop_reference_tutorial_data(n, seed=0), 0.3),
            ("information: synergy (XOR)",
             lambda n=n: make_information_dataset("synergy", n, seed=0),
             lambda n=n: loop_information_dataset("synergy", n, seed=0), 0.5),
            ("information: redundant",
             lambda n=n: make_information_dataset("redundant", n, seed=0),
             lambda n=n: loop_information_dataset("redundant", n, seed=0), 0.5),
        ]:
            t_fast = measure(fast, 2 if quick else 31 if n <= 3000 else 11)
            t_slow = measure(slow, 1 if quick else 3, warmup=0)
            cases.append({"dataset": name, "n": n, "vectorised_s": t_fast["median_s"],
                          "per_sample_loop_s": t_slow["median_s"],
                          "speedup": t_slow["median_s"] / t_fast["median_s"],
                          "speedup_of_fastest_runs": t_slow["min_s"] / t_fast["min_s"],
                          "vectorised_runs_s": t_fast["runs_s"], "per_sample_loop_runs_s": t_slow["runs_s"],
                          "same_distribution": _same_distribution(fast(), slow(), noise)})
    return {"description": "course_utils.data generators (vectorised) vs a per-sample Python loop of the "
                           "same distribution; speedup = ratio of median wall times (speedup_of_fastest_runs: "
                           "of the fastest runs); target speed-up >= 100x",
            "target_speedup": 100, "cases": cases,
            "min_speedup": min(c["speedup"] for c in cases)}
