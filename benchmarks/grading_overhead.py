"""Grading overhead per submission, and the speed-up from parallel workers.

    python benchmarks/grading_overhead.py [--notebook notebooks/00_setup_and_tour.ipynb] [--repeats 3] [--batch 4]

1. Overhead: one submission graded by ``course_utils.instructor.grading.runner`` (restore check cells, start the
   pytest+nbval process, run every cell in a fresh kernel, score) against executing the same restored
   notebook with plain ``nbclient`` in a fresh kernel. Measured on a tiny synthetic notebook (so the
   overhead is not hidden in noise) and, when given, on a course notebook. Interleaved runs, median.
2. Scaling: a batch of ``--batch`` copies of the tiny notebook graded with ``--workers 1`` and ``2``.

Wall time and CPU time (this process and every child it reaped: kernels, grading processes) are
recorded; on a shared, loaded machine the CPU-time overhead is the number to trust. Writes
``benchmarks/results/grading.json``. Compare the numbers of one run with each other, not across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.instructor.grading import batch, runner  # noqa: E402
from course_utils.instructor.grading import notebooks as nbs  # noqa: E402

TINY_CHECK = """from course_utils import feedback
@feedback.exercise("90.add", "add")
def _check(check, fn):
    check.expect(check.call(fn, 2, 3) == 5, "add(2, 3) == 5", "add(2, 3) should be 5")
_check(add)"""


def tiny_course(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cells = [nbformat.v4.new_code_cell("import torch\nx = torch.randn(100, 100)"),
             nbformat.v4.new_code_cell("def add(a, b):\n    return a + b"),
             nbformat.v4.new_code_cell(TINY_CHECK)]
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i}"
    cells[2].id = "check-90-add"
    cells[2].metadata = {"course": {"check": "90.add", "points": 1}}
    path = folder / "90_tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def _cpu() -> float:
    """CPU seconds of this process and of every child it has reaped (a kernel, a grading process and its kernel)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_grader(submission: Path, refs: dict, limits: runner.Limits) -> float:
    nb = nbs.read_notebook(submission.read_bytes())
    m = nbs.match(nb, submission.name, refs)
    start, cpu = time.perf_counter(), _cpu()
    result = runner.grade(submission, "bench", submission.name, m, nb, limits)
    elapsed = time.perf_counter() - start
    assert result.status == "ok", (result.status, result.detail)
    return elapsed, _cpu() - cpu


def time_nbclient(submission: Path, refs: dict, threads: int) -> tuple[float, float]:
    cpu = _cpu()
    nb = nbs.read_notebook(submission.read_bytes())
    restored = nbs.restore(nb, nbs.match(nb, submission.name, refs).reference)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    env_backup = dict(os.environ)
    os.environ.update(COURSE_QUIET="1", MPLBACKEND="Agg", OMP_NUM_THREADS=str(threads),
                      MKL_NUM_THREADS=str(threads))
    try:
        start = time.perf_counter()
        NotebookClient(restored, kernel_name="python3", timeout=600, allow_errors=True,
                       resources={"metadata": {"path": str(workdir)}}).execute()
        return time.perf_counter() - start, _cpu() - cpu
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
        shutil.rmtree(workdir, ignore_errors=True)


def overhead(submission: Path, refs: dict, repeats: int) -> dict:
    limits = runner.Limits(cell_timeout=600, wall_timeout=1800, threads=1)
    graded, executed = [], []
    for _ in range(repeats):  # interleaved, so slow drifts in machine load hit both alike
        executed.append(time_nbclient(submission, refs, threads=1))
        graded.append(time_grader(submission, refs, limits))
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    return {"notebook": submission.name, "repeats": repeats,
            "grade_wall_s": [round(x[0], 2) for x in graded], "nbclient_wall_s": [round(x[0], 2) for x in executed],
            "grade_cpu_s": [round(x[1], 2) for x in graded], "nbclient_cpu_s": [round(x[1], 2) for x in executed],
            "overhead_wall_median_s": round(med(graded, 0) - med(executed, 0), 2),
            "overhead_cpu_median_s": round(med(graded, 1) - med(executed, 1), 2)}


def scaling(ref_dir: Path, tiny: Path, copies: int, work: Path) -> dict:
    subs = work / "subs"
    for i in range(copies):
        (subs / f"learner{i:02d}").mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny, subs / f"learner{i:02d}" / tiny.name)
    times, cpu = {}, {}
    for workers in (1, 2):
        cpu_start = _cpu()
        out = work / f"out{workers}"
        start = time.perf_counter()
        rows = batch.grade_batch(subs, out, ref_dir, workers=workers,
                                 limits=runner.Limits(cell_timeout=600, wall_timeout=1800),
                                 log=lambda *a: None)
        times[workers] = time.perf_counter() - start
        cpu[workers] = _cpu() - cpu_start
        assert all(r["status"] == "ok" and r["total"] == "1" for r in rows), rows
    return {"submissions": copies, "workers_1_s": round(times[1], 2), "workers_2_s": round(times[2], 2),
            "speedup": round(times[1] / times[2], 2),
            "cpu_s_workers_1": round(cpu[1], 2), "cpu_s_workers_2": round(cpu[2], 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--notebook", type=Path, default=None,
                   help="also measure a course notebook: its solved version from solutions/ is graded")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=4, help="submissions in the scaling batch")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "grading.json")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    try:
        ref_dir = work / "ref"
        tiny = tiny_course(ref_dir)
        refs = nbs.load_references(ref_dir)
        load_before = os.getloadavg()[0]
        results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                               "load_average_at_start": round(load_before, 2)},
                   "overhead": [overhead(tiny, refs, args.repeats)]}
        if args.notebook:
            course_refs = nbs.load_references(ROOT / "notebooks")
            solved = work / "solved" / args.notebook.name
            solved.parent.mkdir()
            shutil.copy(ROOT / "solutions" / args.notebook.name, solved)
            results["overhead"].append(overhead(solved, course_refs, max(1, args.repeats - 1)))
        results["scaling"] = scaling(ref_dir, tiny, args.batch, work)
        results["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
