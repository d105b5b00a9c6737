"""Whole-notebook tests: notebooks/ is generated from solutions/, and each student notebook, run as
handed out, fails only in its exercise check cells, each saying "not implemented yet".

(Every solved notebook runs under nbval through the test command: `pytest ... solutions --nbval-lax`.)
"""
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import build
from notebook_runner import ROOT, check_ids, run_notebook

STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_notebooks_are_generated_from_solutions():
    stale = build.build(check=True)
    assert not stale, f"notebooks/ is stale, run `python -m course_utils build`: {stale}"


def test_every_solution_has_a_student_notebook_and_checks():
    assert [p.name for p in STUDENT] == [p.name for p in SOLUTIONS]
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        assert check_ids(nb), f"{path.name} has no exercise check cell"


def test_solutions_carry_no_outputs():
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name} has saved outputs in cells {dirty}: run build --clean-solutions"


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_unsolved_notebook_fails_only_at_its_checks(path: Path):
    nb, errors = run_notebook(path)
    not_checks = [e for e in errors if e.check_id is None]
    assert not not_checks, "cells other than checks raised:\n" + "\n".join(
        f"  cell {e.index} ({e.cell_id}): {e.ename}: {e.evalue[:300]}" for e in not_checks)
    failed = {e.check_id for e in errors}
    expected = set(check_ids(nb))
    assert failed == expected, f"checks that did not fail on the unsolved notebook: {sorted(expected - failed)}"
    for e in errors:
        assert "not implemented yet" in e.evalue and e.check_id in e.evalue, (
            f"check {e.check_id} should say 'Exercise {e.check_id} ... not implemented yet', said: {e.evalue[:300]}")
