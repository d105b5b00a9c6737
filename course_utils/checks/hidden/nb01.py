"""Hidden checks of notebook 01: the training step and the evaluation loop computed again to compare with.

Left out of a graded release that withholds notebook 01; grading runs them from the instructor's package.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nb01 import _fit_steps, _fresh_model, _params


def train_step_values(check, train_step, inputs, labels, lr, logits, loss_value, after):
    """The returned loss, one and two steps against ``fit``'s own updates, and a plain SGD step."""
    __tracebackhide__ = True
    expected_loss = F.cross_entropy(logits, labels).item()
    if abs(loss_value - expected_loss) > 1e-4:
        if abs(loss_value - F.cross_entropy(logits.softmax(-1), labels).item()) < 1e-4:
            check.fail("the loss is the cross-entropy of softmax probabilities: F.cross_entropy expects raw "
                       "logits (it applies log-softmax itself). Pass model(*inputs) to it directly.")
        if abs(loss_value - F.cross_entropy(logits, labels, reduction="sum").item()) < 1e-3:
            check.fail("the loss is the sum over the batch; use the mean (F.cross_entropy's default reduction).")
    check.close(loss_value, expected_loss, "returned loss = mean cross-entropy of the batch before the update",
                atol=1e-4, hint="return F.cross_entropy(model(*inputs), labels).item(), computed before "
                                "optimizer.step() changes the weights.")
    check.close(after, _params(_fit_steps(inputs, labels, 1, lr)), "one step: weights equal fit's own update",
                atol=1e-5, hint="forward, loss = F.cross_entropy(logits, labels), optimizer.zero_grad(), "
                                "loss.backward(), optimizer.step().")
    model = _fresh_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    for _ in range(2):
        check.call(train_step, model, optimizer, inputs, labels, what="train_step")
    check.close(_params(model), _params(_fit_steps(inputs, labels, 2, lr)),
                "two steps: weights equal two of fit's updates", atol=1e-5,
                hint="the second step differs from fit's: gradients add up across steps unless you call "
                     "optimizer.zero_grad() in every step, before loss.backward().")
    # plain SGD moves the weights by lr * gradient, so the loss's scale shows (Adam would hide a sum)
    model = _fresh_model()
    reference = _fresh_model()
    F.cross_entropy(reference(*inputs), labels).backward()
    expected = torch.cat([(p - 0.1 * p.grad).detach().flatten() for p in reference.parameters()])
    check.call(train_step, model, torch.optim.SGD(model.parameters(), lr=0.1), inputs, labels, what="train_step")
    check.close(_params(model), expected, "with SGD: weights move by lr * gradient of the mean loss", atol=1e-5,
                hint="the gradient is not that of the mean cross-entropy of the logits: no softmax before "
                     "F.cross_entropy, no reduction='sum', and use the optimizer you are given.")


def evaluate_values(check, value, predicted, labels, batch_size):
    """The accuracy against correct / total, naming the per-chunk mean and the count mistakes."""
    __tracebackhide__ = True
    n = len(labels)
    expected = (predicted == labels).float().mean().item()
    chunks = [(predicted[s:s + batch_size] == labels[s:s + batch_size]).float().mean().item()
              for s in range(0, n, batch_size)]
    if abs(value - expected) > 1e-6:
        if abs(value - sum(chunks) / len(chunks)) < 1e-6:
            check.fail("you averaged the per-chunk accuracies; the last chunk is smaller, so count the correct "
                       "predictions over all chunks and divide once by len(labels).")
        if abs(value - expected * n) < 1e-6:
            check.fail("you returned the number of correct predictions; divide by the number of samples.")
    check.close(value, expected, "accuracy = correct predictions / number of samples", atol=1e-6,
                hint="a prediction is logits.argmax(dim=1); compare it with the labels.")
