"""Build every explorer as Colab would, with a stand-in ``google.colab.output`` that records its calls.

Used by ``tests/test_packaging.py`` (in this environment, ipywidgets 8) and, as a script, by
``tests/integration/test_colab_install.py`` (in a fresh virtual environment seeded with Colab's versions,
ipywidgets 7.7.1). Prints one JSON line: the ipywidgets version, the widget types each explorer built, and how
many times the custom widget manager was enabled.
"""
from __future__ import annotations

import json
import sys
import types


def install_standin() -> list:
    """Put a fake ``google.colab.output`` into ``sys.modules``; return the list its calls are recorded in."""
    calls = []
    google, colab, output = (types.ModuleType(n) for n in ("google", "google.colab", "google.colab.output"))
    output.enable_custom_widget_manager = lambda: calls.append("enable_custom_widget_manager")
    colab.output, google.colab = output, colab
    sys.modules.update({"google": google, "google.colab": colab, "google.colab.output": output})
    return calls


def build_explorers() -> dict:
    """Build each explorer in widget mode (as in a Colab kernel) and return what happened."""
    import IPython.display
    import ipywidgets
    import matplotlib
    matplotlib.use("Agg")
    import torch
    from torch import nn

    from course_utils import widgets
    from course_utils.data.dataset import MultimodalDataset
    from course_utils.widgets import attention, gate, shapes

    calls = install_standin()
    shown = []
    IPython.display.display = lambda *objs, **kw: shown.extend(objs)
    for module in (widgets, attention, shapes):
        module.widgets_available = lambda: True

    class Gated(nn.Module):   # the smallest model with a scalar gate
        def __init__(self):
            super().__init__()
            self.gate = nn.Parameter(torch.zeros(1))
            self.img, self.txt = nn.Linear(4, 3), nn.Linear(2, 3)

        def forward(self, img, txt):
            a = torch.sigmoid(self.gate)
            return a * self.img(img) + (1 - a) * self.txt(txt)

    g = torch.Generator().manual_seed(0)
    data = MultimodalDataset((torch.randn(12, 4, generator=g), torch.randn(12, 2, generator=g)),
                             torch.randint(0, 3, (12,), generator=g), num_classes=3)
    built = {}
    widgets.explore(lambda noise, kind: None, noise=(0.0, 1.0, 0.1, 0.5), kind=["a", "b"])
    built["explore"] = type(shown[-1]).__name__
    panel = attention.attention_explorer(torch.eye(2), torch.eye(2))
    built["attention_explorer"] = type(panel).__name__
    box = gate.gate_explorer(Gated(), {"all": data}, interactive=True)
    built["gate_explorer"] = type(box).__name__
    shapes.explore_shapes(count=2, rgb_size=16, depth_size=16)
    built["explore_shapes"] = type(shown[-1]).__name__
    return {"ipywidgets": ipywidgets.__version__, "built": built,
            "manager_enabled": calls.count("enable_custom_widget_manager")}


if __name__ == "__main__":
    print(json.dumps(build_explorers()))
