"""Grade one submission: restore its check cells, run it under nbval in its own process, score it.

The process is ``python course_utils/grading/_entry.py NOTEBOOK --nbval-lax --nbval-current-env ...``
(pytest with nbval and :mod:`course_utils.grading.plugin`), run in a fresh scratch folder that holds
only the restored notebook and an empty ``pytest.ini``: pytest's rootdir is that folder, so no
``conftest.py`` of the learner's (or of the course repository) is loaded, and the kernel's working
directory is that folder too (``course_utils`` is imported from the installed package).
Limits: ``--nbval-cell-timeout`` per cell, a wall-clock limit for the whole submission, and an
address-space limit (``RLIMIT_AS``) that the kernel inherits.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import notebooks as nbs

ENTRY = Path(__file__).resolve().parent / "_entry.py"
_LIVE: dict = {}                 # Popen -> plugin log path, for kill_all()
_LIVE_LOCK = threading.Lock()
STOPPING = threading.Event()     # set by kill_all(): start no new grading process

# status values, most important first (a submission gets the first that applies)
INVALID, WRONG, GRADER_ERROR = "invalid notebook", "wrong notebook", "grader error"
WALL_TIMEOUT, KERNEL_DIED, MEMORY, TIMEOUT, OK = "timeout", "kernel died", "memory limit", "timeout", "ok"


@dataclass
class Limits:
    cell_timeout: float = 120.0          # seconds per cell
    wall_timeout: float = 1800.0         # seconds for the whole submission
    memory_bytes: int = 4 << 30          # address space of the grading process and the kernel; 0: none
    threads: int = 0                     # OMP/MKL threads of the kernel (0: CPU count / workers)
    startup_timeout: float = 60.0


@dataclass
class CheckResult:
    check: str
    points: float
    max_points: float
    outcome: str          # passed, failed, timeout, kernel_died, not_run, missing
    message: str = ""
    output: str = ""


@dataclass
class Result:
    learner: str
    submission: str        # path relative to the submissions folder
    notebook: str          # course notebook name (or the file's name for a wrong notebook)
    status: str
    detail: str = ""
    checks: list = field(default_factory=list)   # CheckResult, in the reference's order
    seconds: float = 0.0
    sha256: str = ""

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.checks)


def parse_size(text: str | int | None) -> int:
    """'4G', '512M', '1.5GiB', '0' (no limit) -> bytes."""
    if text is None:
        return 0
    if isinstance(text, int):
        return text
    s = str(text).strip().lower().removesuffix("ib").removesuffix("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    try:
        if s and s[-1] in units:
            return int(float(s[:-1]) * units[s[-1]])
        return int(float(s))
    except ValueError:
        raise ValueError(f"memory limit should look like 4G or 512M, got {text!r}") from None


def _kill(pid: int | None) -> None:
    """SIGKILL a process group led by ``pid`` (or the process alone), never our own group."""
    if not pid:
        return
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        if group == pid and group != os.getpgrp():
            os.killpg(group, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def read_log(path: Path) -> tuple[list, int | None]:
    """Cell records and the kernel pid from a plugin log; a torn last line is ignored."""
    cells, pid = [], None
    if not path.exists():
        return cells, pid
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("event") == "kernel":
            pid = rec.get("pid")
        elif rec.get("event") == "cell":
            cells.append(rec)
    return cells, pid


def _stop(proc, log: Path) -> None:
    _, kernel = read_log(log)
    if kernel and _parent_of(kernel) == proc.pid:
        _kill(kernel)
    _kill(proc.pid)
    proc.wait()


def kill_all() -> None:
    """Stop every grading process still running (and its kernel): used when a batch is interrupted."""
    with _LIVE_LOCK:
        STOPPING.set()
        live = list(_LIVE.items())
    for proc, log in live:
        if proc.poll() is None:
            _stop(proc, log)


def run_pytest(notebook: Path, log: Path, limits: Limits) -> tuple[int | None, str, bool]:
    """Run nbval on ``notebook`` in its folder; return (exit code or None, output tail, wall timed out)."""
    workdir = notebook.parent
    ini = workdir / "pytest.ini"
    ini.write_text("[pytest]\n")
    cmd = [sys.executable, str(ENTRY), notebook.name, "--nbval-lax", "--nbval-current-env",
           "--nbval-cell-timeout", f"{limits.cell_timeout:g}",
           "--nbval-kernel-startup-timeout", f"{limits.startup_timeout:g}",
           "-p", "nbval.plugin", "-p", "no:cacheprovider", "-c", str(ini), "--rootdir", str(workdir),
           "--confcutdir", str(workdir), "-q", "--no-header", "-rN", "--tb=no", "-W", "ignore",
           "--grading-log", str(log)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    threads = str(max(1, limits.threads))
    env.update(COURSE_QUIET="1", MPLBACKEND="Agg", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               PYTHONDONTWRITEBYTECODE="1", COURSE_GRADING="1",
               COURSE_GRADING_MEMORY_BYTES=str(limits.memory_bytes or 0))
    # the kernel imports the same course_utils as the grader, whether installed or run from a checkout
    package_parent = str(Path(nbs.__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    if limits.memory_bytes and "CUDA_VISIBLE_DEVICES" not in os.environ:
        # CUDA reserves far more address space than RLIMIT_AS allows: grade on the CPU (as the checks expect)
        env["CUDA_VISIBLE_DEVICES"] = ""
    out_path = workdir / "pytest-output.txt"
    timed_out = False
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE[proc] = log
            if STOPPING.is_set():
                _LIVE.pop(proc)
                _stop(proc, log)
                raise RuntimeError("grading was interrupted")
        try:
            code = proc.wait(timeout=limits.wall_timeout)
        except subprocess.TimeoutExpired:
            timed_out, code = True, None
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(proc, None)
            if proc.poll() is None:
                # the kernel lives in its own session: kill it (by the pid the plugin logged, while it is
                # still our child's child, so a reused pid can never be hit), then the pytest process
                _stop(proc, log)
    tail = out_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    return code, tail, timed_out


def score(reference: nbs.Reference, cells: list) -> list:
    """One :class:`CheckResult` per check of the reference, from the plugin's cell records."""
    by_check = {}
    for rec in cells:
        if rec.get("check") in reference.checks and rec["check"] not in by_check:
            by_check[rec["check"]] = rec
    results = []
    for check, points in reference.checks.items():
        rec = by_check.get(check)
        if rec is None:
            results.append(CheckResult(check, 0, points, "missing", "not run: grading stopped before this check"))
            continue
        passed = rec["outcome"] == "passed"
        results.append(CheckResult(check, points if passed else 0, points, rec["outcome"],
                                   rec.get("message", ""), rec.get("output", "")))
    return results


