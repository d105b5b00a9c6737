"""Grading on a real Dask cluster (``grade --scheduler``): a scheduler and two workers started as processes.

Nothing is mocked: ``dask scheduler`` and two ``dask worker`` processes (``--nthreads 1 --nworkers 1``, each
under its nanny, which restarts a killed worker) run on localhost on ports the system chooses (``--port 0``), a scheduler file in
``tmp_path`` and ``PYTHONPATH`` set to this checkout, so they grade with this course. The scheduler allows
one failure (``distributed.scheduler.allowed-failures = 1``): a submission running on a worker each time
one died is given up after the second death.

1. A batch of solved, unsolved, partly solved and failing submissions of the tiny course of
   ``tests/test_grading.py`` graded on the cluster (through the command line) gives the same rows and
   feedback as the local pool.
2. A worker killed while it grades a slow submission: every row still arrives exactly once, and the
   grading process the dead worker had started does not outlive it.
3. A submission whose worker is killed each time it runs it is marked ``worker lost`` (not retried forever),
   the others are graded; ``--resume`` then grades only that one again.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

if os.environ.get("CI") == "true":   # CI installs the test extra, which brings Dask: fail there, not skip
    import distributed
else:
    distributed = pytest.importorskip("distributed", reason="needs course_utils[dask]")

from submissions import write_submission  # noqa: E402  (tests/ is on sys.path)
from test_grading import SOLVED, _solve, _with, tiny_course  # noqa: E402

from course_utils.instructor.grading import batch, runner  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LIMITS = dict(cell_timeout=60, wall_timeout=180, memory_bytes=2 << 30)
DASK = Path(sys.executable).with_name("dask")
SLEEP_CELL = b'"learner-sleep"'   # the id of the cell that makes the slow and the doomed submissions slow


def _stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler file, a Client) of a scheduler and two workers on localhost; stopped afterwards."""
    base = tmp_path_factory.mktemp("dask")
    scheduler_file = base / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    procs = []
    logs = []

    def start(name, *args, env=env):
        log = open(base / f"{name}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen([str(DASK), *args], env=env, cwd=base, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))

    # the scheduler unpickles every task but must not need the course: here it cannot import it
    blocked = base / "no-course" / "course_utils"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('the Dask scheduler must not import the course')\n")
    scheduler_env = {**env, "PYTHONPATH": str(base / "no-course")}
    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file), env=scheduler_env)
        for i in range(2):
            start(f"worker{i}", "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                  "--nworkers", "1", "--no-dashboard", "--memory-limit", "0", "--name", f"w{i}",
                  "--local-directory", str(base / f"w{i}"), "--death-timeout", "120")
        deadline = time.monotonic() + 180
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, (base / "scheduler.log").read_text()
            time.sleep(0.5)
        client = distributed.Client(scheduler_file=str(scheduler_file), timeout=60, set_as_default=False)
        client.wait_for_workers(2, timeout=180)
        yield scheduler_file, client
        client.close()
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def _submissions(folder: Path, course: dict, slow: dict | None = None) -> None:
    """Solved, unsolved, partly solved, a kernel that dies, an invalid file and a wrong notebook."""
    tiny, other, name = course["tiny"], course["other"], "90_tiny.ipynb"
    solved = _solve(tiny, **SOLVED)
    write_submission(folder, "solved", name, solved)
    write_submission(folder, "unsolved", name, tiny)
    write_submission(folder, "partly", name, _solve(tiny, add="return a + b"))
    write_submission(folder, "kernel_killed", name, _with(solved, "check-90-add", "import os, signal\n"
                                                "os.kill(os.getpid(), signal.SIGKILL)", "learner-kill"))
    write_submission(folder, "invalid_json", name, '{"cells": [')
    write_submission(folder, "wrong_notebook", name, _solve(other, sub="return a - b"))
    for learner, seconds in (slow or {}).items():
        write_submission(folder, learner, name, _with(solved, "setup-90", f"import time\ntime.sleep({seconds})", "learner-sleep"))


def _sheet(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _processing(client, learner: str) -> str | None:
    """Address of the worker running ``learner``'s submission now (keys name it: grade-TOKEN-N-LEARNER_...)."""
    for address, keys in client.processing().items():
        if any(f"-{learner}_" in str(key) for key in keys):
            return address
    return None


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process now."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            found[int(entry.name)] = (int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]),
                                      (entry / "cmdline").read_bytes())
        except (OSError, ValueError, IndexError):
            continue
    return found


def _descendants(pid: int, table: dict) -> list[int]:
    """Every process below ``pid`` (children, their children, ...) in ``table`` (:func:`_processes`)."""
    below, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _) in table.items() if ppid == parent]
        below += children
        frontier += children
    return below


