"""Hidden checks of notebook 11: the auxiliary heads wired again from the learner's own layers, and the auxiliary
loss computed again, with the typical mistakes spelled out (which is the answer).

Left out of a graded release that withholds notebook 11; grading runs them from the instructor's package.
"""
from __future__ import annotations

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
