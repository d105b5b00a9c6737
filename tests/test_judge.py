"""The judge (course_utils/instructor/grading/judge.py): verdicts computed in the grader from the kernel's outputs on
secret inputs.

Most tests run the kernel-side source in this process (:func:`ask`, the same source the grading kernel runs) on
the correct forms and the mistakes the notebooks' own tests use (collected from their parametrize marks), and
require the judge's verdict and message to be the same as the in-kernel check's. The last tests grade a tiny
course notebook through the real path (nbval, a kernel, the plugin's request) with forged submissions.
"""
from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import re

import nbformat
import pytest
import torch
from submissions import FORGED_CHECKS, write_submission
from submissions import code_cell as _code

from course_utils.instructor.grading import batch, judge, runner

SECRET = 0x5EC12E7          # fixed, so that a failure is repeatable; test_many_secrets draws others


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def session():
    return judge.Session(SECRET).prepare(list(judge.JUDGED))


def run_kernel_side(session, exercise: str, namespace: dict) -> str:
    """What the kernel writes on stdout for the judge's request of ``exercise`` (the source run in ``namespace``)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(session.payload()["requests"][exercise], namespace)
    return buffer.getvalue()


def ask(session, exercise: str, fn) -> dict:
    """The plugin's record of the kernel's answer when the notebook's answer to ``exercise`` is ``fn``."""
    out = run_kernel_side(session, exercise, {judge.JUDGED[exercise].name: fn})
    lines = [line for line in out.splitlines() if line.startswith(session.marker)]
    assert len(lines) == 1
    return {"reply": lines[0][len(session.marker):]}


# -- the wire format ---------------------------------------------------------------------------------------
def test_encoding_round_trip():
    value = {"a": [torch.randn(3, 4), torch.arange(6).reshape(2, 3), torch.tensor(True), torch.zeros(0, 5)],
             "b": (1.5, float("nan"), float("-inf"), 7, True, None, "text"),
             "c": torch.randn(2, dtype=torch.float64).requires_grad_(), "d": torch.randn(3).to(torch.bfloat16)}
    back = judge.decode(json.loads(json.dumps(judge.encode(value))))
    for x, y in zip(back["a"], value["a"]):
        assert x.dtype == y.dtype and torch.equal(x, y)
    assert back["b"][0] == 1.5 and back["b"][1] != back["b"][1] and back["b"][2:] == (float("-inf"), 7, True,
                                                                                       None, "text")
    assert torch.equal(back["c"], value["c"].detach()) and torch.equal(back["d"], value["d"])
    assert not any(isinstance(v, bytes) for v in back["b"])
    gen = torch.Generator().manual_seed(5)
    copy = judge.decode(json.loads(json.dumps(judge.encode(gen))))
    assert torch.equal(torch.randn(4, generator=copy), torch.randn(4, generator=gen))
    with pytest.raises(ValueError, match="no wire form"):
        judge.encode(object())


def _tensor(**fields):
    body = {"dtype": "float32", "shape": [2], "data": base64.b64encode(bytes(8)).decode(), **fields}
    return {"tensor": {k: v for k, v in body.items() if v is not None}}


@pytest.mark.parametrize("obj, message", [
    (_tensor(data="not base64!"), "base64"),
    (_tensor(shape=[3]), "bytes of data"),
    (_tensor(shape=[-1, 2]), "shape"),
    (_tensor(shape="2"), "shape"),
    (_tensor(dtype="object"), "dtype"),
    (_tensor(data=None), "without its data"),
    (_tensor(extra=1), "unknown fields"),
    ({"tensor": {}, "more": 1}, "not a value"),
    ({"pickle": "gASV"}, "unknown kind"),
    ({"float": "1e999"}, "float spelled"),
    ({"dict": [[1, 2]]}, "key, value"),
    ([[[[[[[[[[[1]]]]]]]]]]], "nested deeper"),
])
def test_malformed_values_are_named(obj, message):
    with pytest.raises(judge.Malformed, match=message):
        judge.decode(obj)


