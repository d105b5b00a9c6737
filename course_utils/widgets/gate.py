"""Set a scalar gate by hand and watch the accuracy change (notebook 06).

:func:`gate_explorer` shows an ``ipywidgets`` slider for $\\sigma(\\alpha)$, the image weight of a trained
:class:`~course_utils.models.gating.GatedFusionModel`. Where widgets cannot run (no ``ipywidgets``, no
notebook front end) and always under tests, grading and CI (``COURSE_QUIET`` or ``CI`` set), it draws
the same information as a static figure instead, so no widget state ends up in saved outputs.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch

from ..plots import color_for
from ..training import evaluate
from . import enable_front_end, widgets_available


def _check_model(model) -> torch.nn.Parameter:
    gate = getattr(model, "gate", None)
    if not isinstance(gate, torch.Tensor) or gate.numel() != 1:
        raise TypeError(f"model must have a scalar `gate` parameter (one element), got {type(gate).__name__}"
                        + ("" if not isinstance(gate, torch.Tensor) else f" of shape {tuple(gate.shape)}"))
    return gate


def _check_datasets(datasets) -> dict:
    if not isinstance(datasets, dict) or not datasets:
        raise TypeError("datasets must be a non-empty dict {name: MultimodalDataset}")
    return datasets


@torch.no_grad()
def accuracy_at_gate(model, datasets: dict, value: float) -> dict:
    """Accuracy on each dataset with $\\sigma(\\alpha)$ set to ``value`` in [0, 1]; the gate is restored after."""
    gate = _check_model(model)
    datasets = _check_datasets(datasets)
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"value must be a number in [0, 1] (the image weight), got {value!r}")
    p = min(max(float(value), 1e-6), 1 - 1e-6)
    saved = gate.detach().clone()
    try:
        gate.fill_(math.log(p / (1 - p)))
        return {name: evaluate(model, data)["accuracy"] for name, data in datasets.items()}
    finally:
        gate.copy_(saved)


def accuracy_vs_gate(model, datasets: dict, values=None) -> tuple[list, dict]:
    """Sweep $\\sigma(\\alpha)$ over ``values`` (default 0, 0.05, ..., 1): ``(values, {name: [accuracy, ...]})``."""
    values = [round(0.05 * i, 2) for i in range(21)] if values is None else [float(v) for v in values]
    curves = {name: [] for name in _check_datasets(datasets)}
    for v in values:
        for name, acc in accuracy_at_gate(model, datasets, v).items():
            curves[name].append(acc)
    return values, curves


def plot_accuracy_vs_gate(values, curves: dict, *, learned: float | None = None, chosen: float | None = None,
                          ax=None):
    """Accuracy against the image weight, one line per dataset; dashed line at the learned gate."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for i, (name, accs) in enumerate(curves.items()):
        ax.plot(values, accs, "o-", ms=3, color=color_for(name, i), label=name)
    if learned is not None:
        ax.axvline(learned, color="k", ls="--", lw=1, label=f"learned gate {learned:.2f}")
    if chosen is not None:
        ax.axvline(chosen, color="#D55E00", lw=2, label=f"your gate {chosen:.2f}")
    ax.set_xlabel(r"image weight $\sigma(\alpha)$  (0 = text only, 1 = image only)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower center")
    return ax


def gate_explorer(model, datasets: dict, *, interactive: bool | None = None):
    """A slider for the scalar gate with the accuracy on each dataset, or its static fallback.

    Args:
        model: a trained model with a one-element ``gate`` parameter (left unchanged afterwards).
        datasets: ``{name: MultimodalDataset}`` to evaluate on, e.g. the samples where the image is reliable
            and those where the text is.
        interactive: force the widget (True) or the static figure (False); by default the widget, except
            under tests and CI or where ``ipywidgets`` cannot run.
    Returns:
        the widget, or the matplotlib ``Axes`` of the static figure.
    """
    gate = _check_model(model)
    learned = torch.sigmoid(gate.detach().float()).item()
    values, curves = accuracy_vs_gate(model, datasets)
    if interactive is None:
        interactive = widgets_available()
    if not interactive:
        ax = plot_accuracy_vs_gate(values, curves, learned=learned)
        ax.set_title("accuracy when the scalar gate is set by hand")
        return ax

    import ipywidgets as widgets
    from IPython.display import display
    enable_front_end()

    slider = widgets.FloatSlider(value=round(learned, 2), min=0.0, max=1.0, step=0.05,
                                 description="σ(α)", continuous_update=False)

    def show(value):
        accs = accuracy_at_gate(model, datasets, value)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        plot_accuracy_vs_gate(values, curves, learned=learned, chosen=value, ax=ax)
        ax.set_title(", ".join(f"{name}: {acc:.3f}" for name, acc in accs.items()), fontsize=9)
        plt.show()

    out = widgets.interactive_output(show, {"value": slider})
    box = widgets.VBox([slider, out])
    display(box)
    return box
