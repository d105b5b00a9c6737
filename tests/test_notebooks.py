"""Whole-notebook tests: notebooks/ is generated from solutions/, solutions carry no outputs.

(Every solved notebook runs under nbval through the test command: `pytest ... solutions --nbval-lax`. That
each student notebook, run as handed out, fails only in its exercise check cells is an integration test on the
whole-course grading run: `tests/integration/test_grading_course.py`.)
"""
import nbformat

from course_utils.instructor import build
from notebook_runner import ROOT, check_ids

STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_notebooks_are_generated_from_solutions():
    stale = build.build(check=True)
    assert not stale, f"notebooks/ is stale, run `python -m course_utils build`: {stale}"


# Notebooks with reflection questions but no exercise (none today: the capstone has exercise 13.own_row).
WITHOUT_EXERCISES: set[str] = set()


def test_every_solution_has_a_student_notebook_and_checks():
    assert [p.name for p in STUDENT] == [p.name for p in SOLUTIONS]
    assert WITHOUT_EXERCISES <= {p.name for p in SOLUTIONS}, "WITHOUT_EXERCISES names a notebook that is gone"
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        if path.name in WITHOUT_EXERCISES:
            assert not check_ids(nb), f"{path.name} has exercises now: remove it from WITHOUT_EXERCISES"
            assert any("question" in c.metadata.get("course", {}) for c in nb.cells), \
                f"{path.name} has neither an exercise nor a reflection question"
        else:
            assert check_ids(nb), f"{path.name} has no exercise check cell"


def test_the_capstone_is_the_last_notebook():
    assert SOLUTIONS[-1].name == "13_capstone.ipynb"


def test_solutions_carry_no_outputs():
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name} has saved outputs in cells {dirty}: run build --clean-solutions"
