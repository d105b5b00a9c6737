"""A graded release withholds references: an unsolved notebook still runs top to bottom, only its checks fail."""
import sys

import pytest

from course_utils import exercise_state, references, skipping

IPython = pytest.importorskip("IPython")


@pytest.fixture
def shell(monkeypatch):
    """An in-process IPython shell in an installation whose notebook-03 references are withheld."""
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.setitem(sys.modules, "course_utils.references.nb03", None)
    monkeypatch.setattr(exercise_state, "PASSED", set())
    monkeypatch.setattr(exercise_state, "WAITING", [])
    sh = InteractiveShell.instance()
    assert skipping.install(sh)
    yield sh
    sh.input_transformers_post[:] = [t for t in sh.input_transformers_post if t is not skipping.transform]
    sh.ast_transformers[:] = [t for t in sh.ast_transformers if not isinstance(t, skipping.GuardWithheld)]
    InteractiveShell.clear_instance()


def run(shell, source, capsys):
    result = shell.run_cell(source, store_history=False)
    return result, capsys.readouterr().out


TODO = "def product_of_experts(img_logits, txt_logits):\n    raise NotImplementedError()\n"
SOLVED = ("import torch.nn.functional as F\n"
          "def product_of_experts(img_logits, txt_logits):\n"
          "    joint = F.log_softmax(img_logits, -1) + F.log_softmax(txt_logits, -1)\n"
          "    return joint.log_softmax(-1)\n")
CHECK = "from course_utils.checks import nb03\nnb03.check_product_of_experts(product_of_experts)"
USE = "poe = yours_or_reference('03.product_of_experts', product_of_experts)\nprint('after the fallback')"


def test_nothing_is_installed_when_every_reference_is_present():
    from IPython.core.interactiveshell import InteractiveShell
    assert references.complete()
    assert not skipping.install(InteractiveShell())


def test_unsolved_notebook_runs_with_only_its_check_failing(shell, capsys):
    assert run(shell, "import torch\nfrom course_utils.feedback import yours_or_reference\n"
                      "from course_utils.models import fusion", capsys)[0].success
    assert run(shell, TODO, capsys)[0].success
    result, _ = run(shell, CHECK, capsys)
    assert not result.success                                      # the check cell is what fails
    result, out = run(shell, USE, capsys)
    assert result.success and "Finish exercise 03.product_of_experts first" in out
    assert "after the fallback" not in out and skipping.armed() == ["03.product_of_experts"]
    result, out = run(shell, "x = poe(torch.zeros(2, 3), torch.zeros(2, 3))\nprint('ran')", capsys)
    assert result.success and "skipped: finish exercise 03.product_of_experts first" in out and "ran" not in out
    assert run(shell, "def helper():\n    return 1", capsys)[0].success
    assert shell.user_ns["helper"]() == 1                          # definition-only cells still run


def test_a_model_built_on_a_withheld_reference_stops_its_cell(shell, capsys):
    run(shell, "import torch\nfrom course_utils.models import fusion", capsys)
    result, out = run(shell, "print('before')\nm = fusion.DecisionLateFusion(32, 16, 8, 2)\nprint('after')", capsys)
    assert result.success and "before" in out and "after" not in out
    assert "Finish exercise 03.decision_fusion first" in out


def test_passing_the_check_disarms_and_the_learners_own_code_is_used(shell, capsys):
    run(shell, "import torch\nfrom course_utils.feedback import yours_or_reference", capsys)
    run(shell, TODO, capsys)
    run(shell, USE, capsys)
    assert skipping.armed() == ["03.product_of_experts"]
    run(shell, SOLVED, capsys)
    result, out = run(shell, CHECK, capsys)
    assert result.success and "passed" in out and skipping.armed() == []
    result, out = run(shell, USE, capsys)
    assert result.success and "after the fallback" in out
    assert shell.user_ns["poe"] is shell.user_ns["product_of_experts"]


def test_last_expression_is_still_displayed(shell, capsys):
    result, _ = run(shell, "a = 2\na + 1", capsys)
    assert result.success and result.result == 3


