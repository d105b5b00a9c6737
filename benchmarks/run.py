"""Run every benchmark that fits this machine and write one results file.

    python -m benchmarks [--quick] [--out benchmarks/results/results.json] [--only data,training,...]
    python benchmarks/run.py --quick

Sections (``--only`` picks some):

- ``data``: vectorised data generation vs a per-sample Python loop (target >= 100x);
- ``training``: ``fit`` vs the reference DataLoader loop (same recipe), and time to accuracy of the
  course's default recipe vs the reference recipe;
  ``data`` and ``training`` run with torch's default thread count and with 1 thread (``--threads``):
  on a shared 2-core machine a 2-thread op waits for its slower thread, which distorts timings;
- ``notebooks``: each solved notebook under nbval (skipped by ``--quick`` unless ``--notebooks`` is given);
- ``extras``: ``benchmarks/grading_overhead.py``, ``benchmarks/rgb_lidar_pipeline.py`` and
  ``benchmarks/bench_dask.py`` (grading on Dask; needs ``course_utils[dask]``) when present;
- ``gpu``: fit vs the reference pipeline on CUDA, fraction of peak, a profile (skipped without CUDA).

``--quick`` uses tiny sizes: it checks that everything runs, its times mean little. The results file
is rewritten after every section, so an interrupted run keeps what it measured. Numbers are wall
times on a possibly shared machine: the file records the load average and other pytest processes.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/run.py` as well as `python -m benchmarks`
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

SECTIONS = ("data", "training", "notebooks", "extras", "gpu")
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "results.json"
QUICK_OUT = ROOT / "benchmarks" / "results" / "results_quick.json"


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def _other_pytest_processes() -> int:
    """How many other processes run pytest now (the machine is shared; they distort timings)."""
    count, me = 0, os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if int(entry.name) != me and b"pytest" in (entry / "cmdline").read_bytes():
                count += 1
        except (OSError, ValueError):
            continue
    return count


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict:
    info = {"cpu_model": _cpu_model(), "logical_cpus": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "platform": platform.platform(), "git_commit": _git_commit()}
    try:
        import numpy
        info["numpy"] = numpy.__version__
    except ImportError:
        pass
    return info


def load() -> dict:
    return {"load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "other_pytest_processes": _other_pytest_processes()}


def run_section(name: str, args) -> dict:
    if name == "data":
        from benchmarks import bench_data
        return {f"threads={t}": bench_data.run(quick=args.quick, threads=t) for t in args.threads}
    if name == "training":
        from benchmarks import bench_training
        return {f"threads={t}": bench_training.run(quick=args.quick, threads=t) for t in args.threads}
    if name == "notebooks":
        if args.quick and args.notebooks is None:
            return {"skipped": "--quick (pass --notebooks GLOB to time some)"}
        from benchmarks import bench_notebooks
        timer = bench_notebooks.run_one_process if args.notebooks_one_process else bench_notebooks.run
        return timer(args.notebooks or "*", threads=args.notebook_threads, before=args.notebooks_before)
    if name == "extras":
        from benchmarks import bench_extras
        return bench_extras.run(quick=args.quick)
    if name == "gpu":
        from benchmarks import bench_gpu
        if not torch.cuda.is_available():
            return {"skipped": "no CUDA device on this machine (torch.cuda.is_available() is False)"}
        return bench_gpu.run(quick=args.quick)
    raise ValueError(f"unknown section {name!r}; choose from {SECTIONS}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, times mean little")
    p.add_argument("--out", type=Path, default=None,
                   help=f"results file (default {DEFAULT_OUT.relative_to(ROOT)}; "
                        f"with --quick {QUICK_OUT.relative_to(ROOT)})")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run, from {','.join(SECTIONS)}")
    p.add_argument("--notebooks", default=None, metavar="GLOB",
                   help="which solutions/*.ipynb to time (default all; none with --quick)")
    p.add_argument("--notebook-threads", type=int, default=None, metavar="N",
                   help="set OMP_NUM_THREADS=N for the notebook runs (default: inherit)")
    p.add_argument("--notebooks-before", type=Path, default=None, metavar="FOLDER",
                   help="older solved notebooks, each timed right before the current one of the same name")
    p.add_argument("--notebooks-one-process", action="store_true",
                   help="time the notebooks in one pytest process (as issue 18 measured), not one process each")
    p.add_argument("--threads", default="default,1", metavar="LIST",
                   help="intra-op thread counts for the data and training sections, e.g. 'default,1' (default) or '1'")
    args = p.parse_args(argv)
    try:
        threads = [torch.get_num_threads() if t.strip() == "default" else int(t)
                   for t in args.threads.split(",") if t.strip()]
    except ValueError:
        p.error(f"--threads takes a comma-separated list of positive ints or 'default', got {args.threads!r}")
    if not threads or min(threads) < 1:
        p.error(f"--threads takes a comma-separated list of positive ints or 'default', got {args.threads!r}")
    args.threads = list(dict.fromkeys(threads))
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "quick": args.quick, "machine": machine(), "load_at_start": load(),
               "benchmarks": {}, "errors": {}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.sections:
        print(f"[benchmarks] {name} ...", flush=True)
        start = time.perf_counter()
        try:
            results["benchmarks"][name] = run_section(name, args)
        except Exception:  # noqa: BLE001 - one broken benchmark must not lose the others
            results["errors"][name] = traceback.format_exc().strip().splitlines()[-12:]
            print(f"[benchmarks] {name} FAILED:\n  " + "\n  ".join(results["errors"][name]), flush=True)
        results.setdefault("section_wall_s", {})[name] = round(time.perf_counter() - start, 2)
        results["load_at_end"] = load()
        results["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    from benchmarks.report import summary
    print(summary(results))
    print(f"[benchmarks] results written to {args.out}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
