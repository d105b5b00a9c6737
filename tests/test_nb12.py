"""Notebook 12 (interactions): the feasible-set coordinates and the checks of its two exercises (correct forms
accepted, typical mistakes rejected with a message that says what to fix)."""
import math
import sys

import pytest
import torch

from course_utils import interactions
from course_utils.checks import nb12
from course_utils.feedback import CheckFailed, NotImplementedYet, ReferenceUsed
from course_utils.interactions import feasible_set

from copies import own

mutual_information_bits = own("12.mutual_information")
solve_broja = own("12.broja")


# ----------------------------------------------------------------------------------- feasible_set
def test_feasible_set_moves_keep_both_marginals_and_cells_sum_each_cell():
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(3, 4, 2, generator=gen, dtype=torch.float64)
    p /= p.sum()
    F = feasible_set(p)
    q0 = F.table(F.start)
    assert torch.allclose(q0.sum(1), p.sum(1)) and torch.allclose(q0.sum(0), p.sum(0))
    t = 0.01 * torch.randn(F.moves.shape[1], generator=gen, dtype=torch.float64)
    q = F.table(F.start + F.moves @ t)
    assert torch.allclose(q.sum(1), p.sum(1), atol=1e-12) and torch.allclose(q.sum(0), p.sum(0), atol=1e-12)
    assert torch.allclose(F.cells @ F.start, q0.sum(2)[q0.sum(2) > 0].reshape(-1))
    assert F.moves.shape == (24, (3 - 1) * (4 - 1) * 2)       # the null space of the two marginal maps
    copy = nb12.textbook_tables()["copy"]
    assert feasible_set(copy).moves.shape[1] == 0              # only q0 keeps the marginals of a copied bit


