"""Modules the course renamed (issue 30: names that say what is inside) keep their old import path as an alias: the
old module object IS the new one, so notebooks already handed out still import, run and grade, and whatever they
import, monkeypatch or test with ``isinstance`` is what the course itself uses.

``tests/handed_out_imports.json`` holds every ``course_utils`` import of the student notebooks as handed out before
the renames (the previous course version); each still imports and gives the new modules' objects.
"""
import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANDED_OUT = json.loads((ROOT / "tests" / "handed_out_imports.json").read_text())

# old module -> the module it now is
RENAMED = {
    "course_utils.seeds": "course_utils.training.batched_seeds",
    "course_utils._folded": "course_utils.training.folding",
    "course_utils.inspection": "course_utils.attention_inspection",
    "course_utils.instructor.references": "course_utils.instructor.reference_generator",
}


def _file(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


@pytest.mark.parametrize("old, new", RENAMED.items())
def test_the_old_module_is_the_new_module(old, new):
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    assert old_module is new_module and sys.modules[old] is new_module
    parent, _, leaf = old.rpartition(".")
    assert getattr(importlib.import_module(parent), leaf) is new_module     # `from course_utils import seeds`


@pytest.mark.parametrize("old, new", RENAMED.items())
def test_the_alias_file_says_what_it_is_and_holds_nothing_else(old, new):
    tree = ast.parse(_file(old).read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and doc.startswith("Import alias") and f":mod:`{new}`" in doc.splitlines()[0], doc
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
    assert _file(new).exists() or (_file(new).with_suffix("") / "__init__.py").exists()


@pytest.mark.parametrize("old, new", RENAMED.items())
def test_an_old_name_imported_first_in_a_fresh_process_is_the_new_module(old, new):
    """As in a handed-out notebook: the old name is the first thing imported, before anything loads the new one."""
    code = ("import importlib, sys\n"
            f"assert {old!r} not in sys.modules and {new!r} not in sys.modules\n"
            f"module = importlib.import_module({old!r})\n"
            f"assert module is sys.modules[{new!r}] and module.__name__ == {new!r}\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_monkeypatching_or_isinstance_through_an_old_name_is_the_new_code(monkeypatch):
    import course_utils._folded
    import course_utils.seeds
    from course_utils import data
    from course_utils.models import probes
    from course_utils.training import batched_seeds, fit_seeds, folding
    assert course_utils._folded.Folded is folding.Folded
    folded = course_utils._folded.Folded([probes.ConcatMLP((4, 4), 8, 2) for _ in range(2)])
    assert isinstance(folded, folding.Folded)
    used = []
    original = batched_seeds._folded_engine
    monkeypatch.setattr(course_utils.seeds, "_folded_engine", lambda *a, **k: used.append(1) or original(*a, **k))
    train = data.make_information_dataset("synergy", 64, noise=0.5, seed=0)
    runs = fit_seeds(lambda: probes.ConcatMLP((train.modalities[0].shape[1], train.modalities[1].shape[1]), 8, 2),
                     train, seeds=[0, 1], epochs=1, device="cpu")
    assert used and len(runs.histories) == 2, "a patch through the old name reaches fit_seeds"


def test_the_handed_out_imports_cover_the_renamed_modules():
    statements = [s for lines in HANDED_OUT["imports"].values() for s in lines]
    assert len(HANDED_OUT["imports"]) == 14 and len(statements) > 100
    assert sum(s == "from course_utils.seeds import fit_seeds" for s in statements) >= 10
    assert "from course_utils import data, models, plots, training" in statements


def _expected(module: str, name: str):
    """What ``from module import name`` gives in the course as it is now, looked up at the new place."""
    target = importlib.import_module(RENAMED.get(module, module))
    if hasattr(target, name):
        return getattr(target, name)
    return importlib.import_module(f"{RENAMED.get(module, module)}.{name}")


@pytest.mark.parametrize("notebook", sorted(HANDED_OUT["imports"]))
def test_the_imports_of_a_handed_out_notebook_still_give_the_same_objects(notebook):
    for statement in HANDED_OUT["imports"][notebook]:
        namespace = {}
        exec(compile(statement, f"<{notebook}>", "exec"), namespace)
        node = ast.parse(statement).body[0]
        for alias in node.names:
            bound = namespace[alias.asname or alias.name.split(".")[0]]
            if isinstance(node, ast.ImportFrom):
                assert bound is _expected(node.module, alias.name), statement
            elif alias.asname:
                assert bound is importlib.import_module(RENAMED.get(alias.name, alias.name)), statement
