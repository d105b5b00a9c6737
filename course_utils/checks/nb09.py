"""Checks for notebook 09 (contrastive alignment): the symmetric InfoNCE loss, recall@k and the learned temperature.

The visible checks test properties every correct answer has, without computing it: a scalar that carries
gradient to both inputs, the worked example of the notebook (identical one-hot embeddings, whose loss is
$\\log(1 + (B-1)e^{-1/\\tau})$ in both directions), invariance to the length of each embedding, symmetry
in the two modalities, and the limit $\\log B$ at a very high temperature; for recall@k the worked 4 x 4
example of the notebook, invariance to relabelling the pairs, and a constant matrix (a collapsed encoder),
which must score no better than chance; for the learned temperature a 0-dim tensor that starts at
``init_temperature`` and carries a gradient to ``log_scale``. The comparison with a reference
computation and the list of typical mistakes are in :mod:`course_utils.checks.hidden.nb09`.
"""
from __future__ import annotations

import math

import torch

from ..feedback import exercise
from .common import hidden

#: the notebook's worked retrieval example: row i is query i, column j candidate j, the match of i is i
WORKED_SIMILARITY = [[0.9, 0.1, 0.3, 0.45],
                     [0.8, 0.7, 0.1, 0.0],
                     [0.6, 0.65, 0.2, 0.3],
                     [0.1, 0.3, 0.9, 0.4]]
#: recall@1..4 of the worked example: the matches rank 1, 2, 4 and 2
WORKED_RECALL = {1: 0.25, 2: 0.75, 3: 0.75, 4: 1.0}


def _loss(check, info_nce, z_a, z_b, temperature):
    """The learner's loss as a float tensor; it must be a 0-dim tensor."""
    __tracebackhide__ = True
    loss = check.call(info_nce, z_a, z_b, temperature, what="info_nce")
    if not isinstance(loss, torch.Tensor):
        check.fail(f"info_nce should return a torch tensor (so that loss.backward() works), got "
                   f"{type(loss).__name__}. Do not call .item() on the loss.")
    if loss.dim() != 0:
        check.fail(f"info_nce should return one number, a 0-dim tensor; got shape {tuple(loss.shape)}. Average "
                   "over the pairs (F.cross_entropy does by default, reduction='mean').")
    return loss


def _inputs(batch: int, dim: int, seed: int, *, grad: bool = False):
    gen = torch.Generator().manual_seed(seed)
    z_a, z_b = torch.randn(batch, dim, generator=gen), torch.randn(batch, dim, generator=gen)
    return z_a.requires_grad_(grad), z_b.requires_grad_(grad)


