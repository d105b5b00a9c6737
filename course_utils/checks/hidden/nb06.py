"""Hidden checks of notebook 06: the gated mixtures computed again from the learner's own modules.

Left out of a graded release that withholds notebook 06; grading runs them from the instructor's package.
"""
from __future__ import annotations

import torch

from ..nb06 import _close


def scalar_gate_values(check, model, gate, img_proj, txt_proj, classifier, x_v, x_t):
    """The logits for several gate values against classifier(sigmoid(g) h_v + (1 - sigmoid(g)) h_t)."""
    __tracebackhide__ = True
    with torch.no_grad():
        h_v, h_t = img_proj(x_v), txt_proj(x_t)
        for alpha in (0.0, 1.5, -2.0):
            gate.fill_(alpha)
            a = torch.sigmoid(torch.tensor(alpha))
            got = model(x_v, x_t)
            if _close(got, classifier(a * h_v + (1 - a) * h_t)):
                continue
            if _close(got, classifier(a * h_v + h_t)) or _close(got, classifier(h_v + (1 - a) * h_t)):
                check.fail("the gate is applied to one modality only; mix both: "
                           "z = sigmoid(gate) * h_v + (1 - sigmoid(gate)) * h_t")
            if _close(got, classifier(alpha * h_v + (1 - alpha) * h_t)):
                check.fail("the raw gate is used as the weight; squash it first: a = torch.sigmoid(self.gate)")
            if _close(got, classifier((1 - a) * h_v + a * h_t)):
                check.fail("the weights are swapped: the image gets sigmoid(gate), the text 1 - sigmoid(gate)")
            diff = (got - classifier(a * h_v + (1 - a) * h_t)).abs().max().item()
            check.fail(f"with gate = {alpha} the logits differ from classifier(sigmoid(gate) * img_proj(img) + "
                       f"(1 - sigmoid(gate)) * txt_proj(txt)) by up to {diff:.3g}")
        gate.zero_()
    check.ok("logits = classifier(sigmoid(gate) * h_v + (1 - sigmoid(gate)) * h_t) for several gate values")


@torch.no_grad()
def gmu_values(check, img_proj, txt_proj, x_v, x_t, h, z):
    """h against z * tanh(W_v x_v) + (1 - z) * tanh(W_t x_t), with the learner's projections and gate."""
    __tracebackhide__ = True
    h_v, h_t = torch.tanh(img_proj(x_v)), torch.tanh(txt_proj(x_t))
    zd, hd = z.detach(), h.detach()
    if not _close(hd, zd * h_v + (1 - zd) * h_t):
        if _close(hd, zd * h_v + h_t) or _close(hd, h_v + (1 - zd) * h_t):
            check.fail("the gate is applied to one modality only; mix both: h = z * h_v + (1 - z) * h_t")
        if _close(hd, zd * img_proj(x_v) + (1 - zd) * txt_proj(x_t)):
            check.fail("h_v and h_t need a tanh: h_v = tanh(W_v x_v), h_t = tanh(W_t x_t)")
        if _close(hd, (1 - zd) * h_v + zd * h_t):
            check.fail("z weights the image and 1 - z the text; you have them swapped")
        diff = (hd - (zd * h_v + (1 - zd) * h_t)).abs().max().item()
        check.fail(f"h differs from z * tanh(img_proj(x_v)) + (1 - z) * tanh(txt_proj(x_t)) by up to {diff:.3g}")
    check.ok("h = z * tanh(W_v x_v) + (1 - z) * tanh(W_t x_t)")