# ----------------------------------------------------------------------------- 12.mutual_information
def mi_xlogy(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    if (p < 0).any() or abs(float(p.sum()) - 1) > 1e-6:
        raise ValueError("not a probability table")
    p = p.reshape(-1, p.shape[-1])
    px, py = p.sum(1, keepdim=True), p.sum(0, keepdim=True)
    xlogy = torch.special.xlogy
    return (xlogy(p, p) - xlogy(p, px * py)).sum() / math.log(2)          # a 0-dim tensor is fine


def _entropy(p):
    p = p[p > 0]
    return float(-(p * p.log2()).sum())


def mi_entropies(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    if p.min() < 0 or not math.isclose(float(p.sum()), 1.0, abs_tol=1e-6):
        raise ValueError("expected probabilities summing to 1")
    flat = p.reshape(-1, p.shape[-1])
    return _entropy(flat.sum(1)) + _entropy(flat.sum(0)) - _entropy(flat)


def _mi_variant(*, log=torch.log2, validate=True, mask=True, wrong_axis=False, flatten=True):
    def fn(p):
        p = torch.as_tensor(p, dtype=torch.float64)
        if validate and ((p < 0).any() or abs(float(p.sum()) - 1) > 1e-6):
            raise ValueError("not a probability table")
        if flatten:
            p = p.reshape(-1, p.shape[-1])
        elif p.dim() > 2:
            p = p.sum(1)                        # only the first X axis
        px = p.sum(0, keepdim=True) if wrong_axis else p.sum(1, keepdim=True)
        py = p.sum(0, keepdim=True)
        terms = p * log(p / (px * py))
        return float(terms[p > 0].sum() if mask else terms.sum())
    return fn


def mi_unfinished(p):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [mutual_information_bits, mi_xlogy, mi_entropies, _mi_variant()],
                         ids=["reference-copy", "xlogy-tensor", "entropies", "mask-log2"])
def test_mutual_information_check_accepts(fn):
    assert nb12.check_mutual_information(fn)


@pytest.mark.parametrize("fn, message", [
    (_mi_variant(log=torch.log), "nats: use log2"),
    (_mi_variant(validate=False), "a table of counts"),
    (_mi_variant(mask=False), "NaN on a table with zero entries"),
    (_mi_variant(wrong_axis=True), "the answer is 0 bits|wrong axis"),
    (_mi_variant(flatten=False), "label on the last"),
    (lambda p: torch.ones(2), "one number"),
], ids=["natural-log", "no-normalisation-check", "0log0-nan", "wrong-axis-marginal", "only-first-axis", "a-vector"])
def test_mutual_information_check_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb12.check_mutual_information(fn)
    assert not isinstance(info.value, NotImplementedYet)
    assert "12.mutual_information" in str(info.value)


def test_mutual_information_check_rejects_a_wrong_error_type_and_negative_entries():
    def type_error(p):
        p = torch.as_tensor(p, dtype=torch.float64)
        if abs(float(p.sum()) - 1) > 1e-6:
            raise TypeError("bad table")
        return _mi_variant(validate=False)(p)
    with pytest.raises(CheckFailed, match="should raise a ValueError, got TypeError"):
        nb12.check_mutual_information(type_error)

    def sum_only(p):
        p = torch.as_tensor(p, dtype=torch.float64)
        if abs(float(p.sum()) - 1) > 1e-6:
            raise ValueError("does not sum to 1")
        return _mi_variant(validate=False)(p.clamp_min(0) / p.clamp_min(0).sum())
    with pytest.raises(CheckFailed, match="negative entry"):
        nb12.check_mutual_information(sum_only)


def test_mutual_information_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb12.check_mutual_information(mi_unfinished)


# ------------------------------------------------------------------------------------------ 12.broja
def broja_course_solver(p):
    return interactions.minimum_synergy_table(p)[0]


def _broja_variant(*, sign=1.0, rounds=None, positivity=True, tol=1e-7):
    """The notebook's barrier method with one thing changed."""
    def fn(p):
        F = feasible_set(p)

        def barrier(t, mu):
            x = F.start + F.moves @ t
            q12 = F.cells @ x
            return sign * ((x * x.log()).sum() - (q12 * q12.log()).sum()) - mu * x.log().sum()

        t, mu, done = torch.zeros(F.moves.shape[1], dtype=torch.float64), 1e-2, 0
        while F.moves.shape[1] > 0:
            f = lambda s: barrier(s, mu)           # noqa: E731
            for _ in range(50):
                g, h = torch.autograd.functional.jacobian(f, t), torch.autograd.functional.hessian(f, t)
                step = -torch.linalg.lstsq(h, g[:, None]).solution[:, 0]
                decrement = -(g @ step)
                if abs(decrement) < 1e-12:
                    break
                s = 1.0
                while positivity and s > 1e-10 and ((F.start + F.moves @ (t + s * step) <= 0).any()
                                                    or f(t + s * step) > f(t) - 0.25 * s * abs(decrement)):
                    s /= 2
                t = t + s * step
                if not positivity and (F.start + F.moves @ t <= 0).any():
                    break
            done += 1
            if (rounds is not None and done >= rounds) or len(F.start) * mu / math.log(2) < tol:
                break
            mu /= 10
        return F.table(F.start + F.moves @ t)
    return fn


def broja_returns_p(p):
    return p.clone()


def broja_returns_start(p):
    F = feasible_set(p)
    return F.table(F.start)


def broja_overshoots(p):
    """Twice the move from q0 to q*: keeps the marginals, leaves the positive orthant on AND."""
    q0 = broja_returns_start(p)
    return q0 + 2 * (interactions.minimum_synergy_table(p)[0] - q0)


def broja_uniform_on_support(p):
    F = feasible_set(p)
    x = torch.full_like(F.start, 1.0 / len(F.start))
    return F.table(x)


def broja_unfinished(p):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [solve_broja, broja_course_solver, _broja_variant(tol=1e-9)],
                         ids=["reference-copy", "course-barrier-solver", "tighter-tolerance"])
def test_broja_check_accepts(fn):
    assert nb12.check_broja(fn)


@pytest.mark.parametrize("fn, message", [
    (broja_returns_p, "the minimum over Delta_P"),
    (broja_returns_start, "the minimum over Delta_P"),
    (_broja_variant(rounds=1), "stopped too early"),
    (_broja_variant(sign=-1.0), "went uphill|the minimum over Delta_P"),
    (broja_overshoots, "negative entry"),
    (broja_uniform_on_support, "changes a pairwise marginal"),
    (lambda p: p.reshape(-1), "shape"),
], ids=["returns-p", "returns-q0", "first-mu-only", "maximises", "overshoots", "breaks-marginals", "flat"])
def test_broja_check_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb12.check_broja(fn)
    assert not isinstance(info.value, NotImplementedYet)
    assert "12.broja" in str(info.value)


