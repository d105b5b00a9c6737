"""Checks for notebook 12 (interactions): mutual information in bits and a BROJA solver.

The visible checks test properties with known answers (an independent table has 0 bits, a copied fair 4-valued
variable 2, XOR's label 1 bit from the pair and 0 from either modality; a table of counts is refused; the BROJA
minimiser keeps both pairwise marginals, is non-negative and reaches the textbook minimum on XOR, copy, unique and
AND), so any correct form passes (log2 or log / ln 2, masking or ``xlogy``, any solver that reaches the minimum).
The parts that compare with the course's own computation on random tables are in ``hidden/nb12.py``.
"""
from __future__ import annotations

import math

import torch

from ..feedback import exercise
from .common import hidden

LN2 = math.log(2)


def _bits(check, fn, p, what: str) -> float:
    """The learner's I for table ``p``, as a float (a float or a one-element tensor are both fine)."""
    __tracebackhide__ = True
    value = check.call(fn, p, what=what)
    try:
        value = float(value)
    except (TypeError, ValueError, RuntimeError):
        check.fail(f"{what} should return one number (a float), got {type(value).__name__}"
                   + (f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else ""))
    return value


def _refuses(check, fn, p, what: str, fix: str) -> None:
    __tracebackhide__ = True
    try:
        fn(p)
    except NotImplementedError:
        check.not_implemented("mutual_information_bits still raises NotImplementedError")
    except ValueError:
        check.ok(f"{what} is refused with a ValueError")
        return
    except Exception as error:            # noqa: BLE001  (any other error type is the mistake to report)
        check.fail(f"{what} should raise a ValueError, got {type(error).__name__}: {error}")
    check.fail(f"{what} was accepted: {fix}")


def textbook_tables() -> dict:
    """p(x1, x2, y) ``(2, 2, 2)`` of two fair bits a, b for XOR, copy, unique and AND, float64."""
    rules = {"XOR": (lambda a, b: a, lambda a, b: b, lambda a, b: a ^ b),
             "copy": (lambda a, b: a, lambda a, b: a, lambda a, b: a),
             "unique": (lambda a, b: a, lambda a, b: b, lambda a, b: a),
             "AND": (lambda a, b: a, lambda a, b: b, lambda a, b: a & b)}
    tables = {}
    for name, (x1, x2, y) in rules.items():
        p = torch.zeros(2, 2, 2, dtype=torch.float64)
        for a in (0, 1):
            for b in (0, 1):
                p[x1(a, b), x2(a, b), y(a, b)] += 0.25
        tables[name] = p
    return tables


@exercise("12.mutual_information", "mutual information in bits from a joint table (label on the last axis)")
def check_mutual_information(check, mutual_information_bits):
    fn = mutual_information_bits
    independent = torch.outer(torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64), torch.tensor([0.6, 0.4], dtype=torch.float64))
    value = _bits(check, fn, independent, "mutual_information_bits of an independent (3, 2) table")
    check.expect(math.isfinite(value) and abs(value) < 1e-9, "an independent table gives 0 bits",
                 f"for p(x, y) = p(x) p(y) the answer is 0 bits, got {value:.6g}: the ratio inside the log is "
                 "p(x, y) / (p(x) p(y)), with p(x) summed over the label axis (the last) and p(y) over the others")
    copy = torch.eye(4, dtype=torch.float64) / 4
    value = _bits(check, fn, copy, "mutual_information_bits of Y = X, uniform on 4 values")
    if math.isnan(value):
        check.fail("the result is NaN on a table with zero entries: 0 log 0 counts as 0, so leave out the cells "
                   "where p(x, y) = 0 (a mask p > 0, or torch.special.xlogy)")
    if abs(value - 2 * LN2) < 1e-6:
        check.fail(f"Y = X uniform on 4 values carries 2 bits; you returned {value:.4f} = 2 ln 2, nats: use log2 "
                   "(or divide by ln 2)")
    check.expect(abs(value - 2.0) < 1e-6, "Y = X, uniform on 4 values, gives 2 bits (and 0 log 0 = 0)",
                 f"Y = X uniform on 4 values carries log2(4) = 2 bits, got {value:.6g}")
    lopsided = torch.tensor([[0.3, 0.1], [0.05, 0.25], [0.2, 0.1]], dtype=torch.float64)
    value = _bits(check, fn, lopsided, "mutual_information_bits of a (3, 2) table")
    swapped = _bits(check, fn, lopsided.T.contiguous(), "mutual_information_bits of its transpose (2, 3)")
    check.expect(math.isfinite(value) and abs(value - swapped) < 1e-9 and value > 0,
                 "I(X; Y) = I(Y; X): a table and its transpose give the same number",
                 f"a (3, 2) table gives {value:.6g} bits and its transpose {swapped:.6g}: mutual information is "
                 "symmetric, so one of the marginals is summed over the wrong axis (p(x) sums over the label axis, "
                 "the last; p(y) over all the others)")
    xor = textbook_tables()["XOR"]
    joint = _bits(check, fn, xor, "mutual_information_bits of the XOR table (2, 2, 2)")
    alone = _bits(check, fn, xor.sum(1), "mutual_information_bits of p(x1, y) of XOR")
    check.expect(abs(joint - 1.0) < 1e-6 and abs(alone) < 1e-9,
                 "XOR: 1 bit from the pair (x1, x2), 0 from x1 alone",
                 f"for y = x1 XOR x2 the pair carries 1 bit and x1 alone 0; got {joint:.6g} and {alone:.6g}. A table "
                 "with more than two axes has the label on the last; the others together are X (reshape to "
                 "(n1 * n2, ny))")
    _refuses(check, fn, independent * 10, "a table of counts (summing to 10)",
             "raise a ValueError when the entries do not sum to 1 (within 1e-6); a table of counts must be divided "
             "by its sum first, and a silent wrong number is worse than an error")
    _refuses(check, fn, torch.tensor([[0.6, -0.1], [0.3, 0.2]], dtype=torch.float64), "a table with a negative entry",
             "raise a ValueError when an entry is negative: a probability table has no negative entries")
    hidden(check, "nb12", "mutual_information_values", fn)


