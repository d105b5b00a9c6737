"""Data for the course: everything is generated locally, nothing is downloaded.

- ``dataset``: :class:`MultimodalDataset`, tensors per modality plus labels, usable with ``fit``
- ``synthetic``: redundant, unique and synergistic (XOR) two-modality datasets (notebook 01)
- ``binding``: object tokens and a query, where only attention binds the right attributes (notebooks 04, 05)
- ``switch``: a per-sample switch picks the reliable modality (notebook 06)
- ``shapes``: rendered cubes and spheres seen by a camera and a LiDAR (notebook 07)
- ``folder``: the reference RGB + LiDAR folder layout, read and written (notebook 07)
- ``interaction``: a label that depends on a product of the two modalities (notebook 10)

Import those by module, e.g. ``from course_utils.data.binding import make_binding``.
"""
from .dataset import MultimodalDataset
from .synthetic import (
    make_redundant,
    make_unique,
    make_synergy,
    make_information_dataset,
    make_reference_tutorial_data,
)
from .interaction import make_interaction

__all__ = [
    "MultimodalDataset",
    "make_redundant",
    "make_unique",
    "make_synergy",
    "make_information_dataset",
    "make_reference_tutorial_data",
    "make_interaction",
]
