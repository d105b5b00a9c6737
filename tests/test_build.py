import json
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import build

CONFIG = build.CourseConfig("owner/learners", "1.2.0", repository="owner/instructor")


def write_solution(tmp_path: Path, cells, name="05_demo.ipynb") -> Path:
    nb = nbformat.v4.new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = cell.metadata.pop("fixed_id", f"cell-{i}")
    path = tmp_path / "solutions" / name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def code(src, **meta):
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata.update(meta)
    return cell


def test_solution_regions_become_stubs_and_prompts(tmp_path):
    check = code("from x import y\ny.check(f)", course={"check": "05.demo", "points": 2})
    check.metadata["fixed_id"] = "check-05-demo"
    md = nbformat.v4.new_markdown_cell("**Q.** Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    path = write_solution(tmp_path, [code(src, scratch=True), check, md])
    nb = build.student_notebook(path, CONFIG)
    cells = nb.cells[2:]  # after the Colab badge and setup cell
    assert cells[0].source == "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert "scratch" not in cells[0].metadata
    course_meta = {k: v for k, v in cells[1].metadata.items() if k != "nbgrader"}  # nbgrader's: test_nbgrader_meta
    assert course_meta == {"course": {"check": "05.demo", "points": 2}, "editable": False, "deletable": False}
    assert cells[1].id == "check-05-demo"
    assert "Because" not in cells[2].source and build.ANSWER_PROMPT in cells[2].source
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_outputs_are_cleared_and_rebuild_is_byte_identical(tmp_path):
    cell = code("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    cell.execution_count = 3
    path = write_solution(tmp_path, [cell])
    first = build.render(build.student_notebook(path, CONFIG))
    second = build.render(build.student_notebook(path, CONFIG))
    assert first == second
    out = json.loads(first)["cells"][2]
    assert out["outputs"] == [] and out["execution_count"] is None


def test_colab_badge_and_guarded_setup(tmp_path):
    path = write_solution(tmp_path, [code("x = 1")])
    badge, setup = build.student_notebook(path, CONFIG).cells[:2]
    # the learner repository at the release's tag: never the instructor's repository, never a branch
    assert "colab.research.google.com/github/owner/learners/blob/v1.2.0/notebooks/05_demo.ipynb" in badge.source
    assert "owner/instructor" not in badge.source + setup.source and "main" not in badge.source + setup.source
    assert 'if "google.colab" in sys.modules:' in setup.source
    assert '!pip install --quiet --no-deps "course_utils @ git+https://github.com/owner/learners@v1.2.0"' in setup.source


def test_wheel_url_and_version_stamp(tmp_path):
    config = build.CourseConfig("o/l", "2.0", wheel_url="https://example.org/course_utils-{version}-py3-none-any.whl")
    assert config.install_command() == ('pip install --quiet --no-deps '
                                        '"course_utils @ https://example.org/course_utils-2.0-py3-none-any.whl"')
    path = write_solution(tmp_path, [code("x = 1")])
    assert build.student_notebook(path, config).metadata["course"] == {"version": "2.0"}


@pytest.mark.parametrize("kwargs, message", [
    ({"learner_repository": "o/r", "version": "1.0", "repository": "o/r"}, "must not be the instructor's"),
    ({"learner_repository": "not a repo", "version": "1.0"}, "owner/name"),
    ({"learner_repository": "o/l", "version": "main"}, "release number"),
])
def test_bad_course_config_is_named(kwargs, message):
    with pytest.raises(build.BuildError, match=message):
        build.CourseConfig(**kwargs)


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "still open"),
])
def test_bad_markers_name_notebook_and_cell(tmp_path, src, message):
    path = write_solution(tmp_path, [code("ok = 1"), code(src)])
    with pytest.raises(build.BuildError, match=message) as info:
        build.student_notebook(path, CONFIG)
    assert "05_demo.ipynb, cell 1 (id 'cell-1')" in str(info.value)


@pytest.mark.parametrize("meta, message", [
    ({"check": "bad id", "points": 1}, "check id must look like"),
    ({"check": "05.x", "points": 0}, "positive 'points'"),
])
def test_bad_check_metadata(tmp_path, meta, message):
    path = write_solution(tmp_path, [code("f()", course=meta)])
    with pytest.raises(build.BuildError, match=message):
        build.student_notebook(path, CONFIG)


def test_duplicate_check_ids_are_rejected(tmp_path):
    cells = [code("f()", course={"check": "05.x", "points": 1}), code("g()", course={"check": "05.x", "points": 1})]
    path = write_solution(tmp_path, cells)
    with pytest.raises(build.BuildError, match="already used"):
        build.student_notebook(path, CONFIG)


def test_build_check_names_stale_notebooks(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.0"\n[tool.course]\nlearner_repository = "o/l"\n')
    write_solution(tmp_path, [code("x = 1")])
    init = "course_utils/references/index.py"
    assert build.build(tmp_path, check=True) == ["05_demo.ipynb", init]
    assert build.build(tmp_path) == ["05_demo.ipynb", init]
    assert build.build(tmp_path, check=True) == []
    (tmp_path / "notebooks" / "05_demo.ipynb").write_text("{}")
    (tmp_path / "notebooks" / "99_orphan.ipynb").write_text("{}")
    assert build.build(tmp_path, check=True) == ["05_demo.ipynb", "99_orphan.ipynb (no solution notebook)"]


def test_cli_check_exit_code(tmp_path, monkeypatch, capsys):
    from course_utils.__main__ import main
    monkeypatch.setattr(build, "ROOT", tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.0"\n[tool.course]\nlearner_repository = "o/l"\n')
    write_solution(tmp_path, [code("x = 1")])
    monkeypatch.setattr(build, "build", lambda root=tmp_path, check=False, _b=build.build: _b(tmp_path, check))
    assert main(["build", "--check"]) == 1
    assert "05_demo.ipynb" in capsys.readouterr().err
    assert main(["build"]) == 0
    assert main(["build", "--check"]) == 0
