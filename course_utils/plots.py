"""Figures with one colour per fusion strategy, kept the same across every notebook."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

#: one colour per strategy (colour-blind-safe Okabe-Ito palette)
STRATEGY_COLORS = {
    "image only": "#E69F00",
    "text only": "#56B4E9",
    "unimodal": "#999999",
    "early fusion": "#009E73",
    "late fusion (joint)": "#D55E00",
    "late fusion (ensemble)": "#F4A582",
    "embedding concat": "#CC79A7",
    "deep sets (shared per-token mlp)": "#117733",
    "late (product of experts)": "#8C3A00",
    "tutorial latefusionmodel": "#E7A9CF",
    "cross-attention": "#0072B2",
    "bidirectional": "#F0E442",
    "gated": "#000000",
    "gmu": "#7F3C8D",
}
#: names the course retired -> the strategy they meant (a handed-out notebook may still use them)
RENAMED = {
    "late fusion (decision)": "late fusion (joint)",
    "late fusion (embedding concat)": "embedding concat",
}
_FALLBACK = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def color_for(name: str, index: int = 0) -> str:
    """The strategy's colour, matched on the lower-cased name (a retired name in ``RENAMED`` gets its new name's
    colour); a cycle colour otherwise."""
    key = name.lower()
    return STRATEGY_COLORS.get(RENAMED.get(key, key), _FALLBACK[index % len(_FALLBACK)])


def plot_histories(histories: dict, *, metric: str = "acc", ax=None):
    """Training (dashed) and validation (solid) curves per model; ``metric`` is "acc" or "loss"."""
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}")
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for i, (name, h) in enumerate(histories.items()):
        c = color_for(name, i)
        ax.plot(getattr(h, f"train_{metric}"), "--", color=c, alpha=0.6)
        if getattr(h, f"val_{metric}"):
            ax.plot(getattr(h, f"val_{metric}"), "-", color=c, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy" if metric == "acc" else "cross-entropy")
    ax.set_title("validation (solid) and training (dashed)")
    ax.legend(fontsize=8)
    return ax


def plot_per_class(per_class: dict, *, class_names=None, ax=None):
    """Grouped bars of per-class accuracy, ``per_class`` maps model name -> ``(C,)`` tensor."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    names = list(per_class)
    num_classes = len(next(iter(per_class.values())))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [c + (i - (len(names) - 1) / 2) * width for c in range(num_classes)]
        ax.bar(xs, torch.as_tensor(per_class[name]).tolist(), width, color=color_for(name, i), label=name)
    ax.set_xticks(range(num_classes), class_names or [f"class {c}" for c in range(num_classes)])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    return ax


def first_principal_component(x: torch.Tensor) -> torch.Tensor:
    """Projection of ``x`` ``(N, d)`` onto its first principal component: ``(N,)``."""
    centred = x - x.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[0]


def plot_modalities(dataset, *, ax=None, title: str = ""):
    """Each sample as a point (image PC1, text PC1), coloured by label."""
    ax = ax or plt.subplots(figsize=(3.5, 3.5))[1]
    image, text = dataset.modalities[:2]
    xs, ys = first_principal_component(image.cpu()), first_principal_component(text.cpu())
    for c in range(dataset.num_classes):
        mask = (dataset.labels.cpu() == c)
        ax.scatter(xs[mask], ys[mask], s=6, alpha=0.5, label=f"y = {c}", color=_FALLBACK[c])
    ax.set_xlabel(f"{dataset.names[0]} (1st principal component)")
    ax.set_ylabel(f"{dataset.names[1]} (1st principal component)")
    ax.set_title(title)
    ax.legend(fontsize=8, markerscale=2)
    return ax
