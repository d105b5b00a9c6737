"""Hidden checks of notebook 11: the auxiliary heads wired again from the learner's own layers, and the auxiliary
loss computed again, with the typical mistakes spelled out (which is the answer).

Left out of a graded release that withholds notebook 11; grading runs them from the instructor's package.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..common import cap, same


def unimodal_heads(check, model, easy, hard):
    """The training-mode tuple against ``head([z_e; z_h])``, ``easy_head(z_e)``, ``hard_head(z_h)``."""
    __tracebackhide__ = True
    model.train()
    with torch.no_grad():
        fused, easy_logits, hard_logits = model(easy, hard)
        z_easy, z_hard = model.easy_encoder(easy), model.hard_encoder(hard)
        right = {"fused": model.head(torch.cat([z_easy, z_hard], dim=-1)),
                 "easy": model.easy_head(z_easy), "hard": model.hard_head(z_hard)}
        swapped = {"easy": model.hard_head(z_easy) if z_easy.shape == z_hard.shape else None,
                   "hard": model.easy_head(z_hard) if z_easy.shape == z_hard.shape else None}
    model.eval()
    check.close(fused, right["fused"], "fused logits vs self.head(cat([z_easy, z_hard]))",
                hint="Concatenate the easy embedding first, then the hard one, and apply self.head.")
    for modality, got in (("easy", easy_logits), ("hard", hard_logits)):
        other = "hard" if modality == "easy" else "easy"
        if swapped[modality] is not None and same(got, swapped[modality]) and not same(got, right[modality]):
            check.fail(f"the {modality} logits use self.{other}_head: apply self.{modality}_head to z_{modality}")
        check.close(got, right[modality], f"{modality} logits vs self.{modality}_head(self.{modality}_encoder(x))",
                    hint=f"Compute them as self.{modality}_head(z_{modality}) with z_{modality} the "
                         f"{modality} encoder's embedding.")


def _variants(outputs, labels, weight):
    fused, *unimodal = outputs
    ce = lambda logits: F.cross_entropy(logits, labels)  # noqa: E731
    terms = [ce(u) for u in unimodal]
    return {
        "ok": ce(fused) + weight * sum(terms),
        "weight on the fused term": weight * ce(fused) + sum(terms),
        "fused logits for the unimodal terms": ce(fused) + weight * len(unimodal) * ce(fused),
        "probabilities into cross-entropy": F.cross_entropy(fused.softmax(-1), labels)
        + weight * sum(F.cross_entropy(u.softmax(-1), labels) for u in unimodal),
        "mean over modalities": ce(fused) + weight * sum(terms) / len(terms),
        "no weight": ce(fused) + sum(terms),
        "convex mix": (1 - weight) * ce(fused) + weight * sum(terms),
        "no fused term": weight * sum(terms),
        "sum over the batch": F.cross_entropy(fused, labels, reduction="sum")
        + weight * sum(F.cross_entropy(u, labels, reduction="sum") for u in unimodal),
    }


_ADVICE = {
    "weight on the fused term": "the weight multiplies the fused term; it belongs to the unimodal terms: "
                                "CE(fused) + weight * sum_m CE(unimodal_m).",
    "fused logits for the unimodal terms": "the unimodal terms use the fused logits; each should use its own "
                                           "head's logits, outputs[1], outputs[2], ...",
    "probabilities into cross-entropy": "softmax probabilities are passed to F.cross_entropy, which expects logits "
                                        "(it applies the log-softmax itself): pass the logits.",
    "mean over modalities": "the unimodal terms are averaged; sum them: CE(fused) + weight * sum_m CE(unimodal_m).",
    "no weight": "the weight is not used: multiply the sum of the unimodal terms by it.",
    "convex mix": "the fused term is multiplied by (1 - weight); keep it at weight 1: "
                  "CE(fused) + weight * sum_m CE(unimodal_m).",
    "no fused term": "the fused term is missing: add CE(outputs[0], labels).",
    "sum over the batch": "each cross-entropy is summed over the batch; take the mean (F.cross_entropy's default).",
}


def auxiliary_loss_value(check, fn):
    """``fn`` against the reference value on several weights, numbers of modalities and batches."""
    __tracebackhide__ = True
    for seed, (weight, unimodal, batch) in enumerate([(0.3, 2, 8), (2.5, 2, 5), (0.7, 3, 6)]):
        gen = torch.Generator().manual_seed(100 + seed)
        outputs = [2 * torch.randn(batch, 4, generator=gen) for _ in range(1 + unimodal)]
        labels = torch.randint(0, 4, (batch,), generator=gen)
        with torch.no_grad():
            got = check.call(fn, tuple(outputs), labels, weight, what="auxiliary_loss")
            variants = _variants(outputs, labels, weight)
        got = torch.as_tensor(got).detach().float()
        matched = next((name for name, ref in variants.items() if same(got, ref)), None)
        if matched != "ok":
            hint = cap(_ADVICE.get(matched, "compute F.cross_entropy(outputs[0], labels) + weight * "
                                            "sum(F.cross_entropy(u, labels) for u in outputs[1:])."))
            check.close(got, variants["ok"], f"the loss with weight {weight} and {unimodal} unimodal heads",
                        hint=hint)
    check.ok("the loss equals CE(fused) + weight * sum_m CE(unimodal_m) for several weights and modalities")


def _reference_k(model, easy, hard, labels, alpha):
    """Peng et al.'s coefficients: scores s_m = sum_i softmax(W_m z_m,i + b/2)[y_i], rho_e = s_e / s_h."""
    with torch.no_grad():
        z_e, z_h = model.easy_encoder(easy), model.hard_encoder(hard)
        hidden = z_e.shape[-1]
        w, b = model.head.weight, model.head.bias
        rows = torch.arange(len(labels))
        score = lambda z, block: F.softmax(z @ block.T + b / 2, -1)[rows, labels].sum()  # noqa: E731
        rho_e = float(score(z_e, w[:, :hidden]) / score(z_h, w[:, hidden:]))
    k = lambda rho: 1 - math.tanh(alpha * rho) if rho > 1 else 1.0  # noqa: E731
    return k(rho_e), k(1 / rho_e), rho_e


