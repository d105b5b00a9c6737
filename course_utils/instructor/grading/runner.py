"""Grade one submission: restore its check cells, run it under nbval in its own process, score it.

The process is ``python course_utils/instructor/grading/_entry.py NOTEBOOK --nbval-lax ...`` (pytest with
nbval and :mod:`.plugin`), started in a private folder of the grader's with an empty ``pytest.ini`` and
``--noconftest``, so no ``conftest.py`` of the learner's or of the course repository is loaded. The
kernel is the explicitly named kernel spec ``course-grading`` from that private folder, started through
:mod:`._launch`: its working folder, home, temporary and cache folders and its environment are the
submission's own (:mod:`.isolation`), outside the output folder, and, when grading as root, it runs as
an unprivileged uid of its own. It imports the course as a graded release withholding the notebook it
grades ships it (:mod:`.runtime`): no reference of that notebook or a later one, no instructor tools; as
root its mount namespace hides the grader's own package and checkout as well. The cell records come back
through a pipe only the pytest process holds, each with this run's token; nothing the grader reads is a
file in the kernel's reach.
For the exercises the judge decides (:mod:`.judge`, table in :mod:`.judged`), the runner records the calls of the
course's check on secret inputs before the run, hands them to the pytest process on its stdin, and after it judges
the kernel's outputs (each in its cell's record) with that check in this process: those points are the judge's.
Limits: ``--nbval-cell-timeout`` per cell, a wall-clock limit for the whole submission, and an
address-space limit (``RLIMIT_AS``) that the kernel inherits.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import isolation, judged, runtime
from . import notebooks as nbs

ENTRY = Path(__file__).resolve().parent / "_entry.py"
_LIVE: dict = {}                 # Popen -> (its records so far, its Submission), for kill_all()
_LIVE_LOCK = threading.Lock()
STOPPING = threading.Event()     # set by kill_all(): start no new grading process

# status values, most important first (a submission gets the first that applies)
INVALID, WRONG, GRADER_ERROR = "invalid notebook", "wrong notebook", "grader error"
WALL_TIMEOUT, KERNEL_DIED, MEMORY, TIMEOUT, OK = "timeout", "kernel died", "memory limit", "timeout", "ok"
WORKER_LOST = "worker lost"      # a Dask worker died each time it graded this submission (.distributed)


@dataclass
class Limits:
    cell_timeout: float = 120.0          # seconds per cell
    wall_timeout: float = 1800.0         # seconds for the whole submission
    memory_bytes: int = 4 << 30          # address space of the grading process and the kernel; 0: none
    threads: int = 0                     # OMP/MKL threads of the kernel (0: default_threads)
    startup_timeout: float = 60.0


def default_threads(at_once: int) -> int:
    """OMP/MKL threads of each kernel when ``Limits.threads`` is 0: this machine's CPU count over the
    submissions graded at once on it, and never more than the grader's own ``OMP_NUM_THREADS`` when that is set
    (a machine shared with other work, such as the course's tests, pins it), so kernels do not oversubscribe."""
    threads = max(1, (os.cpu_count() or 1) // max(1, at_once))
    pinned = os.environ.get("OMP_NUM_THREADS", "").strip()
    return min(threads, int(pinned)) if pinned.isdigit() and int(pinned) > 0 else threads


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


def _stop(proc, records: list, sub: isolation.Submission) -> None:
    """Kill a grading process and its kernel (which jupyter starts in a session of its own)."""
    if sub.user is not None:
        sub.stop_processes()       # every process of the kernel's own uid
    else:
        # by the pid the plugin sent, while it is still our child's child, so a reused pid is never hit
        _, kernel = _split(list(records))
        if kernel and _parent_of(kernel) == proc.pid:
            _kill(kernel)
    _kill(proc.pid)
    proc.wait()


def kill_all() -> None:
    """Stop every grading process still running (and its kernel): used when a batch is interrupted."""
    with _LIVE_LOCK:
        STOPPING.set()
        live = list(_LIVE.items())
    for proc, (records, sub) in live:
        if proc.poll() is None:
            _stop(proc, records, sub)


def check_engine() -> None:
    """Refuse to grade with an nbval release the plugin is not tested against (it patches nbval)."""
    from importlib.metadata import PackageNotFoundError, version

    from .plugin import TESTED_NBVAL
    try:
        found = version("nbval")
    except PackageNotFoundError:
        found = None
    if found != TESTED_NBVAL:
        raise RuntimeError(f"grading needs nbval {TESTED_NBVAL} (the release its plugin is tested against), "
                           f"found {found or 'none'}: pip install 'nbval=={TESTED_NBVAL}'")


def _read_records(pipe, token: str, records: list) -> None:
    """Collect the plugin's records from the pipe; lines without this run's token are not records."""
    with pipe:
        for line in pipe:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and rec.pop("token", None) == token:
                records.append(rec)


def _split(records: list) -> tuple[list, int | None]:
    cells = [r for r in records if r.get("event") == "cell"]
    pid = next((r.get("pid") for r in records if r.get("event") == "kernel"), None)
    return cells, pid


def run_pytest(notebook: Path, sub: isolation.Submission, limits: Limits,
               judge_payload: dict | None = None) -> tuple[int | None, str, bool, list]:
    """Run nbval on ``notebook`` (in ``sub.work``); return (exit code or None, output tail, wall timed out, cells).

    The records come back through a pipe that only the pytest process holds, each carrying a token the
    runner made for this run and handed to pytest on its stdin, with the judge's requests
    (``judge_payload``, :meth:`.judge.Session.payload`) on the line after it.
    """
    private = sub.private
    ini = private / "pytest.ini"
    ini.write_text("[pytest]\n")
    read_fd, write_fd = os.pipe()
    cmd = [sys.executable, str(ENTRY), str(notebook), "--nbval-lax",
           "--nbval-kernel-name", isolation.KERNEL_NAME,
           "--nbval-cell-timeout", f"{limits.cell_timeout:g}",
           "--nbval-kernel-startup-timeout", f"{limits.startup_timeout:g}",
           "-p", "nbval.plugin", "-p", "no:cacheprovider", "-c", str(ini), "--rootdir", str(private),
           "--noconftest", "-q", "--no-header", "-rN", "--tb=no", "-W", "ignore",
           "--grading-fd", str(write_fd)]
    token = secrets.token_hex(16)
    records: list = []
    out_path = private / "pytest-output.txt"
    timed_out = False
    with open(out_path, "wb") as out:
        try:
            proc = subprocess.Popen(cmd, cwd=private, env={**sub.env, "COURSE_GRADING_PARENT": str(os.getpid())},
                                    stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.PIPE, pass_fds=(write_fd,), start_new_session=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        reader = threading.Thread(target=_read_records, args=(os.fdopen(read_fd, encoding="utf-8",
                                                                        errors="replace"), token, records),
                                  daemon=True)
        reader.start()
        try:
            proc.stdin.write(token.encode() + b"\n" + json.dumps(judge_payload or {}).encode() + b"\n")
            proc.stdin.close()
        except OSError:
            pass
        with _LIVE_LOCK:
            _LIVE[proc] = (records, sub)
            if STOPPING.is_set():
                _LIVE.pop(proc)
                _stop(proc, records, sub)
                raise RuntimeError("grading was interrupted")
        try:
            code = proc.wait(timeout=limits.wall_timeout)
        except subprocess.TimeoutExpired:
            timed_out, code = True, None
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(proc, None)
            if proc.poll() is None:
                _stop(proc, records, sub)
        # the pipe closes when pytest exits (the kernel never held it); stop the kernel's processes
        # first in case a grandchild kept it open under a shared uid
        sub.stop_processes()
        reader.join(timeout=10)
    tail = out_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    cells, _ = _split(list(records))
    return code, tail, timed_out, cells


def score(reference: nbs.Reference, cells: list, judge=None) -> list:
    """One :class:`CheckResult` per check of the reference, from the plugin's cell records.

    For a check the ``judge`` (a :class:`.judge.Session`) holds a request for, the points are the judge's verdict
    alone: the kernel's outputs on the grader's secret inputs, judged here by the course's check (a check cell
    that "passed" in the kernel with outputs that do not match earns 0, and the message names the mistake).
    The in-kernel cell still counts where it did not finish (timeout, dead kernel): nothing could be asked then.
    """
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
        if judge is not None and check in judge.requests and rec["outcome"] in ("passed", "failed"):
            passed, message = judge.verdict(check, rec.get("judge"))
            if not passed and rec["outcome"] == "passed":
                message = f"the grader's own check of your outputs failed: {message}"
            results.append(CheckResult(check, points if passed else 0, points, "passed" if passed else "failed",
                                       "" if passed else message, rec.get("output", "")))
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


#: Grading processes whose kernel did not start are run again, each time with fresh folders, user and ports.
#: jupyter_client picks a kernel's five ports and the kernel binds them a second later, so a kernel that another
#: process starts in between can take one first ("Address already in use"; nteract/papermill#511,
#: posit-dev/positron#5799): rare, but with many kernels started at once it happens. No learner code has run then.
START_ATTEMPTS = 3


def _grade_once(nb, ref: nbs.Reference, limits: Limits, pythonpath: str, hide: list):
    """One grading process on ``nb`` in fresh folders: (status, detail, wall timed out, cells, judge session).

    Each process gets a judge of its own (:mod:`.judge`): a fresh secret, so fresh inputs, every run."""
    session = None
    if judged.any_judged(ref.checks):       # judge imports torch: only where there is something to judge
        from . import judge
        session = judge.Session().prepare(ref.checks)
    sub = isolation.Submission.create(limits.threads, pythonpath, limits.memory_bytes, hide)
    try:
        restored = nbs.restore(nb, ref)
        target = sub.work / ref.name
        nbs.write(restored, target)
        if sub.user is not None:
            os.chown(target, sub.user.uid, sub.user.gid)
        code, tail, wall, cells = run_pytest(target, sub, limits, session.payload() if session else None)
        status, detail = status_of(cells, code, tail, wall, limits)
        return status, detail, wall, cells, session
    finally:
        sub.remove()


def grade(submission: Path, learner: str, relpath: str, match: nbs.Match, nb, limits: Limits,
          scratch: Path | None = None, sha256: str = "") -> Result:
    """Grade one matched, parsed submission (``nb``) against ``match.reference``.

    A run whose kernel did not start is repeated, up to :data:`START_ATTEMPTS` runs in all.
    ``scratch`` is ignored (kept for callers): each submission's folders are fresh temporary folders
    outside the output folder (:class:`.isolation.Submission`), removed when it is graded.
    """
    start = time.monotonic()
    ref = match.reference
    check_engine()
    # the kernel imports the grader's course_utils as a graded release withholding this notebook ships it
    learner_runtime = runtime.staged(runtime.notebook_number(ref.name))
    pythonpath = os.pathsep.join(p for p in (str(learner_runtime), os.environ.get("PYTHONPATH")) if p)
    hide = runtime.hiding(learner_runtime)
    for _ in range(START_ATTEMPTS):
        status, detail, wall, cells, session = _grade_once(nb, ref, limits, pythonpath, hide)
        if status != GRADER_ERROR:
            break
    if status == GRADER_ERROR:
        detail = f"{detail} (the same in each of {START_ATTEMPTS} runs)"
    checks = score(ref, cells, session)
    if wall:
        for c in checks:
            if c.outcome == "missing":
                c.message = "not run: the whole-notebook time limit was reached first"
    return Result(learner, relpath, ref.name, status, detail, checks, time.monotonic() - start, sha256)
