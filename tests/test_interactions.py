"""course_utils.interactions: mutual information in bits, the BROJA decomposition (textbook cases and an
independent exponential-cone solver, cvxpy with Clarabel, on random tables) and the discretisation helpers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils import interactions as it


def gate(f) -> torch.Tensor:
    """p(x1, x2, y) for two uniform independent bits and y = f(x1, x2)."""
    p = torch.zeros(2, 2, 2, dtype=torch.float64)
    for a in range(2):
        for b in range(2):
            p[a, b, f(a, b)] += 0.25
    return p


def copied_bit() -> torch.Tensor:
    p = torch.zeros(2, 2, 2, dtype=torch.float64)
    p[0, 0, 0] = p[1, 1, 1] = 0.5
    return p


# I(Y; X1) for AND with uniform inputs: H(Y) - H(Y|X1) = h(1/4) - 1/2 h(1/2) = 0.8113 - 0.5 = 0.3113 bits
AND_I1 = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75)) - 0.5


@pytest.mark.parametrize("name, table, expected", [
    ("xor", gate(lambda a, b: a ^ b), {"R": 0, "U1": 0, "U2": 0, "S": 1}),
    ("copy", copied_bit(), {"R": 1, "U1": 0, "U2": 0, "S": 0}),
    ("unique", gate(lambda a, b: a), {"R": 0, "U1": 1, "U2": 0, "S": 0}),
    # BROJA's AND (Bertschinger et al. 2014): R = I(Y; X1) = 0.311, U1 = U2 = 0, S = 0.5 bits
    ("and", gate(lambda a, b: a & b), {"R": AND_I1, "U1": 0, "U2": 0, "S": 0.5}),
])
def test_the_textbook_cases(name, table, expected):
    d = it.broja(table)
    for key, value in expected.items():
        assert d.as_dict()[key] == pytest.approx(value, abs=1e-6), (name, key, d)
    assert sum(d.as_dict().values()) == pytest.approx(d.total, abs=1e-9)


def test_mutual_information_in_bits_with_zero_cells():
    assert it.mutual_information(torch.tensor([[0.5, 0.0], [0.0, 0.5]])) == pytest.approx(1.0)
    assert it.mutual_information(torch.full((3, 4), 1 / 12)) == pytest.approx(0.0, abs=1e-12)
    assert it.joint_mutual_information(gate(lambda a, b: a ^ b)) == pytest.approx(1.0)
    assert it.conditional_mutual_information(gate(lambda a, b: a ^ b)) == pytest.approx(1.0)


@pytest.mark.parametrize("bad, message", [
    (torch.ones(2, 2), "sums to 1"),
    (torch.tensor([[1.5, -0.5], [0.0, 0.0]]), "non-negative"),
    (torch.tensor([[float("nan"), 0.5], [0.0, 0.5]]), "finite"),
])
def test_bad_tables_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        it.mutual_information(bad)


def test_a_table_with_the_wrong_number_of_axes_is_refused():
    with pytest.raises(ValueError, match="3 axes"):
        it.broja(torch.full((2, 2), 0.25))


def cvxpy_minimum(p: np.ndarray) -> float:
    """min over q with p's marginals p(x1, y), p(x2, y) of I_q(Y; X1, X2), in bits, by cvxpy + Clarabel:
    I_q = H(Y) - H_q(Y | X1, X2) and -H_q(Y | X1, X2) = sum rel_entr(q(x, y), q(x)) (jointly convex)."""
    cp = pytest.importorskip("cvxpy")
    n1, n2, ny = p.shape
    q = cp.Variable((n1 * n2, ny), nonneg=True)
    qx = cp.sum(q, axis=1, keepdims=True) @ np.ones((1, ny))
    cons = []
    for y in range(ny):
        col = cp.reshape(q[:, y], (n1, n2), order="C")
        cons += [cp.sum(col, axis=1) == p[:, :, y].sum(1), cp.sum(col, axis=0) == p[:, :, y].sum(0)]
    problem = cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(q, qx))), cons)
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    py = p.sum((0, 1))
    entropy_y = -(py[py > 0] * np.log(py[py > 0])).sum()
    return float((problem.value + entropy_y) / np.log(2))


def random_tables(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = tuple(int(n) for n in rng.integers(2, [9, 9, 5]))
        p = rng.dirichlet(np.full(int(np.prod(shape)), 0.5 if i % 2 else 1.0)).reshape(shape)
        if i % 5 == 0:                         # some exact zeros too
            p = np.where(rng.random(shape) < 0.3, 0.0, p)
            p /= p.sum()
        yield p


def test_the_solver_agrees_with_an_exponential_cone_solver_on_random_tables():
    pytest.importorskip("cvxpy")
    pytest.importorskip("clarabel")
    worst = 0.0
    for p in random_tables(50):
        q, _ = it.minimum_synergy_table(torch.tensor(p))
        ours = it.joint_mutual_information(q)
        assert torch.allclose(q.sum(1), torch.tensor(p).sum(1), atol=1e-10)
        assert torch.allclose(q.sum(0), torch.tensor(p).sum(0), atol=1e-10)
        worst = max(worst, abs(ours - cvxpy_minimum(p)))
    assert worst < 1e-4, f"largest disagreement {worst:.2e} bits"


def test_joint_table_and_kmeans():
    x1, x2 = torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 0, 0])
    table = it.joint_table(x1, x2, x1 ^ x2, 2, 2, 2)
    assert torch.allclose(table, gate(lambda a, b: a ^ b))
    with pytest.raises(ValueError, match="one entry per sample"):
        it.joint_table(x1, x2[:3], x1, 2, 2, 2)
    points = torch.cat([torch.randn(50, 2) * 0.1, torch.randn(50, 2) * 0.1 + 5])
    labels = it.kmeans(points, 2, seed=0)
    assert len(set(labels[:50].tolist())) == 1 and len(set(labels[50:].tolist())) == 1
    assert labels[0] != labels[50]
    assert torch.equal(labels, it.kmeans(points, 2, seed=0))
    with pytest.raises(ValueError, match="k must be"):
        it.kmeans(points, 0)


def test_discretised_tables_of_the_course_data_show_their_kind():
    """k-means codes of 01's data sets: the redundant one is mostly R, the unique one U1, the XOR one S."""
    from course_utils.data import make_redundant, make_synergy, make_unique
    measured = {name: it.broja(it.discretised_table(make(2000, seed=0), k=8)).as_dict()
                for name, make in (("R", make_redundant), ("U1", make_unique), ("S", make_synergy))}
    for name, parts in measured.items():
        assert max(parts, key=parts.get) == name, (name, parts)
    with pytest.raises(ValueError, match="two modalities"):
        from course_utils.data import MultimodalDataset
        three = MultimodalDataset((torch.zeros(4, 2),) * 3, torch.zeros(4, dtype=torch.long), ("a", "b", "c"))
        it.discretised_table(three)
