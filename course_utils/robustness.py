r"""Robustness to missing and noisy modalities (notebook 08).

**Missing modality.** A sensor that sends nothing must still be fed to the model as *something*:

- zero fill: $\tilde x = 0$;
- mean fill: $\tilde x = \bar x$, the training mean of that modality (what a model has seen most of);
- learned placeholder: $\tilde x = p$, a vector fitted by gradient descent so that the frozen model is as
  accurate as it can be without the modality, $p = \arg\min_p \sum_i \ell(f(x_v^{(i)}, p), y^{(i)})$
  (:func:`learn_placeholder`).

**Noise.** Gaussian noise of standard deviation $\sigma$ added to one modality,
$\tilde x = x + \sigma\varepsilon$ (:func:`with_noise`); accuracy as a function of $\sigma$ is the robustness curve.

**Robustness figures** (MultiBench, Liang et al., 2021). With noise levels rescaled to $[0, 1]$:

- relative robustness: the area under the accuracy-versus-noise curve,
  $\mathrm{RR} = \int_0^1 \mathrm{acc}(s)\,ds$ (trapezoid rule), i.e. the average accuracy over noise levels;
- effective robustness: the area between the curve and a reference (MultiBench: late fusion) shifted to
  the same clean accuracy, $\mathrm{ER} = \int_0^1 \big(\mathrm{acc}(s) - [\mathrm{ref}(s) - \mathrm{ref}(0)
  + \mathrm{acc}(0)]\big)\,ds$. Positive: the model loses less accuracy than the reference does.

**Modality dropout** (ModDrop, Neverova et al., 2015): during training, each sample loses one of its
modalities with probability $p$ (replaced by its fill), so the model learns to predict from what is
left. :class:`ModalityDropout` is a ``batch_transform`` for :func:`course_utils.training.fit`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .data.dataset import MultimodalDataset, check_dataset
from .references import lazy_exports
from .training import adamw, evaluate

FILLS = ("zero", "mean", "placeholder")


def _modality_index(data: MultimodalDataset, modality) -> int:
    if isinstance(modality, str):
        if modality not in data.names:
            raise ValueError(f"no modality {modality!r}; this dataset has {data.names}")
        return data.names.index(modality)
    if isinstance(modality, int) and not isinstance(modality, bool) and 0 <= modality < len(data.names):
        return modality
    raise ValueError(f"modality must be a name in {data.names} or an index in [0, {len(data.names)}), "
                     f"got {modality!r}")


def _replace(data: MultimodalDataset, index: int, tensor: torch.Tensor) -> MultimodalDataset:
    mods = list(data.modalities)
    mods[index] = tensor
    return MultimodalDataset(tuple(mods), data.labels, data.names, data.num_classes)


def modality_mean(data: MultimodalDataset, modality) -> torch.Tensor:
    """The mean of one modality over the samples of ``data``: shape ``data.modality(...).shape[1:]``."""
    data = check_dataset(data)
    return data.modalities[_modality_index(data, modality)].float().mean(0)


def with_missing(data: MultimodalDataset, modality, fill="zero", *, reference: MultimodalDataset | None = None
                 ) -> MultimodalDataset:
    """``data`` with ``modality`` (name or index) missing in every sample, replaced by a fill.

    ``fill``: ``"zero"``; ``"mean"`` (the mean of that modality over ``reference``, the training set, which
    is required); or a tensor of the modality's per-sample shape (a learned placeholder, or any vector).
    Returns a new :class:`MultimodalDataset`; ``data`` is left unchanged.
    """
    data = check_dataset(data)
    i = _modality_index(data, modality)
    x = data.modalities[i]
    if isinstance(fill, torch.Tensor):
        if tuple(fill.shape) != tuple(x.shape[1:]):
            raise ValueError(f"a fill tensor must have the per-sample shape of {data.names[i]}, "
                             f"{tuple(x.shape[1:])}; got {tuple(fill.shape)}")
        value = fill.detach().to(x.device, x.dtype)
    elif fill == "zero":
        value = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device)
    elif fill == "mean":
        if reference is None:
            raise ValueError("fill='mean' needs reference=<the training set> to take the mean from "
                             "(never the test set itself)")
        value = modality_mean(check_dataset(reference, "reference"), data.names[i]).to(x.device, x.dtype)
    else:
        raise ValueError(f"fill must be 'zero', 'mean' or a tensor, got {fill!r}")
    return _replace(data, i, value.expand_as(x).clone())


def with_noise(data: MultimodalDataset, modality, sigma: float, *, seed: int = 0) -> MultimodalDataset:
    r"""``data`` with Gaussian noise of standard deviation ``sigma`` added to one modality: $x + \sigma\varepsilon$.

    The noise is drawn from a generator seeded with ``seed``, so a curve over ``sigma`` uses the same
    $\varepsilon$ at every level (a smooth curve) and the same test set for every model.
    """
    data = check_dataset(data)
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not sigma >= 0 or sigma == float("inf"):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    i = _modality_index(data, modality)
    x = data.modalities[i]
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x.device, x.dtype)
    return _replace(data, i, x + sigma * eps)


def accuracy_on(model: nn.Module, data: MultimodalDataset, batch_size: int = 4096) -> float:
    """Accuracy of ``model(*modalities)`` on ``data``: ``training.evaluate(model, data)["accuracy"]``, the course's
    one evaluation path (eval mode, the model's training flag restored)."""
    return evaluate(model, check_dataset(data), batch_size=batch_size)["accuracy"]


def noise_curve(model: nn.Module, data: MultimodalDataset, modality, levels, *, seed: int = 0) -> torch.Tensor:
    """Accuracy at each noise level on ``modality``: ``(len(levels),)``."""
    return torch.tensor([accuracy_on(model, with_noise(data, modality, float(s), seed=seed)) for s in levels])


def _curve(levels, accs, what: str):
    levels = torch.as_tensor(levels, dtype=torch.float64).flatten()
    accs = torch.as_tensor(accs, dtype=torch.float64).flatten()
    if len(levels) < 2:
        raise ValueError("a robustness curve needs at least 2 noise levels")
    if accs.shape != levels.shape:
        raise ValueError(f"{what} must have one accuracy per noise level ({len(levels)}), got {len(accs)}")
    if not bool((levels[1:] > levels[:-1]).all()):
        raise ValueError("noise levels must be strictly increasing")
    return levels, accs


def relative_robustness(levels, accs) -> float:
    r"""Area under the accuracy-versus-noise curve with the noise axis rescaled to $[0, 1]$ (trapezoid rule).

    $\mathrm{RR} = \frac{1}{s_K - s_0}\sum_k \frac{(s_{k+1} - s_k)(a_k + a_{k+1})}{2}$: a flat curve at accuracy
    $a$ scores $a$. ``levels``, ``accs``: ``(K,)`` with increasing levels.
    """
    levels, accs = _curve(levels, accs, "accs")
    area = torch.trapezoid(accs, levels)
    return float(area / (levels[-1] - levels[0]))


def effective_robustness(levels, accs, reference_accs) -> float:
    r"""Area between the curve and the reference curve shifted to the same clean accuracy.

    $\mathrm{ER} = \mathrm{RR}\big(a - (r - r_0 + a_0)\big)$ where $a$ is the model's curve and $r$ the
    reference's (MultiBench uses late fusion). 0 when the model loses accuracy exactly like the reference;
    positive when it loses less. All arguments ``(K,)``.
    """
    levels, accs = _curve(levels, accs, "accs")
    _, ref = _curve(levels, reference_accs, "reference_accs")
    shifted = ref - ref[0] + accs[0]
    return relative_robustness(levels, accs - shifted)


def learn_placeholder(model: nn.Module, train: MultimodalDataset, modality, *, steps: int = 100,
                      lr: float = 0.05, batch_size: int = 512, seed: int = 0) -> torch.Tensor:
    r"""Fit a placeholder for a missing modality, the model frozen: $p = \arg\min_p \ell(f(\dots, p, \dots), y)$.

    Starts from the training mean of the modality, runs ``steps`` Adam steps (``training.adamw`` without weight
    decay) on mini-batches of ``train`` in which that modality is replaced by ``p``. The model's weights are not
    changed. Returns ``p`` with the modality's per-sample shape, on the CPU.
    """
    train = check_dataset(train, "train")
    i = _modality_index(train, modality)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    placeholder = modality_mean(train, i).to(device).clone().requires_grad_(True)
    optimizer = adamw([placeholder], lr=lr)   # no weight decay: Adam
    gen = torch.Generator().manual_seed(seed)
    try:
        for _ in range(steps):
            idx = torch.randint(0, len(train), (min(batch_size, len(train)),), generator=gen)
            inputs = [m[idx].to(device) for m in train.modalities]
            inputs[i] = placeholder.expand_as(inputs[i])
            loss = F.cross_entropy(model(*inputs).float(), train.labels[idx].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)
    return placeholder.detach().cpu()


def missing_accuracies(model: nn.Module, test: MultimodalDataset, train: MultimodalDataset, modality,
                       placeholder: torch.Tensor | None = None) -> dict:
    """Accuracy with ``modality`` missing under each fill: ``{"zero": a, "mean": a, "placeholder": a}``.

    The placeholder is learned on ``train`` with :func:`learn_placeholder` unless given.
    """
    if placeholder is None:
        placeholder = learn_placeholder(model, train, modality)
    return {"zero": accuracy_on(model, with_missing(test, modality, "zero")),
            "mean": accuracy_on(model, with_missing(test, modality, "mean", reference=train)),
            "placeholder": accuracy_on(model, with_missing(test, modality, placeholder))}


# Exercise 08.moddrop's reference lives in solutions/08 and is derived into course_utils.references.
__getattr__ = lazy_exports(__name__, {"ModalityDropout": "08.moddrop"})
