"""Writing learners' submissions for the grading tests: ``<folder>/<learner>/<name>``, one file each, and the
cells they are made of."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

#: a learner cell that patches the import system so that every course check module's check_* prints "ok" and passes
#: (the forgery of issue 31)
FORGED_CHECKS = '''import sys, types, importlib.machinery
class _Fake(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("check_"):
            return lambda *a, **k: print("Exercise passed.") or True
        raise AttributeError(name)
class _Finder:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("course_utils.checks.nb"):
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        return _Fake(spec.name)
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, _Finder())'''


def code_cell(source: str, cell_id: str, check: str | None = None, points: int = 0):
    """A code cell with its id; with ``check``, a locked check cell worth ``points``."""
    cell = nbformat.v4.new_code_cell(source)
    cell.id = cell_id
    if check:
        cell.metadata = {"course": {"check": check, "points": points}, "editable": False, "deletable": False}
    return cell


def write_submission(folder: Path, learner: str, name: str, content) -> None:
    """``content``: the file's text or bytes as they are (broken files too), or a notebook (dict) written as JSON."""
    path = folder / learner / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (str, bytes)):
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    else:
        path.write_text(json.dumps(content, indent=1))
