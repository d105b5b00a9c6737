"""Hidden checks of notebook 03: the exact fused logits of decision-level fusion and the product of experts,
computed again here to compare with, and the typical mistakes that spell the formulas out.

Left out of a graded release that withholds notebook 03; grading runs them from the instructor's package.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..common import same


def decision_mistakes(check, out, li, lt):
    """Name the usual wrong combinations of the heads' logits ``li``, ``lt`` when ``out`` is one of them."""
    __tracebackhide__ = True
    mean = (li + lt) / 2
    if not same(out, mean):
        pi, pt = F.softmax(li, -1), F.softmax(lt, -1)
        rows_are_distributions = bool((out >= 0).all()) and same(out.sum(-1), torch.ones(len(out)))
        if same(out, (pi + pt) / 2) or rows_are_distributions:
            check.fail("the output is a probability distribution (softmax before averaging?). Return the "
                       "average of the two heads' *logits*: (img_head(img) + txt_head(txt)) / 2. The loss, "
                       "F.cross_entropy, applies log-softmax itself, and a softmax inside the model makes "
                       "training slow and predictions wrong.")
        if same(out, torch.log((pi + pt) / 2)):
            check.fail("the output is the log of the averaged probabilities (a mixture of experts). This "
                       "exercise asks for the average of the logits: (img_head(img) + txt_head(txt)) / 2.")
        if same(out, li) or same(out, lt):
            check.fail("the output equals one head's logits: a modality was dropped. Average both heads.")
        if same(out, li + lt):
            check.fail("the output is the sum of the logits; divide by 2 to average them.")
        if same(out, torch.maximum(li, lt)):
            check.fail("the output is the elementwise maximum of the logits; the rule here is their average.")


def decision_value(check, out, li, lt):
    """``out`` against the mean of the heads' logits."""
    __tracebackhide__ = True
    check.close(out, (li + lt) / 2, "output = (img_head(img) + txt_head(txt)) / 2",
                hint="forward must return the mean of the two heads' logits, each head seeing only its modality.")


def product_of_experts_values(check, out, li, lt, atol=1e-4):
    """``out`` against log_softmax(log_softmax(li) + log_softmax(lt)); names the usual mistakes."""
    __tracebackhide__ = True
    pi, pt = F.softmax(li, -1), F.softmax(lt, -1)
    reference = torch.log_softmax(F.log_softmax(li, -1) + F.log_softmax(lt, -1), -1)
    if not same(out, reference, atol=atol):
        if same(out, torch.log((pi + pt) / 2), atol=atol) or same(out, (pi + pt) / 2, atol=atol):
            check.fail("you averaged the probabilities (a mixture of experts). A product of experts multiplies "
                       "them: add the log-probabilities, log_softmax(img) + log_softmax(txt), then renormalise.")
        product = pi * pt
        if same(out, product, atol=atol) or same(out, product / product.sum(-1, keepdim=True), atol=atol):
            check.fail("you returned probabilities; return log-probabilities (work in log space).")
        if same(F.log_softmax(out, -1), reference, atol=atol):
            check.fail("softmax(output) is the right distribution, but the rows are not normalised "
                       "log-probabilities: exp(output) should sum to 1 over the classes. Subtract the "
                       "logsumexp of each row (torch.log_softmax does it).")
    check.close(out, reference, "log p(y) = log_softmax(log p_img + log p_txt)", atol=atol,
                hint="add the two experts' log-probabilities (F.log_softmax of each) and renormalise.")