def test_broja_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb12.check_broja(broja_unfinished)


def test_checks_reject_the_reference_itself():
    from course_utils.references import nb12 as references
    with pytest.raises(ReferenceUsed):
        nb12.check_mutual_information(references.mutual_information_bits)
    with pytest.raises(ReferenceUsed):
        nb12.check_broja(references.solve_broja)


def test_only_the_hidden_checks_catch_a_solver_right_on_two_by_two_tables_only(monkeypatch):
    """A 'solver' that is the exact answer on (2, 2, 2) tables and q0 elsewhere passes the visible checks alone."""
    def two_by_two_only(p):
        return broja_course_solver(p) if tuple(p.shape) == (2, 2, 2) else broja_returns_start(p)
    with pytest.raises(CheckFailed, match="random"):
        nb12.check_broja(two_by_two_only)
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb12", None)
    assert nb12.check_broja(two_by_two_only)


def test_the_solution_agrees_with_the_course_solver_on_random_tables():
    """The notebook's solver (the reference of 12.broja) against the course's barrier solver, which the tests of
    test_interactions.py compare with cvxpy + Clarabel."""
    gen = torch.Generator().manual_seed(3)
    for shape in ((2, 3, 2), (3, 3, 3), (4, 2, 2)):
        p = torch.rand(shape, generator=gen, dtype=torch.float64) ** 2
        p /= p.sum()
        ours = nb12.joint_bits(solve_broja(p))
        course = nb12.joint_bits(interactions.minimum_synergy_table(p)[0])
        assert abs(ours - course) < 1e-6


# ------------------------------------------------------------------------- ids and notebooks 12 and 13
def test_ids_of_notebooks_12_and_13_map_to_their_notebooks_and_never_collide():
    """Exercise ids find their references by their first two digits (references/nb12.py is notebook 12's);
    question ids belong to the notebook whose answer cell carries them: 12.q2-12.q4 in 12_interactions, while
    the capstone (13) keeps 12.q1 and 08.q5. --withhold-from 12 withholds 12's files, 13 withholds none of them."""
    from pathlib import Path

    import nbformat

    from course_utils import references
    from course_utils.instructor import release

    root = Path(__file__).resolve().parents[1]
    assert {references.INDEX[i][0] for i in ("12.mutual_information", "12.broja")} == {"nb12"}
    assert "12_interactions.ipynb" in (root / "course_utils" / "references" / "nb12.py").read_text()

    def questions(name):
        nb = nbformat.read(root / "solutions" / name, as_version=4)
        return [c.metadata["course"]["question"] for c in nb.cells if "question" in c.metadata.get("course", {})]
    q12, q13 = questions("12_interactions.ipynb"), questions("13_capstone.ipynb")
    assert q12 == ["12.q2", "12.q3", "12.q4"] and set(q13) == {"08.q5", "12.q1", "13.q1"} and not set(q12) & set(q13)
    package = root / "course_utils"
    assert {str(p) for p in release.withheld_files(package, 12)} >= {"references/nb12.py", "checks/hidden/nb12.py"}
    assert not [p for p in release.withheld_files(package, 13) if p.stem == "nb12"]
    assert [str(p) for p in release.withheld_files(package, 13)] == ["references/nb13.py"]   # 13.own_row's


def test_submissions_of_12_interactions_and_of_the_old_12_capstone_find_their_notebooks():
    from pathlib import Path

    import nbformat

    from course_utils.instructor.grading import notebooks as nbs

    root = Path(__file__).resolve().parents[1]
    refs = nbs.load_references(root / "solutions")
    interactions_nb = nbformat.read(root / "notebooks" / "12_interactions.ipynb", as_version=4)
    capstone = nbformat.read(root / "notebooks" / "13_capstone.ipynb", as_version=4)
    for nb, saved_as, want in ((interactions_nb, "12_interactions.ipynb", "12_interactions.ipynb"),
                               (interactions_nb, "Untitled.ipynb", "12_interactions.ipynb"),
                               (capstone, "12_capstone.ipynb", "13_capstone.ipynb")):
        matched = nbs.match(nb, saved_as, refs)
        assert matched.reference is refs[want] and not matched.problem, (saved_as, matched.problem)
    assert set(refs["12_interactions.ipynb"].questions) == {"12.q2", "12.q3", "12.q4"}
