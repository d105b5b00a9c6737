"""Benchmark 3: time of each solved notebook under nbval, as CI runs it.

``python -m pytest --nbval-lax --nbval-current-env solutions/NN_name.ipynb`` in a fresh process per
notebook (so each time includes starting pytest and a kernel). Budget: 40 s each and 120 s for the
whole course on a 2-core CPU machine, one thread per kernel.

Each row records wall time and CPU time (user + sys of the pytest process and its kernel, read from
``resource.getrusage(RUSAGE_CHILDREN)`` around the run) with the 1-minute load average before and after:
on a shared machine wall time is mostly waiting for a core, so CPU time is the fairer figure.

Side by side: ``run(..., before=FOLDER)`` (``python -m benchmarks --only notebooks --notebooks-before
FOLDER``) times the notebook of the same name in ``FOLDER`` right before each current one, so that both
see the same load. With ``git worktree add /tmp/old OLD`` and ``FOLDER`` = ``/tmp/old/solutions`` the old notebooks
run against the old checkout's ``course_utils``; a bare folder of notebooks runs against the current one.
"""
from __future__ import annotations

import fnmatch
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 40.0
TOTAL_BUDGET_S = 120.0


def notebooks(pattern: str = "*", folder: Path = ROOT / "solutions") -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.ipynb") if fnmatch.fnmatch(p.name, pattern))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pytest(targets: list[str], extra: list[str], timeout_s: float, threads: int | None, root: Path) -> dict:
    """One ``pytest --nbval-lax`` process over ``targets``: return code, last lines, wall and CPU seconds, load."""
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q", "-p", "no:cacheprovider",
           *extra, *targets]
    env = {**os.environ, "COURSE_QUIET": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    if threads is not None:  # the kernel inherits it; torch reads it at start
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    load_before, cpu_before = os.getloadavg()[0], _children_cpu_s()
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    except subprocess.TimeoutExpired:
        rc, tail = None, [f"timed out after {timeout_s:.0f} s"]
    wall = time.perf_counter() - start
    cpu = _children_cpu_s() - cpu_before   # the kernel is a grandchild: counted once pytest has waited for it
    return {"wall_s": wall, "cpu_s": cpu, "passed": rc == 0, "returncode": rc,
            "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
            "summary": tail}


def _target(path: Path, root: Path) -> str:
    return str(path.relative_to(root) if path.is_relative_to(root) else path)


def time_notebook(path: Path, timeout_s: float = 600.0, threads: int | None = None, root: Path = ROOT) -> dict:
    """One nbval run of ``path`` in a fresh pytest process: wall and CPU seconds, load, pass/fail.

    ``root``: the checkout whose ``course_utils`` the notebook imports (default: this one)."""
    path, root = Path(path), Path(root)
    row = {"notebook": path.name, **_pytest([_target(path, root)], [], timeout_s, threads, root)}
    row.update(within_budget=row["wall_s"] <= BUDGET_S, cpu_within_budget=row["cpu_s"] <= BUDGET_S)
    return row


def time_one_run(paths: list[Path], timeout_s: float = 1800.0, threads: int | None = None,
                 root: Path = ROOT) -> dict:
    """All of ``paths`` in one pytest + nbval process, as issue 18 measured its baseline ("one plain nbval run").

    Returns the run's wall and CPU seconds and, per notebook, the sum of its cells' times in pytest's JUnit
    report (setup included, so a kernel's start counts for its notebook; starting pytest counts for the run
    only): ``{"wall_s", "cpu_s", "passed", ..., "notebooks": [{"notebook", "wall_s", "passed"}, ...]}``.
    """
    root = Path(root)
    if not paths:   # pytest without a target would collect the whole checkout
        raise ValueError("time_one_run needs at least one notebook, got none")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        result = _pytest([_target(Path(p), root) for p in paths], ["--junitxml", str(report)], timeout_s,
                         threads, root)
        cases = list(ET.parse(report).getroot().iter("testcase")) if report.exists() else []
    rows = []
    for path in map(Path, paths):
        mine = [c for c in cases if c.get("classname", "").endswith(path.name)]
        seconds = sum(float(c.get("time", 0)) for c in mine)
        rows.append({"notebook": path.name, "wall_s": seconds, "cells": len(mine), "within_budget": seconds <= BUDGET_S,
                     "passed": bool(mine) and not any(c.find(tag) is not None for c in mine
                                                      for tag in ("failure", "error"))})
    return {**result, "notebooks": rows, "within_budget": result["wall_s"] <= TOTAL_BUDGET_S}


def _checkout_of(before: Path | None) -> Path:
    """The checkout whose ``course_utils`` the notebooks in ``before`` run against: its parent if it has one."""
    if before is not None and (Path(before).parent / "course_utils").is_dir():
        return Path(before).parent
    return ROOT


def run(pattern: str = "*", timeout_s: float = 600.0, folder: Path = ROOT / "solutions",
        threads: int | None = None, before: Path | None = None) -> dict:
    """``threads``: set ``OMP_NUM_THREADS`` for the run (``None``: inherit, torch uses every core).

    ``before``: a folder of older solved notebooks; each one with a current notebook's name is timed
    right before it (``row["before"]``), for a side-by-side comparison under the same load. When the folder
    is the ``solutions/`` of an older checkout (``git worktree add /tmp/old OLD``: ``/tmp/old/solutions``),
    the old notebooks run against that checkout's own ``course_utils``; otherwise against this one's.
    """
    rows = []
    old_root = _checkout_of(before)
    for path in notebooks(pattern, folder):
        old = Path(before) / path.name if before is not None else None
        previous = time_notebook(old, timeout_s, threads, old_root) if old is not None and old.exists() else None
        row = time_notebook(path, timeout_s, threads)
        if previous is not None:
            row["before"] = previous
        rows.append(row)
    result = {"description": "each solved notebook under nbval (--nbval-lax --nbval-current-env), fresh pytest "
                             f"process per notebook; budget {BUDGET_S:.0f} s each, {TOTAL_BUDGET_S:.0f} s in all",
              "threads": threads if threads is not None else os.environ.get("OMP_NUM_THREADS", "torch default"),
              "budget_s": BUDGET_S, "total_budget_s": TOTAL_BUDGET_S, "notebooks": rows,
              "total_s": sum(r["wall_s"] for r in rows), "total_cpu_s": sum(r["cpu_s"] for r in rows),
              "all_passed": all(r["passed"] for r in rows),
              "all_within_budget": all(r["within_budget"] for r in rows)}
    if before is not None:
        olds = [r["before"] for r in rows if "before" in r]
        result.update(before_folder=str(before), before_course_utils=str(old_root), before_total_s=sum(r["wall_s"] for r in olds),
                      before_total_cpu_s=sum(r["cpu_s"] for r in olds))
    return result


def run_one_process(pattern: str = "*", timeout_s: float = 1800.0, folder: Path = ROOT / "solutions",
                    threads: int | None = None, before: Path | None = None) -> dict:
    """The notebooks matching ``pattern`` in one pytest process (:func:`time_one_run`), as issue 18 measured
    its 229 s baseline. With ``before``, that folder's notebooks of the same names run in one process right
    before, against their own checkout's ``course_utils`` as in :func:`run`; each row gets ``before_wall_s``."""
    paths = notebooks(pattern, folder)
    if not paths:
        raise ValueError(f"no notebook in {folder} matches {pattern!r}")
    previous = None
    if before is not None:
        olds = [Path(before) / p.name for p in paths if (Path(before) / p.name).exists()]
        previous = time_one_run(olds, timeout_s, threads, _checkout_of(before)) if olds else None
    result = {"description": "the solved notebooks in one pytest + nbval process (--nbval-lax --nbval-current-env); "
                             "per notebook: the sum of its cells' times in the JUnit report",
              "one_process": True, "budget_s": BUDGET_S, "total_budget_s": TOTAL_BUDGET_S,
              "threads": threads if threads is not None else os.environ.get("OMP_NUM_THREADS", "torch default"),
              **time_one_run(paths, timeout_s, threads)}
    if previous is not None:
        old_rows = {r["notebook"]: r for r in previous.pop("notebooks")}
        for row in result["notebooks"]:
            if row["notebook"] in old_rows:
                row["before_wall_s"] = old_rows[row["notebook"]]["wall_s"]
        result.update(before_folder=str(before), before=previous)
    return result
