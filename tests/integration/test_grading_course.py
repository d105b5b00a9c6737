"""Grade every real course notebook once: solutions get full points, untouched student notebooks get zero, and
each untouched notebook fails only at its checks, each saying "not implemented yet" (or, where it builds on an
earlier exercise of the notebook, to finish that one first: the kernel holds no reference of the notebook it
grades); two notebook 07s graded at once give what the solved 07 gave in that batch; and an answer built from
the reference of its own exercise, by any route, earns nothing.

An integration test (it executes every notebook twice, solved and as handed out, ``./course.sh test-integration``);
the student notebooks' run is this one (the grader runs them as handed out and records which cells raised), not a
second execution. The failure modes of grading are unit-tested on a tiny course in ``tests/test_grading.py``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from submissions import FORGED_CHECKS, write_submission
from submissions import code_cell as _code

from course_utils.instructor.grading import batch, runner

ROOT = Path(__file__).resolve().parents[2]




STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))
LIMITS = dict(cell_timeout=300, wall_timeout=900)
TRACKED = "07_rgb_lidar_fusion.ipynb"     # keeps its tracker runs in a file (the isolation test below)




# An answer to 03.product_of_experts taken from the course's own reference, each way a learner who read the course's
# source might try (issue 31): the grading kernel holds no reference of notebook 03, so none has anything to take.
ROUTES_NOTEBOOK, ROUTES_CELL, ROUTES_EXERCISE = "03_late_fusion.ipynb", "941e46e2690d", "03.product_of_experts"
_REF = "course_utils.references.nb03"
ROUTES = {
    "code-object": f"import importlib, types\n_ref = importlib.import_module({_REF!r}).product_of_experts\n"
                   "product_of_experts = types.FunctionType(_ref.__code__, globals(), 'product_of_experts')",
    "exec-source": f"import importlib, inspect\nexec(inspect.getsource(importlib.import_module({_REF!r})))",
    "import-at-call": "def product_of_experts(img_logits, txt_logits):\n"
                      f"    from {_REF} import product_of_experts as f\n    return f(img_logits, txt_logits)",
    "sys-modules": "def product_of_experts(img_logits, txt_logits):\n    import importlib, sys\n"
                   f"    importlib.import_module({_REF!r})\n"
                   f"    return sys.modules[{_REF!r}].product_of_experts(img_logits, txt_logits)",
    "resources": "import importlib.resources\n"
                 "exec(importlib.resources.files('course_utils.references').joinpath('nb03.py').read_text())",
    "package-file": "import os, course_utils\n"
                    "exec(open(os.path.join(os.path.dirname(course_utils.__file__), 'references', 'nb03.py')).read())",
    # the grader's own checkout, found through the install's metadata (an editable install records its folder)
    "checkout-file": "import importlib.metadata, json, os\n"
                     "for _d in importlib.metadata.distributions():\n"
                     "    _url = json.loads(_d.read_text('direct_url.json') or '{}').get('url', '')\n"
                     "    _path = os.path.join(_url[len('file://'):], 'course_utils', 'references', 'nb03.py')\n"
                     "    if _url.startswith('file://') and os.path.exists(_path):\n"
                     "        exec(open(_path).read())",
}


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """Every solved and every untouched notebook (and one patched) graded in one batch: (rows by (learner,
    notebook), the batch's output folder)."""
    tmp = tmp_path_factory.mktemp("course")
    subs = tmp / "subs"
    for path in STUDENT:
        write_submission(subs, "solved", path.name, (ROOT / "solutions" / path.name).read_bytes())
        write_submission(subs, "untouched", path.name, path.read_bytes())
    # and one real check module rebound by a learner cell: the fresh import in the check cell undoes it; and the
    # import system patched so that every check module's check_* passes (issue 31): the first notebook's exercise
    # is judged by the grader (judge.JUDGED), which a passing check cell in the kernel does not sway
    first = nbformat.read(STUDENT[0], as_version=4)
    module = f"nb{STUDENT[0].name[:2]}"
    patch = _code(f"from course_utils.checks import {module}\n"
                  f"for _name in dir({module}):\n"
                  f"    if _name.startswith('check_'):\n"
                  f"        setattr({module}, _name, lambda *a, **k: True)\n" + FORGED_CHECKS, "learner-patch")
    first.cells.insert(2, patch)
    write_submission(subs, "patched", STUDENT[0].name, first)
    solved = nbformat.read(ROOT / "solutions" / ROUTES_NOTEBOOK, as_version=4)
    for route, source in ROUTES.items():
        nb = nbformat.from_dict(json.loads(json.dumps(solved)))
        cell = next(c for c in nb.cells if c.get("id") == ROUTES_CELL)
        cell.source = source
        write_submission(subs, f"route-{route}", ROUTES_NOTEBOOK, nb)
    rows = batch.grade_batch(subs, tmp / "out", workers=2, limits=runner.Limits(**LIMITS), log=lambda *a: None)
    assert len(rows) == 2 * len(STUDENT) + 1 + len(ROUTES)
    return {(row["learner"], row["notebook"]): row for row in rows}, tmp / "out"


def feedback_messages(path: Path) -> dict:
    """Exercise id -> the message under its heading in a feedback file (``## <id>: <points> ...`` then a text block)."""
    return dict(re.findall(r"^## (\S+): [^\n]*\n\n```text\n(.*?)\n```", path.read_text(), flags=re.M | re.S))


@pytest.mark.skipif(not STUDENT, reason="no course notebooks yet")
def test_solutions_get_full_points_and_untouched_notebooks_zero(graded_course):
    rows, out = graded_course
    for row in rows.values():
        if row["learner"].startswith("route-"):
            continue                      # test_an_answer_taken_from_its_own_reference_earns_nothing
        assert row["status"] == "ok", row
        expected = row["max_points"] if row["learner"] == "solved" else "0"
        assert row["total"] == expected, f"{row['learner']} {row['notebook']}: {row['total']} / " \
                                         f"{row['max_points']}; see {out / 'feedback'}"


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_untouched_notebook_fails_only_at_its_checks(graded_course, path: Path):
    rows, out = graded_course
    row = rows[("untouched", path.name)]
    assert row["detail"] == "", f"cells other than checks raised: {row['detail']}"
    checks = [c.metadata["course"]["check"] for c in nbformat.read(path, as_version=4).cells
              if "check" in c.metadata.get("course", {})]
    assert [c for c in checks if row[c] != "0"] == [], "checks that did not fail on the unsolved notebook"
    messages = feedback_messages(batch.feedback_path(out, "untouched", row["submission"]))
    assert sorted(messages) == sorted(checks), f"feedback without a message per check: {sorted(messages)}"
    for check, message in messages.items():
        # the kernel holds no reference of this notebook (runtime.py): a check that builds on an earlier exercise
        # of it says to finish that one first, as in the graded release
        earlier = re.search(r"builds on exercise (\S+) \(", message)
        if earlier:
            assert earlier.group(1) in checks[:checks.index(check)] and "reference this release does not " \
                "include" in message, f"check {check} names no earlier exercise of {path.name}: {message[:300]}"
        else:
            assert "not implemented yet" in message and check in message, (
                f"check {check} should say 'Exercise {check} ... not implemented yet', said: {message[:300]}")


def _feedback(out: Path, learner: str, notebook: str) -> str:
    """The feedback file with the learner's name taken out (the ``Learner:`` line and the submission's path)."""
    text = (out / "feedback" / learner / notebook.replace(".ipynb", ".md")).read_text()
    return re.sub(rf"(Learner: |`){re.escape(learner)}\b", r"\1LEARNER", text)


@pytest.mark.skipif(not (ROOT / "solutions" / TRACKED).exists(), reason="no notebook 07")
def test_two_notebook_07_at_once_grade_as_each_alone(graded_course, tmp_path):
    """Notebook 07 keeps its tracker runs in a file and starts it ``fresh``: before each submission had its own
    temporary folder (and the tracker a per-process default), two copies graded at once deleted and appended to
    the same file. Two copies graded at once (two workers, nothing else in the batch) give the row and feedback
    of the whole-course batch's solved 07, which was graded there beside notebooks other than 07."""
    rows, out = graded_course
    alone = rows[("solved", TRACKED)]
    for learner in ("ann", "bob"):
        write_submission(tmp_path / "subs", learner, TRACKED, (ROOT / "solutions" / TRACKED).read_bytes())
    both = batch.grade_batch(tmp_path / "subs", tmp_path / "out", workers=2, limits=runner.Limits(**LIMITS),
                             log=lambda *a: None)
    columns = [c for c in alone if c not in ("learner", "submission", "sha256", "detail")]
    assert alone["status"] == "ok" and alone["total"] == alone["max_points"], alone
    reference = _feedback(out, "solved", TRACKED)
    assert len(both) == 2
    for row in both:
        assert {c: row[c] for c in columns} == {c: alone[c] for c in columns}, (row["learner"], row["detail"])
        assert _feedback(tmp_path / "out", row["learner"], TRACKED) == reference


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_an_answer_taken_from_its_own_reference_earns_nothing(graded_course, route):
    """Every other exercise of the notebook is solved: they keep their points, the one answered from the
    reference gets none."""
    rows, out = graded_course
    row, solved = rows[(f"route-{route}", ROUTES_NOTEBOOK)], rows[("solved", ROUTES_NOTEBOOK)]
    assert row["status"] == "ok", row
    assert row[ROUTES_EXERCISE] == "0", f"{route}: {ROUTES_EXERCISE} earned {row[ROUTES_EXERCISE]}; see {out}"
    others = [key for key in solved if key[:3] == ROUTES_EXERCISE[:3] and key != ROUTES_EXERCISE]
    assert others and all(row[key] == solved[key] for key in others), (route, {k: row[k] for k in others})
