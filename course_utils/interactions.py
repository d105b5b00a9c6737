"""Interactions between two modalities about a label, in bits: discrete mutual information and the BROJA
partial information decomposition (Bertschinger, Rauh, Olbrich, Jost and Ay, "Quantifying unique information",
Entropy 2014), plus the discretisation that takes the course's continuous data to a joint table.

A joint table ``p`` has shape ``(n1, n2, ny)``: ``p[a, b, c] = P(X1 = a, X2 = b, Y = c)``, non-negative, summing
to 1. Every quantity is in bits (log base 2) with the convention 0 log 0 = 0.

The BROJA decomposition: with Delta_P the distributions q that keep the pairwise marginals p(x1, y), p(x2, y),

    q* = argmin_{q in Delta_P} I_q(Y; X1, X2)
    S  = I_p(Y; X1, X2) - I_{q*}(Y; X1, X2)        U1 = I_{q*}(Y; X1 | X2)        U2 = I_{q*}(Y; X2 | X1)
    R  = I(Y; X1) - U1                               (so R + U1 + U2 + S = I_p(Y; X1, X2))

``broja`` solves this convex problem with a barrier method (``minimum_synergy_table``): moves stay inside Delta_P
(directions that keep both pairwise marginals), and f(q) - mu sum log q is minimised by damped Newton steps for
mu = 1e-2, 1e-3, ... On the central path the gap to the optimum is at most m mu (m cells), so it stops once
m mu / ln 2 < ``tol`` bits. The tests check it against cvxpy with Clarabel (an exponential-cone solver).

Notebook 12 (interactions) has learners write the mutual information and a BROJA solver of their own on
``feasible_set`` (the start, the moves that keep the marginals, the cell map); it then measures the course's data
sets with ``broja`` and ``discretised_table`` from here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

LOG2 = torch.log(torch.tensor(2.0, dtype=torch.float64))


def _as_table(p, ndim: int | None = None) -> torch.Tensor:
    """``p`` as a float64 tensor, checked to be a probability table (non-negative, finite, summing to 1)."""
    p = torch.as_tensor(p, dtype=torch.float64)
    if ndim is not None and p.dim() != ndim:
        raise ValueError(f"expected a joint probability table with {ndim} axes, got shape {tuple(p.shape)}")
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ValueError("a probability table has finite non-negative entries")
    total = p.sum().item()
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"a probability table sums to 1, this one sums to {total:.6g} (divide by its sum)")
    return p / p.sum()                           # removes the rounding of a float32 table


def _plogp_ratio(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """sum p log2(p / q) with 0 log 0 = 0 (entries where p = 0 contribute nothing)."""
    mask = p > 0
    return (p[mask] * (torch.log(p[mask]) - torch.log(q[mask]))).sum() / LOG2


def mutual_information(pxy) -> float:
    """I(X; Y) in bits from a joint table ``pxy`` of shape ``(nx, ny)``:
    I = sum_{x,y} p(x,y) log2 p(x,y) / (p(x) p(y))."""
    p = _as_table(pxy, 2)
    px, py = p.sum(1, keepdim=True), p.sum(0, keepdim=True)
    return float(_plogp_ratio(p, px * py))


def joint_mutual_information(p) -> float:
    """I(Y; X1, X2) in bits from ``p`` of shape ``(n1, n2, ny)``: the two modalities taken as one variable."""
    p = _as_table(p, 3)
    return mutual_information(p.reshape(-1, p.shape[-1]))


def conditional_mutual_information(p) -> float:
    """I(Y; X1 | X2) in bits from ``p`` of shape ``(n1, n2, ny)``: sum p log2 p(x1,x2,y) p(x2) / (p(x1,x2) p(x2,y))."""
    p = _as_table(p, 3)
    p12, p2y, p2 = p.sum(2, keepdim=True), p.sum(0, keepdim=True), p.sum((0, 2), keepdim=True)
    mask = p > 0
    log_ratio = (torch.log(p) + torch.log(p2)) - (torch.log(p12) + torch.log(p2y))   # finite where p > 0
    return float((p[mask] * log_ratio[mask]).sum() / LOG2)


@dataclass(frozen=True)
class Decomposition:
    """R, U1, U2, S in bits (they sum to ``total`` = I(Y; X1, X2)); ``iterations`` the solver's outer steps."""
    redundancy: float
    unique1: float
    unique2: float
    synergy: float
    total: float
    iterations: int = 0

    def as_dict(self) -> dict:
        return {"R": self.redundancy, "U1": self.unique1, "U2": self.unique2, "S": self.synergy}