def _grades(grader: int, marker: bytes) -> bool:
    """Whether the grading process ``grader`` grades a notebook holding ``marker`` (its first argument: the
    command is ``python _entry.py NOTEBOOK ...``, ``runner.run_pytest``)."""
    try:
        notebook = (Path(f"/proc/{grader}") / "cmdline").read_bytes().split(b"\0")[2].decode()
        return marker in (Path(f"/proc/{grader}") / "cwd" / notebook).read_bytes()   # the path may be relative
    except (OSError, IndexError, UnicodeDecodeError):
        return False


def _grading_processes(worker: int, marker: bytes) -> list[int]:
    """The grading (pytest) processes anywhere below a worker process for a notebook holding ``marker``, and
    their kernels (the grading process's children). A worker may hold a second submission queued behind the one
    it runs, so the marker picks the one."""
    table = _processes()
    graders = [g for g in _descendants(worker, table) if b"_entry.py" in table[g][1] and _grades(g, marker)]
    return graders + [k for k, (parent, command) in table.items()
                      if parent in graders and b"ipykernel_launcher" in command]


def _below(worker: int) -> str:
    """The command lines below ``worker``, shortened, for the killer's log."""
    table = _processes()
    shown = {p: table[p][1][:90].replace(b"\0", b" ").decode(errors="replace") for p in _descendants(worker, table)}
    return "; ".join(f"{p}: {command}" for p, command in shown.items()) or "none"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Killer(threading.Thread):
    """Kill (SIGKILL) the worker process that runs ``learner``'s submission, up to ``times`` times.

    ``events`` says what it saw, for the failure messages; a call that fails because the cluster is changing
    under it (a worker just died or joined) is logged and tried again, never ends the thread."""

    def __init__(self, client, learner: str, times: int):
        super().__init__(daemon=True)
        self.client, self.learner, self.times = client, learner, times
        self.killed: list = []          # (worker pid, pids of its children when killed)
        self.events: list[str] = []
        self.done = threading.Event()

    def log(self, event: str) -> None:
        self.events.append(f"{time.monotonic():.1f} {event}")

    def run(self):
        while not self.done.is_set() and len(self.killed) < self.times:
            try:
                self.kill_once()
            except Exception as error:       # noqa: BLE001  (a worker that died or joined meanwhile)
                self.log(f"retrying after {type(error).__name__}: {error}")
                time.sleep(0.5)

    def kill_once(self) -> None:
        address = _processing(self.client, self.learner)
        if address is None:
            time.sleep(0.2)
            return
        pid = self.client.run(os.getpid, workers=[address])[address]
        self.log(f"{self.learner} runs on {address} (pid {pid})")
        deadline = time.monotonic() + 120   # until its kernel runs, so the kill lands mid-run
        while len(_grading_processes(pid, SLEEP_CELL)) < 2 and time.monotonic() < deadline:
            if _processing(self.client, self.learner) != address:   # stolen by a worker that (re)joined
                self.log(f"{self.learner} moved off {address} before its kernel started")
                return
            time.sleep(0.5)
        if time.monotonic() >= deadline:
            self.log(f"no grading process and kernel of {self.learner} seen below {pid}: {_below(pid)}")
        time.sleep(2)
        if _processing(self.client, self.learner) != address:
            self.log(f"{self.learner} left {address} before the kill")
            return
        children = _grading_processes(pid, SLEEP_CELL)
        os.kill(pid, signal.SIGKILL)
        self.killed.append((pid, children))
        self.log(f"killed {pid} with children {children}")
        deadline = time.monotonic() + 60  # until the scheduler has taken the submission off the dead worker
        while _processing(self.client, self.learner) == address and time.monotonic() < deadline:
            time.sleep(0.2)

    def report(self) -> str:
        return "killer's log:\n  " + "\n  ".join(self.events)


def test_cluster_rows_match_the_local_pool(cluster, tmp_path):
    scheduler_file, _ = cluster
    course = tiny_course(tmp_path / "ref")
    _submissions(tmp_path / "subs", course)
    local = batch.grade_batch(tmp_path / "subs", tmp_path / "local", tmp_path / "ref", workers=2,
                              limits=runner.Limits(**LIMITS), log=lambda *a: None)
    proc = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "subs"), "--out",
                           str(tmp_path / "dask"), "--reference", str(tmp_path / "ref"), "--scheduler",
                           str(scheduler_file), "--timeout", str(LIMITS["cell_timeout"]),
                           "--wall-timeout", str(LIMITS["wall_timeout"]), "--memory-limit", "2G"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the Dask cluster at" in proc.stdout
    on_cluster = _sheet(tmp_path / "dask" / "grades.csv")
    assert on_cluster == local
    statuses = {r["learner"]: (r["total"], r["status"]) for r in on_cluster}
    assert statuses == {"solved": ("5", "ok"), "unsolved": ("0", "ok"), "partly": ("2", "ok"),
                        "kernel_killed": ("2", "kernel died"), "invalid_json": ("0", "invalid notebook"),
                        "wrong_notebook": ("0", "wrong notebook")}
    feedback = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local" / "feedback").rglob("*.md"))
    assert feedback == sorted(p.relative_to(tmp_path / "dask") for p in (tmp_path / "dask" / "feedback").rglob("*.md"))
    for rel in feedback:
        assert (tmp_path / "dask" / rel).read_text() == (tmp_path / "local" / rel).read_text(), rel


