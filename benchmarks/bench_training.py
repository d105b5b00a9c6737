"""Benchmark 2: ``course_utils.training.fit`` against the reference tutorial's DataLoader loop (CPU).

a. Same recipe on both sides (the tutorial's MLP, its data, Adam lr 1e-3, batch 64, the same number
   of epochs, evaluation after every epoch): wall time ratio. ``fit`` uses AdamW with weight decay 0,
   which is Adam.
b. Time to accuracy: the reference recipe (Adam lr 1e-3, batch 64, 30 epochs, DataLoader) gives a
   final test accuracy; how long does the course's default recipe (``fit`` defaults: lr 3e-3,
   batch 128) take to first reach it? Compared with the reference recipe's total time (what a
   learner waits for its number) and with the time the reference first reached that accuracy.
Both over several seeds (model init, data, batch order).
"""
from __future__ import annotations

import statistics
import time

import torch

from course_utils.data.synthetic import make_reference_tutorial_data
from course_utils.training import fit

from .reference import TutorialMLP, dataloader_fit


def _data(seed: int, n_train: int, n_test: int):
    return (make_reference_tutorial_data(n_train, seed=seed),
            make_reference_tutorial_data(n_test, seed=10_000 + seed))


def _first_reach(accs, times, target) -> float | None:
    elapsed = 0.0
    for acc, t in zip(accs, times):
        elapsed += t
        if acc >= target - 1e-12:
            return elapsed
    return None


def _clocked(fn):
    """``fn()`` with its wall time and this process's CPU time (less sensitive to other load)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def warm_up() -> None:
    """One tiny run of each side, untimed: first calls pay for lazy initialisation."""
    train, test = _data(0, 200, 60)
    dataloader_fit(TutorialMLP(), train, test, epochs=1)
    fit(TutorialMLP(), train, test, epochs=1, batch_size=64, device="cpu", progress=False)


def same_recipe(seeds, epochs: int, n_train: int, n_test: int) -> dict:
    rows = []
    for seed in seeds:
        train, test = _data(seed, n_train, n_test)
        torch.manual_seed(seed)
        ref, ref_wall, ref_cpu = _clocked(
            lambda: dataloader_fit(TutorialMLP(), train, test, epochs=epochs, lr=1e-3, batch_size=64))
        torch.manual_seed(seed)
        h, fit_wall, fit_cpu = _clocked(
            lambda: fit(TutorialMLP(), train, test, epochs=epochs, lr=1e-3, batch_size=64, seed=seed,
                        device="cpu", progress=False))
        rows.append({"seed": seed, "dataloader_s": ref_wall, "fit_s": fit_wall, "ratio": ref_wall / fit_wall,
                     "dataloader_cpu_s": ref_cpu, "fit_cpu_s": fit_cpu, "cpu_ratio": ref_cpu / fit_cpu,
                     "dataloader_final_acc": ref["test_acc"][-1], "fit_final_acc": h.val_acc[-1],
                     "fit_train_samples_per_s": h.samples_per_second})
    return {"description": f"same model/data/recipe (Adam lr 1e-3, batch 64, {epochs} epochs, eval each "
                           f"epoch, {n_train} train / {n_test} test samples), CPU; ratio = DataLoader time / "
                           "fit time (wall clock; cpu_ratio: the same with process CPU time)",
            "epochs": epochs, "runs": rows, "median_ratio": statistics.median(r["ratio"] for r in rows),
            "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rows)}


def time_to_accuracy(seeds, ref_epochs: int, max_epochs: int, n_train: int, n_test: int) -> dict:
    rows = []
    for seed in seeds:
        train, test = _data(seed, n_train, n_test)
        torch.manual_seed(seed)
        ref = dataloader_fit(TutorialMLP(), train, test, epochs=ref_epochs, lr=1e-3, batch_size=64)
        target = ref["test_acc"][-1]
        torch.manual_seed(seed)
        h = fit(TutorialMLP(), train, test, epochs=max_epochs, seed=seed, device="cpu", progress=False)
        course_s = _first_reach(h.val_acc, h.epoch_time, target)
        course_epoch = next((i + 1 for i, a in enumerate(h.val_acc) if a >= target - 1e-12), None)
        ref_total = sum(ref["epoch_time"])
        ref_first = _first_reach(ref["test_acc"], ref["epoch_time"], target)
        rows.append({"seed": seed, "target_acc": target, "reference_total_s": ref_total,
                     "reference_first_reach_s": ref_first,
                     "course_reach_s": course_s, "course_reach_epoch": course_epoch,
                     "course_best_acc": max(h.val_acc),
                     "speedup_vs_reference_total": ref_total / course_s if course_s else None,
                     "speedup_vs_reference_first_reach": ref_first / course_s if course_s else None})
    reached = [r for r in rows if r["course_reach_s"] is not None]
    return {"description": f"reference recipe (DataLoader, Adam lr 1e-3, batch 64, {ref_epochs} epochs) sets the "
                           f"target = its final test accuracy; course default recipe (fit: AdamW lr 3e-3, "
                           f"batch 128, up to {max_epochs} epochs): time until its test accuracy first reaches "
                           "the target (epoch times include the per-epoch evaluation on both sides)",
            "runs": rows, "reached": f"{len(reached)}/{len(rows)}",
            "median_speedup_vs_reference_total": statistics.median(
                r["speedup_vs_reference_total"] for r in reached) if reached else None,
            "median_speedup_vs_reference_first_reach": statistics.median(
                r["speedup_vs_reference_first_reach"] for r in reached) if reached else None}


def run(quick: bool = False, threads: int | None = None) -> dict:
    """Both comparisons with ``threads`` intra-op threads (``None``: torch's default)."""
    if quick:
        seeds, n_train, n_test, epochs, ref_epochs, max_epochs = [0], 300, 90, 2, 3, 3
    else:
        seeds, n_train, n_test, epochs, ref_epochs, max_epochs = [0, 1, 2], 3000, 600, 30, 30, 30
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        warm_up()
        return {"threads": torch.get_num_threads(),
                "same_recipe": same_recipe(seeds, epochs, n_train, n_test),
                "time_to_accuracy": time_to_accuracy(seeds, ref_epochs, max_epochs, n_train, n_test)}
    finally:
        torch.set_num_threads(before)