@pytest.mark.parametrize("answer, message", [
    ({"reply": "not json"}, "not JSON"),
    ({"reply": json.dumps({"replies": []})}, "0 results for 5 calls"),
    ({"reply": json.dumps({"replies": [{"value": {"tensor": {"dtype": "float32", "shape": [16, 4],
                                                             "data": "AAAA"}}}] * 5})}, "bytes of data"),
    ({"reply": json.dumps({"replies": [{"value": 1, "extra": 2}] * 5})}, "fields"),
    ({"reply": json.dumps({"replies": [1] * 5})}, "not an object"),
    ({"reply": json.dumps({"replies": [], "more": 1})}, "one field"),
    ({"reply": "[" * 100000 + "]" * 100000}, "not JSON|one JSON object"),
    ({"reply": " " * (judge.MAX_REPLY + 1)}, "larger than 4 MiB"),
    ({"error": "the kernel did not answer the grader within 60 s"}, "did not answer"),
    ({"reply": json.dumps({"missing": "product_of_experts"})}, "defines no 'product_of_experts'"),
    (None, "could not ask the kernel"),
])
def test_malformed_replies_fail_the_exercise_with_a_message(session, answer, message):
    passed, text = session.verdict("03.product_of_experts", answer)
    assert not passed and re.search(message, text), text
    assert text.startswith("Exercise 03.product_of_experts")


def test_made_up_tensors_of_the_right_shape_earn_nothing(session):
    """A kernel that answers every call with random data of the reference's shapes and dtypes (and, where a
    gradient is asked for, random gradients)."""
    gen = torch.Generator().manual_seed(1)

    def fake(value):
        if isinstance(value, dict) and "tensor" in value:
            t = judge.decode(value)
            t = torch.randn(t.shape, generator=gen).to(t.dtype) if t.is_floating_point() else t
            return judge.encode(t)
        if isinstance(value, dict) and "tuple" in value:
            return {"tuple": [fake(v) for v in value["tuple"]]}
        if isinstance(value, dict) and "dict" in value:          # a module's attributes and parameter gradients
            return {"dict": [[k, fake(v)] for k, v in value["dict"]]}
        if isinstance(value, float):
            return float(torch.rand((), generator=gen))
        if isinstance(value, int) and not isinstance(value, bool):
            return value + int(torch.randint(1, 100, (), generator=gen))
        return value

    for exercise in judge.JUDGED:
        honest = json.loads(ask(session, exercise, _reference_copy(exercise))["reply"])
        made_up = {**honest, "replies": [{**r, "value": fake(r["value"])} if "value" in r else r
                                         for r in honest["replies"]]}
        for r in made_up["replies"]:
            if "grads" in r:
                r["grads"] = [fake(g) for g in r["grads"]]
            for key in ("attrs", "param_grads"):
                if key in r:
                    r[key] = fake(r[key])
        passed, message = session.verdict(exercise, {"reply": json.dumps(made_up)})
        assert not passed and message, exercise


def test_a_reply_to_other_inputs_earns_nothing():
    """Answers computed by a correct function, but on the inputs of another run (another secret): the inputs
    the grader checks are its own."""
    mine, other = judge.Session(1).prepare(["03.product_of_experts"]), judge.Session(2).prepare(["03.product_of_experts"])
    answer = ask(other, "03.product_of_experts", _reference_copy("03.product_of_experts"))
    passed, message = mine.verdict("03.product_of_experts", answer)
    assert not passed and "differs from the reference" in message
    assert ask(mine, "03.product_of_experts", _reference_copy("03.product_of_experts")) != answer


