"""Benchmark of the course site (issue 33): a full build beyond the notebooks' execution, and a rebuild after
editing one markdown cell (budgets: 3 minutes and 20 s on the 2-core machine).

It works on a copy of the course (solutions/, course_utils/, README.md, pyproject.toml) in a temporary folder:

1. a full build from nothing but the executed notebooks (``--executed DIR``: a site cache's ``executed/`` folder,
   e.g. build/site-cache/executed after one ``./course.sh site``; without it the notebooks are executed first and
   that time is reported apart);
2. a rebuild with nothing changed;
3. a rebuild after appending a sentence to one markdown cell of notebook 04 (must execute nothing).

Usage: ``python benchmarks/bench_site.py [--executed build/site-cache/executed] [--out benchmarks/results/site.json]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.instructor.site import build_site  # noqa: E402

COPIED = ("solutions", "course_utils", "README.md", "pyproject.toml")


def _copy_course(target: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(source, target / name)


def _edit_markdown(root: Path) -> str:
    path = next(iter(sorted((root / "solutions").glob("04_*.ipynb"))))
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells[1:] if c.cell_type == "markdown" and "BEGIN SOLUTION" not in c.source)
    cell.source += "\n\nOne more sentence, added by the benchmark."
    nbformat.write(nb, path)
    return f"{path.name} cell {cell.id}"


def _timed(label: str, runs: dict, **kwargs) -> None:
    start = time.perf_counter()
    site = build_site(**kwargs)
    runs[label] = {"wall_s": round(time.perf_counter() - start, 2), "executed": site.executed,
                   "steps_s": {k: round(v, 2) for k, v in site.seconds.items()}}
    print(f"{label}: {runs[label]['wall_s']} s {runs[label]['steps_s']} executed {len(site.executed)}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--executed", type=Path, help="a site cache's executed/ folder to start from")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "site.json")
    args = p.parse_args(argv)
    runs: dict = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="course-site-bench-") as tmp:
        root, cache = Path(tmp) / "course", Path(tmp) / "cache"
        _copy_course(root)
        if args.executed:
            shutil.copytree(args.executed, cache / "executed")
        _timed("full build", runs, out=Path(tmp) / "site", root=root, cache=cache)
        _timed("rebuild, nothing changed", runs, out=Path(tmp) / "site", root=root, cache=cache)
        edited = _edit_markdown(root)
        _timed("rebuild after one markdown edit", runs, out=Path(tmp) / "site", root=root, cache=cache)
    result = {
        "benchmark": "course site (issue 33)",
        "machine": f"{platform.node()}: {os.cpu_count()} CPUs, shared with other engineers' work",
        "load_average_before_after": [round(x, 2) for x in load_before] + [round(x, 2) for x in os.getloadavg()],
        "started_from_executions": bool(args.executed),
        "edited": edited,
        "runs": runs,
        "budgets_s": {"full build beyond execution": 180, "rebuild after one markdown edit": 20},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
