"""Helpers for "Multimodal Fusion from First Principles".

Each module has one job; notebooks import what earlier notebooks taught:

- ``environment``: device, seeds, Colab detection, environment report (notebook 00)
- ``data``: synthetic multimodal datasets (notebook 01)
- ``models``: the reference models the notebooks build (probes, fusion models)
- ``training``: ``fit`` and ``evaluate`` with device-resident batches
- ``metrics`` and ``plots``: accuracy, confusion matrices, curves, bars, scatter
- ``checks``: exercise feedback, one module per notebook
- ``build``: generates ``notebooks/`` from ``solutions/`` (``python -m course_utils build``)
"""
from .environment import get_device, seed_everything, in_colab, environment_report

__all__ = ["get_device", "seed_everything", "in_colab", "environment_report"]
__version__ = "0.1.0"