def test_the_inputs_are_secret():
    """The calls recorded under two secrets differ, and neither is the check's own seed-0 input."""
    calls = [judge.Session(s).prepare(["00.standardize"]).requests["00.standardize"].calls[0]["args"] for s in (1, 2)]
    gen = torch.Generator().manual_seed(0)
    public = 3.0 + 2.5 * torch.randn(200, 5, generator=gen) * torch.arange(1, 6)
    decoded = [judge.decode(c)[0] for c in calls]
    assert not torch.equal(decoded[0], decoded[1])
    assert not any(torch.equal(d, public) for d in decoded)


def test_many_secrets_keep_the_references_passing():
    """The checks' properties hold for inputs nobody chose: prepare() fails where the reference would not pass."""
    for secret in range(101, 116):
        judge.Session(secret).prepare(list(judge.JUDGED))


# -- the same verdicts as the notebooks' tests -------------------------------------------------------------
#: exercise -> (test module, tests of correct forms, tests of mistakes (argument names: fn/fuse/kind, message/words))
PARITY = {
    "00.standardize": ("test_checks_nb00_nb01", ["test_standardize_accepts"], ["test_standardize_rejects"]),
    "01.xor_data": ("test_checks_nb00_nb01", ["test_xor_data_accepts"], ["test_xor_data_rejects"]),
    "03.product_of_experts": ("test_nb02_nb03", ["test_product_of_experts_accepts_correct_variants"],
                              ["test_product_of_experts_rejects_mistakes"]),
    "04.sdpa": ("test_nb04_nb05", ["test_sdpa_check_accepts_correct"], ["test_sdpa_check_rejects_mistakes"]),
    "07.fuse": ("test_nb07", ["test_check_accepts_correct_fusions"], ["test_check_rejects_typical_mistakes"]),
    "09.infonce": ("test_nb09", ["test_info_nce_check_accepts"], ["test_info_nce_check_rejects"]),
    "09.recall_at_k": ("test_nb09", ["test_recall_check_accepts"],
                       ["test_recall_check_rejects_ties_that_help_the_match", "test_recall_check_rejects"]),
    "10.tensor_fusion": ("test_nb10", ["test_tensor_fusion_check_accepts"], ["test_tensor_fusion_check_rejects"]),
    "10.parameter_counts": ("test_nb10", ["test_parameter_counts_check_accepts"],
                            ["test_parameter_counts_check_rejects"]),
    "11.auxiliary_loss": ("test_nb11", ["test_auxiliary_loss_check_accepts_correct_forms"],
                          ["test_auxiliary_loss_check_rejects_typical_mistakes"]),
    "12.mutual_information": ("test_nb12", ["test_mutual_information_check_accepts"],
                              ["test_mutual_information_check_rejects"]),
    "12.broja": ("test_nb12", ["test_broja_check_accepts"], ["test_broja_check_rejects"]),
    # module exercises (judge_modules): the grader's weights loaded, or the learner's own layout mirrored
    "04.cross_attention": ("test_nb04_nb05", ["test_layer_check_accepts_correct"],
                           ["test_layer_check_rejects_mistakes", "test_layer_check_names_what_multihead_attention_needs"]),
    "06.gmu": ("test_nb06", ["test_gmu_check_accepts"], ["test_gmu_check_rejects"]),
    "09.learnable_temperature": ("test_nb09", ["test_learned_temperature_check_accepts"],
                                 ["test_learned_temperature_check_rejects"]),
    "10.low_rank_fusion": ("test_nb10", ["test_low_rank_fusion_check_accepts"], ["test_low_rank_fusion_check_rejects"]),
}

#: the unfinished forms the notebooks' tests use for the module exercises: (test module, attribute names)
UNFINISHED = {"04.cross_attention": ("test_nb04_nb05", ["TodoLayer"]), "06.gmu": ("test_nb06", ["UnfinishedGMU"]),
              "10.low_rank_fusion": ("test_nb10", ["LMFUnfinished", "LMFUnfinishedInit"])}


