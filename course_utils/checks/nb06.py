"""Checks for notebook 06 (gated fusion): the scalar gate and the Gated Multimodal Unit.

Every check runs the learner's own modules; the comparisons with the equation computed from them (their
projections, their gate) are in :mod:`.hidden.nb06`, so any correct implementation passes whatever its layer
layout.
"""
from __future__ import annotations

import torch
from torch import nn

from ..feedback import exercise
from .common import hidden


def _inputs(batch: int, img_dim: int, txt_dim: int, seed: int, scale: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(batch, img_dim, generator=gen),
            scale * torch.randn(batch, txt_dim, generator=gen))


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4)


def _module(check, model, name: str, what: str):
    __tracebackhide__ = True
    part = getattr(model, name, None)
    check.expect(isinstance(part, nn.Module), f"`self.{name}` is a module",
                 f"`self.{name}` should be an nn.Module ({what}), got {type(part).__name__}")
    return part


# ---------------------------------------------------------------------------------------------------
@exercise("06.scalar_gate", "GatedFusionModel")
def check_gated_fusion(check, GatedFusionModel):
    model = check.build(GatedFusionModel, img_dim=32, txt_dim=16, embed_dim=32, num_classes=3)
    gate = getattr(model, "gate", None)
    if gate is None:
        check.not_implemented("GatedFusionModel.gate is still None")
    check.expect(isinstance(gate, torch.Tensor), "`self.gate` is a tensor",
                 f"`self.gate` should be a learnable tensor, nn.Parameter(torch.zeros(1)), got {type(gate).__name__}")
    check.expect(isinstance(gate, nn.Parameter) and any(p is gate for p in model.parameters()),
                 "`self.gate` is an nn.Parameter registered with the model",
                 "`self.gate` is a plain tensor (or a buffer), so the optimiser never updates it: "
                 "wrap it, `self.gate = nn.Parameter(torch.zeros(1))`")
    check.expect(gate.requires_grad, "the gate is learnable (requires_grad=True)",
                 "`self.gate` has requires_grad=False, so it never learns: drop `requires_grad=False`")
    check.expect(gate.numel() == 1, f"the gate is one number (shape {tuple(gate.shape)})",
                 f"the scalar gate should hold one number (shape (1,) or ()), got shape {tuple(gate.shape)}; "
                 "a gate per feature or per sample is the GMU of the next exercise")
    mix = torch.sigmoid(gate.detach().float()).item()
    check.expect(abs(mix - 0.5) < 1e-6, "sigmoid(gate) starts at 0.5: a 50/50 mix",
                 f"initialise the gate to 0 so that sigmoid(gate) = 0.5 (an equal mix); got gate = "
                 f"{gate.detach().float().item():.4g}, sigmoid(gate) = {mix:.4g}")
    img_proj = _module(check, model, "img_proj", "nn.Linear(img_dim, embed_dim)")
    txt_proj = _module(check, model, "txt_proj", "nn.Linear(txt_dim, embed_dim)")
    classifier = _module(check, model, "classifier", "the head from embed_dim to num_classes")

    x_v, x_t = _inputs(6, 32, 16, seed=0)
    model.eval()
    out = check.call(model, x_v, x_t, what="GatedFusionModel.forward")
    check.shape(out, (6, 3), "logits")

    hidden(check, "nb06", "scalar_gate_values", model, gate, img_proj, txt_proj, classifier, x_v, x_t)
    with torch.no_grad():        # a saturated gate keeps one modality: the other no longer changes the logits
        for value, kept, ignored, x_other in ((20.0, "image", "text", (x_v, -x_t)),
                                              (-20.0, "text", "image", (-x_v, x_t))):
            gate.fill_(value)
            same = _close(model(x_v, x_t), model(*x_other), atol=1e-4)
            check.expect(same, f"with sigmoid(gate) near {1 if value > 0 else 0} only the {kept} counts",
                         f"with gate = {value:g} (sigmoid(gate) = {torch.sigmoid(torch.tensor(value)).item():.2g}) "
                         f"the logits still change with the {ignored}: sigmoid(gate) weights the image and "
                         f"1 - sigmoid(gate) the text, so a saturated gate keeps one modality")
        gate.zero_()

    model.zero_grad()
    check.call(model, x_v, x_t).logsumexp(dim=1).sum().backward()
    grad = gate.grad
    check.expect(grad is not None and grad.abs().sum() > 0, "the gate receives a gradient",
                 "the gate gets no gradient: use self.gate itself in forward (not a copy or .item())")
    for name, part in (("img_proj", img_proj), ("txt_proj", txt_proj)):
        grads = [p.grad for p in part.parameters()]
        check.expect(all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads),
                     f"{name} receives a gradient", f"{name} gets no gradient: is it used in forward?")

    other = check.build(GatedFusionModel, img_dim=8, txt_dim=4, embed_dim=6, num_classes=2)
    x_v, x_t = _inputs(5, 8, 4, seed=1)
    check.shape(check.call(other, x_v, x_t), (5, 2), "logits with img_dim=8, txt_dim=4, embed_dim=6, num_classes=2")


