"""Without the hidden checks (a graded release leaves ``checks/hidden/`` out), every check still accepts a
correct answer, and says that grading runs more."""
import importlib
import re
import sys
from pathlib import Path

import nbformat
import pytest

import test_nb13
from copies import own

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = sorted(p.stem for p in (ROOT / "course_utils" / "checks" / "hidden").glob("nb[0-9][0-9].py"))


def check_calls():
    """(exercise id, checks module, check function) for every check cell of the solution notebooks."""
    calls = []
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            exercise = cell.metadata.get("course", {}).get("check")
            if exercise:
                module, function = re.search(r"(nb\d\d)\.(\w+)\(", cell.source).groups()
                calls.append((exercise, module, function))
    return calls


# checks given the notebook's context beside the answer: the context their own tests pass
CONTEXT = {"13.own_row": test_nb13.context}


@pytest.mark.parametrize("exercise, module, function", check_calls(), ids=[c[0] for c in check_calls()])
def test_a_correct_answer_passes_the_visible_checks_alone(exercise, module, function, monkeypatch, capsys):
    for name in HIDDEN:
        monkeypatch.setitem(sys.modules, f"course_utils.checks.hidden.{name}", None)
    check = getattr(importlib.import_module(f"course_utils.checks.{module}"), function)
    assert check(own(exercise), *CONTEXT.get(exercise, tuple)())
    out = capsys.readouterr().out
    assert f"Exercise {exercise} passed" in out or "visible checks passed; grading also runs hidden checks" in out


def test_every_hidden_module_is_used_by_its_checks():
    for name in HIDDEN:
        source = (ROOT / "course_utils" / "checks" / f"{name}.py").read_text()
        assert f'hidden(check, "{name}"' in source, f"checks/hidden/{name}.py is never called from checks/{name}.py"