def test_a_worker_killed_mid_batch_loses_nothing(cluster, tmp_path):
    scheduler_file, client = cluster
    client.wait_for_workers(2, timeout=180)
    course = tiny_course(tmp_path / "ref")
    subs = tmp_path / "subs"
    _submissions(subs, course, slow={"slow": 15})
    killer = Killer(client, "slow", times=1)
    killer.start()
    printed = []
    try:
        rows = batch.grade_batch(subs, tmp_path / "out", tmp_path / "ref", limits=runner.Limits(**LIMITS),
                                 log=printed.append, scheduler=str(scheduler_file))
    finally:
        killer.done.set()
        killer.join(timeout=120)
    assert len(killer.killed) == 1, f"the slow submission was never seen running on a worker; {killer.report()}"
    learners = [r["learner"] for r in _sheet(tmp_path / "out" / "grades.csv")]
    assert sorted(learners) == sorted(["solved", "unsolved", "partly", "kernel_killed", "invalid_json",
                                       "wrong_notebook", "slow"])             # each exactly once
    assert len([line for line in printed if line.startswith("[")]) == 7      # one result per submission
    got = {r["learner"]: (r["total"], r["status"]) for r in rows}
    assert got["slow"] == ("5", "ok") and got["solved"] == ("5", "ok") and got["kernel_killed"][1] == "kernel died"
    # the grading process (pytest) the dead worker had started died with it, and so did its kernel
    _, children = killer.killed[0]
    assert len(children) == 2, f"the worker was killed before its grading process had started a kernel; {killer.report()}"
    time.sleep(2)
    assert not [pid for pid in children if _alive(pid)], "a grading process or kernel outlived its killed worker"


def test_a_submission_that_kills_its_worker_is_marked_not_retried_forever(cluster, tmp_path):
    scheduler_file, client = cluster
    client.wait_for_workers(2, timeout=180)
    course = tiny_course(tmp_path / "ref")
    subs = tmp_path / "subs"
    write_submission(subs, "solved", "90_tiny.ipynb", _solve(course["tiny"], **SOLVED))
    write_submission(subs, "unsolved", "90_tiny.ipynb", course["tiny"])
    write_submission(subs, "doomed", "90_tiny.ipynb", _with(_solve(course["tiny"], **SOLVED), "setup-90",
                                                  "import time\ntime.sleep(12)", "learner-sleep"))
    allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    assert allowed == 1
    killer = Killer(client, "doomed", times=allowed + 3)   # would go on killing: the scheduler must stop first
    killer.start()
    try:
        rows = batch.grade_batch(subs, tmp_path / "out", tmp_path / "ref", limits=runner.Limits(**LIMITS),
                                 log=lambda *a: None, scheduler=str(scheduler_file))
    finally:
        killer.done.set()
        killer.join(timeout=120)
    got = {r["learner"]: (r["total"], r["status"]) for r in rows}
    assert got == {"solved": ("5", "ok"), "unsolved": ("0", "ok"), "doomed": ("0", runner.WORKER_LOST)}, \
        f"{rows}\n{killer.report()}"
    assert len(killer.killed) == allowed + 1, killer.report()
    doomed = next(r for r in rows if r["learner"] == "doomed")
    assert "allowed-failures = 1" in doomed["detail"]
    assert "worker lost" in (tmp_path / "out" / "feedback" / "doomed" / "90_tiny.md").read_text()
    # --resume keeps the graded rows and grades the lost one again (no one kills its worker now)
    client.wait_for_workers(2, timeout=180)
    printed = []
    rows = batch.grade_batch(subs, tmp_path / "out", tmp_path / "ref", limits=runner.Limits(**LIMITS),
                             resume=True, log=printed.append, scheduler=str(scheduler_file))
    assert "resume: 2 submission(s) already graded and unchanged, 1 to grade" in printed
    assert {r["learner"]: (r["total"], r["status"]) for r in rows} == {
        "solved": ("5", "ok"), "unsolved": ("0", "ok"), "doomed": ("5", "ok")}
