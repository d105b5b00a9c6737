"""Entry point of one grading process: ``python _entry.py [pytest args]`` (started by the runner).

Run by file path, not with ``-m``, so that importing it does not import ``course_utils`` (and with
it torch) into the pytest process: the learner's code runs in the kernel, which is a child of this
process and imports what the notebook imports. Applies the memory limit first, so the kernel
inherits it.

Before pytest starts it reads the run's token from stdin (one line), then the judge's requests (one JSON line,
:mod:`.judge`: the inputs drawn from the run's secret seed; then stdin is /dev/null), so the
token and the inputs are in neither the command line nor the environment, both of which the kernel can read, and it
marks this process non-dumpable: a kernel running as the same user (grading not as root) can then
neither ptrace it nor open its file descriptors (the pipe to the grader) through ``/proc``. It also
asks to be killed when the grader that started it dies (``PR_SET_PDEATHSIG``; e.g. a Dask worker killed
mid-batch), so no grading process outlives its grader; its kernel does the same (:mod:`._launch`).
"""
import ctypes
import importlib.util
import json
import os
import resource
import sys

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, SIGKILL = 1, 4, 9


def _not_dumpable() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        return
    expected = os.environ.get("COURSE_GRADING_PARENT")
    if expected and os.getppid() != int(expected):  # the grader died before the line above
        os._exit(1)


def _read_token() -> tuple[str, dict]:
    """The run's token (first line) and the judge's requests (second line, JSON; empty: none)."""
    token = sys.stdin.readline().strip()
    line = sys.stdin.readline().strip()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        judge = json.loads(line) if line else {}
    except json.JSONDecodeError:
        judge = {}
    return token, judge if isinstance(judge, dict) else {}


def without_slow_optional_imports() -> None:
    """Leave out ``rfc3987_syntax``: jsonschema (imported by nbformat, which nbval imports) loads it when it is
    installed (``jsonschema[format-nongpl]``, which Jupyter's server packages require), and it builds about 35
    Lark parsers at import, about 2 s of every grading process and course command
    (python-jsonschema/jsonschema#1428). It only checks the ``iri`` and ``iri-reference`` formats, which no
    notebook schema uses; jsonschema treats it as absent, as it does on any install without that extra."""
    sys.modules.setdefault("rfc3987_syntax", None)   # a None entry makes ``import rfc3987_syntax`` raise ImportError


def main() -> int:
    without_slow_optional_imports()
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        sys.path.pop(0)  # do not shadow top-level modules with this folder's files
    limit = int(os.environ.get("COURSE_GRADING_MEMORY_BYTES", "0") or 0)
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _not_dumpable()
    _die_with_parent()
    token, judge = _read_token()
    spec = importlib.util.spec_from_file_location("course_grading_plugin", os.path.join(here, "plugin.py"))
    plugin = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = plugin
    spec.loader.exec_module(plugin)
    plugin.TOKEN = token
    plugin.JUDGE = judge
    import pytest
    return int(pytest.main(sys.argv[1:], plugins=[plugin]))


if __name__ == "__main__":
    sys.exit(main())