def _cases(module_name: str, tests: list) -> list:
    module = importlib.import_module(module_name)
    cases = []
    for test in tests:
        marks = [m for m in getattr(module, test).pytestmark if m.name == "parametrize"]
        for values in marks[0].args[1]:
            values = values if isinstance(values, tuple) else (values,)
            if module_name == "test_nb11" and isinstance(values[0], str):   # (kind, message): module._mistake(kind)
                values = (module._mistake(values[0]), *values[1:])
            if module_name == "test_nb09" and test.startswith("test_learned"):  # (forward, ...): a class with it
                values = (module._temperature(values[0]), *values[1:])
            cases.append(values)
    return cases


def _reference_copy(exercise: str):
    from copies import own
    return own(exercise)


CORRECT = [pytest.param(ex, i, id=f"{ex}-{i}") for ex, (m, ok, _) in PARITY.items()
           for i in range(len(_cases(m, ok)))]
MISTAKES = [pytest.param(ex, i, id=f"{ex}-{i}") for ex, (m, _, bad) in PARITY.items()
            for i in range(len(_cases(m, bad)))]


@pytest.mark.parametrize("exercise, index", CORRECT)
def test_every_correct_form_passes_the_judge(session, exercise, index):
    module, ok, _ = PARITY[exercise]
    fn, = _cases(module, ok)[index]
    passed, message = session.verdict(exercise, ask(session, exercise, fn))
    assert passed, message


@pytest.mark.parametrize("exercise, index", MISTAKES)
def test_every_mistake_fails_the_judge_naming_the_same_mistake(session, exercise, index):
    module, _, bad = PARITY[exercise]
    fn, message = _cases(module, bad)[index]
    passed, text = session.verdict(exercise, ask(session, exercise, fn))
    assert not passed
    found = message in text if module == "test_nb04_nb05" else re.search(message, text)   # 04: words, not regex
    assert found, f"expected {message!r} in: {text}"
    assert exercise in text


@pytest.mark.parametrize("exercise", list(judge.JUDGED))
def test_unfinished_answers_are_not_implemented_yet(session, exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError()
    passed, text = session.verdict(exercise, ask(session, exercise, stub))
    assert not passed and "not implemented yet" in text


@pytest.mark.parametrize("exercise, name", [(ex, n) for ex, (_, names) in UNFINISHED.items() for n in names])
def test_unfinished_modules_are_not_implemented_yet(session, exercise, name):
    cls = getattr(importlib.import_module(UNFINISHED[exercise][0]), name)
    passed, text = session.verdict(exercise, ask(session, exercise, cls))
    assert not passed and "not implemented yet" in text, text


def _lmf_with(extra_buffer=False):
    base = _reference_copy("10.low_rank_fusion")

    class Learner(base):
        def __init__(self, *args):
            super().__init__(*args)
            if extra_buffer:
                self.register_buffer("ones", torch.ones(1))
    return Learner


def test_a_module_of_another_layout_is_told_what_the_grader_expected(session):
    """10.low_rank_fusion's check changes the weights (it zeroes a rank term), so the grader's weights are loaded
    by name: a module with one more entry in its state (a buffer the check's own tests do not see) is told."""
    assert session.verdict("10.low_rank_fusion", ask(session, "10.low_rank_fusion", _lmf_with()))[0]
    passed, text = session.verdict("10.low_rank_fusion", ask(session, "10.low_rank_fusion", _lmf_with(True)))
    assert not passed and "`ones` besides" in text and "layout" in text, text
    assert text.startswith("Exercise 10.low_rank_fusion")


def test_the_grader_weights_are_secret_and_the_learners_own_layout_is_mirrored(session):
    """The template's layout gets the grader's weights (drawn under the secret); another layout (MHALayer: one
    nn.MultiheadAttention) runs with its own weights, rebuilt in the grader from torch's own layer classes."""
    request = session.requests["04.cross_attention"]
    other = judge.Session(SECRET + 1).prepare(["04.cross_attention"]).requests["04.cross_attention"]
    assert request.states[0] != other.states[0]
    from course_utils.instructor.grading import judge_modules
    answer = ask(session, "04.cross_attention", importlib.import_module("test_nb04_nb05").MHALayer)
    inits, _ = judge_modules.parse(answer["reply"], len(request.instances), len(request.calls))
    mirrored = judge_modules._mirror(inits[0], torch.nn.Module)
    assert isinstance(mirrored.mha, torch.nn.MultiheadAttention)
    assert torch.equal(mirrored.mha.in_proj_weight, inits[0]["state"]["mha.in_proj_weight"])


def _module_reply(session, exercise):
    return json.loads(ask(session, exercise, _reference_copy(exercise))["reply"])


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(inits=r["inits"][:-1]), "constructions"),
    (lambda r: r.update(replies=r["replies"][:-1]), "results"),
    (lambda r: r.update(more=1), "fields"),
    (lambda r: r["inits"][0].update(tree="x"), "module tree"),
    (lambda r: r["inits"][0].update(state={"dict": [["w", 1]]}), "dict of tensors"),
    (lambda r: r["replies"][0].update(attrs={"dict": [["a", "text"]]}), "attributes"),
    (lambda r: r["replies"].__setitem__(0, {"layout": {"missing": 1}}), "layout report"),
    (lambda r: r["inits"][0]["tree"].insert(0, ["a.b", "torch.nn.modules.linear", "Linear", {"dict": []}]),
     "before its parent"),
])
def test_a_malformed_module_reply_fails_only_that_exercise(session, change, message):
    reply = _module_reply(session, "04.cross_attention")
    change(reply)
    passed, text = session.verdict("04.cross_attention", {"reply": json.dumps(reply)})
    assert not passed and re.search(message, text), text
    assert text.startswith("Exercise 04.cross_attention")
    assert session.verdict("06.gmu", ask(session, "06.gmu", _reference_copy("06.gmu")))[0]