def status_of(cells: list, code: int | None, tail: str, wall: bool, limits: Limits) -> tuple[str, str]:
    def where(rec):
        return f"cell {rec.get('index')} ({rec.get('cell_id')})"

    died = next((r for r in cells if r["outcome"] == "kernel_died"), None)
    memory = next((r for r in cells if r["outcome"] == "failed" and (
        "MemoryError" in r["message"] or "can't allocate memory" in r["message"]
        or "not enough memory" in r["message"])), None)
    timeout = next((r for r in cells if r["outcome"] == "timeout"), None)
    limit = f"{limits.memory_bytes / (1 << 30):g} GiB" if limits.memory_bytes else "no limit"
    if wall:
        return WALL_TIMEOUT, (f"the whole notebook ran longer than {limits.wall_timeout:g} s; "
                              f"stopped after {len(cells)} cells")
    if died is None and any(r["outcome"] == "not_run" for r in cells):
        died = next(r for r in cells if r["outcome"] == "not_run")
    if died is not None:
        return KERNEL_DIED, (f"the kernel died in {where(died)} (memory limit {limit}, a crash, "
                             "or the process was killed); later cells did not run")
    if memory is not None:
        return MEMORY, f"{where(memory)} ran out of memory (limit {limit}): {memory['message'][:120]}"
    if timeout is not None:
        return TIMEOUT, f"{where(timeout)} exceeded the per-cell limit of {limits.cell_timeout:g} s"
    if not cells:
        return GRADER_ERROR, f"nbval produced no results (exit code {code}): {tail.strip()[-400:]}"
    if all(r.get("phase") == "setup" for r in cells):
        return GRADER_ERROR, f"the kernel did not start: {cells[0]['message'][:300]}"
    errors = [r for r in cells if r["outcome"] == "failed" and not r.get("check")]
    if errors:
        first = errors[0]
        return OK, f"{len(errors)} non-check cell(s) raised; first {where(first)}: {first['message'][:150]}"
    return OK, ""


def grade(submission: Path, learner: str, relpath: str, match: nbs.Match, nb, limits: Limits,
          scratch: Path | None = None, sha256: str = "") -> Result:
    """Grade one matched, parsed submission (``nb``) against ``match.reference``."""
    start = time.monotonic()
    ref = match.reference
    workdir = Path(tempfile.mkdtemp(prefix="grade-", dir=scratch))
    try:
        restored = nbs.restore(nb, ref)
        target = workdir / ref.name
        nbs.write(restored, target)
        log = workdir / "cells.jsonl"
        code, tail, wall = run_pytest(target, log, limits)
        cells, _ = read_log(log)
        status, detail = status_of(cells, code, tail, wall, limits)
        checks = score(ref, cells)
        if wall:
            for c in checks:
                if c.outcome == "missing":
                    c.message = "not run: the whole-notebook time limit was reached first"
        return Result(learner, relpath, ref.name, status, detail, checks, time.monotonic() - start, sha256)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
