"""Hidden checks of notebook 12: the learner's mutual information and BROJA minimiser against the course's own
computation (``course_utils.interactions``) on random tables, including tables with zero entries.

Left out of a graded release that withholds notebook 12; grading runs them from the instructor's package.
"""
from __future__ import annotations

import torch

from .. import nb12
from ... import interactions


def _random_table(shape, gen, zeros: bool = False) -> torch.Tensor:
    p = torch.rand(shape, generator=gen, dtype=torch.float64) ** 2
    if zeros:
        p = torch.where(torch.rand(shape, generator=gen, dtype=torch.float64) < 0.3, 0.0, p)
        p.view(-1)[0] = max(float(p.view(-1)[0]), 0.1)
    return p / p.sum()


def mutual_information_values(check, fn):
    """I(X; Y) and I(Y; X1, X2) on random tables of 2 and 3 axes against interactions.mutual_information."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(120)
    for shape, zeros in (((3, 2), False), ((2, 5), True), ((2, 3, 4), False), ((4, 2, 3), True), ((2, 2, 2, 2), False)):
        p = _random_table(shape, gen, zeros)
        want = interactions.mutual_information(p.reshape(-1, shape[-1]))
        got = nb12._bits(check, fn, p, f"mutual_information_bits of a random {shape} table")
        check.expect(abs(got - want) < 1e-6, f"a random {shape} table gives the right number of bits",
                     f"a random {shape} table: expected {want:.6f} bits, got {got:.6f}. I = sum p(x, y) log2 "
                     "p(x, y) / (p(x) p(y)), with X all the axes but the last (reshape to (-1, ny)), p(x) summed "
                     "over the label axis and p(y) over X")


def broja_values(check, fn):
    """The learner's minimiser on random tables (one with zero entries) against interactions.minimum_synergy_table."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(121)
    for shape, zeros in (((3, 2, 2), False), ((2, 3, 3), True), ((3, 3, 2), False)):
        p = _random_table(shape, gen, zeros)
        q_ref, _ = interactions.minimum_synergy_table(p)
        q = check.call(fn, p.clone(), what=f"solve_broja on a random {shape} table")
        nb12.judge_minimiser(check, q, p, f"a random {shape} table", nb12.joint_bits(q_ref))