def _scale(before, after, prefix):
    """The factor after / before fitted over one encoder's gradients (least squares)."""
    b = torch.cat([before[n].flatten() for n in before if n.startswith(prefix)])
    a = torch.cat([after[n].flatten() for n in after if n.startswith(prefix)])
    return float((a @ b) / (b @ b))


def ogm_step_value(check, fn):
    """Coefficients and scaled gradients against the reference on fixed weights; then the GE noise's spread."""
    __tracebackhide__ = True
    from ..nb11 import _run_ogm
    for dominant, alpha, seed in (("easy", 0.5, 0), ("hard", 0.3, 1), ("easy", 0.1, 2)):
        model, before, after, k = _run_ogm(check, fn, dominant, alpha, noise=False, seed=seed)
        from ..nb11 import ogm_case
        ref_model, easy, hard, labels, _ = ogm_case(dominant, seed)
        k_e, k_h, rho_e = _reference_k(ref_model, easy, hard, labels, alpha)
        got = {"easy": _scale(before, after, "easy_encoder."), "hard": _scale(before, after, "hard_encoder.")}
        want = {"easy": k_e, "hard": k_h}
        for modality in ("easy", "hard"):
            if abs(got[modality] - want[modality]) > 1e-4:
                if abs(got["easy"] - k_h) < 1e-4 and abs(got["hard"] - k_e) < 1e-4:
                    check.fail("the coefficient is applied to the weak modality's encoder: scale the dominant "
                               "one (rho_u > 1) by k_u = 1 - tanh(alpha * rho_u), and leave the other at 1")
                check.fail(f"the {modality} encoder's gradients were scaled by {got[modality]:.4f}, expected "
                           f"{want[modality]:.4f} (rho_easy = {rho_e:.3f}, alpha = {alpha}). The scores are "
                           "s_m = sum over the batch of softmax(W_m z_m + b/2) at the true label, with W_m the "
                           "head's weight columns of modality m (easy first), softmax over the classes; "
                           "rho_easy = s_easy / s_hard, rho_hard = 1 / rho_easy; only a ratio above 1 is scaled.")
        check.close(torch.tensor(k), torch.tensor([k_e, k_h]), "the returned (k_easy, k_hard)", atol=1e-4,
                    hint="return the coefficients you applied, (k_easy, k_hard), the weak one being 1.0")
    check.ok("the dominant encoder is scaled by 1 - tanh(alpha * rho) on three batches, the weak one is not")

    model, before, after, k = _run_ogm(check, fn, "easy", 0.5, noise=True, seed=0)
    for name in before:
        if name.startswith("head."):
            continue
        modality = name.split("_")[0]
        coefficient = k[0] if modality == "easy" else k[1]
        noise = after[name] - coefficient * before[name]
        ratio = float(noise.std() / before[name].std())
        if before[name].numel() < 500:
            continue
        if ratio < 0.05:
            check.fail(f"no noise was added to {name}'s gradient with noise=True: GE adds Gaussian noise with the "
                       "standard deviation of that gradient tensor, p.grad.std(), to every encoder parameter")
        if abs(ratio - coefficient) < 0.1 and abs(coefficient - 1) > 0.2:
            check.fail(f"the noise on {name} has the spread of the scaled gradient (k * std); as in the authors' "
                       "code, its standard deviation is that of the gradient before scaling, p.grad.std()")
        if abs(ratio - 1) > 0.1:
            check.fail(f"the noise on {name}'s gradient has {ratio:.2f} times the gradient's standard deviation, "
                       "expected 1: draw torch.randn_like(grad) * grad.std() (not a unit-variance noise)")
    check.ok("the GE noise has each gradient tensor's own standard deviation")
