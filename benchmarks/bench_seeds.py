"""Several seeds trained together (``fit_seeds``) vs one after the other (``fit``), for the course's models.

    python -m benchmarks.bench_seeds [--quick] [--reps 3] [--out benchmarks/results/seeds.json]

Each workload is one model of a notebook with that notebook's recipe and data sizes, three seeds, each
seed with its own data set (as the notebooks build them). Both sides run in the same process, alternating
(batched, sequential, batched, ...) after one untimed warm-up of each, so both see the same machine load.
Recorded per side: median wall time and median process CPU time of the three-seed run, and the largest
difference in final validation accuracy between the two sides (they train the same thing: this is float
rounding, not a tolerance). The load average is recorded before and after. One thread (``torch.set_num_threads(1)``),
as the test command runs the notebooks.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_utils import data  # noqa: E402
from course_utils.data.binding import make_binding  # noqa: E402
from course_utils.data.shapes import render_shapes  # noqa: E402
from course_utils.data.switch import make_switch_data  # noqa: E402
from course_utils.models import attention, cnn, fusion, gating, probes  # noqa: E402
from course_utils.training import fit_seeds  # noqa: E402

SEEDS = [0, 1, 2]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "seeds.json"


def _information(n):
    return [data.make_information_dataset("synergy", n, noise=0.5, seed=s).split(0.8, seed=s) for s in SEEDS]


def _binding(n):
    return [make_binding(n, seed=s).split(0.8, seed=s) for s in SEEDS]


def _switch(n):
    return [(make_switch_data(n, seed=s)[0], make_switch_data(n, seed=s, sample_seed=100 + s)[0]) for s in SEEDS]


def _shapes(n_train, n_val):
    out = []
    for s in SEEDS:
        d = render_shapes(n_train + n_val, rgb_size=32, depth_size=32, seed=s).to_dataset()
        out.append((d[:n_train], d[n_train:]))
    return out


def workloads(quick: bool) -> list:
    """``(name, notebook, make_model, make_splits, recipe)`` for each model family; data built on demand."""
    k = 10 if quick else 1
    e = lambda epochs: max(1, epochs // k)  # noqa: E731
    info, switch = lambda: _information(3000 // k), lambda: _switch(2000 // k)  # noqa: E731
    shapes = lambda: _shapes(1000 // k, 600 // k)  # noqa: E731

    def attention_model():
        img, txt = make_binding(8, seed=0).modalities
        return attention.CrossAttentionFusion(img.shape[-1], txt.shape[-1], 32, 4, make_binding(8, seed=0).num_classes)

    return [
        ("MLP probe (image only)", "01", lambda: probes.UnimodalProbe(32, 64, 2, modality=0), info,
         dict(epochs=e(20))),
        ("early fusion MLP", "02", lambda: fusion.EarlyFusionModel(32, 16, 64, 2), info, dict(epochs=e(20))),
        ("embedding concat", "03", lambda: fusion.EmbeddingConcatFusion(32, 16, 32, 2), info,
         dict(epochs=e(20))),
        ("cross-attention", "04", attention_model, lambda: _binding(3000 // k),
         dict(epochs=e(10), lr=3e-3, batch_size=64)),
        ("scalar gate", "06", lambda: gating.GatedFusionModel(), switch, dict(epochs=e(15))),
        ("GMU", "06", lambda: gating.GMUModel(), switch, dict(epochs=e(15))),
        ("CNN embedding concat", "07", cnn.model_zoo()["embedding concat"], shapes, dict(epochs=e(8), lr=3e-3, batch_size=64)),
        ("CNN intermediate concat", "07", cnn.model_zoo()["feature-map concat"], shapes,
         dict(epochs=e(8), lr=3e-3, batch_size=64)),
    ]


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bench(make_model, splits, recipe, reps: int, engine: str = "folded") -> dict:
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]

    def run(batched):
        return fit_seeds(make_model, trains, vals, seeds=SEEDS, device="cpu", progress=False, batched=batched,
                         engine=engine, **recipe)

    run(True), run(False)                                    # warm-up, untimed
    sides = {"batched": [], "sequential": []}
    accs = {}
    for _ in range(reps):
        for side, batched in (("batched", True), ("sequential", False)):
            runs, wall, cpu = _timed(lambda: run(batched))
            sides[side].append((wall, cpu))
            accs[side] = [h.val_acc[-1] for h in runs.histories]
            if batched and not runs.batched:
                return {"trained_batched": False, "reason": runs.fallback_reason}
    med = {side: {"wall_s": statistics.median(w for w, _ in v), "cpu_s": statistics.median(c for _, c in v),
                  "runs": v} for side, v in sides.items()}
    return {"trained_batched": True, **med,
            "ratio_wall": med["sequential"]["wall_s"] / med["batched"]["wall_s"],
            "ratio_cpu": med["sequential"]["cpu_s"] / med["batched"]["cpu_s"],
            "val_acc": accs, "max_acc_difference": max(abs(a - b) for a, b in zip(accs["batched"], accs["sequential"]))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated substrings of workload names")
    parser.add_argument("--vmap", action="store_true", help="also time engine='vmap' on the MLP workloads")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or (DEFAULT_OUT.with_name("seeds_quick.json") if args.quick else DEFAULT_OUT)
    torch.set_num_threads(1)
    from benchmarks.run import machine
    results = {"machine": machine(), "quick": args.quick, "reps": args.reps, "seeds": SEEDS,
               "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load_before": os.getloadavg(),
               "workloads": []}
    wanted = [w for w in args.only.split(",") if w]
    for name, notebook, make_model, make_splits, recipe in workloads(args.quick):
        if wanted and not any(w in name for w in wanted):
            continue
        splits = make_splits()
        entry = {"name": name, "notebook": notebook, "recipe": recipe, "load_before": os.getloadavg(),
                 **bench(make_model, splits, recipe, args.reps)}
        if args.vmap and notebook in ("01", "02"):
            entry["vmap"] = bench(make_model, splits, recipe, args.reps, engine="vmap")
        entry["load_after"] = os.getloadavg()
        results["workloads"].append(entry)
        print(json.dumps({k: v for k, v in entry.items() if k not in ("batched_runs",)}, default=str)[:400], flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str))
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results["load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
