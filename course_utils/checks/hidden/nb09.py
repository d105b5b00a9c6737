"""Hidden checks of notebook 09: the reference computations of the symmetric InfoNCE loss, of recall@k (with
ties: pessimistic, or expected under random tie-breaking) and of the learned temperature, and the typical
mistakes that spell the formulas out.

Left out of a graded release that withholds notebook 09; grading runs them from the instructor's package.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..common import cap


def _similarities(z_a, z_b, temperature, *, normalise=True, scale="divide"):
    if normalise:
        z_a, z_b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
    cosine = z_a @ z_b.T
    return {"divide": cosine / temperature, "multiply": cosine * temperature,
            "twice": cosine / temperature ** 2, "none": cosine}[scale]


def reference_info_nce(z_a, z_b, temperature):
    """(CE(S, arange) + CE(S^T, arange)) / 2 with S = normalise(z_a) normalise(z_b)^T / temperature."""
    logits = _similarities(z_a, z_b, temperature)
    targets = torch.arange(len(z_a))
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def _mistakes(z_a, z_b, temperature) -> dict:
    """Typical wrong losses: advice -> value."""
    targets = torch.arange(len(z_a))
    s = _similarities(z_a, z_b, temperature)
    ce = F.cross_entropy
    return {
        "only the a -> b direction is used (the rows of S): add the b -> a direction, CE(S.T, targets), and "
        "average the two.": ce(s, targets),
        "only the b -> a direction is used (the rows of S.T): add the a -> b direction, CE(S, targets), and "
        "average the two.": ce(s.T, targets),
        "the embeddings are not L2-normalised: divide each row by its length first, "
        "F.normalize(z, dim=-1).": reference_like(_similarities(z_a, z_b, temperature, normalise=False)),
        "the rows are normalised as one matrix (or along the batch): normalise each embedding on its own, "
        "F.normalize(z, dim=-1).": reference_like(z_a @ z_b.T / (z_a.norm() * z_b.norm()) / temperature),
        "the batch is normalised per feature (dim=0): normalise each embedding, dim=-1.":
            reference_like(F.normalize(z_a, dim=0) @ F.normalize(z_b, dim=0).T / temperature),
        "the similarities are multiplied by the temperature: divide them, S = cos / temperature.":
            reference_like(_similarities(z_a, z_b, temperature, scale="multiply")),
        "the temperature is applied twice (divided by temperature**2): divide the similarities by it once.":
            reference_like(_similarities(z_a, z_b, temperature, scale="twice")),
        "the temperature is missing: divide the cosine similarities by it.":
            reference_like(_similarities(z_a, z_b, temperature, scale="none")),
        "the targets are wrong: pair i's match is column i, targets = torch.arange(B) (not reversed).":
            reference_like(s, targets.flip(0)),
        "the targets are wrong: every row's match is its own index, torch.arange(B), not 0.":
            reference_like(s, torch.zeros_like(targets)),
        "the two directions are added but not averaged: divide their sum by 2.": 2 * reference_like(s),
        "the loss is summed over the pairs: average it (F.cross_entropy's default reduction='mean').":
            len(z_a) * reference_like(s),
    }


def reference_like(logits, targets=None):
    """The symmetric loss of given logits (and targets)."""
    targets = torch.arange(len(logits)) if targets is None else targets
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def _probe_inputs():
    gen = torch.Generator().manual_seed(11)
    z_a = torch.randn(7, 5, generator=gen) * torch.linspace(0.3, 3.0, 7)[:, None]
    z_b = torch.randn(7, 5, generator=gen) * torch.linspace(2.0, 0.5, 7)[:, None]
    return z_a, z_b, 0.3


def info_nce_mistake(check, info_nce) -> str:
    """Advice naming the mistake when the learner's loss equals a typical wrong one, else ``""``."""
    z_a, z_b, tau = _probe_inputs()
    with torch.no_grad():
        got = info_nce(z_a.clone(), z_b.clone(), tau)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            return ""
        got = got.float().reshape(())
        right = reference_info_nce(z_a, z_b, tau)
        if torch.allclose(got, right, atol=1e-5, rtol=1e-4):
            return ""
        for advice, wrong in _mistakes(z_a, z_b, tau).items():
            if torch.allclose(got, wrong.float(), atol=1e-5, rtol=1e-4):
                return cap(advice)
    return ""


