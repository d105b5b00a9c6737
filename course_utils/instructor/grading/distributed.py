"""Grade on a Dask cluster: ``python -m course_utils grade SUBMISSIONS --out DIR --scheduler ADDRESS``.

The client (this process) reads each submission and sends its bytes to the cluster; a worker grades it with
:func:`.batch.grade_one`, the function the local pool runs (same restore, isolation, limits and timeouts
of :mod:`.runner` and :mod:`.isolation`, in the worker's machine), and sends the result back as plain data.
Only the client writes ``DIR``: one ``grades.csv`` row and one feedback file as each result arrives.

- The course notebooks graded against travel once, as one task every grading task depends on (so a worker
  that joins late, or the loss of the worker holding them, is handled by Dask like any other result).
- At most :attr:`DaskPool.in_flight` submissions are on the cluster at a time (at least 64, or twice its
  worker threads): neither the scheduler's memory nor the client's grows with the cohort.
- A worker that dies mid-batch loses nothing: the scheduler gives its submissions to other workers.
  A submission that was running on a worker each time one died, more than the scheduler's
  ``distributed.scheduler.allowed-failures`` times (default 3), comes back as :class:`distributed.KilledWorker`
  and gets the status ``worker lost`` (zero points); ``--resume`` grades such rows again.
- Before grading, every worker must import the course and its check code must be the client's
  (:func:`course_fingerprint`); a worker that joins later is checked by each task it runs.

Dask is optional (``pip install 'course_utils[dask]'``): this module imports it only when used.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from . import batch, runner
from . import notebooks as nbs

INSTALL = "pip install 'course_utils[dask]' (dask[distributed] and distributed)"
SCHEMES = ("tcp", "tls", "ucx", "inproc", "ws", "wss")
EXPECTED = ("a Dask scheduler address such as tcp://host:8786 (or host:8786), or the path of a scheduler file "
            "written by `dask scheduler --scheduler-file PATH`")
CONNECT_TIMEOUT_S = 30
CHECK_TIMEOUT_S = 600      # the first import of the course (torch) on a loaded worker can take minutes


class DaskError(ValueError):
    """Grading cannot use the cluster (no dask, a bad address, an unreachable scheduler, a mismatched worker)."""


def _distributed():
    try:
        import distributed
    except ImportError as error:
        raise DaskError(f"--scheduler needs Dask distributed, which is not installed ({error}): {INSTALL}") from None
    return distributed


def scheduler_arguments(text: str) -> dict:
    """``{"address": ...}`` or ``{"scheduler_file": ...}`` for :class:`distributed.Client`; bad input: DaskError."""
    text = str(text).strip()
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme in SCHEMES and re.fullmatch(r"[\w.\-\[\]:]+:\d+/?", rest):
            return {"address": text}
        raise DaskError(f"--scheduler {text!r} is not a scheduler address: expected {EXPECTED}")
    path = Path(text).expanduser()
    if path.is_file():
        return {"scheduler_file": str(path)}
    if re.fullmatch(r"[\w.\-]+:\d+", text):
        return {"address": f"tcp://{text}"}
    if path.suffix == ".json" or os.sep in text:
        raise DaskError(f"--scheduler {text!r}: no such scheduler file; expected {EXPECTED}")
    raise DaskError(f"--scheduler {text!r} is neither a scheduler address nor a file: expected {EXPECTED}")


def course_fingerprint() -> str:
    """SHA-256 of every ``.py`` file of the installed ``course_utils`` (its check code decides the points)."""
    root = Path(nbs.__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def worker_info() -> dict:
    """What the client checks on each worker before grading (runs on the worker)."""
    runner.check_engine()
    return {"fingerprint": course_fingerprint(), "course": str(Path(nbs.__file__).resolve().parents[2]),
            "cpus": os.cpu_count()}


# -- on the worker -------------------------------------------------------------------------------------
_REFS: dict = {}        # digest of a references bundle -> the references, loaded from a folder of this process
_REFS_LOCK = threading.Lock()


def references_bundle(bundle: dict) -> dict:
    """The task that holds the course notebooks (name -> bytes) for every grading task."""
    return bundle


def _references(bundle: dict) -> dict:
    digest = hashlib.sha256(b"".join(k.encode() + b"\0" + v for k, v in sorted(bundle.items()))).hexdigest()
    with _REFS_LOCK:
        if digest not in _REFS:
            folder = Path(tempfile.mkdtemp(prefix="course-references-"))
            import atexit
            atexit.register(shutil.rmtree, folder, True)
            for name, data in bundle.items():
                (folder / Path(name).name).write_bytes(data)
            _REFS[digest] = nbs.load_references(folder)
        return _REFS[digest]


def _kernel_threads() -> int:
    """Threads per kernel on this worker: :func:`.runner.default_threads` of its ``--nthreads`` (submissions at once)."""
    try:
        from distributed import get_worker
        worker = get_worker()
        nthreads = getattr(getattr(worker, "state", None), "nthreads", None) or worker.nthreads
    except (ImportError, ValueError, AttributeError):
        nthreads = 1
    return runner.default_threads(nthreads)


def grade_task(learner: str, rel: str, data: bytes, bundle: dict, assignment: str | None, limits: dict,
               fingerprint: str) -> dict:
    """Grade one submission on a worker; the :class:`.runner.Result` as a plain dict.

    The course is fingerprinted at each task (a few milliseconds): the kernel imports the check code from
    this worker's disk when it runs, so that is what must match the client's.
    """
    if course_fingerprint() != fingerprint:
        raise RuntimeError(f"this worker's course_utils ({Path(nbs.__file__).resolve().parents[2]}) differs from "
                           "the grading client's: install the same course version on every worker")
    limits = runner.Limits(**limits)
    if limits.threads <= 0:
        limits.threads = _kernel_threads()
    result = batch.grade_one(learner, rel, data, _references(bundle), assignment, limits)
    return dataclasses.asdict(result)


def result_from_dict(data: dict) -> runner.Result:
    return runner.Result(**{**data, "checks": [runner.CheckResult(**c) for c in data["checks"]]})


def _on_worker(function: str, *args):
    """Call ``course_utils.instructor.grading.distributed.<function>(*args)`` where the task runs.

    What the client submits instead of the function itself. The scheduler unpickles every task; this function
    is pickled by value (its ``__module__`` is ``__main__`` and it names no global of this module), so the
    scheduler needs only Dask, not the course, whose import brings torch. The worker imports the course.
    """
    import importlib
    return getattr(importlib.import_module("course_utils.instructor.grading.distributed"), function)(*args)


def _allowed_failures(dask_scheduler=None) -> int:
    """``distributed.scheduler.allowed-failures`` of the running scheduler (run there, pickled by value too)."""
    return int(dask_scheduler.allowed_failures)


_on_worker.__module__ = _allowed_failures.__module__ = "__main__"


# -- on the client -------------------------------------------------------------------------------------
class DaskPool:
    """Grade on the workers of a running Dask cluster (see :func:`.batch.choose_pool`)."""

    def __init__(self, scheduler: str, in_flight: int | None = None):
        self.arguments = scheduler_arguments(scheduler)
        self.scheduler = scheduler
        self.in_flight = in_flight
        self.client = None
        self.futures: dict = {}
        self.workers_at_end = 0

    def describe(self) -> str:
        return f"the Dask cluster at {self.scheduler} ({self.workers_at_end} worker(s) at the end)"

    def connect(self):
        distributed = _distributed()
        try:
            self.client = distributed.Client(**self.arguments, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise DaskError(f"could not reach the Dask scheduler at {self.scheduler} within {CONNECT_TIMEOUT_S} s "
                            f"({type(error).__name__}: {error}); start it with `dask scheduler`") from None
        self.fingerprint = course_fingerprint()
        try:
            self.check_workers(self.fingerprint)
        except BaseException:
            self.close()
            raise
        return self.client

    def check_workers(self, fingerprint: str) -> None:
        """Refuse a cluster whose workers cannot grade or grade with other check code than this client's.

        One small task per worker now there (a task, not ``Client.run``: the first import of the course takes
        a while and must not block the worker's event loop); a worker that joins later is checked by each task.
        """
        token = secrets.token_hex(4)
        addresses = sorted(self.client.scheduler_info().get("workers", {}))
        futures = {address: self.client.submit(_on_worker, "worker_info", key=f"course-check-{token}-{i}", workers=[address],
                                               allow_other_workers=False, pure=False)
                   for i, address in enumerate(addresses)}
        deadline = time.monotonic() + CHECK_TIMEOUT_S
        problems = []
        for address, future in futures.items():
            try:
                info = future.result(timeout=max(1.0, deadline - time.monotonic()))
            except TimeoutError:
                problems.append(f"{address} did not answer within {CHECK_TIMEOUT_S} s")
            except Exception as error:  # noqa: BLE001 - whatever the worker raised is the reason
                problems.append(f"{address} cannot grade ({type(error).__name__}: {error})")
            else:
                if info["fingerprint"] != fingerprint:
                    problems.append(f"{address} has another course_utils ({info['course']})")
        self.client.cancel(list(futures.values()))
        if problems:
            raise DaskError("workers not ready: " + "; ".join(problems) + ". Every worker needs this same course "
                            "installed with its instructor tools (docs/INSTRUCTORS.md, 'Grading on a Dask cluster')")

    def _window(self) -> int:
        if self.in_flight:
            return self.in_flight
        threads = sum(self.client.nthreads().values())
        return max(64, 2 * threads)

    def grade(self, todo: list, refs: dict, assignment: str | None, limits: runner.Limits):
        """Yield ((learner, path, rel), Result or the exception grading raised) as results arrive."""
        distributed = _distributed()
        if self.client is None:
            self.connect()
        fingerprint = self.fingerprint
        bundle = {name: Path(ref.path).read_bytes() for name, ref in refs.items()}
        token = secrets.token_hex(4)
        bundle_future = self.client.submit(_on_worker, "references_bundle", bundle, key=f"course-references-{token}",
                                           pure=False)
        plain_limits = dataclasses.asdict(limits)
        pending = iter(enumerate(todo))
        done = distributed.as_completed(loop=self.client.loop)

        def submit_next() -> bool:
            try:
                index, item = next(pending)
            except StopIteration:
                return False
            learner, path, rel = item
            key = f"grade-{token}-{index:06d}-{batch._safe(rel)}"
            future = self.client.submit(_on_worker, "grade_task", learner, rel, path.read_bytes(), bundle_future, assignment,
                                        plain_limits, fingerprint, key=key, pure=False)
            self.futures[future.key] = (future, item)
            done.add(future)
            return True

        for _ in range(self._window()):
            if not submit_next():
                break
        for future in done:
            _, item = self.futures.pop(future.key)
            try:
                outcome = result_from_dict(future.result())
            except distributed.KilledWorker as error:
                outcome = self._lost(item, error)
            except (asyncio.CancelledError, concurrent.futures.CancelledError) as error:
                raise DaskError(f"the Dask cluster cancelled {item[2]} ({error}): the scheduler was lost or "
                                "restarted. Rows written so far are kept; run again with --resume") from None
            except Exception as error:
                outcome = error
            del future
            while len(self.futures) < self._window() and submit_next():
                pass
            yield item, outcome
        bundle_future.release()

    def _lost(self, item, error) -> runner.Result:
        learner, path, rel = item
        try:
            allowed = self.client.run_on_scheduler(_allowed_failures)
        except Exception:  # noqa: BLE001 - only for the message
            allowed = "?"
        return runner.Result(learner, rel, path.name, runner.WORKER_LOST,
                             f"a Dask worker died each time it graded this submission (more than {allowed} times, "
                             f"distributed.scheduler.allowed-failures = {allowed}); not retried. "
                             f"{str(error)[:200]}", [], 0.0, batch.sha256(path))

    def stop(self) -> None:
        """Interrupted: cancel what the cluster has not finished (running ones finish there, unused)."""
        if self.client is not None:
            try:
                self.client.cancel([f for f, _ in self.futures.values()])
            finally:
                self.close()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.workers_at_end = len(self.client.scheduler_info().get("workers", {}))
            except Exception:  # noqa: BLE001 - the scheduler may be gone already
                pass
            self.client.close()
            self.client = None

