"""Importing the course changes nothing: no torch, no IPython hooks; the course's commands start without torch;
``course_utils.setup()`` (the first code cell of every notebook) is what installs the notebook hooks."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_course_utils_imports_no_torch():
    modules = _modules_after("import course_utils")
    assert "torch" not in modules and "IPython" not in modules, sorted(m for m in modules if "course" in m)


@pytest.mark.parametrize("command", ["build", "release", "grade"])
def test_the_course_commands_start_without_torch(command):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "course_utils", command, "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    assert "course_utils.instructor.cli" in imported and "torch" not in imported


def test_the_lazy_names_still_import():
    from course_utils import environment, get_device, seed_everything
    assert get_device is environment.get_device and seed_everything is environment.seed_everything
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        import course_utils
        course_utils.nonexistent  # noqa: B018


def test_setup_installs_the_hooks_and_importing_does_not(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    import course_utils
    from course_utils import feedback, references, skipping
    shell = InteractiveShell.instance()
    assert shell.custom_exceptions == ()
    monkeypatch.setattr(references, "complete", lambda: False)        # as in a graded release
    before = (list(shell.input_transformers_post), list(shell.ast_transformers), shell.custom_exceptions)
    importlib.reload(course_utils)
    assert (list(shell.input_transformers_post), list(shell.ast_transformers), shell.custom_exceptions) == before
    try:
        course_utils.setup()
        course_utils.setup()                                           # a second call changes nothing
        assert shell.custom_exceptions == (feedback.CheckFailed,)
        assert [t for t in shell.input_transformers_post if t is skipping.transform] == [skipping.transform]
        assert len([t for t in shell.ast_transformers if isinstance(t, skipping.GuardWithheld)]) == 1
    finally:
        shell.input_transformers_post[:] = before[0]
        shell.ast_transformers[:] = before[1]
        shell.custom_exceptions = before[2]
        InteractiveShell.clear_instance()


def test_every_notebook_calls_setup_first():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert first.source.startswith("import course_utils\ncourse_utils.setup()"), path.name
