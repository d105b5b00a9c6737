"""Benchmark 3: wall time of each solved notebook under nbval, as CI runs it.

``python -m pytest --nbval-lax --nbval-current-env solutions/NN_name.ipynb`` in a fresh process per
notebook (so each time includes starting pytest and a kernel). Budget: about a minute each on a
2-core CPU machine.
"""
from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 60.0


def notebooks(pattern: str = "*", folder: Path = ROOT / "solutions") -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.ipynb") if fnmatch.fnmatch(p.name, pattern))


def time_notebook(path: Path, timeout_s: float = 600.0, threads: int | None = None) -> dict:
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
           "-p", "no:cacheprovider", str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)]
    env = {**os.environ, "COURSE_QUIET": "1", "MPLBACKEND": "Agg"}
    if threads is not None:  # the kernel inherits it; torch reads it at start
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    except subprocess.TimeoutExpired:
        rc, tail = None, [f"timed out after {timeout_s:.0f} s"]
    wall = time.perf_counter() - start
    return {"notebook": path.name, "wall_s": wall, "passed": rc == 0, "returncode": rc,
            "within_budget": wall <= BUDGET_S, "load_avg_1min_before": round(load_before, 2),
            "load_avg_1min_after": round(os.getloadavg()[0], 2), "summary": tail}


def run(pattern: str = "*", timeout_s: float = 600.0, folder: Path = ROOT / "solutions",
        threads: int | None = None) -> dict:
    """``threads``: set ``OMP_NUM_THREADS`` for the run (``None``: inherit, torch uses every core)."""
    rows = [time_notebook(p, timeout_s, threads) for p in notebooks(pattern, folder)]
    return {"description": "each solved notebook under nbval (--nbval-lax --nbval-current-env), fresh pytest "
                           f"process per notebook; budget {BUDGET_S:.0f} s each",
            "threads": threads if threads is not None else os.environ.get("OMP_NUM_THREADS", "torch default"),
            "budget_s": BUDGET_S, "notebooks": rows,
            "total_s": sum(r["wall_s"] for r in rows),
            "all_passed": all(r["passed"] for r in rows),
            "all_within_budget": all(r["within_budget"] for r in rows)}