@exercise("09.infonce", "info_nce")
def check_info_nce(check, info_nce):
    z_a, z_b = _inputs(8, 5, seed=0, grad=True)
    loss = _loss(check, info_nce, z_a, z_b, 0.1)
    check.expect(bool(torch.isfinite(loss)), "the loss is a finite 0-dim tensor",
                 f"the loss is {loss.item()}; normalise with F.normalize (it guards against zero length)")
    mistake = hidden(check, "nb09", "info_nce_mistake", info_nce)
    if mistake:
        check.fail(mistake)
    check.expect(loss.requires_grad, "the loss carries a gradient",
                 "no gradient reaches z_a or z_b: the loss is detached from its inputs. Compute it with torch "
                 "operations on z_a and z_b (no .detach(), .item() or .numpy() on the way)")
    loss.backward()
    for name, z in (("z_a", z_a), ("z_b", z_b)):
        check.expect(z.grad is not None and bool(z.grad.abs().sum() > 0), f"the gradient reaches {name}",
                     f"no gradient reaches {name}: compute the loss from the inputs with torch operations "
                     "(no .detach(), .item() or .numpy() on the way)")

    batch, tau = 4, 0.5
    one_hot = torch.eye(batch, 6)
    expected = math.log(1 + (batch - 1) * math.exp(-1 / tau))
    got = _loss(check, info_nce, one_hot, one_hot.clone(), tau)
    check.close(got, expected, f"worked example: identical one-hot embeddings, B={batch}, tau={tau}, "
                "loss log(1 + (B-1) e^(-1/tau))", atol=1e-4,
                hint="L2-normalise each embedding (F.normalize(z, dim=-1)), divide the cosine similarities by "
                     "the temperature (once), and let the target of row i be column i: torch.arange(B).")
    scales_a, scales_b = torch.tensor([[3.0], [0.2], [1.5], [7.0]]), torch.tensor([[0.5], [4.0], [0.1], [2.0]])
    check.close(_loss(check, info_nce, scales_a * one_hot, scales_b * one_hot, tau), expected,
                "the same example with every embedding rescaled by its own factor", atol=1e-4,
                hint="The loss compares directions, not lengths: L2-normalise each row of z_a and z_b "
                     "(F.normalize(z, dim=-1)) before the similarities.")

    with torch.no_grad():
        z_a, z_b = _inputs(10, 6, seed=1)
        ab, ba = _loss(check, info_nce, z_a, z_b, 0.2), _loss(check, info_nce, z_b, z_a, 0.2)
        check.close(ab, ba, "info_nce(z_a, z_b) == info_nce(z_b, z_a): both directions count", atol=1e-5,
                    hint="Use both directions, a -> b (the rows of S) and b -> a (the rows of S^T, i.e. the "
                         "columns of S), and average them: (CE(S, targets) + CE(S.T, targets)) / 2.")
        order = torch.randperm(10, generator=torch.Generator().manual_seed(2))
        check.close(_loss(check, info_nce, z_a[order], z_b[order], 0.2), ab,
                    "shuffling the pairs (both views alike) leaves the loss unchanged", atol=1e-5,
                    hint="The target of pair i must be pair i itself, whatever order the batch has: "
                         "targets = torch.arange(B).")
        hot = _loss(check, info_nce, z_a, z_b, 1e4)
        check.close(hot, math.log(10), "at a very high temperature the loss tends to log B (uniform softmax)",
                    atol=1e-3, hint="Divide the similarities by the temperature (do not multiply), and average "
                                    "over the pairs rather than summing.")
    hidden(check, "nb09", "info_nce_values", info_nce, _loss)


def _recall(check, recall_at_k, similarity, k, what):
    """The learner's recall as a float in [0, 1]."""
    __tracebackhide__ = True
    value = check.call(recall_at_k, similarity, k, what="recall_at_k")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            check.fail(f"recall_at_k should return one number, got a tensor of shape {tuple(value.shape)}. "
                       "Average the hits over the queries.")
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        check.fail(f"{what}: recall_at_k returned the int {value}. Return the FRACTION of queries whose match is "
                   "in their top k (a float, the mean of the hits), not a count.")
    if isinstance(value, bool) or not isinstance(value, float):
        check.fail(f"recall_at_k should return a number (a float), got {type(value).__name__}")
    check.expect(0.0 <= value <= 1.0, f"{what}: recall is a fraction in [0, 1]",
                 f"{what}: recall_at_k returned {value}, outside [0, 1]. Return the FRACTION of queries whose "
                 "match is in their top k (a mean), not a count.")
    return float(value)


