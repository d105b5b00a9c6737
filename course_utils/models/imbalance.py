r"""Models for modality imbalance (notebook 11): intermediate fusion of two encoders, unimodal models, and
linear probes that read one encoder's embeddings.

Intermediate fusion: each modality has its own encoder, their embeddings are concatenated, a linear head
reads the result:

$$z_e = E_e(x_e), \qquad z_h = E_h(x_h), \qquad \text{logits} = W [z_e; z_h] + b .$$

A **probe** measures what one encoder learned: freeze it, compute its embeddings, and train a linear
classifier on them alone, $\text{logits} = W_p z_h + b_p$. The same probe on an encoder trained alone tells
how much that modality's encoder *can* learn with the same recipe.

Every model here uses the attribute names ``easy_encoder`` and ``hard_encoder`` (one of them for a
unimodal model), so :func:`probe_accuracy` reads any of them. The exercise of the notebook,
``UnimodalHeadsFusion`` (11.unimodal_heads), and the loss ``auxiliary_loss`` (11.auxiliary_loss) are handed
out from :mod:`course_utils.references` by name.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..data.dataset import MultimodalDataset, check_dataset
from ..training.loop import EagerAdamW
from ..references import lazy_exports

MODALITIES = ("easy", "hard")


def encoder(in_dim: int, hidden: int = 32) -> nn.Sequential:
    """``(B, in_dim) -> Linear -> ReLU -> Linear -> ReLU -> (B, hidden)``: each modality's encoder."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())


class IntermediateFusion(nn.Module):
    """Two encoders, their embeddings concatenated, one linear head.

    ``forward(easy (B, easy_dim), hard (B, hard_dim)) -> logits (B, num_classes)``.
    """

    def __init__(self, easy_dim: int = 8, hard_dim: int = 16, hidden: int = 32, num_classes: int = 2):
        super().__init__()
        self.easy_encoder = encoder(easy_dim, hidden)
        self.hard_encoder = encoder(hard_dim, hidden)
        self.head = nn.Linear(2 * hidden, num_classes)

    def forward(self, easy: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.easy_encoder(easy), self.hard_encoder(hard)], dim=-1))


class UnimodalModel(nn.Module):
    """One modality's encoder and a linear head; the other modality is ignored.

    ``forward(easy, hard) -> logits (B, num_classes)`` from ``modality`` ("easy" or "hard") alone. Its
    encoder is ``self.easy_encoder`` or ``self.hard_encoder``, as in :class:`IntermediateFusion`.
    """

    def __init__(self, modality: str, in_dim: int, hidden: int = 32, num_classes: int = 2):
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        self.modality = modality
        setattr(self, f"{modality}_encoder", encoder(in_dim, hidden))
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, easy: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
        x = easy if self.modality == "easy" else hard
        return self.head(getattr(self, f"{self.modality}_encoder")(x))


@torch.no_grad()
def embeddings(model: nn.Module, data: MultimodalDataset, modality: str) -> MultimodalDataset:
    """The frozen ``{modality}_encoder`` of ``model`` applied to ``data``'s ``modality``: a one-modality
    dataset ``z (N, hidden)`` with ``data``'s labels, ready for a linear probe."""
    data = check_dataset(data, "data")
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    enc = getattr(model, f"{modality}_encoder", None)
    if not isinstance(enc, nn.Module):
        raise TypeError(f"{type(model).__name__} has no module `{modality}_encoder`")
    was_training = model.training
    model.eval()
    device = next(enc.parameters()).device
    z = enc(data.modality(modality).to(device)).cpu()
    model.train(was_training)
    return MultimodalDataset((z,), data.labels.cpu(), (f"{modality} embedding",), data.num_classes)


def probe_accuracy(models, trains, tests, modality: str, *, seeds, epochs: int = 20, lr: float = 1e-2) -> list:
    """Test accuracy of a linear probe on each model's frozen ``{modality}_encoder``, one per seed.

    ``models``, ``trains``, ``tests``: one per seed. The probe ``nn.Linear(hidden, num_classes)`` is trained
    on the training set's embeddings (lr 1e-2) with :func:`course_utils.training.fit_seeds` (all seeds together) and
    scored on the test set's. Returns a list of accuracies, in the order of ``seeds``.
    """
    from ..training import fit_seeds      # imported here to keep models light
    train_z = [embeddings(m, d, modality) for m, d in zip(models, trains)]
    test_z = [embeddings(m, d, modality) for m, d in zip(models, tests)]
    hidden, num_classes = train_z[0].modalities[0].shape[1], train_z[0].num_classes
    # a Sequential around the Linear: fit_seeds folds the layers inside a model, not a bare layer
    runs = fit_seeds(lambda: nn.Sequential(nn.Linear(hidden, num_classes)), train_z, seeds=seeds, epochs=epochs,
                     lr=lr, progress=False)
    return [r["accuracy"] for r in runs.evaluate(test_z)]


# The exercises' references live once, in the solution notebook; the build derives them into
# course_utils.references, and this module hands them out by name on first use.
__getattr__ = lazy_exports(__name__, {"UnimodalHeadsFusion": "11.unimodal_heads",
                                      "auxiliary_loss": "11.auxiliary_loss"})


def train_recording(model: nn.Module, train, *, seed: int, epochs: int = 20, lr: float = 3e-3,
                    batch_size: int = 128, loss=None, after_backward=None) -> list:
    """Train ``model`` with Adam as :func:`fit` does, and record the hard encoder's gradient norm per epoch.

    ``train`` is a dataset of (easy (N, easy_dim), hard (N, hard_dim)) with labels (N,). Each step computes
    ``loss(model(easy, hard), labels)`` (cross-entropy when None), calls ``backward()``, records the norm of the
    gradient on ``model.hard_encoder``'s parameters, then calls ``after_backward(model, easy, hard, labels)``
    (which may edit the gradients, as OGM-GE does) before ``optimizer.step()``.

    Returns the mean over the steps of each epoch of that norm, a list of ``epochs`` floats. The model is left in
    eval mode.
    """
    if not hasattr(model, "hard_encoder"):
        raise TypeError(f"train_recording expects a model with a hard_encoder, got {type(model).__name__}")
    gen = torch.Generator().manual_seed(seed)
    optimizer = EagerAdamW(model.parameters(), lr=lr, weight_decay=0.0)   # Adam, without importing torch._dynamo
    loss = loss if loss is not None else (lambda outputs, y: F.cross_entropy(outputs, y))
    easy_all, hard_all = train.modalities
    norms = []
    for _ in range(epochs):
        model.train()
        total, steps = 0.0, 0
        order = torch.randperm(len(train), generator=gen)
        for i in range(0, len(train), batch_size):
            idx = order[i:i + batch_size]
            easy, hard, y = easy_all[idx], hard_all[idx], train.labels[idx]
            optimizer.zero_grad(set_to_none=True)
            loss(model(easy, hard), y).backward()
            grads = [p.grad for p in model.hard_encoder.parameters() if p.grad is not None]
            total += torch.sqrt(sum((g ** 2).sum() for g in grads)).item() if grads else 0.0
            steps += 1
            if after_backward is not None:
                after_backward(model, easy, hard, y)
            optimizer.step()
        norms.append(total / steps)
    model.eval()
    return norms