# ---------------------------------------------------------------------------------------------------
def _logit(z: torch.Tensor) -> torch.Tensor:
    z = z.double()
    return torch.log(z) - torch.log1p(-z)


@exercise("06.gmu", "GatedMultimodalUnit")
def check_gmu(check, GatedMultimodalUnit):
    img_dim, txt_dim, embed_dim, batch = 12, 7, 10, 16
    unit = check.build(GatedMultimodalUnit, img_dim=img_dim, txt_dim=txt_dim, embed_dim=embed_dim)
    img_proj = _module(check, unit, "img_proj", "nn.Linear(img_dim, embed_dim), W_v")
    txt_proj = _module(check, unit, "txt_proj", "nn.Linear(txt_dim, embed_dim), W_t")
    unit.eval()
    x_v, x_t = _inputs(batch, img_dim, txt_dim, seed=0, scale=0.5)
    result = check.call(unit, x_v, x_t, what="GatedMultimodalUnit.forward")
    check.expect(isinstance(result, (tuple, list)) and len(result) == 2, "forward returns (h, z)",
                 f"forward should return the pair (h, z), got {type(result).__name__}")
    h, z = result
    if h is None or z is None:
        check.not_implemented("forward returned None for h or z")
    check.shape(h, (batch, embed_dim), "h")
    check.shape(z, (batch, embed_dim), "the gate z (one value per sample and feature)")
    check.expect(bool(((z > 0) & (z < 1)).all()), "every gate value lies in (0, 1)",
                 f"gate values should lie in (0, 1) (a sigmoid), got range [{z.min().item():.3g}, {z.max().item():.3g}]")

    hidden(check, "nb06", "gmu_values", img_proj, txt_proj, x_v, x_t, h, z)
    with torch.no_grad():
        zd = z.detach()

        spread = (zd - zd.mean(0)).abs().max().item()
        check.expect(spread > 1e-4, "the gate differs between samples",
                     "the gate is the same for every sample, so it ignores the inputs: compute it from them, "
                     "z = sigmoid(W_z [x_v; x_t])")
        per_feature = (zd - zd.mean(1, keepdim=True)).abs().max().item()
        check.expect(per_feature > 1e-4, "the gate differs between features",
                     "every feature gets the same gate value: W_z should output embed_dim values, one per feature")
        x_v2, x_t2 = _inputs(batch, img_dim, txt_dim, seed=1, scale=0.5)
        _, z_img = unit(x_v2, x_t)
        _, z_txt = unit(x_v, x_t2)
        check.expect(not _close(z_img, zd, atol=1e-6), "the gate looks at the image",
                     "the gate does not change when the image changes: feed [x_v; x_t] to W_z, not the text alone")
        check.expect(not _close(z_txt, zd, atol=1e-6), "the gate looks at the text",
                     "the gate does not change when the text changes: feed [x_v; x_t] to W_z, not the image alone")
        # sigmoid of an affine map: logit(z) at the midpoint of two inputs is the mean of the two logits
        _, z2 = unit(x_v2, x_t2)
        _, z_mid = unit((x_v + x_v2) / 2, (x_t + x_t2) / 2)
        expected = (_logit(zd) + _logit(z2)) / 2
        gap = (_logit(z_mid) - expected).abs().max().item()
        check.expect(gap < 2e-3, "z = sigmoid(W_z [x_v; x_t] + b): the gate is a sigmoid of a linear map of the inputs",
                     f"z should be sigmoid(W_z [x_v; x_t] + b), a sigmoid of a *linear* map of the raw inputs; "
                     f"logit(z) is not linear in the inputs (off by {gap:.3g}). Compute it from the concatenated "
                     "inputs, not from tanh features or an MLP")

    unit.zero_grad()
    h, z = check.call(unit, x_v, x_t, what="GatedMultimodalUnit.forward")
    (h * torch.linspace(-1, 1, embed_dim)).sum().backward()
    missing = [name for name, p in unit.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    check.expect(not missing, "every parameter receives a gradient through h",
                 f"these parameters get no gradient through h: {missing}; is the gate (or a projection) detached "
                 "or unused?")