def info_nce_values(check, info_nce, loss_of):
    """The loss against the reference on random batches of several sizes and temperatures."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(5)
    for batch, dim, tau in ((3, 8, 0.07), (16, 4, 0.5), (33, 12, 1.0)):
        z_a = torch.randn(batch, dim, generator=gen) * 2.0
        z_b = torch.randn(batch, dim, generator=gen) * 0.3 + 0.5 * z_a
        expected = reference_info_nce(z_a, z_b, tau)
        got = loss_of(check, info_nce, z_a.clone().requires_grad_(), z_b.clone().requires_grad_(), tau)
        check.close(got, expected, f"loss for B={batch}, D={dim}, tau={tau} vs the reference computation",
                    atol=1e-4, hint="S = normalise(z_a) @ normalise(z_b).T / temperature; loss = (CE(S, "
                                    "arange(B)) + CE(S.T, arange(B))) / 2.")
        za, zb = z_a.clone().requires_grad_(), z_b.clone().requires_grad_()
        loss_of(check, info_nce, za, zb, tau).backward()
        ra, rb = z_a.clone().requires_grad_(), z_b.clone().requires_grad_()
        reference_info_nce(ra, rb, tau).backward()
        check.close(torch.cat([za.grad, zb.grad]), torch.cat([ra.grad, rb.grad]),
                    f"gradient for B={batch} vs the reference", atol=1e-4,
                    hint="The value is right but its gradient is not: is part of the loss detached?")


def reference_recall_at_k(similarity, k):
    """Fraction of rows whose diagonal entry has fewer than ``k`` entries in its row at least as large (itself
    excluded): the pessimistic rank, a tie counts against the match."""
    matches = similarity.diagonal()[:, None]
    rank = (similarity >= matches).sum(dim=1)         # 1 for a match that scores highest, with no tie
    return (rank <= k).float().mean().item()


def expected_recall_at_k(similarity, k):
    """recall@k in expectation over random tie-breaking: a match with ``g`` candidates above it and ``t`` tied
    with it is a hit with probability ``clamp((k - g) / (t + 1), 0, 1)``."""
    matches = similarity.diagonal()[:, None]
    above = (similarity > matches).sum(dim=1).float()
    tied = (similarity == matches).sum(dim=1).float()                  # the match itself included
    return ((k - above) / tied).clamp(0, 1).mean().item()


def optimistic_recall_at_k(similarity, k):
    """The mistake: ties in the match's favour, ``rank = 1 + #{j: S_ij > S_ii}``."""
    return ((similarity > similarity.diagonal()[:, None]).sum(dim=1) < k).float().mean().item()


def tied_similarity(n: int = 6):
    """Row ``i``: the match scores 1, ``i`` other candidates tie with it (1), the rest score 0; the tied ones
    are the row's last candidates, so a tie broken by position (``topk``, a stable ``argsort``) favours the match."""
    similarity = torch.zeros(n, n)
    for i in range(n):
        similarity[i, i] = 1.0
        others = [j for j in range(n) if j != i]
        similarity[i, others[len(others) - i:]] = 1.0
    return similarity


_RECALL_MISTAKES = {
    "columns": ("the queries are read along the columns: row i of the similarity matrix is query i, so look "
                "for the top k along dim=1 (each row)."),
    "k+1": "this is recall@(k+1): the top k of a row are the k largest entries; a match of rank r (1 = best) "
           "counts when r <= k, i.e. when fewer than k candidates score higher.",
    "k-1": "this is recall@(k-1): a match counts when it is among the k largest entries of its row, "
           "rank r <= k (1 = best).",
    "smallest": "the k SMALLEST scores are taken: retrieval ranks by the largest similarity (topk's default "
                "largest=True, or argsort(descending=True)).",
}


