"""Training and evaluation for any ``model(*modalities) -> logits``.

The whole dataset lives on the device and mini-batches are taken by index: for in-memory
tensors a ``DataLoader`` only adds per-sample Python work. Metrics are summed on the device and
read once per epoch, so there is no host synchronisation per step. On CUDA the forward pass runs in
mixed precision (bf16 where supported, otherwise fp16 with loss scaling).
"""
from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .data.dataset import MultimodalDataset
from .environment import get_device


def quiet() -> bool:
    """True under tests, grading and CI, where progress bars would only clutter logs."""
    return bool(os.environ.get("COURSE_QUIET") or os.environ.get("CI"))


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch where it is a list."""

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    num_parameters: int = 0
    device: str = "cpu"
    peak_memory_mb: float = 0.0
    #: what ``peak_memory_mb`` measures: CUDA allocator peak during ``fit``, or the CPU process's peak RSS
    memory_kind: str = ""

    @property
    def total_time(self) -> float:
        return float(sum(self.epoch_time))

    @property
    def samples_per_second(self) -> float:
        return self._samples / self.total_time if self.total_time else 0.0

    _samples: int = 0

    def final(self) -> dict:
        """The last epoch's numbers plus the run's totals, as one flat dict (for tables)."""
        last = lambda xs: xs[-1] if xs else float("nan")  # noqa: E731
        return {
            "train_loss": last(self.train_loss), "train_acc": last(self.train_acc),
            "val_loss": last(self.val_loss), "val_acc": last(self.val_acc),
            "params": self.num_parameters, "time_per_epoch_s": self.total_time / max(len(self.epoch_time), 1),
            "total_time_s": self.total_time, "peak_memory_mb": self.peak_memory_mb,
        }


def _check_dataset(data, name: str) -> MultimodalDataset:
    if not isinstance(data, MultimodalDataset):
        raise TypeError(f"{name} must be a course_utils.data.MultimodalDataset, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} is empty")
    return data


def _check_logits(logits, batch: int, num_classes: int) -> torch.Tensor:
    if logits is None:
        raise TypeError("the model returned None; forward must return logits of shape "
                        f"(batch, num_classes) = ({batch}, {num_classes}). Did you forget `return`?")
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"the model must return a tensor of logits, got {type(logits).__name__}")
    if tuple(logits.shape) != (batch, num_classes):
        raise ValueError(f"the model must return logits of shape (batch, num_classes) = "
                         f"({batch}, {num_classes}), got {tuple(logits.shape)}")
    return logits


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast(device.type, enabled=False)


def _progress(iterable, enabled: bool, desc: str | None):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc or "training", unit="epoch", leave=False, delay=2.0)


def _cpu_peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: MultimodalDataset, *, batch_size: int = 4096,
             device: torch.device | str | None = None, amp: bool = True) -> dict:
    """Loss, accuracy and logits of ``model`` on ``data``.

    Returns ``{"loss": float, "accuracy": float, "logits": (N, num_classes) tensor on the CPU}``.
    """
    data = _check_dataset(data, "data")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    data = data.to(device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    outputs = []
    for start in range(0, len(data), batch_size):
        inputs = [m[start:start + batch_size] for m in data.modalities]
        y = data.labels[start:start + batch_size]
        with _autocast(device, amp):
            logits = _check_logits(model(*inputs), len(y), data.num_classes)
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        outputs.append(logits)
    model.train(was_training)
    n = len(data)
    return {"loss": loss_sum.item() / n, "accuracy": correct.item() / n,
            "logits": torch.cat(outputs).cpu()}


def fit(model: torch.nn.Module, train: MultimodalDataset, val: MultimodalDataset | None = None, *,
        epochs: int = 20, lr: float = 3e-3, batch_size: int = 128, weight_decay: float = 0.0,
        device: torch.device | str | None = None, seed: int | None = 0, amp: bool = True,
        batch_transform=None, progress: bool | None = None, desc: str | None = None) -> History:
    """Train ``model`` with Adam(W) and cross-entropy; evaluate on ``val`` after every epoch.

    Args:
        model: any module called as ``model(*modalities)`` returning logits ``(B, num_classes)``.
        train, val: :class:`MultimodalDataset`; moved to ``device`` once.
        epochs, lr, batch_size, weight_decay: the recipe.
        device: defaults to :func:`course_utils.get_device`.
        seed: seeds the batch order (``None`` leaves the global generator alone).
        amp: mixed precision on CUDA (ignored on CPU).
        batch_transform: optional ``f(list_of_modality_batches, labels) -> list_of_modality_batches``
            applied to training batches only (e.g. modality dropout in notebook 08).
        progress: a tqdm progress bar over epochs; by default on, except under tests and CI.
    Returns:
        :class:`History` with per-epoch losses, accuracies and times, parameter count and peak memory.
    """
    train = _check_dataset(train, "train")
    if val is not None:
        val = _check_dataset(val, "val")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if count_parameters(model) == 0:
        raise ValueError("the model has no trainable parameters: did __init__ create its layers?")

    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    train, val = train.to(device), (val.to(device) if val is not None else None)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, ()).item()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    use_scaler = amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    history = History(num_parameters=count_parameters(model), device=str(device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    n = len(train)

    show = (not quiet()) if progress is None else progress
    for _ in _progress(range(epochs), show, desc):
        start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        order = torch.randperm(n, device=device, generator=generator)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            inputs = [m[idx] for m in train.modalities]
            y = train.labels[idx]
            if batch_transform is not None:
                inputs = list(batch_transform(inputs, y))
            with _autocast(device, amp):
                logits = _check_logits(model(*inputs), len(idx), train.num_classes)
                loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
        history.train_loss.append(loss_sum.item() / n)
        history.train_acc.append(correct.item() / n)
        if val is not None:
            result = evaluate(model, val, device=device, amp=amp)
            history.val_loss.append(result["loss"])
            history.val_acc.append(result["accuracy"])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        history.epoch_time.append(time.perf_counter() - start)
    history._samples = n * epochs
    if device.type == "cuda":
        history.peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2**20
        history.memory_kind = "CUDA allocator peak during fit"
    else:
        history.peak_memory_mb = _cpu_peak_rss_mb()
        history.memory_kind = "CPU process peak RSS (whole process, not this run alone)"
    model.eval()
    return history
