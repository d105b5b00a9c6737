"""Machinery the checks of several notebooks share: test sizes, calling learner models, common properties,
and running an exercise's hidden checks.

Hidden checks (``course_utils/checks/hidden/nbNN.py``) are the parts of a check that compute the answer to
judge it (a reference computation, a list of typical mistakes that spells out the right formula). A graded
release leaves them out; :func:`hidden` then records that they were skipped, and a passing check says
"visible checks passed; grading also runs hidden checks". Grading runs with the instructor's package, where
they exist.
"""
from __future__ import annotations

import importlib

import torch

from ..data import make_synergy
from ..training import fit

# Odd sizes, so that a model with 32 and 16 written in instead of img_dim and txt_dim is caught.
IMG_DIM, TXT_DIM, NUM_CLASSES, BATCH = 7, 5, 3, 8


def forward(check, model, img, txt, label: str):
    """Call ``model(img, txt)``; a shape error becomes a message naming the sizes that were passed."""
    __tracebackhide__ = True
    try:
        return check.call(model, img, txt, what=f"{type(model).__name__}.forward")
    except RuntimeError as error:
        check.fail(f"calling {label} with img of shape {tuple(img.shape)} and txt of shape {tuple(txt.shape)} "
                   f"raised RuntimeError: {error}. Use the sizes given to __init__ (img_dim, txt_dim, ...) "
                   "rather than fixed numbers, and concatenate along the feature dimension (dim=-1).")


def both_modalities_matter(check, model, img_dim: int, txt_dim: int, num_classes: int, label: str) -> None:
    """Gradient reaches both inputs and the output changes when either input changes."""
    __tracebackhide__ = True
    img = torch.randn(BATCH, img_dim, requires_grad=True)
    txt = torch.randn(BATCH, txt_dim, requires_grad=True)
    out = forward(check, model, img, txt, label)
    check.shape(out, (BATCH, num_classes), "logits")
    # a random weighting: out.sum() would have zero gradient for outputs whose rows sum to a constant
    (out * torch.randn(out.shape)).sum().backward()
    for name, x in (("img", img), ("txt", txt)):
        check.expect(x.grad is not None and x.grad.abs().sum() > 0, f"the gradient reaches {name}",
                     f"the logits do not depend on {name}: no gradient reaches it. Did you drop a modality? "
                     "The model must use both img and txt.")
    with torch.no_grad():
        base = model(img, txt)
        changed_img = model(torch.randn(BATCH, img_dim), txt)
        changed_txt = model(img, torch.randn(BATCH, txt_dim))
    for name, other in (("img", changed_img), ("txt", changed_txt)):
        check.expect(not torch.allclose(base, other), f"the logits change when {name} changes",
                     f"the logits stay the same when {name} changes: the model ignores {name}.")


def returns_logits(check, model, img_dim: int, txt_dim: int, label: str) -> None:
    """The outputs are logits: not rows of probabilities, and not all >= 0 (no ReLU after the last layer)."""
    __tracebackhide__ = True
    with torch.no_grad():
        out = model(3 * torch.randn(64, img_dim), 3 * torch.randn(64, txt_dim))
    probabilities = bool((out >= 0).all()) and torch.allclose(out.sum(-1), torch.ones(len(out)), atol=1e-4)
    check.expect(not probabilities, f"{label} returns logits, not probabilities",
                 f"the rows of {label}'s output are probabilities (a softmax at the end?). Return raw logits: "
                 "F.cross_entropy applies the log-softmax itself, and a softmax inside the model trains badly.")
    check.expect(not bool((out >= 0).all()), "the logits can be negative (nothing clips them after the last layer)",
                 f"every logit of {label} is >= 0: a ReLU after the last Linear layer clips the logits. The "
                 "nonlinearity belongs between the layers, not after the output.")


def interaction_gap(model, img_dim: int, txt_dim: int, n: int = 256) -> float:
    r"""Largest $|f(a,t) - f(a,t') - f(a',t) + f(a',t')|$ over random pairs, relative to the output scale.

    Exactly zero (up to rounding) for every additive model $g(x_v) + h(x_t)$, affine models included.
    """
    a, a2 = 1.5 * torch.randn(n, img_dim), 1.5 * torch.randn(n, img_dim)
    t, t2 = 1.5 * torch.randn(n, txt_dim), 1.5 * torch.randn(n, txt_dim)
    with torch.no_grad():
        f = model(a, t)
        contrast = f - model(a, t2) - model(a2, t) + model(a2, t2)
    return (contrast.abs().max() / (f.abs().max() + 1e-12)).item()


def trains(check, model, threshold: float, label: str, *, kind_label: str = "the synergy (XOR) set") -> None:
    """Train on a small XOR set (fast: about a second) and require validation accuracy above ``threshold``."""
    __tracebackhide__ = True
    train, val = make_synergy(1500, img_dim=IMG_DIM, txt_dim=TXT_DIM, seed=1234).split(0.8, seed=0)
    history = fit(model, train, val, epochs=15, lr=3e-3, seed=0, progress=False)
    acc = max(history.val_acc[-3:])
    check.expect(acc > threshold, f"{label} trains: {acc:.2f} validation accuracy on {kind_label}",
                 f"after 15 epochs {label} reaches only {acc:.2f} validation accuracy on {kind_label} "
                 f"(expected above {threshold}). Check that forward returns raw logits (no softmax) and that "
                 "the layers are registered as attributes of the module (so the optimiser sees them).")


def module_attribute(check, model, name: str, hint: str):
    """``model.<name>``, required to be an ``nn.Module`` (``None`` left in place: not implemented yet)."""
    __tracebackhide__ = True
    part = getattr(model, name, None)
    if name in vars(model) and part is None:
        check.not_implemented(f"self.{name} is still None")
    check.expect(isinstance(part, torch.nn.Module), f"the model has a submodule `{name}`",
                 f"the model needs an attribute `self.{name}` that is an nn.Module ({hint})")
    return part


def same(a, b, atol=1e-5) -> bool:
    """Same shape and values within tolerance."""
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=1e-4)


def cap(text: str) -> str:
    """The text with its first letter capitalised (advice strings start a sentence)."""
    return text[:1].upper() + text[1:]


def hidden_module(notebook: str):
    """``course_utils.checks.hidden.<notebook>``, or ``None`` where this release leaves it out."""
    name = f"{__package__}.hidden.{notebook}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name in (name, f"{__package__}.hidden"):
            return None
        raise


def hidden(check, notebook: str, function: str, *args, **kwargs):
    """Run ``hidden/<notebook>.<function>(check, *args)`` when that module is part of this release; else note
    on ``check`` that hidden checks were skipped (the passing message then says so) and return ``None``."""
    __tracebackhide__ = True
    module = hidden_module(notebook)
    if module is None:
        check.hidden_skipped = True
        return None
    return getattr(module, function)(check, *args, **kwargs)
