"""The boundary between the learner runtime and the instructor tools, and what the learner package needs.

- No learner-runtime module imports ``course_utils.instructor`` (the command-line entry point may, guarded,
  to say what to install), and no model imports a check.
- Without the instructor tools, ``python -m course_utils build`` says what to install.
- On Colab every explorer enables the custom widget manager where ipywidgets needs it (a stand-in
  ``google.colab.output`` records it; ``tests/integration/test_colab_install.py`` does the same under 7.7.1).
- The grader notes a submission made from another course version.
"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.instructor.grading import batch, runner

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "course_utils"
LEARNER_MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "instructor" not in p.relative_to(PACKAGE).parts
                         and "__pycache__" not in p.parts)


def imported_modules(path: Path, tree=None) -> list[tuple[str, ast.AST]]:
    """Absolute names of everything ``path`` imports (relative imports resolved), with the import node."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1])   # the package a relative import starts from (for __init__ too)
    names = []
    tree = tree or ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names += [(module, node)] + [(f"{module}.{alias.name}", node) for alias in node.names]
    return names


def guarded_by_import_error(tree, target) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(target in ast.walk(stmt) for stmt in node.body):
            return any(isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                       for h in node.handlers)
    return False


def test_learner_runtime_never_imports_the_instructor_tools():
    assert len(LEARNER_MODULES) > 20, "the scan must see the whole learner runtime"
    offending = []
    for path in LEARNER_MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, node in imported_modules(path, tree):
            if name == "course_utils.instructor" or name.startswith("course_utils.instructor."):
                # only the command-line entry point, and only where it catches the tools being absent
                if not (path.name == "__main__.py" and path.parent == PACKAGE and guarded_by_import_error(tree, node)):
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert offending == []


def test_no_model_imports_a_check():
    offending = [f"{p.relative_to(ROOT)}:{node.lineno} imports {name}"
                 for p in LEARNER_MODULES if p.relative_to(PACKAGE).parts[0] == "models"
                 for name, node in imported_modules(p) if name.startswith("course_utils.checks")]
    assert offending == []


def test_the_scan_resolves_relative_imports():
    """The boundary tests above would catch a relative import too."""
    found = {name for name, _ in imported_modules(PACKAGE / "__main__.py")}
    assert "course_utils.instructor.cli" in found
    found = {name for name, _ in imported_modules(PACKAGE / "widgets" / "attention.py")}
    assert "course_utils.plots" in found and "course_utils.widgets.enable_front_end" in found


BLOCK_INSTRUCTOR = """
import runpy, sys
class NoInstructorTools:  # as in the learner wheel: course_utils.instructor cannot be imported
    def find_spec(self, name, path=None, target=None):
        if name == "course_utils.instructor" or name.startswith("course_utils.instructor."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoInstructorTools())
sys.argv = ["course_utils"] + sys.argv[1:]
runpy.run_module("course_utils", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("command", ["build", "grade", "release"])
def test_commands_without_the_instructor_tools_say_what_to_install(tmp_path, command):
    proc = subprocess.run([sys.executable, "-c", BLOCK_INSTRUCTOR, command], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install -e ".[instructor]"' in proc.stderr and "instructor tools are not installed" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir()), "nothing is written"


def test_every_explorer_enables_colabs_widget_manager_with_ipywidgets_8():
    """With a stand-in google.colab.output: each of the four explorers builds its widgets and enables the manager."""
    import ipywidgets
    env = dict(os.environ, PYTHONPATH=str(ROOT), COURSE_QUIET="", CI="")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "colab_standin.py")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ipywidgets"] == ipywidgets.__version__
    assert report["built"] == {"explore": "interactive", "attention_explorer": "interactive",
                               "gate_explorer": "VBox", "explore_shapes": "interactive"}
    expected = 4 if int(ipywidgets.__version__.split(".")[0]) >= 8 else 0
    assert report["manager_enabled"] == expected


def test_front_end_outside_colab_does_nothing(monkeypatch):
    from course_utils import widgets
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert widgets.enable_front_end() is False


# -- the course version of a submission ----------------------------------------------------------------
class FakeReference:
    def __init__(self, path):
        self.path = path


@pytest.mark.parametrize("made, detail, expected", [
    ("1.0", "", ""),
    ("0.9", "", "made from course version 0.9, graded with 1.0"),
    ("0.9", "cell 3 raised", "cell 3 raised; made from course version 0.9, graded with 1.0"),
    (None, "", ""),   # a notebook without the stamp (e.g. made before versioned releases): nothing to say
])
def test_grader_notes_another_course_version(tmp_path, made, detail, expected):
    reference = tmp_path / "02_x.ipynb"
    reference.write_text(json.dumps({"cells": [], "metadata": {"course": {"version": "1.0"}}}))
    nb = {"metadata": {"course": {"version": made}} if made else {}}
    result = runner.Result("ann", "ann/02_x.ipynb", "02_x.ipynb", "ok", detail)
    noted = batch.note_version(result, nb, FakeReference(reference))
    assert noted.detail == expected and noted.status == "ok"


def test_student_notebooks_carry_the_course_version():
    from course_utils.instructor import build
    version = build.CourseConfig.load(ROOT).version
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert json.loads(path.read_text())["metadata"]["course"]["version"] == version, path.name


def test_readme_install_line_is_the_configured_one():
    from course_utils.instructor import build
    assert build.CourseConfig.load(ROOT).install_spec() in (ROOT / "README.md").read_text()