def _feasible_directions(support: torch.Tensor, n1: int, n2: int, ny: int) -> torch.Tensor:
    """An orthonormal basis ``(m, k)`` of the moves of the ``m`` entries in ``support`` that keep both marginals
    p(x1, y) and p(x2, y): the null space of the marginal map restricted to those entries."""
    idx = support.nonzero()                                           # (m, 3): x1, x2, y
    m = len(idx)
    rows = torch.zeros(n1 * ny + n2 * ny, m, dtype=torch.float64)
    rows[idx[:, 0] * ny + idx[:, 2], torch.arange(m)] = 1.0           # sum over x2 -> (x1, y)
    rows[n1 * ny + idx[:, 1] * ny + idx[:, 2], torch.arange(m)] = 1.0  # sum over x1 -> (x2, y)
    _, sv, vh = torch.linalg.svd(rows, full_matrices=True)
    rank = int((sv > 1e-10 * sv.max()).sum())
    return vh[rank:].T


@dataclass(frozen=True)
class FeasibleSet:
    """Delta_P of a table ``p`` ``(n1, n2, ny)`` in coordinates: every q in Delta_P is ``table(start + moves @ t)``.

    start: ``(m,)`` the m entries of q0 = p(x1|y) p(x2|y) p(y) that may be non-zero (the support), all positive.
    moves: ``(m, k)`` an orthonormal basis of the moves of those entries that keep p(x1, y) and p(x2, y).
    cells: ``(c, m)`` 0/1: row j sums the entries of the j-th (x1, x2) cell, so ``cells @ x`` is q(x1, x2).
    support: ``(n1, n2, ny)`` bool, where the m entries sit."""
    start: torch.Tensor
    moves: torch.Tensor
    cells: torch.Tensor
    support: torch.Tensor

    def table(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(n1, n2, ny)`` table with entries ``x`` ``(m,)`` on the support, zero elsewhere."""
        q = torch.zeros(self.support.shape, dtype=torch.float64)
        q[self.support] = torch.as_tensor(x, dtype=torch.float64).detach()
        return q


def feasible_set(p) -> FeasibleSet:
    """The coordinates of Delta_P (see :class:`FeasibleSet`) for a joint table ``p`` ``(n1, n2, ny)``."""
    p = _as_table(p, 3)
    n1, n2, ny = p.shape
    p1y, p2y, py = p.sum(1), p.sum(0), p.sum((0, 1))
    q0 = torch.where(py > 0, p1y[:, None, :] * p2y[None, :, :] / py.clamp_min(1e-300), 0.0)
    support = q0 > 0
    idx = support.nonzero()
    cell = idx[:, 0] * n2 + idx[:, 1]
    used, inverse = torch.unique(cell, return_inverse=True)
    cells = torch.zeros(len(used), len(idx), dtype=torch.float64)
    cells[inverse, torch.arange(len(idx))] = 1.0
    return FeasibleSet(q0[support], _feasible_directions(support, n1, n2, ny), cells, support)


def minimum_synergy_table(p, tol: float = 1e-10) -> tuple[torch.Tensor, int]:
    """q* in Delta_P minimising I_q(Y; X1, X2) (see the module docstring), and the Newton steps taken.

    Barrier method (Boyd and Vandenberghe, Convex Optimization, 11.3): q = q0 + N t with q0 = p(x1|y) p(x2|y) p(y)
    and N the moves that keep the marginals; minimise f(q) - mu sum log q by damped Newton for mu = 1e-2, 1e-3, ...
    Convergence criterion: on the central path I_q - min I <= m mu (m the entries that may be non-zero), so stop
    once m mu / ln 2 < ``tol`` bits. Entries outside supp p(x1, y) x supp p(x2, y) are zero in every q in Delta_P.
    ``p`` ``(n1, n2, ny)``; returns a float64 table of that shape."""
    F = feasible_set(p)
    n1, n2, _ = F.support.shape
    idx = F.support.nonzero()
    cell = idx[:, 0] * n2 + idx[:, 1]                                 # each entry's (x1, x2) cell
    basis, x = F.moves, F.start                                       # (m, k), (m,)
    if basis.shape[1] == 0:
        return F.table(x), 0
    m, steps, mu = len(x), 0, 1e-2

    same = (cell[:, None] == cell[None, :]).double()                  # (m, m): entries of one (x1, x2) cell

    def barrier(x, mu):                                               # value of the barrier objective, and q(x1, x2)
        x12 = torch.zeros(n1 * n2, dtype=torch.float64).index_add_(0, cell, x)
        value = (x * torch.log(x)).sum() - (x12[x12 > 0] * torch.log(x12[x12 > 0])).sum() - mu * torch.log(x).sum()
        return value, x12

    def parts(x, mu):                                                 # value, gradient (k,), Hessian (k, k) in t
        value, x12 = barrier(x, mu)
        grad = torch.log(x) - torch.log(x12[cell]) - mu / x
        hess = torch.diag(1 / x + mu / x ** 2) - same / x12[cell][None, :]
        return value, basis.T @ grad, basis.T @ hess @ basis

    while True:
        for _ in range(100):                                          # centring: damped Newton
            value, g, h = parts(x, mu)
            d = -torch.linalg.solve(h + 1e-14 * torch.eye(len(g), dtype=torch.float64), g)
            decrement = -(g @ d)
            if decrement / 2 < 1e-13:
                break
            move, s = basis @ d, 1.0
            while (x + s * move <= 0).any() or barrier(x + s * move, mu)[0] > value - 0.25 * s * decrement:
                s *= 0.5
                if s < 1e-12:
                    break
            x = x + s * move
            steps += 1
        if m * mu / float(LOG2) < tol:
            break
        mu /= 10
    return F.table(x), steps


def broja(p, tol: float = 1e-10) -> Decomposition:
    """The BROJA decomposition of ``p`` ``(n1, n2, ny)`` in bits."""
    p = _as_table(p, 3)
    q, steps = minimum_synergy_table(p, tol=tol)
    total = joint_mutual_information(p)
    u1 = max(conditional_mutual_information(q), 0.0)
    u2 = max(conditional_mutual_information(q.transpose(0, 1)), 0.0)
    i1 = mutual_information(p.sum(1))
    synergy = max(total - joint_mutual_information(q), 0.0)
    return Decomposition(i1 - u1, u1, u2, synergy, total, steps)


def joint_table(x1: torch.Tensor, x2: torch.Tensor, y: torch.Tensor, n1: int, n2: int, ny: int) -> torch.Tensor:
    """The empirical joint table ``(n1, n2, ny)`` of three integer label tensors of shape ``(N,)``."""
    x1, x2, y = (torch.as_tensor(t).long().reshape(-1) for t in (x1, x2, y))
    if not len(x1) == len(x2) == len(y) or len(y) == 0:
        raise ValueError(f"x1, x2, y must be non-empty with one entry per sample, got {len(x1)}, {len(x2)}, {len(y)}")
    flat = (x1 * n2 + x2) * ny + y
    counts = torch.bincount(flat, minlength=n1 * n2 * ny).double()
    return (counts / counts.sum()).reshape(n1, n2, ny)


def kmeans(features: torch.Tensor, k: int, seed: int = 0, iters: int = 50) -> torch.Tensor:
    """Cluster labels ``(N,)`` of ``features`` ``(N, D)`` by Lloyd's k-means (k-means++ start, fixed seed)."""
    x = torch.as_tensor(features, dtype=torch.float64).reshape(len(features), -1)
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of samples ({len(x)}), got {k}")
    g = torch.Generator().manual_seed(seed)
    centres = x[torch.randint(len(x), (1,), generator=g)]
    for _ in range(1, k):
        d = torch.cdist(x, centres).min(1).values ** 2
        centres = torch.cat([centres, x[torch.multinomial(d / d.sum(), 1, generator=g)]])
    for _ in range(iters):
        labels = torch.cdist(x, centres).argmin(1)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)[:, None]      # (k, 1); an empty cluster keeps its centre
        sums = torch.zeros_like(centres).index_add_(0, labels, x)               # (k, D)
        new = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        if torch.allclose(new, centres):
            break
        centres = new
    return torch.cdist(x, centres).argmin(1)


def discretised_table(data, k: int = 8, seed: int = 0) -> torch.Tensor:
    """The joint table ``(k, k, C)`` of a two-modality ``MultimodalDataset``: each modality's features
    (flattened, standardised per feature) clustered by ``kmeans`` into ``k`` clusters, beside the label.
    Plug-in estimates from it are biased upward by about (cells - 1) / (2 N ln 2) bits per information term
    (Miller-Madow), so compare data sets at the same ``k`` and ``N``."""
    if len(data.modalities) != 2:
        raise ValueError(f"the decomposition takes two modalities, this data set has {len(data.modalities)}")
    codes = []
    for j, features in enumerate(data.modalities):
        x = features.reshape(len(features), -1).double()
        x = (x - x.mean(0)) / x.std(0).clamp_min(1e-12)
        codes.append(kmeans(x, k, seed=seed + j))
    return joint_table(codes[0], codes[1], data.labels, k, k, data.num_classes)
