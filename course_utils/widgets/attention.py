r"""An explorer for scaled dot-product attention in 2-D (notebook 04).

Move a query around the unit circle (and scale its length) and watch the softmax weights over a few keys and
the output, the weighted average of the values, change. In JupyterLab/Colab with ipywidgets this is a pair of
sliders; under tests, grading and CI (``COURSE_QUIET`` or ``CI`` set), or without ipywidgets or a kernel, it
draws the same picture for a few fixed queries as a static figure, so no widget state ends up in outputs.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch

from ..plots import STRATEGY_COLORS
from . import enable_front_end, widgets_available

QUERY_COLOR = STRATEGY_COLORS["cross-attention"]
OUTPUT_COLOR = STRATEGY_COLORS["late fusion (joint)"]


def _weights(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    return (keys @ query / math.sqrt(keys.shape[-1])).softmax(-1)


def draw_attention(query, keys, values, *, axes=None, key_names=None):
    """Draw one query against ``keys`` ``(N, 2)``: the vectors (left) and the weights (right).

    Returns the weights ``(N,)``. The output (weighted average of ``values`` ``(N, 2)``) is drawn as a star.
    """
    query, keys, values = (torch.as_tensor(t, dtype=torch.float32) for t in (query, keys, values))
    if keys.dim() != 2 or keys.shape[1] != 2 or values.shape != keys.shape or query.shape != (2,):
        raise ValueError(f"expected query (2,), keys (N, 2) and values (N, 2); got {tuple(query.shape)}, "
                         f"{tuple(keys.shape)}, {tuple(values.shape)}")
    names = key_names or [f"key {i}" for i in range(len(keys))]
    weights = _weights(query, keys)
    output = weights @ values
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7.5, 3.2))
    left, right = axes
    lim = 1.2 * max(float(keys.abs().max()), float(values.abs().max()), float(query.abs().max()), 1.0)
    for i, (k, v) in enumerate(zip(keys, values)):
        left.annotate("", k.tolist(), (0, 0), arrowprops=dict(arrowstyle="->", color="0.4",
                                                                lw=0.5 + 3 * float(weights[i])))
        left.text(*(1.08 * k).tolist(), names[i], fontsize=8, color="0.3")
        left.plot(*v.tolist(), "s", color="0.6", ms=5)
    left.annotate("", query.tolist(), (0, 0), arrowprops=dict(arrowstyle="->", color=QUERY_COLOR, lw=2))
    left.plot(*output.tolist(), "*", color=OUTPUT_COLOR, ms=13, label="output")
    left.plot([], [], "s", color="0.6", label="values")
    left.plot([], [], "-", color=QUERY_COLOR, label="query")
    left.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title="keys (arrows) and query")
    left.legend(fontsize=7, loc="upper right")
    right.bar(range(len(weights)), weights.tolist(), color=QUERY_COLOR)
    right.set(ylim=(0, 1), xticks=range(len(weights)), title="softmax weights")
    right.set_xticklabels(names, fontsize=8)
    return weights


def attention_explorer(keys, values, *, key_names=None, angles=(0, 60, 120, 180), force_static: bool = False):
    """Interactive query explorer (sliders for angle and length) or, where widgets cannot show, a static
    figure with one row per query angle in ``angles`` (degrees), shown at once. Returns the widget, or ``None``
    after showing the static figure (so a notebook does not display it twice)."""
    keys, values = torch.as_tensor(keys, dtype=torch.float32), torch.as_tensor(values, dtype=torch.float32)
    if force_static or not widgets_available():
        fig, axes = plt.subplots(len(angles), 2, figsize=(7.5, 3.0 * len(angles)), squeeze=False)
        for row, angle in zip(axes, angles):
            a = math.radians(angle)
            w = draw_attention(torch.tensor([math.cos(a), math.sin(a)]), keys, values, axes=row,
                               key_names=key_names)
            row[0].set_title(f"query at {angle}°")
            row[1].set_title("weights " + ", ".join(f"{x:.2f}" for x in w.tolist()))
        fig.tight_layout()
        plt.show()
        return None
    import ipywidgets as widgets
    enable_front_end()

    def show(angle=30.0, length=1.0):
        a = math.radians(angle)
        draw_attention(torch.tensor([length * math.cos(a), length * math.sin(a)]), keys, values,
                       key_names=key_names)
        plt.show()

    return widgets.interactive(show, angle=widgets.FloatSlider(value=30, min=-180, max=180, step=5,
                                                               description="angle (°)"),
                               length=widgets.FloatSlider(value=1.0, min=0.0, max=6.0, step=0.25,
                                                          description="length"))
