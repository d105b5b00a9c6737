"""nbgrader's cell metadata, written by the build beside the course's own (the real nbgrader runs in
tests/integration/test_nbgrader.py)."""
import json

import nbformat
import pytest

from course_utils.instructor import build, nbgrader_meta

CONFIG = build.CourseConfig("owner/learners", "1.0.0")


def cell(kind, source, cell_id, **course):
    new = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    new.id = cell_id
    if course:
        new.metadata["course"] = course
    return new


TODO = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
ANSWER = "### BEGIN SOLUTION\nBecause.\n### END SOLUTION"


def demo_cells():
    return [
        cell("markdown", "# Title", "intro"),
        cell("code", TODO, "todo-a"),
        cell("code", "check(f)", "check-05-demo", check="05.demo", points=2),
        cell("code", TODO, "todo-b1"),
        cell("code", TODO, "todo-b2"),
        cell("code", "check(g)", "check-05-two", check="05.two_parts", points=3),
        cell("markdown", "**Q1.** Why?", "prompt-q1"),
        cell("markdown", ANSWER, "answer-q1", question="05.q1", points=0),
        cell("code", TODO, "todo-unchecked"),
    ]


def test_each_kind_of_course_cell_gets_its_nbgrader_cell():
    meta = nbgrader_meta.cell_metadata(demo_cells(), "05_demo.ipynb")
    assert meta["check-05-demo"] == {"grade": True, "solution": False, "locked": True, "points": 2,
                                     "grade_id": "05_demo", "schema_version": 3}
    assert meta["todo-a"] == {"grade": False, "solution": True, "locked": False,
                              "grade_id": "05_demo_code", "schema_version": 3}
    assert [meta["todo-b1"]["grade_id"], meta["todo-b2"]["grade_id"]] == ["05_two_parts_code", "05_two_parts_code2"]
    assert meta["answer-q1"] == {"grade": True, "solution": True, "locked": False, "points": 0,
                                 "grade_id": "05_q1", "schema_version": 3}
    assert meta["todo-unchecked"]["grade_id"] == "todo-unchecked"
    assert "intro" not in meta and "prompt-q1" not in meta


def test_grade_ids_use_only_the_characters_nbgrader_allows():
    assert nbgrader_meta.grade_id("02.early_fusion") == "02_early_fusion"
    with pytest.raises(nbgrader_meta.NbgraderMetaError, match="only letters"):
        nbgrader_meta.grade_id("02.early fusion")


def test_clashing_grade_ids_are_an_error():
    cells = [cell("code", "check(f)", "c1", check="05.q1", points=1),
             cell("markdown", ANSWER, "a1", question="05.q1", points=0)]
    with pytest.raises(nbgrader_meta.NbgraderMetaError, match="already used"):
        nbgrader_meta.cell_metadata(cells, "05_demo.ipynb")


def write_solution(tmp_path, cells):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.0.0"\n[tool.course]\nlearner_repository = "owner/learners"\n')
    path = tmp_path / "solutions" / "05_demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_build_writes_nbgrader_metadata_into_notebooks_and_solutions(tmp_path):
    stray = cell("code", "x = 1", "plain")
    stray.metadata["nbgrader"] = {"grade": True, "grade_id": "left_over", "points": 9}
    valid = [c for c in demo_cells() if c.id in ("intro", "todo-a", "check-05-demo", "prompt-q1", "answer-q1")]
    path = write_solution(tmp_path, valid + [stray])   # the build also derives references: one TODO per check
    assert build.build(tmp_path, check=True) == ["05_demo.ipynb", "solutions/05_demo.ipynb",
                                                 "course_utils/references/index.py",
                                                 "course_utils/references/nb05.py"]
    build.build(tmp_path)
    assert build.build(tmp_path, check=True) == []
    for folder in ("solutions", "notebooks"):
        cells = {c["id"]: c for c in json.loads((tmp_path / folder / "05_demo.ipynb").read_text())["cells"]}
        assert cells["check-05-demo"]["metadata"]["nbgrader"]["grade_id"] == "05_demo"
        assert cells["answer-q1"]["metadata"]["nbgrader"]["points"] == 0
        assert "nbgrader" not in cells["plain"]["metadata"]      # a stray entry is removed
    notebook = nbformat.read(tmp_path / "notebooks" / "05_demo.ipynb", as_version=4)
    assert all("nbgrader" not in c.metadata for c in notebook.cells[:2])   # the Colab cells
    # editing nbgrader's metadata by hand in solutions/ makes the build stale again
    solved = nbformat.read(path, as_version=4)
    solved.cells[2].metadata["nbgrader"]["points"] = 7
    nbformat.write(solved, path)
    assert build.build(tmp_path, check=True) == ["solutions/05_demo.ipynb"]


def test_the_course_notebooks_have_an_nbgrader_cell_for_every_check_and_question():
    for path in sorted((build.ROOT / "notebooks").glob("*.ipynb")):
        for c in nbformat.read(path, as_version=4).cells:
            course = c.metadata.get("course", {})
            if "check" in course or "question" in course:
                assert c.metadata["nbgrader"]["points"] == course["points"], (path.name, c.id)
