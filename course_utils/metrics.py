"""Classification metrics on logits or predicted labels."""
from __future__ import annotations

import torch


def _predictions(outputs: torch.Tensor) -> torch.Tensor:
    return outputs.argmax(dim=1) if outputs.dim() == 2 else outputs


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction correct; ``outputs`` are logits ``(N, C)`` or predicted labels ``(N,)``."""
    preds = _predictions(outputs)
    if preds.shape != labels.shape:
        raise ValueError(f"predictions {tuple(preds.shape)} and labels {tuple(labels.shape)} differ in shape")
    return (preds == labels).float().mean().item()


def confusion_matrix(outputs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(C, C)`` counts: row = true class, column = predicted class."""
    preds = _predictions(outputs).long().cpu()
    labels = labels.long().cpu()
    flat = labels * num_classes + preds
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(outputs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(C,)`` recall per class (NaN for a class with no samples)."""
    cm = confusion_matrix(outputs, labels, num_classes).float()
    return cm.diag() / cm.sum(dim=1)
