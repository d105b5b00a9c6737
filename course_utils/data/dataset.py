"""A dataset of paired modalities held as tensors (the whole set fits in memory)."""
from __future__ import annotations

import math

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MultimodalDataset:
    """Paired samples of several modalities.

    Attributes:
        modalities: one tensor per modality, each of shape ``(N, ...)`` (e.g. ``(N, 32)`` features
            or ``(N, 3, 64, 64)`` images).
        labels: ``(N,)`` integer class labels in ``[0, num_classes)``.
        names: a name per modality, e.g. ``("image", "text")``.
        num_classes: number of classes.
    """

    modalities: tuple
    labels: torch.Tensor
    names: tuple = ("image", "text")
    num_classes: int = 2

    def __post_init__(self):
        mods = tuple(self.modalities)
        object.__setattr__(self, "modalities", mods)
        if not mods or not all(isinstance(m, torch.Tensor) for m in mods):
            raise TypeError("modalities must be a non-empty tuple of tensors, one per modality")
        if not isinstance(self.labels, torch.Tensor) or self.labels.dim() != 1:
            raise TypeError("labels must be a 1-D tensor of class indices, shape (N,)")
        if self.labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"labels must hold integer class indices, got dtype {self.labels.dtype}")
        n = len(self.labels)
        lengths = [len(m) for m in mods]
        if any(length != n for length in lengths):
            raise ValueError(
                f"every modality must have as many samples as labels ({n}); got lengths {lengths}"
            )
        if len(self.names) != len(mods):
            raise ValueError(f"names has {len(self.names)} entries for {len(mods)} modalities")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}); got "
                             f"[{int(self.labels.min())}, {int(self.labels.max())}]")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        """Index every modality and the labels alike: returns a new dataset."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return MultimodalDataset(tuple(m[index] for m in self.modalities), self.labels[index],
                                 self.names, self.num_classes)

    @property
    def device(self) -> torch.device:
        return self.labels.device

    def to(self, device) -> "MultimodalDataset":
        """The same dataset with every tensor on ``device`` (a no-op when already there)."""
        return MultimodalDataset(tuple(m.to(device) for m in self.modalities),
                                 self.labels.to(device), self.names, self.num_classes)

    def modality(self, name: str) -> torch.Tensor:
        """The tensor of the modality called ``name``."""
        if name not in self.names:
            raise KeyError(f"no modality {name!r}; this dataset has {self.names}")
        return self.modalities[self.names.index(name)]

    def split(self, train_fraction: float = 0.8, seed: int = 0):
        """A seeded random split into ``(train, validation)`` datasets."""
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        cut = int(round(train_fraction * len(self)))
        if cut == 0 or cut == len(self):
            raise ValueError(f"a split of {len(self)} samples at {train_fraction} leaves one side empty")
        order = order.to(self.device)
        return self[order[:cut]], self[order[cut:]]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}={tuple(m.shape)}" for name, m in zip(self.names, self.modalities))
        return f"MultimodalDataset({shapes}, labels={tuple(self.labels.shape)}, num_classes={self.num_classes})"


def check_dataset(data, name: str = "data") -> MultimodalDataset:
    """``data`` itself when it is a non-empty :class:`MultimodalDataset`; else an error naming what was expected."""
    if not isinstance(data, MultimodalDataset):
        raise TypeError(f"{name} must be a course_utils.data.MultimodalDataset, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} is empty")
    return data


def check_int(name: str, value, minimum: int) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is an int (not a bool) >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_float(name: str, value, minimum: float, maximum: float = float("inf")) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is a finite number (not a bool) in
    ``[minimum, maximum]``."""
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
            or not minimum <= value <= maximum):
        bounds = f">= {minimum}" if maximum == float("inf") else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be a finite number {bounds}, got {value!r}")