def recall_hint(check, value, similarity, k) -> str:
    """Advice naming the mistake when ``value`` equals a typical wrong recall, else ``""``."""
    if abs(value - reference_recall_at_k(similarity, k)) < 1e-6:
        return ""
    n = len(similarity)
    variants = {"columns": reference_recall_at_k(similarity.T, k),
                "k+1": reference_recall_at_k(similarity, k + 1),
                "k-1": reference_recall_at_k(similarity, k - 1) if k > 1 else 0.0,
                "smallest": reference_recall_at_k(-similarity, k)}
    for name, wrong in variants.items():
        if abs(value - wrong) < 1e-6 and not (name == "k+1" and k >= n):
            return cap(_RECALL_MISTAKES[name])
    return ""


def recall_worked_hint(check, values: dict, similarity) -> str:
    """Advice naming the mistake when the recalls ``{k: value}`` of one matrix equal those of a typical wrong
    recall for every k, else ``""`` (one k alone can be ambiguous: on 4 x 4 several mistakes give 0.75)."""
    n = len(similarity)
    variants = {"columns": lambda k: reference_recall_at_k(similarity.T, k),
                "k+1": lambda k: reference_recall_at_k(similarity, k + 1),
                "k-1": lambda k: reference_recall_at_k(similarity, k - 1) if k > 1 else 0.0,
                "smallest": lambda k: reference_recall_at_k(-similarity, k)}
    if all(abs(v - reference_recall_at_k(similarity, k)) < 1e-6 for k, v in values.items()):
        return ""
    for name, wrong in variants.items():
        if all(abs(v - wrong(k)) < 1e-6 for k, v in values.items()):
            return cap(_RECALL_MISTAKES[name])
    return ""


def recall_values(check, recall_at_k, recall_of):
    """recall@k against the reference on random similarity matrices, several sizes and k."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(7)
    for n, ks in ((50, (1, 3, 10)), (9, (1, 2, 9))):    # 1 <= k <= N, the range the docstring states
        similarity = torch.randn(n, n, generator=gen) + 1.5 * torch.eye(n) + 0.8 * torch.randn(n, 1, generator=gen)
        for k in ks:
            value = recall_of(check, recall_at_k, similarity.clone(), k, f"{n} x {n}, k={k}")
            check.close(value, reference_recall_at_k(similarity, k), f"recall@{k} of a random {n} x {n} matrix",
                        atol=1e-6, hint=recall_hint(check, value, similarity, k) or
                        "Count query i as a hit when candidate i is among the k largest entries of row i.")
    similarity = tied_similarity()
    for k in (1, 2, 4):
        value = recall_of(check, recall_at_k, similarity.clone(), k, f"a 6 x 6 matrix with ties, k={k}")
        pessimistic, expected = reference_recall_at_k(similarity, k), expected_recall_at_k(similarity, k)
        if min(abs(value - pessimistic), abs(value - expected)) < 1e-6:
            continue
        if abs(value - optimistic_recall_at_k(similarity, k)) < 1e-6:
            check.fail(f"with ties (row i: the match and i other candidates score 1), recall@{k} is {value:.3f}: "
                       "ties are counted in the match's favour. Count a tied candidate as ranked above the match: "
                       "rank_i = #{j : S[i, j] >= S[i, i]}, a hit when rank_i <= k.")
        check.fail(f"with ties (row i: the match and i other candidates score 1), recall@{k} is {value:.3f}, "
                   f"expected {pessimistic:.3f} (a tie counts against the match; or {expected:.3f}, the expected "
                   "recall under random tie-breaking). torch.topk and argsort break ties by position, which can "
                   "favour the match: compare scores instead, rank_i = #{j : S[i, j] >= S[i, i]}.")
    check.ok("ties never help the match (pessimistic rank, or random tie-breaking in expectation)")


def reference_temperature(log_scale: float, max_scale: float):
    """tau = 1 / min(exp(w), s_max) and its derivative in w (0 beyond the clip)."""
    scale = math.exp(log_scale)
    return (1 / max_scale, 0.0) if scale > max_scale else (1 / scale, -1 / scale)


def _temperature_mistake(tau_of) -> str:
    """Advice naming the mistake from the learner's tau at a few (w, s_max), else ``""``."""
    at_start, beyond, other_max = tau_of(math.log(1 / 0.07), 100.0), tau_of(math.log(1000.0), 100.0), \
        tau_of(math.log(1000.0), 50.0)
    if abs(at_start - 1 / 0.07) < 1e-4:
        return "forward returns the logit scale s = exp(log_scale), not the temperature: return 1 / s."
    if abs(at_start - 1 / math.log(1 / 0.07)) < 1e-5:
        return ("log_scale is the LOGARITHM of the scale: s = exp(log_scale), tau = 1 / s (not 1 / log_scale).")
    if abs(at_start - 0.01) < 1e-6:
        return ("tau is 0.01 from the start: the clamp is on the wrong side. Clip the scale from above, "
                "min(exp(log_scale), max_scale), i.e. .clamp(max=self.max_scale), so that tau >= 1 / max_scale.")
    if abs(beyond - 0.001) < 1e-6:
        return ("beyond the clip (exp(log_scale) = 1000 > max_scale = 100) tau should stay at 1 / max_scale = "
                "0.01, got 0.001: clamp the SCALE at max_scale (exp(log_scale).clamp(max=self.max_scale)), or "
                "log_scale at log(max_scale), not log_scale at max_scale.")
    if abs(beyond - 0.01) < 1e-6 and abs(other_max - 0.01) < 1e-6:
        return "the clip is hard-coded at 100: use self.max_scale (LearnedTemperature(max_scale=50) clips at 50)."
    return ""


