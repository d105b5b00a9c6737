"""Each exercise's reference exists once: the solution region of its notebook, derived into course_utils.references."""
import ast
import importlib
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import references
from course_utils.instructor import build
from course_utils.instructor import reference_generator as generator

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"


def _solution(tmp_path, cells, name="05_demo.ipynb"):
    nb = nbformat.v4.new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    (tmp_path / "solutions").mkdir(exist_ok=True)
    nbformat.write(nb, tmp_path / "solutions" / name)


def _todo(src):
    return nbformat.v4.new_code_cell(src)


def _check(exercise_id):
    cell = nbformat.v4.new_code_cell("from course_utils.checks import nb05\nnb05.check(f)")
    cell.metadata["course"] = {"check": exercise_id, "points": 1}
    return cell


def test_generated_module_holds_the_solved_cell_with_header(tmp_path):
    _solution(tmp_path, [_todo("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"),
                         _check("05.double"), _check("05.double_again")])
    files = generator.expected_files(tmp_path)
    text = files["course_utils/references/nb05.py"]
    assert "GENERATED" in text and "cell-0 (double)" in text and "BEGIN SOLUTION" not in text
    assert "EXERCISES = {'05.double': 'double', '05.double_again': 'double'}" in text
    namespace = {}
    exec(compile(text, "nb05.py", "exec"), namespace)
    assert namespace["double"](3) == 6
    assert "'05.double': ('nb05', 'double')" in files["course_utils/references/index.py"]


@pytest.mark.parametrize("src, message", [
    ("def f(x):\n    ### BEGIN SOLUTION\n    return helper(x)\n    ### END SOLUTION\n", "uses 'helper'"),
    ("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\nprint(f(1))\n", "exactly one"),
    ("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\ndef g(x):\n    return x\n", "exactly one"),
])
def test_bad_todo_cells_are_build_errors(tmp_path, src, message):
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.0"\n[tool.course]\nlearner_repository = "o/l"\n')
    _solution(tmp_path, [_todo(src), _check("05.f")])
    with pytest.raises(build.BuildError, match=message):
        build.build(tmp_path, check=True)


def test_todo_cell_without_check_is_a_build_error(tmp_path):
    _solution(tmp_path, [_todo("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n")])
    with pytest.raises(generator.ReferenceBuildError, match="no check cell"):
        generator.expected_files(tmp_path)


def test_build_check_fails_when_references_are_stale(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.0"\n[tool.course]\nlearner_repository = "o/l"\n')
    _solution(tmp_path, [_todo("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"),
                         _check("05.f")])
    build.build(tmp_path)
    assert build.build(tmp_path, check=True) == []
    (tmp_path / "course_utils/references/nb05.py").write_text("def f(x):\n    return x + 1\n")
    assert build.build(tmp_path, check=True) == ["course_utils/references/nb05.py"]


def test_repository_references_are_up_to_date():
    assert generator.write(ROOT, check=True) == []


def test_every_exercise_has_its_reference():
    checks = set()
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if "check" in cell.metadata.get("course", {}):
                checks.add(cell.metadata["course"]["check"])
    assert checks == set(references.INDEX)
    for exercise_id in checks:
        assert callable(references.reference(exercise_id))


# -- every spelling of an exercise id names an exercise of the index --------------------------------------------
ID_TAKERS = {"exercise", "implementation", "reference", "available", "yours_or_reference"}   # id: first argument


def _id_uses(source: str, where: str) -> list[tuple[str, str, str]]:
    """(where, what, id) for each exercise id written as a literal in ``source``: the first argument of a call to
    one of ``ID_TAKERS`` (``feedback.exercise``, ``references.implementation``, ...), and the values of the dict
    passed to ``lazy_exports``."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", None))
        if name in ID_TAKERS and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            uses.append((where, name, node.args[0].value))
        if name == "lazy_exports" and len(node.args) == 2 and isinstance(node.args[1], ast.Dict):
            uses += [(where, name, v.value) for v in node.args[1].values if isinstance(v, ast.Constant)]
    return uses


def _all_id_uses() -> list[tuple[str, str, str]]:
    uses = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "instructor" not in path.parts and path.parent.name != "references":
            uses += _id_uses(path.read_text(), str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("!", "%")))
                uses += _id_uses(source, f"{path.name} cell {cell.id}")
    return uses


def test_every_id_written_in_the_course_is_an_exercise_of_the_index():
    """A mistyped id in a decorator, an ``implementation(...)``, a ``lazy_exports`` map or a ``yours_or_reference``
    would quietly switch off what it names (provenance looks a missing id up as "no reference")."""
    uses = _all_id_uses()
    assert len(uses) > len(references.INDEX), "the scan found too few ids: does it still read the course?"
    unknown = [f"{where}: {what}({exercise_id!r})" for where, what, exercise_id in uses
               if exercise_id not in references.INDEX]
    assert not unknown, "ids that are not exercises of the course:\n  " + "\n  ".join(unknown)


def test_every_exercise_has_its_check_decorator():
    """Each exercise of the index is checked by exactly one ``@exercise(id, ...)`` in ``course_utils/checks``."""
    decorated = [exercise_id for _, what, exercise_id in _all_id_uses() if what == "exercise"]
    assert sorted(decorated) == sorted(references.INDEX), (
        f"without a decorator: {sorted(set(references.INDEX) - set(decorated))}; "
        f"twice: {sorted({i for i in decorated if decorated.count(i) > 1})}")


def test_the_scan_catches_a_mistyped_id():
    source = ('@exercise("07.fuze", "fuse")\ndef check(c, f): ...\n'
              '__getattr__ = lazy_exports(__name__, {"X": "03.decision_fusoin"})\nimplementation("09.infonce")')
    assert [u[2] for u in _id_uses(source, "demo")] == ["07.fuze", "03.decision_fusoin", "09.infonce"]


def _definitions(path: Path):
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def test_each_reference_is_defined_once():
    """No module of the package (outside the generated references) defines a function or class with the name of an
    exercise's reference: models, checks and data get them from course_utils.references."""
    names = {name for _, name in references.INDEX.values()}
    clashes = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if references.__name__.replace(".", "/") in path.as_posix() or "instructor" in path.parts:
            continue
        for name in _definitions(path) & names:
            clashes.append(f"{path.relative_to(ROOT)}: {name}")
    assert not clashes, "references defined again outside course_utils/references: " + ", ".join(clashes)


def test_models_import_and_resolve_lazily_when_a_reference_is_withheld(monkeypatch):
    """A graded release without references/nb04.py still imports every models module; only the withheld names fail."""
    from course_utils.models import attention
    monkeypatch.setitem(sys.modules, "course_utils.references.nb04", None)   # import of it now fails
    assert not references.available("04.cross_attention")
    with pytest.raises(references.Withheld, match="04.cross_attention"):
        references.reference("04.cross_attention")
    with pytest.raises(references.Withheld):
        attention.CrossAttentionLayer
    importlib.reload(attention)
    assert attention.TokenConcatMLP(8, 4, 16, 2) is not None
    assert references.reference("03.decision_fusion").__name__ == "DecisionLateFusion"