def test_references_of_earlier_notebooks_stay_available(shell, capsys):
    result, out = run(shell, "from course_utils.feedback import yours_or_reference\n"
                             "Early = yours_or_reference('02.early_fusion', None)", capsys)
    assert result.success and "Using the course's reference EarlyFusionModel" in out
    assert skipping.armed() == []


def test_without_hidden_checks_a_pass_says_grading_runs_them(monkeypatch, capsys):
    import torch
    import torch.nn.functional as F

    from course_utils.checks import nb03
    from course_utils.feedback import CheckFailed
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb03", None)

    def mine(a, b):
        return (F.log_softmax(a, -1) + F.log_softmax(b, -1)).log_softmax(-1)
    assert nb03.check_product_of_experts(mine)
    assert "visible checks passed; grading also runs hidden checks" in capsys.readouterr().out

    def mixture(a, b):                                   # a typical mistake: caught by the visible properties
        return torch.log((F.softmax(a, -1) + F.softmax(b, -1)) / 2)
    with pytest.raises(CheckFailed):
        nb03.check_product_of_experts(mixture)


@pytest.fixture
def without_nb04_to_nb07(monkeypatch):
    """An installation whose references of notebooks 04-07 and hidden checks of 04, 05 and 07 are withheld."""
    for n in range(4, 8):
        monkeypatch.setitem(sys.modules, f"course_utils.references.nb{n:02d}", None)
    for n in (4, 5, 7):
        monkeypatch.setitem(sys.modules, f"course_utils.checks.hidden.nb{n:02d}", None)
    monkeypatch.setattr(exercise_state, "PASSED", set())
    monkeypatch.setattr(exercise_state, "PASSED_WITH", {})


def test_a_later_notebook_builds_on_the_learners_passing_layer(without_nb04_to_nb07, capsys):
    from copies import own
    from course_utils.checks import nb04
    from course_utils.models import attention
    with pytest.raises(references.Withheld):
        attention.CrossAttentionLayer                      # notebook 05's import before 04's check has passed
    mine = own("04.cross_attention")
    assert nb04.check_cross_attention_layer(mine)
    assert attention.CrossAttentionLayer is mine           # what 05's import cell now gets
    fusion = attention.CrossAttentionFusion(6, 4, dim=8, num_heads=2)
    assert isinstance(fusion.cross_attn, mine)             # models built on the layer use the learner's


def test_a_check_that_builds_on_an_unfinished_withheld_exercise_says_which(without_nb04_to_nb07, capsys):
    from copies import own
    from course_utils.checks import nb07
    from course_utils.feedback import CheckFailed
    with pytest.raises(CheckFailed, match="builds on exercise 07.fuse .*check pass in this kernel first"):
        nb07.check_intermediate_forward(own("07.intermediate_forward"))
    assert nb07.check_fuse(own("07.fuse"))
    assert nb07.check_intermediate_forward(own("07.intermediate_forward"))
    assert "visible checks passed; grading also runs hidden checks" in capsys.readouterr().out


def test_a_failed_recheck_forgets_the_learners_object(without_nb04_to_nb07):
    from copies import own
    from course_utils.checks import nb07
    from course_utils.feedback import CheckFailed
    assert nb07.check_fuse(own("07.fuse"))
    with pytest.raises(CheckFailed):
        nb07.check_fuse(lambda a, b, mode: a)
    with pytest.raises(references.Withheld):
        references.implementation("07.fuse")


def test_no_setup_cell_imports_an_exercise_name():
    """The first code cell installs the withheld-reference guard (by importing course_utils) and is therefore not
    guarded itself: importing an exercise's name there (lazily a reference) would raise in a graded release.
    Such an import goes into a cell of its own right below (docs/AUTHORING.md)."""
    import ast
    from pathlib import Path

    import nbformat
    names = {name for _, name in references.INDEX.values()}
    for path in sorted((Path(__file__).resolve().parents[1] / "solutions").glob("*.ipynb")):
        setup = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        imported = {alias.asname or alias.name for node in ast.walk(ast.parse(setup.source))
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils")
                    for alias in node.names}
        assert not imported & names, f"{path.name}: the setup cell imports {sorted(imported & names)}"
        assert "course_utils" in setup.source, f"{path.name}: the setup cell does not import course_utils"