# ---------------------------------------------------------------------------------------------------
# the textbook minima of I_q(Y; X1, X2) over Delta_P: I_p - S
MINIMUM = {"XOR": 0.0, "copy": 1.0, "unique": 1.0, "AND": 0.75 * math.log2(4 / 3)}


def joint_bits(q: torch.Tensor) -> float:
    """I_q(Y; X1, X2) in bits of a table ``(n1, n2, ny)`` (0 log 0 = 0)."""
    q = q.double().reshape(-1, q.shape[-1])
    qx, qy = q.sum(1, keepdim=True), q.sum(0, keepdim=True)
    mask = q > 0
    return float((q[mask] * torch.log2(q[mask] / (qx * qy).expand_as(q)[mask])).sum())


def judge_minimiser(check, q, p, what: str, minimum: float, tol: float = 1e-5) -> None:
    """q is a table of Delta_P (shape, non-negative, both pairwise marginals) with I_q within ``tol`` of ``minimum``."""
    __tracebackhide__ = True
    if not isinstance(q, torch.Tensor):
        check.fail(f"solve_broja should return a tensor q of the shape of p {tuple(p.shape)}, got {type(q).__name__}")
    check.shape(q, tuple(p.shape), f"q for {what}")
    q = q.detach().double()
    check.expect(bool(torch.isfinite(q).all()), f"q for {what} is finite",
                 f"q for {what} has NaN or infinite entries: keep every entry positive during the search "
                 "(halve the step until F.start + F.moves @ t > 0)")
    check.expect(float(q.min()) > -1e-9, f"q for {what} is non-negative",
                 f"q for {what} has a negative entry ({float(q.min()):.3g}): a step went past the boundary; halve it "
                 "until every entry stays positive")
    gap = max(float((q.sum(1) - p.sum(1)).abs().max()), float((q.sum(0) - p.sum(0)).abs().max()))
    check.expect(gap < 1e-7, f"q for {what} keeps p(x1, y) and p(x2, y)",
                 f"q for {what} changes a pairwise marginal by up to {gap:.3g}: every q must keep p(x1, y) and "
                 "p(x2, y); move only along F.moves (q = F.start + F.moves @ t)")
    value = joint_bits(q)
    check.expect(value < minimum + tol, f"{what}: I_q(Y; X1, X2) reaches the minimum {minimum:.4f} bits",
                 f"{what}: your q has I_q(Y; X1, X2) = {value:.6f} bits, but the minimum over Delta_P is "
                 f"{minimum:.6f}: the search stopped too early (continue until m mu / ln 2 < tol, dividing mu by 10) "
                 "or went uphill (the Newton step is -H^-1 g, on the barrier f - mu sum log q)")


@exercise("12.broja", "the BROJA minimiser q* of I_q(Y; X1, X2) over the tables that keep p(x1, y) and p(x2, y)")
def check_broja(check, solve_broja):
    for name, p in textbook_tables().items():
        q = check.call(solve_broja, p.clone(), what=f"solve_broja on the {name} table")
        judge_minimiser(check, q, p, f"the {name} table", MINIMUM[name])
    hidden(check, "nb12", "broja_values", solve_broja)