def test_a_mirror_builds_only_torchs_own_layers():
    """A module tree naming a class outside torch.nn (or a non-module) gets an empty stand-in: nothing the kernel
    names is imported and run in the grader."""
    from course_utils.instructor.grading import judge_modules
    init = {"state": {}, "params": [], "frozen": set(),
            "tree": [["", "x", "Root", {}], ["evil", "os", "system", {}], ["lin", "torch.nn.modules.linear", "Linear",
                                                                          {"in_features": 2, "out_features": 3}]]}
    root = judge_modules._mirror(init, type("Root", (torch.nn.Module,), {}))
    assert type(root.evil).__module__ == "learner" and type(root.evil).__name__ == "system"
    assert isinstance(root.lin, torch.nn.Linear) and root.lin.out_features == 3


@pytest.mark.parametrize("exercise", ["03.product_of_experts", "10.low_rank_fusion"])
def test_the_kernel_side_leaves_the_namespace_as_it_was(session, exercise):
    namespace = {judge.JUDGED[exercise].name: _reference_copy(exercise)}
    before = set(namespace)
    run_kernel_side(session, exercise, namespace)
    assert set(namespace) - {"__builtins__"} == before


@pytest.mark.parametrize("exercise", ["04.cross_attention", "10.low_rank_fusion"])
def test_a_module_reply_for_another_runs_weights_and_inputs_earns_nothing(exercise):
    """A correct module, answering the request of another run (other secret weights and inputs): the weights and
    inputs the grader checks are its own."""
    mine, other = judge.Session(1).prepare([exercise]), judge.Session(2).prepare([exercise])
    passed, message = mine.verdict(exercise, ask(other, exercise, _reference_copy(exercise)))
    assert not passed and message


def test_a_missing_function_is_named(session):
    out = run_kernel_side(session, "04.sdpa", {})
    passed, text = session.verdict("04.sdpa", {"reply": out.strip()[len(session.marker):]})
    assert not passed and "scaled_dot_product_attention" in text


