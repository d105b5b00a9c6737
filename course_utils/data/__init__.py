"""Data for the course: everything is generated locally, nothing is downloaded.

- ``dataset``: :class:`MultimodalDataset`, tensors per modality plus labels, usable with ``fit``
- ``synthetic``: redundant, unique and synergistic (XOR) two-modality datasets (notebook 01)
"""
from .dataset import MultimodalDataset
from .synthetic import (
    make_redundant,
    make_unique,
    make_synergy,
    make_information_dataset,
    make_reference_tutorial_data,
)

__all__ = [
    "MultimodalDataset",
    "make_redundant",
    "make_unique",
    "make_synergy",
    "make_information_dataset",
    "make_reference_tutorial_data",
]