@exercise("09.recall_at_k", "recall_at_k")
def check_recall_at_k(check, recall_at_k):
    similarity = torch.tensor(WORKED_SIMILARITY)
    values = {k: _recall(check, recall_at_k, similarity.clone(), k, f"worked example, k={k}") for k in WORKED_RECALL}
    hint = hidden(check, "nb09", "recall_worked_hint", values, similarity) or (
        "Row i holds query i's scores for every candidate j, and its match is column i. Count query i as "
        "a hit when fewer than k candidates score higher than its match (its top-k, dim=1, contains i).")
    for k, expected in WORKED_RECALL.items():
        check.close(values[k], expected, f"worked example, recall@{k} (the matches rank 1, 2, 4 and 2)", atol=1e-6,
                    hint=hint)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(30, 30, generator=gen) + 2 * torch.eye(30)
    order = torch.randperm(30, generator=gen)
    for k in (1, 5):
        value = _recall(check, recall_at_k, scores.clone(), k, f"a 30 x 30 matrix, k={k}")
        relabelled = _recall(check, recall_at_k, scores[order][:, order], k, f"the same pairs reordered, k={k}")
        check.close(relabelled, value, f"relabelling the pairs leaves recall@{k} unchanged", atol=1e-6,
                    hint="The match of query i is candidate i (the diagonal), not a fixed column.")
    check.close(_recall(check, recall_at_k, scores.clone(), 30, "k = N"), 1.0,
                "recall@N is 1 (every match is in the top N)", atol=1e-6)
    n = 8
    for k in (1, 3):
        value = _recall(check, recall_at_k, torch.full((n, n), 0.5), k, f"a constant {n} x {n} matrix, k={k}")
        check.expect(value <= k / n + 1e-6, f"a constant matrix (a collapsed encoder) scores no better than chance "
                     f"at k={k}",
                     f"on a constant {n} x {n} matrix (every similarity equal, as from a collapsed encoder) "
                     f"recall_at_k(S, {k}) returned {value:.3f}, above chance k/N = {k / n:.3f}: ties are counted "
                     "in the match's favour. Count a candidate that ties with the match as ranked above it: "
                     "rank_i = #{j : S[i, j] >= S[i, i]} (the match itself included), a hit when rank_i <= k.")
    hidden(check, "nb09", "recall_values", recall_at_k, _recall)


def _tau(check, module, what):
    """The learner's temperature: a 0-dim floating tensor."""
    __tracebackhide__ = True
    tau = check.call(module, what=f"{what}: LearnedTemperature()()")
    if not isinstance(tau, torch.Tensor):
        check.fail(f"{what}: forward returned {type(tau).__name__}; return a 0-dim torch tensor computed from "
                   "self.log_scale (no .item(), no float()), so that the optimiser can learn it")
    if tau.dim() != 0:
        check.fail(f"{what}: forward returned a tensor of shape {tuple(tau.shape)}; return one number, a 0-dim tensor")
    return tau


@exercise("09.learnable_temperature", "LearnedTemperature")
def check_learned_temperature(check, LearnedTemperature):
    """``LearnedTemperature(init_temperature=0.07, max_scale=100.0)()`` is $\\tau = 1/\\min(e^w, s_{\\max})$."""
    module = check.build(LearnedTemperature)
    params = dict(module.named_parameters())
    if "log_scale" not in params:
        check.fail("LearnedTemperature should keep its parameter self.log_scale (built in __init__): only write "
                   "forward")
    tau = _tau(check, module, "at the start")
    mistake = hidden(check, "nb09", "learned_temperature_mistake", LearnedTemperature)
    if mistake:
        check.fail(mistake)
    check.close(tau, 0.07, "at the start tau is 0.07 (init_temperature)", atol=1e-6,
                hint="tau = 1 / s with s = exp(log_scale): log_scale holds log(1 / tau), so tau = exp(-log_scale).")
    check.expect(tau.requires_grad, "tau carries a gradient",
                 "tau is detached from self.log_scale: compute it with torch operations on self.log_scale (no "
                 ".item(), float(), torch.tensor(...) or .detach() on the way), or the optimiser cannot learn it")
    tau.backward()
    grad = module.log_scale.grad
    check.expect(grad is not None and abs(float(grad)) > 1e-6, "the gradient reaches log_scale",
                 "no gradient reaches self.log_scale: compute tau from it with torch operations")
    for init in (0.5, 0.02):
        check.close(_tau(check, check.build(LearnedTemperature, init), f"init_temperature={init}"), init,
                    f"LearnedTemperature({init}) starts at tau = {init}", atol=1e-6,
                    hint="tau = 1 / min(exp(log_scale), max_scale); use self.log_scale, not a constant.")
    hidden(check, "nb09", "learned_temperature_values", LearnedTemperature, _tau)