# -- through the grader: nbval, a kernel, the plugin's request ---------------------------------------------


POE_TODO = "def product_of_experts(img_logits, txt_logits):\n    raise NotImplementedError()"
POE_SOLVED = ("def product_of_experts(img_logits, txt_logits):\n"
              "    return torch.log_softmax(img_logits.log_softmax(-1) + txt_logits.log_softmax(-1), -1)")
POE_MIXTURE = ("def product_of_experts(img_logits, txt_logits):\n"
               "    return torch.log((img_logits.softmax(-1) + txt_logits.softmax(-1)) / 2)")
#: made-up, plausible answers: normalised log-probabilities of the right shape
MADE_UP = ("def product_of_experts(img_logits, txt_logits):\n"
           "    return torch.randn_like(img_logits).log_softmax(-1)")
#: a kernel that rewrites the judge's answer: random data of the right shapes and dtypes for every call (it patches
#: json.dumps, which the kernel-side source calls; IPython re-wraps sys.stdout.write in every cell)
LYING_KERNEL = '''import json, base64, os
_dumps = json.dumps
def _lie(obj, *args, _dumps=_dumps, **kwargs):
    if isinstance(obj, dict) and "replies" in obj:
        for r in obj["replies"]:
            t = r.get("value", {}).get("tensor") if isinstance(r.get("value"), dict) else None
            if t:
                t["data"] = base64.b64encode(os.urandom(len(base64.b64decode(t["data"])))).decode()
    return _dumps(obj, *args, **kwargs)
json.dumps = _lie'''


def tiny_notebook(path, setup: str, todo: str, todo_id: str, check: str, exercise: str, points: int):
    """A course notebook at ``path`` of three cells: setup, the TODO cell (``todo``, id ``todo_id``) and the real
    check cell of ``exercise`` (``check``, worth ``points``); the notebook."""
    path.parent.mkdir(parents=True, exist_ok=True)
    number = exercise[:2]
    nb = nbformat.v4.new_notebook(cells=[
        _code(setup, f"setup-{number}"),
        _code(todo, todo_id),
        _code(check, f"check-{exercise.replace('.', '-').replace('_', '-')}", exercise, points),
    ])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nb, path)
    return nb


def tiny_03(folder):
    """A course notebook 03_tiny.ipynb with the real check cell of 03.product_of_experts (1 point)."""
    return tiny_notebook(folder / "03_tiny.ipynb", "import torch", POE_TODO, "941e46e2690d",
                         "from course_utils.checks import nb03\nnb03.check_product_of_experts(product_of_experts)",
                         "03.product_of_experts", 1)


def _variant(nb, answer: str, before: str = ""):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells[1].source = answer
    if before:
        nb.cells.insert(1, _code(before, "learner-cell"))
    return nb


def grade_cases(tmp_path, reference, notebook: str, exercise: str, cases: dict) -> None:
    """Grade each case's notebook (learner -> (notebook, points, words its feedback holds)) in one batch against
    the course in ``reference``; each learner's row has the points and its feedback the words."""
    subs = tmp_path / "subs"
    for learner, (content, _, _) in cases.items():
        write_submission(subs, learner, notebook, content)
    limits = runner.Limits(cell_timeout=60, wall_timeout=240, memory_bytes=4 << 30)
    rows = batch.grade_batch(subs, tmp_path / "out", reference=reference, workers=2, limits=limits,
                             log=lambda *a: None)
    got = {row["learner"]: row for row in rows}
    for learner, (_, points, message) in cases.items():
        row = got[learner]
        assert row["status"] == "ok" and row[exercise] == points, (learner, row)
        feedback = (tmp_path / "out" / "feedback" / learner / notebook.replace(".ipynb", ".md")).read_text()
        assert message in feedback, (learner, feedback[feedback.find(f"Exercise {exercise[:2]}"):][:600])


