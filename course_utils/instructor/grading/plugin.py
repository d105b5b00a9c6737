"""pytest plugin used by the grader: one JSON line per notebook cell, written as soon as the cell finishes.

Loaded next to nbval (``pytest --nbval-lax -p ...``) in the per-submission process started by
:mod:`course_utils.instructor.grading.runner`. For every cell it writes a record to ``--grading-fd``
(a pipe to the runner that the kernel never inherits; each record carries the run's token, which
``_entry.py`` reads from its stdin) or, by hand, appends it to the file ``--grading-log``::

    {"event": "cell", "index": 7, "cell_id": "check-01-mean", "check": "01.mean", "points": 2,
     "outcome": "failed", "message": "Exercise 01.mean (...): ...", "output": "...", "seconds": 0.4}

Check ids come from the cell itself (``item.cell.metadata.course.check``), never from nbval's
"Cell N" name or the position, so deleted, moved or duplicated cells cannot shift points.
``outcome`` is ``passed`` (the cell raised nothing), ``failed``, ``timeout`` (per-cell limit),
``kernel_died`` (the kernel died while running the cell) or ``not_run`` (the kernel was already
dead). Because every line is flushed as it is written, a run killed from outside keeps every
result it had.

The plugin also makes nbval notice a dead kernel at once instead of waiting for the cell timeout,
and records the kernel's process id (``{"event": "kernel", "pid": ...}``) so the runner can kill
it: jupyter starts kernels in their own session, outside the runner's process group.

nbval has no public hook for either (it waits for the shell reply inside ``RunningKernel.await_reply``
and drops the reply's status), so the plugin replaces that method, and it does so only for the nbval
release it is tested against (:data:`TESTED_NBVAL`, pinned in the ``instructor`` extra): on any other
release grading stops at once with a message saying so, rather than grading with a changed engine.

For the exercises the judge decides (:mod:`.judge`), after their check cell ran the plugin sends the kernel the
judge's request for that check (source the runner made, handed over on stdin with the token, see ``_entry.py``),
waits for its reply within the request's time limit, and adds what the kernel wrote on stdout after the run's
marker to the cell's record, bounded in size::

    {"event": "cell", ..., "judge": {"reply": "<one JSON line>"}}   or   {"judge": {"error": "why not"}}

Only stdout stream messages whose parent is that execute request count; the runner decodes and judges the reply.

Deliberately light: no torch, no ``course_utils`` imports (the runner loads this file by path).
"""
from __future__ import annotations

import json
import os
import re
import time
from queue import Empty

import pytest

TESTED_NBVAL = "0.11.0"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_TEXT = 4000


class KernelDied(RuntimeError):
    """The kernel process exited while a cell was running."""


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text or "")


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    text = strip_ansi(text)
    return text if len(text) <= limit else text[: limit - 20] + "\n... (cut)"