def _learner_tau(LearnedTemperature, log_scale, max_scale):
    module = LearnedTemperature(0.07, max_scale)
    with torch.no_grad():
        module.log_scale.fill_(log_scale)
    return module


def learned_temperature_mistake(check, LearnedTemperature) -> str:
    """Advice naming the mistake when the learner's tau equals a typical wrong one, else ``""``."""
    def value(log_scale, max_scale):
        try:
            tau = _learner_tau(LearnedTemperature, log_scale, max_scale)()
            tau = tau.detach() if isinstance(tau, torch.Tensor) else tau
            return float(tau) if isinstance(tau, (torch.Tensor, float)) and torch.as_tensor(tau).numel() == 1 \
                else float("nan")
        except Exception:  # noqa: BLE001 - the visible checks report errors
            return float("nan")
    mistake = _temperature_mistake(value)
    return cap(mistake) if mistake else ""


def learned_temperature_values(check, LearnedTemperature, tau_of):
    """tau and its gradient against the formula, inside and beyond the clip, for two ``max_scale``."""
    __tracebackhide__ = True

    def learner_tau(log_scale, max_scale):
        return _learner_tau(LearnedTemperature, log_scale, max_scale)
    for log_scale, max_scale in ((math.log(1 / 0.07), 100.0), (0.3, 100.0), (math.log(1000.0), 100.0),
                                 (math.log(1000.0), 50.0), (math.log(30.0), 50.0)):
        module = learner_tau(log_scale, max_scale)
        tau = tau_of(check, module, f"log_scale={log_scale:.3f}, max_scale={max_scale}")
        want, slope = reference_temperature(log_scale, max_scale)
        check.close(tau, want, f"tau at exp(log_scale) = {math.exp(log_scale):.1f}, max_scale = {max_scale}",
                    atol=1e-6, hint="tau = 1 / min(exp(log_scale), max_scale).")
        if slope:      # inside the clip the gradient is d tau / d w = -tau (beyond it, 0 or a pulled-back w)
            tau.backward()
            check.close(module.log_scale.grad, slope, f"d tau / d log_scale = -tau at exp(log_scale) = "
                        f"{math.exp(log_scale):.1f}", atol=1e-6,
                        hint="Compute tau from self.log_scale with torch operations: exp, clamp, 1 / s.")