def test_grading_through_the_kernel(tmp_path):
    """Honest answers earn what they earn; forged checks, made-up answers and a lying kernel earn nothing."""
    nb = tiny_03(tmp_path / "ref")
    cases = {"solved": (_variant(nb, POE_SOLVED), "1", ""),
             "mixture": (_variant(nb, POE_MIXTURE), "0", "mixture"),
             "forged": (_variant(nb, POE_TODO, FORGED_CHECKS), "0", "not implemented yet"),
             "made_up": (_variant(nb, MADE_UP, FORGED_CHECKS), "0", "differs from the reference"),
             "lying": (_variant(nb, POE_SOLVED, FORGED_CHECKS + "\n" + LYING_KERNEL), "0", "differs from the")}
    grade_cases(tmp_path, tmp_path / "ref", "03_tiny.ipynb", "03.product_of_experts", cases)
    forged = (tmp_path / "out" / "feedback" / "forged" / "03_tiny.md").read_text()
    assert "grader's own check" in forged          # the in-kernel cell "passed"; the judge's verdict decided


LMF_TODO = ("class LowRankFusion(nn.Module):\n    def __init__(self, img_dim, txt_dim, out_dim, rank):\n"
            "        super().__init__()\n        raise NotImplementedError()")
LMF_SOLVED = """class LowRankFusion(nn.Module):
    def __init__(self, img_dim, txt_dim, out_dim, rank):
        super().__init__()
        self.img_factor = nn.Parameter(torch.randn(rank, img_dim + 1, out_dim) / math.sqrt(img_dim + 1))
        self.txt_factor = nn.Parameter(torch.randn(rank, txt_dim + 1, out_dim) / math.sqrt(txt_dim + 1))

    def forward(self, e_v, e_t):
        z_v = torch.cat([e_v, torch.ones(len(e_v), 1)], -1)
        z_t = torch.cat([e_t, torch.ones(len(e_t), 1)], -1)
        a = torch.einsum("bi,rio->bro", z_v, self.img_factor)
        return (a * torch.einsum("bj,rjo->bro", z_t, self.txt_factor)).sum(1)"""


def test_grading_a_module_exercise_through_the_kernel(tmp_path):
    """A module exercise (10.low_rank_fusion, 4 points) on the real path: the honest class earns its points, forged
    checks and a kernel that rewrites its answers earn nothing (the mistakes' messages: the parity tests above)."""
    folder = tmp_path / "ref"
    nb = tiny_notebook(folder / "10_tiny.ipynb", "import math\nimport torch\nfrom torch import nn", LMF_TODO, "a10-lmf-todo",
                       "from course_utils.checks import nb10\nnb10.check_low_rank_fusion(LowRankFusion)",
                       "10.low_rank_fusion", 4)
    cases = {"solved": (_variant(nb, LMF_SOLVED), "4", ""),
             "forged": (_variant(nb, LMF_TODO, FORGED_CHECKS), "0", "not implemented yet"),
             "lying": (_variant(nb, LMF_SOLVED, FORGED_CHECKS + "\n" + LYING_KERNEL), "0", "grader's own check")}
    grade_cases(tmp_path, folder, "10_tiny.ipynb", "10.low_rank_fusion", cases)


def test_secret_seeds_in_threads_do_not_mix():
    """Graders grade submissions in threads: each session's inputs are its own secret's, as when run alone."""
    import threading
    alone = {s: judge.Session(s).prepare(["03.product_of_experts", "00.standardize"]) for s in (11, 12, 13, 14)}
    together = {}

    def prepare(s):
        together[s] = judge.Session(s).prepare(["03.product_of_experts", "00.standardize"])
    threads = [threading.Thread(target=prepare, args=(s,)) for s in alone]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in alone:
        for ex in alone[s].requests:
            assert [c["key"] for c in together[s].requests[ex].calls] == [c["key"] for c in alone[s].requests[ex].calls]
    assert torch.Generator is judge._REAL[0] and torch.manual_seed is judge._REAL[1]


