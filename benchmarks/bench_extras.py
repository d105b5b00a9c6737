"""Benchmark 4: the benchmarks other parts of the course own, run as scripts.

Each ``benchmarks/<name>.py`` in :data:`SCRIPTS` (when present) runs in its own process and writes
its own JSON under ``benchmarks/results/``; the harness records how it ran and reads back every
results file the script wrote or updated.

Quick mode passes ``--quick`` when the script's ``--help`` lists it, else the arguments given in
:data:`SCRIPTS` for quick runs; and when the script takes ``--out``, it sends the quick results to
``benchmarks/results/quick/`` so that they never overwrite the script's real results.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
QUICK_RESULTS = RESULTS / "quick"

#: script name -> extra arguments for a quick run when the script has no ``--quick``
SCRIPTS = {
    "grading_overhead.py": ["--repeats", "1", "--batch", "2"],
    "rgb_lidar_pipeline.py": [],
    "bench_dask.py": [],
}


def _snapshot(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.glob("*.json")} if folder.is_dir() else {}


def run_script(script: Path, quick: bool, quick_args: list, results_dir: Path = RESULTS,
               timeout_s: float = 900.0, quick_dir: Path = QUICK_RESULTS) -> dict:
    args = []
    if quick:
        helptext = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True,
                                  text=True, timeout=120).stdout
        args = ["--quick"] if "--quick" in helptext else list(quick_args)
        if "--out" in helptext:
            quick_dir.mkdir(parents=True, exist_ok=True)
            args += ["--out", str(quick_dir / f"{script.stem}.json")]
            results_dir = quick_dir
    before = _snapshot(results_dir)
    start = time.perf_counter()
    env = {**os.environ, "COURSE_QUIET": "1", "MPLBACKEND": "Agg"}
    try:
        proc = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout_s)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()[-5:]
    except subprocess.TimeoutExpired:
        rc, tail = None, [f"timed out after {timeout_s:.0f} s"]
    wall = time.perf_counter() - start
    written = {}
    for path, mtime in _snapshot(results_dir).items():
        if before.get(path) != mtime:
            try:
                written[path.name] = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                written[path.name] = {"unreadable": str(error)}
    return {"script": script.name, "args": args, "returncode": rc, "wall_s": wall, "ok": rc == 0,
            "output_tail": tail, "results": written}


def run(quick: bool = False, scripts_dir: Path = ROOT / "benchmarks", scripts: dict | None = None,
        results_dir: Path = RESULTS, quick_dir: Path = QUICK_RESULTS) -> dict:
    out = {}
    for name, quick_args in (scripts or SCRIPTS).items():
        script = scripts_dir / name
        if not script.exists():
            out[name] = {"script": name, "skipped": "not present"}
            continue
        out[name] = run_script(script, quick, quick_args, results_dir, quick_dir=quick_dir)
    return out