def _patch_nbval_kernel() -> None:
    """Make ``RunningKernel.await_reply`` poll in short slices and raise :class:`KernelDied` on death."""
    import nbval
    from nbval import kernel as nbval_kernel

    if getattr(nbval, "__version__", None) != TESTED_NBVAL:
        raise pytest.UsageError(
            f"course grading is tested with nbval {TESTED_NBVAL} only (it replaces nbval's "
            f"RunningKernel.await_reply, which nbval offers no hook for), but nbval "
            f"{getattr(nbval, '__version__', '?')} is installed: pip install 'nbval=={TESTED_NBVAL}'")

    original = nbval_kernel.RunningKernel.await_reply
    if getattr(original, "_grading_patched", False):
        return

    def await_reply(self, msg_id, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise Empty()
            slice_ = 0.5 if remaining is None else min(0.5, remaining)
            try:
                msg = self.get_message(stream="shell", timeout=slice_)
            except Empty:
                if not self.is_alive():
                    raise KernelDied("the kernel died while running this cell")
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                # nbval reads errors from iopub only; keep the reply's own status as well, so an error
                # hidden from the output (a learner's custom exception handler) still fails the cell
                self._grading_reply_status = msg["content"].get("status")
                if msg["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                return

    await_reply._grading_patched = True
    nbval_kernel.RunningKernel.await_reply = await_reply


def pytest_addoption(parser):
    group = parser.getgroup("course-grading", "course grading")
    group.addoption("--grading-log", default=None,
                    help="append one JSON line per notebook cell to this file")
    group.addoption("--grading-fd", type=int, default=None,
                    help="write the JSON lines to this inherited file descriptor (the grader's pipe)")


def pytest_configure(config):
    _patch_nbval_kernel()
    _log(config)  # take the pipe now, before any kernel starts


#: set by ``_entry.py`` from its stdin before pytest starts; every record carries it
TOKEN = ""
#: set by ``_entry.py`` from its stdin: {"marker", "max_reply", "timeout", "requests": {check id: source}}
JUDGE: dict = {}


class _Log:
    """Records to the grader's pipe (``fd``) and/or a file (``path``), one JSON line each, flushed at once."""

    def __init__(self, path=None, fd=None):
        self.path = path
        self.pipe = None
        if fd is not None:
            os.set_inheritable(fd, False)      # the kernel, a child of this process, never gets it
            self.pipe = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self.kernel_logged = False

    def write(self, record: dict) -> None:
        line = json.dumps({**record, "token": TOKEN}, ensure_ascii=False) + "\n"
        if self.pipe is not None:
            self.pipe.write(line)
            self.pipe.flush()
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())


_LOG: _Log | None = None


def _log(config) -> _Log:
    global _LOG
    if _LOG is None:
        _LOG = _Log(config.getoption("--grading-log"), config.getoption("--grading-fd"))
    return _LOG


def _kernel_pid(item):
    try:
        return item.parent.kernel.km.provisioner.process.pid
    except Exception:
        return None


def _text_outputs(outputs) -> str:
    parts = []
    for out in outputs or []:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            text = out.get("data", {}).get("text/plain")
            if text:
                parts.append(text + "\n")
    return "".join(parts)


def _error_output(outputs):
    for out in reversed(outputs or []):
        if out.get("output_type") == "error":
            return out
    return None


def _classify(item, excinfo) -> tuple[str, str]:
    """(outcome, message) of one executed cell."""
    if excinfo is None:
        status = getattr(item.parent.kernel, "_grading_reply_status", "ok") if item.parent.kernel else "ok"
        if status == "error":
            return "failed", "the cell raised an error that did not show in its output"
        return "passed", ""
    exc = excinfo.value
    text = strip_ansi(str(exc))
    if isinstance(exc, KernelDied):
        return "kernel_died", "the kernel died while running this cell (memory limit, a crash, or it was killed)"
    if "Kernel dead on test start" in text:
        return "not_run", "not run: the kernel had already died"
    if "Timeout of" in text:
        limit = item.config.getoption("--nbval-cell-timeout")
        return "timeout", f"timed out: the cell ran longer than the per-cell limit of {limit:g} s"
    error = _error_output(getattr(item, "test_outputs", None))
    if error is not None:
        ename, evalue = error.get("ename", "Error"), strip_ansi(error.get("evalue", ""))
        if ename in ("CheckFailed", "NotImplementedYet"):
            return "failed", evalue
        return "failed", f"{ename}: {evalue}"
    return "failed", text.splitlines()[0] if text else type(exc).__name__


def ask_judge(kernel, code: str, marker: str, max_reply: int, timeout: float) -> dict:
    """Run the judge's ``code`` in ``kernel``; ``{"reply": text after the marker}`` or ``{"error": why not}``.

    Reads only the shell reply and the iopub messages of this execute request (its msg_id), and of those only
    the stdout stream, at most ``max_reply`` bytes (plus the marker); exactly one line must start with the marker.
    """
    if kernel is None or not kernel.is_alive():
        return {"error": "the kernel is not running"}
    saved = getattr(kernel, "_grading_reply_status", "ok")
    chunks, size, too_large, raised = [], 0, False, ""
    limit = max_reply + len(marker) + 1024
    try:
        msg_id = kernel.execute_cell_input(code, allow_stdin=False)
        deadline = time.monotonic() + timeout
        kernel.await_reply(msg_id, timeout=timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Empty()
            try:
                msg = kernel.get_message(stream="iopub", timeout=min(0.5, remaining))
            except Empty:
                if not kernel.is_alive():
                    raise KernelDied("the kernel died while answering the grader")
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            content = msg.get("content", {})
            if msg.get("msg_type") == "stream" and content.get("name") == "stdout":
                text = content.get("text", "")
                if not too_large and size + len(text) <= limit:
                    chunks.append(text)
                    size += len(text)
                else:
                    too_large = True
            elif msg.get("msg_type") == "error":
                raised = f"{content.get('ename', 'Error')}: {strip_ansi(str(content.get('evalue', '')))[:300]}"
            elif msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
                break
    except Empty:
        try:
            kernel.interrupt()
        except Exception:
            pass
        return {"error": f"the kernel did not answer the grader within {timeout:g} s"}
    except KernelDied as error:
        return {"error": str(error)}
    except Exception as error:      # a broken channel, an aborted request: that exercise fails, grading goes on
        return {"error": f"{type(error).__name__}: {str(error)[:200]}"}
    finally:
        kernel._grading_reply_status = saved
    if too_large:
        size = f"{max_reply >> 20} MiB" if max_reply >= 1 << 20 else f"{max_reply} bytes"
        return {"error": f"the answer on stdout is larger than {size}"}
    lines = [line for line in "".join(chunks).splitlines() if line.startswith(marker)]
    if len(lines) != 1:
        why = f"; the request raised {raised}" if raised else ""
        return {"error": f"{len(lines)} answer lines on stdout (expected exactly one){why}"}
    return {"reply": lines[0][len(marker):]}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    kernel = getattr(getattr(item, "parent", None), "kernel", None)
    if kernel is not None:
        kernel._grading_reply_status = "ok"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    cell = getattr(item, "cell", None)
    if cell is None:
        return
    if call.when == "setup" and call.excinfo is None:
        log = _log(item.config)
        if not log.kernel_logged:
            pid = _kernel_pid(item)
            if pid:
                log.write({"event": "kernel", "pid": pid})
                log.kernel_logged = True
        return
    if call.when == "teardown":
        return
    if call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        outcome, message = "skipped", "skipped"
    else:
        outcome, message = _classify(item, call.excinfo)
    course = cell.get("metadata", {}).get("course", {}) or {}
    record = {
        "event": "cell",
        "index": getattr(item, "cell_num", None),
        "cell_id": cell.get("id"),
        "check": course.get("check"),
        "points": course.get("points"),
        "outcome": outcome,
        "message": _clip(message, 2000),
        "output": _clip(_text_outputs(getattr(item, "test_outputs", None))),
        "seconds": round(call.stop - call.start, 3),
        "phase": call.when,
    }
    check = record["check"]
    requests = JUDGE.get("requests") or {}
    if call.when == "call" and isinstance(check, str) and check in requests \
            and outcome not in ("timeout", "kernel_died", "not_run", "skipped"):
        record["judge"] = ask_judge(getattr(item.parent, "kernel", None), requests[check], JUDGE["marker"],
                                    int(JUDGE.get("max_reply", 4 << 20)), float(JUDGE.get("timeout", 60)))
    _log(item.config).write(record)