# -- the plugin's request: only stdout of its own execute request, bounded ----------------------------------
class FakeKernel:
    """Stands in for nbval's RunningKernel: answers an execute request with the given iopub messages."""

    def __init__(self, messages, reply=True):
        self.messages, self.reply, self.interrupted = messages, reply, False

    def is_alive(self):
        return True

    def execute_cell_input(self, code, allow_stdin=None):
        self.queue = [({"msg_id": mid}, t, c) for mid, t, c in self.messages]
        return "mine"

    def await_reply(self, msg_id, timeout=None):
        from queue import Empty
        if not self.reply:
            raise Empty()

    def get_message(self, stream, timeout=None):
        from queue import Empty
        if not self.queue:
            raise Empty()
        parent, msg_type, content = self.queue.pop(0)
        return {"parent_header": parent, "msg_type": msg_type, "content": content}

    def interrupt(self):
        self.interrupted = True


def _stdout(mid, text):
    return (mid, "stream", {"name": "stdout", "text": text})


IDLE = ("mine", "status", {"execution_state": "idle"})


@pytest.mark.parametrize("messages, expected", [
    ([_stdout("mine", "noise\n@@m@@{\"a\": 1}\n"), IDLE], {"reply": "{\"a\": 1}"}),
    ([_stdout("other", "@@m@@{\"fake\": 1}\n"), _stdout("mine", "@@m@@{\"a\": 1}\n"), IDLE], {"reply": "{\"a\": 1}"}),
    ([("mine", "stream", {"name": "stderr", "text": "@@m@@{\"fake\": 1}\n"}), _stdout("mine", "@@m@@{}\n"), IDLE],
     {"reply": "{}"}),
    ([_stdout("mine", "@@m@@{}\n@@m@@{}\n"), IDLE], {"error": "2 answer lines on stdout (expected exactly one)"}),
    ([_stdout("mine", "no answer\n"), IDLE], {"error": "0 answer lines on stdout (expected exactly one)"}),
    ([_stdout("mine", "@@m@@" + "x" * 3000 + "\n"), IDLE], {"error": "the answer on stdout is larger than 1000 bytes"}),
])
def test_the_plugin_reads_only_its_own_requests_stdout(messages, expected):
    from course_utils.instructor.grading import plugin
    assert plugin.ask_judge(FakeKernel(messages), "code", "@@m@@", 1000, 5) == expected


def test_a_request_the_kernel_does_not_answer_in_time_is_interrupted():
    from course_utils.instructor.grading import plugin
    kernel = FakeKernel([], reply=False)
    assert "did not answer the grader within 5 s" in plugin.ask_judge(kernel, "code", "@@m@@", 1000, 5)["error"]
    assert kernel.interrupted


def test_what_other_threads_print_while_a_check_runs_here_is_kept(capsys):
    """A batch prints its progress from other threads while one judges: only the check's own ticks are dropped."""
    import threading
    with judge.secret_seeds(1):
        print("tick of the check")
        other = threading.Thread(target=print, args=("[1/2] progress line",))
        other.start()
        other.join()
    out = capsys.readouterr().out
    assert "[1/2] progress line" in out and "tick of the check" not in out


def test_the_request_runs_while_a_graded_release_skips_cells(session, monkeypatch):
    """Grading 07, a cell waits for 07.intermediate_forward before 07.fuse's check: the request still runs."""
    from course_utils import exercise_state, skipping
    monkeypatch.setattr(exercise_state, "WAITING", ["07.intermediate_forward"])
    code = session.payload()["requests"]["07.fuse"]
    assert skipping.transform(code.splitlines(True)) == code.splitlines(True)
    assert skipping.transform(["x = 1\n"]) != ["x = 1\n"]          # what an ordinary cell gets meanwhile
