"""Checks for notebook 11 (modality imbalance): unimodal auxiliary heads and the auxiliary loss.

The visible checks test properties any correct answer has (what is returned in training and in eval mode,
which input each unimodal head reads, where the gradient of each loss term goes, that the weight multiplies the
unimodal terms only). The parts that compute the answer (the heads wired again from the learner's own layers,
the loss computed again with its typical mistakes) are in ``hidden/nb11.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..feedback import exercise
from .common import hidden, module_attribute, same

# odd sizes, so that fixed numbers written instead of the arguments are caught
EASY_DIM, HARD_DIM, HIDDEN, NUM_CLASSES, BATCH = 5, 7, 6, 3, 8
_ORDER = "(fused_logits, easy_logits, hard_logits)"


def _inputs(seed: int):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, EASY_DIM, generator=gen), torch.randn(BATCH, HARD_DIM, generator=gen)


def _training_outputs(check, model, easy, hard):
    """``model(easy, hard)`` in training mode, required to be the tuple of three ``(B, C)`` logits."""
    __tracebackhide__ = True
    model.train()
    out = check.call(model, easy, hard, what="UnimodalHeadsFusion.forward (training mode)")
    check.expect(isinstance(out, (tuple, list)), "in training mode forward returns a tuple",
                 f"in training mode (self.training is True) forward should return the tuple {_ORDER}, got a "
                 f"{type(out).__name__}. Use `if not self.training: return fused` and return the tuple otherwise.")
    check.expect(len(out) == 3, "the tuple has three entries",
                 f"the training-mode tuple should have three entries, {_ORDER}; got {len(out)}")
    for name, logits in zip(("fused_logits", "easy_logits", "hard_logits"), out):
        check.shape(logits, (BATCH, NUM_CLASSES), f"{name} (training mode)")
    return out


# ---------------------------------------------------------------------------------------------------
@exercise("11.unimodal_heads", "UnimodalHeadsFusion")
def check_unimodal_heads(check, UnimodalHeadsFusion):
    model = check.build(UnimodalHeadsFusion, easy_dim=EASY_DIM, hard_dim=HARD_DIM, hidden=HIDDEN,
                        num_classes=NUM_CLASSES)
    for name in ("easy_head", "hard_head"):
        module_attribute(check, model, name, "nn.Linear(hidden, num_classes)")
    easy, hard = _inputs(0)

    model.eval()
    with torch.no_grad():
        fused_eval = check.call(model, easy, hard, what="UnimodalHeadsFusion.forward (eval mode)")
    check.expect(isinstance(fused_eval, torch.Tensor), "in eval mode forward returns one tensor",
                 f"in eval mode forward should return the fused logits alone (a tensor), got a "
                 f"{type(fused_eval).__name__}: evaluate() and every later cell call the model in eval mode.")
    check.shape(fused_eval, (BATCH, NUM_CLASSES), "the fused logits (eval mode)")

    with torch.no_grad():
        out = _training_outputs(check, model, easy, hard)
        check.expect(same(out[0], fused_eval), "the tuple starts with the fused logits (as in eval mode)",
                     f"the first entry of the training-mode tuple should be the fused logits, the same as eval "
                     f"mode returns; it differs. The order is {_ORDER}.")
        other_easy, other_hard = _inputs(1)
        new_easy, new_hard = model(other_easy, hard), model(easy, other_hard)
    for k, (name, own, other) in enumerate([("easy_logits", new_easy, new_hard), ("hard_logits", new_hard, new_easy)],
                                           start=1):
        modality, rest = name.split("_")[0], "hard" if name.startswith("easy") else "easy"
        check.expect(same(out[k], other[k]),
                     f"{name} does not change when the {rest} input changes",
                     f"the entry {k} of the tuple ({name}) changes when the {rest} input changes: it should read "
                     f"the {modality} encoder's embedding only, self.{modality}_head(z_{modality}). Did you use the "
                     f"fused logits, the concatenated embedding, or the order of the tuple wrong? It is {_ORDER}.")
        check.expect(not same(out[k], own[k]), f"{name} changes when the {modality} input changes",
                     f"{name} stays the same when the {modality} input changes: it must be computed from the "
                     f"{modality} input, through self.{modality}_encoder and self.{modality}_head.")

    _gradients_of_unimodal_losses(check, model, easy, hard)
    hidden(check, "nb11", "unimodal_heads", model, easy, hard)


def _gradients_of_unimodal_losses(check, model, easy, hard):
    """Each unimodal loss sends gradient to its own encoder and head, and none to the fused head."""
    __tracebackhide__ = True
    labels = torch.arange(BATCH) % NUM_CLASSES
    for k, modality in ((1, "easy"), (2, "hard")):
        model.zero_grad(set_to_none=True)
        model.train()
        out = check.call(model, easy, hard, what="UnimodalHeadsFusion.forward (training mode)")
        F.cross_entropy(out[k], labels).backward()
        encoder = getattr(model, f"{modality}_encoder")
        grads = [p.grad for p in encoder.parameters()]
        check.expect(all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0,
                     f"the {modality} head's loss sends gradient to the {modality} encoder",
                     f"no gradient of the {modality} head's loss reaches self.{modality}_encoder: the embedding "
                     f"is detached (`.detach()`, `torch.no_grad()`, or `.data`) before self.{modality}_head. "
                     f"That gradient is the remedy: pass z_{modality} itself.")
        head_grads = [p.grad for p in model.head.parameters() if p.grad is not None]
        check.expect(not head_grads or sum(g.abs().sum() for g in head_grads) == 0,
                     f"the {modality} head's loss does not go through the fused head",
                     f"the {modality} logits pass through the fused head self.head; compute them with "
                     f"self.{modality}_head(z_{modality}) from the {modality} embedding alone.")
    model.zero_grad(set_to_none=True)
    model.eval()


# ---------------------------------------------------------------------------------------------------
def _logits(seed: int, unimodal: int, batch: int = BATCH, classes: int = NUM_CLASSES):
    gen = torch.Generator().manual_seed(seed)
    outputs = [2 * torch.randn(batch, classes, generator=gen) for _ in range(1 + unimodal)]
    labels = torch.randint(0, classes, (batch,), generator=gen)
    return outputs, labels


def _value(check, auxiliary_loss, outputs, labels, weight):
    __tracebackhide__ = True
    value = check.call(auxiliary_loss, tuple(outputs), labels, weight, what="auxiliary_loss")
    check.expect(isinstance(value, torch.Tensor),
                 "auxiliary_loss returns a tensor",
                 f"auxiliary_loss should return a tensor (so that backward() works), got {type(value).__name__}"
                 f"{'; do not call .item()' if isinstance(value, float) else ''}")
    check.expect(value.dim() == 0, "the loss is one number (a 0-dimensional tensor)",
                 f"the loss should be one number, got shape {tuple(value.shape)}: take the mean over the batch "
                 "(F.cross_entropy's default reduction), and add the terms rather than stacking them.")
    return value


@exercise("11.auxiliary_loss", "auxiliary_loss")
def check_auxiliary_loss(check, auxiliary_loss):
    outputs, labels = _logits(0, unimodal=2)
    leaves = [o.clone().requires_grad_() for o in outputs]
    _value(check, auxiliary_loss, leaves, labels, 0.5).backward()
    names = ["fused logits", "first unimodal logits", "second unimodal logits"]
    for name, leaf in zip(names, leaves):
        check.expect(leaf.grad is not None and leaf.grad.abs().sum() > 0, f"the loss depends on the {name}",
                     f"the loss does not depend on the {name} (no gradient reaches them): each term uses its own "
                     "logits, CE(outputs[0], labels) for the fused one and CE(outputs[m], labels) for unimodal m.")
    leaves = [o.clone().requires_grad_() for o in outputs]
    _value(check, auxiliary_loss, leaves, labels, 0.0).backward()
    check.expect(all(leaf.grad is None or leaf.grad.abs().sum() == 0 for leaf in leaves[1:])
                 and leaves[0].grad is not None and leaves[0].grad.abs().sum() > 0,
                 "with weight 0 only the fused term is left",
                 "with weight = 0 the loss should be the fused cross-entropy alone: the weight multiplies the "
                 "unimodal terms (all of them), not the fused term.")
    for unimodal in (1, 3):
        more, more_labels = _logits(unimodal, unimodal=unimodal)
        _value(check, auxiliary_loss, more, more_labels, 1.0)
    check.ok("works for 1 and 3 unimodal heads")
    hidden(check, "nb11", "auxiliary_loss_value", auxiliary_loss)


# ---------------------------------------------------------------------------------------------------
# 11.ogm_step: wide encoders, so that the spread of the GE noise can be measured on each gradient tensor
OGM_HIDDEN, OGM_BATCH, OGM_EASY, OGM_HARD = 40, 64, 5, 7


def ogm_case(dominant: str, seed: int = 0):
    """A fusion model with fixed weights whose ``dominant`` modality ("easy" or "hard") is the confident one, a
    batch ``(easy (B, 5), hard (B, 7), labels (B,))``, and the encoders' gradients after ``backward()`` of the
    fused cross-entropy. Returns ``(model, easy, hard, labels, grads)``, ``grads`` a dict name -> tensor."""
    from ..models.imbalance import IntermediateFusion
    gen = torch.Generator().manual_seed(seed)
    model = IntermediateFusion(easy_dim=OGM_EASY, hard_dim=OGM_HARD, hidden=OGM_HIDDEN, num_classes=3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        model.head.bias.copy_(torch.tensor([1.5, -1.0, 0.2]))       # large, so that b/2 against b shows
    easy, hard = torch.randn(OGM_BATCH, OGM_EASY, generator=gen), torch.randn(OGM_BATCH, OGM_HARD, generator=gen)
    with torch.no_grad():                    # labels the dominant modality's block of the head predicts
        z = (model.easy_encoder(easy) if dominant == "easy" else model.hard_encoder(hard))
        block = model.head.weight[:, :OGM_HIDDEN] if dominant == "easy" else model.head.weight[:, OGM_HIDDEN:]
        labels = (z @ block.T).argmax(-1)
        block.mul_(4.0)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(easy, hard), labels).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    return model, easy, hard, labels, grads


def _run_ogm(check, ogm_ge_step, dominant, alpha, noise, seed=0):
    __tracebackhide__ = True
    model, easy, hard, labels, grads = ogm_case(dominant, seed)
    torch.manual_seed(1234 + seed)
    out = check.call(ogm_ge_step, model, easy, hard, labels, alpha=alpha, noise=noise, what="ogm_ge_step")
    check.expect(isinstance(out, (tuple, list)) and len(out) == 2, "ogm_ge_step returns (k_easy, k_hard)",
                 f"ogm_ge_step should return the pair (k_easy, k_hard) of coefficients it applied, got {out!r}")
    try:
        k = tuple(float(v) for v in out)
    except (TypeError, ValueError, RuntimeError):
        check.fail(f"(k_easy, k_hard) should be two numbers (floats or 0-d tensors), got {out!r}")
    after = {name: (p.grad.clone() if p.grad is not None else None) for name, p in model.named_parameters()}
    check.expect(all(g is not None for g in after.values()), "every gradient is still there",
                 "a gradient was removed (set to None): scale and add to p.grad, do not delete it")
    return model, grads, after, k


@exercise("11.ogm_step", "ogm_ge_step")
def check_ogm_step(check, ogm_ge_step):
    for dominant in ("easy", "hard"):
        weak = "hard" if dominant == "easy" else "easy"
        model, before, after, k = _run_ogm(check, ogm_ge_step, dominant, alpha=0.5, noise=False)
        head_same = all(torch.equal(before[n], after[n]) for n in before if n.startswith("head."))
        check.expect(head_same, "the fused head's gradients are left alone",
                     "the fused head's gradients changed: OGM modulates the encoders' parameters only "
                     "(model.easy_encoder, model.hard_encoder), not model.head.")
        for name, value in zip(("k_easy", "k_hard"), k):
            check.expect(0.0 < value <= 1.0, f"{name} is in (0, 1]",
                         f"{name} = {value:.4g}: a coefficient 1 - tanh(alpha * rho) with rho > 1 is in (0, 1), and "
                         "the other modality's is 1")
        weak_same = all(torch.equal(before[n], after[n]) for n in before if n.startswith(f"{weak}_encoder."))
        check.expect(weak_same, f"with noise=False the weak ({weak}) encoder's gradients are unchanged",
                     f"in a batch where the {dominant} modality is the confident one, the {weak} encoder's "
                     f"gradients changed (noise=False): only the dominant modality, the one whose ratio rho > 1, "
                     f"is scaled; the other keeps coefficient 1. Did you scale the weak modality, or both?")
    hidden(check, "nb11", "ogm_step_value", ogm_ge_step)
