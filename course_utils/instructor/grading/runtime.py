"""The course package a grading kernel of notebook NN sees: the learner runtime without the references of NN and later.

A grading kernel runs the learner's code. Where it can import or read the course's reference of the exercise it
is graded on, an answer can be built from that reference (a copy of its code object, ``exec`` of its source, an
import at call time, a look-up in ``sys.modules``). So the kernel gets the runtime that
``release --graded --withhold-from NN`` ships: the grader's ``course_utils`` without ``instructor/`` and without
``references/nbKK.py`` for every ``KK >= NN`` (earlier notebooks' references stay: 05 builds on 04's layer, and
that is honest work). The hidden checks (``checks/hidden/``) stay in it for now: the check cells still run them
in the kernel.

:func:`staged` copies that runtime once per grading process and notebook number into a temporary folder every
user may read, byte-compiled (kernels write no bytecode); the kernel's ``PYTHONPATH`` starts there, so every
import of ``course_utils`` in the kernel finds it. :func:`hiding` says what the kernel's private mount namespace
puts over the grader's own copy, so that it cannot be read by path either: an empty folder over the staged
runtimes of other notebooks (which hold this one's references), the staged runtime over the package folder, and, where the package lies in a source checkout (``solutions/``, ``tests/``, ``.git`` beside it), an
empty folder over the checkout holding only the package and the Python the kernel runs. Mount namespaces need
root (or ``CAP_SYS_ADMIN``); without them only the imports are covered (see the threat model in
docs/INSTRUCTORS.md).
"""
from __future__ import annotations

import atexit
import compileall
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from .. import release

PACKAGE = Path(__file__).resolve().parents[2]      # the grader's course_utils
_STAGED: dict = {}
_LOCK = threading.Lock()


def notebook_number(name: str) -> int | None:
    """``7`` for ``07_rgb_lidar_fusion.ipynb``; ``None`` for a name that does not start with two digits."""
    match = re.match(r"(\d\d)(?!\d)", Path(name).name)
    return int(match.group(1)) if match else None


def withheld_references(withhold_from: int | None, package: Path = PACKAGE) -> list[Path]:
    """``references/nbKK.py`` (relative to ``package``) for every ``KK >= withhold_from``: the graded release's rule."""
    return [p for p in release.withheld_files(package, withhold_from) if p.parts[0] == "references"]


def _runtimes() -> Path:
    """This process's folder of staged runtimes, mode 0711: a kernel may enter it (its own runtime is in there) but
    not list it, so it cannot find the runtime of another notebook, which holds this notebook's references (13's
    holds 03's); each runtime's name is random (``mkdtemp``). Removed when the process exits."""
    if "folder" not in _STAGED:
        folder = Path(tempfile.mkdtemp(prefix="course-grading-runtimes-"))
        os.chmod(folder, 0o711)
        atexit.register(shutil.rmtree, folder, True)
        _STAGED["folder"] = folder
    return _STAGED["folder"]


def staged(withhold_from: int | None, package: Path = PACKAGE) -> Path:
    """A folder holding ``course_utils/``: ``package`` without ``instructor/`` and the withheld references.

    Made once per process and ``withhold_from``, in :func:`_runtimes`; directories 0755 and files 0644, so a kernel
    under any uid can import it.
    """
    key = (withhold_from, str(package))
    with _LOCK:
        if key not in _STAGED:
            root = Path(tempfile.mkdtemp(prefix=f"{withhold_from}-", dir=_runtimes()))
            leave_out = {release.INSTRUCTOR_PACKAGE.relative_to("course_utils"),
                         *withheld_references(withhold_from, package)}
            release.copy_tree(package, root / "course_utils", leave_out)
            compileall.compile_dir(str(root / "course_utils"), quiet=1, workers=1)
            for folder, dirs, files in os.walk(root):
                os.chmod(folder, 0o755)
                for name in files:
                    os.chmod(os.path.join(folder, name), 0o644)
            _STAGED[key] = root
        return _STAGED[key]


def _checkout(package: Path) -> Path | None:
    """The source checkout ``package`` lies in (its parent holds ``pyproject.toml``), else ``None`` (installed)."""
    return package.parent if (package.parent / "pyproject.toml").is_file() else None


def hiding(runtime: Path, package: Path = PACKAGE) -> list[dict]:
    """The mounts that cover the grader's own ``package`` in a kernel's mount namespace, in order (see ``_launch``).

    ``{"cover": FOLDER, "keep": [[SOURCE, NAME], ...]}``: an empty folder over FOLDER holding only SOURCE as NAME;
    ``{"bind": SOURCE, "onto": TARGET}``: SOURCE over TARGET. ``runtime`` is what :func:`staged` returned.
    """
    own_only = {"cover": str(runtime.parent), "keep": [[str(runtime), runtime.name]]}   # not the other notebooks'
    staged_package = str(runtime / "course_utils")
    checkout = _checkout(package)
    if checkout is None:
        return [own_only, {"bind": staged_package, "onto": str(package)}]
    keep = [[staged_package, package.name]]
    for needed in {Path(sys.prefix).resolve(), Path(sys.executable).resolve()}:
        if needed.is_relative_to(checkout) and needed != checkout:
            top = checkout / needed.relative_to(checkout).parts[0]
            if [str(top), top.name] not in keep:
                keep.append([str(top), top.name])
    return [own_only, {"cover": str(checkout), "keep": keep}]
