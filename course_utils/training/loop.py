"""Training and evaluation for any ``model(*modalities) -> logits``.

The whole dataset lives on the device and mini-batches are taken by index: for in-memory
tensors a ``DataLoader`` only adds per-sample Python work. Metrics are summed on the device and
read once per epoch, so there is no host synchronisation per step. On CUDA:

- the forward pass runs in mixed precision (bf16 where supported, otherwise fp16 with loss scaling);
- AdamW's fused kernel also consumes the fp16 loss scaler's inf check on the device (an unfused
  optimizer would make ``GradScaler.step`` read it back every step);
- 4-D inputs (images) and the model use the channels-last memory format, which is what the
  tensor-core convolution kernels want;
- cuDNN autotuning is switched on for the duration of ``fit`` (and restored afterwards).

``fit(..., compile=True)`` wraps the model in ``torch.compile``; if compiling fails (no compiler, an
unsupported platform or operation) it warns once and trains eagerly. On the CPU nothing of the above
changes the computation: ``fit`` is a plain AdamW loop, equal to a hand-written one step for step (AdamW runs
as its fused kernel on the CPU too, :func:`adamw`: the same update within float rounding).
"""
from __future__ import annotations

import contextlib
import inspect
import os
import sys
import time
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..data.dataset import MultimodalDataset, check_dataset
from ..environment import get_device, quiet


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
    #: seconds spent in the training steps of each epoch (``epoch_time`` minus validation)
    train_time: list = field(default_factory=list)
    #: training samples per second, per epoch (``len(train) / train_time``)
    throughput: list = field(default_factory=list)
    num_parameters: int = 0
    device: str = "cpu"
    peak_memory_mb: float = 0.0
    #: what ``peak_memory_mb`` measures: CUDA allocator peak during ``fit``, or the CPU process's peak RSS
    memory_kind: str = ""
    #: how the steps ran: "float32", "bfloat16" or "float16 + loss scaling"
    precision: str = "float32"
    channels_last: bool = False
    #: True when the training step ran through ``torch.compile`` (False after a fallback to eager)
    compiled: bool = False
    #: how many seeds trained together in one batched run (``fit_seeds``); its times and CUDA memory are
    #: the batched run's divided by this number. 1 for ``fit``.
    seeds_together: int = 1

    @property
    def total_time(self) -> float:
        return float(sum(self.epoch_time))

    @property
    def samples_per_second(self) -> float:
        """Training samples per second over the whole run, validation excluded."""
        seconds = float(sum(self.train_time))
        return self._samples / seconds if seconds else 0.0

    _samples: int = 0

    def final(self) -> dict:
        """The last epoch's numbers plus the run's totals, as one flat dict (for tables)."""
        last = lambda xs: xs[-1] if xs else float("nan")  # noqa: E731
        return {
            "train_loss": last(self.train_loss), "train_acc": last(self.train_acc),
            "val_loss": last(self.val_loss), "val_acc": last(self.val_acc),
            "params": self.num_parameters, "time_per_epoch_s": self.total_time / max(len(self.epoch_time), 1),
            "total_time_s": self.total_time, "peak_memory_mb": self.peak_memory_mb,
            "samples_per_s": self.samples_per_second,
        }


def check_training_arguments(epochs, batch_size, lr) -> None:
    """A ``ValueError`` naming the argument unless epochs and batch_size are positive ints and lr > 0."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")


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


def training_logits(outputs, batch: int, num_classes: int, custom_loss: bool) -> torch.Tensor:
    """The logits in what a model returns in training mode: the output itself, or, when ``fit`` was given a
    ``loss``, the first element of a tuple ``(logits, *more)`` (e.g. fused logits, then auxiliary heads')."""
    if custom_loss and isinstance(outputs, (tuple, list)) and outputs:
        outputs = outputs[0]
    return _check_logits(outputs, batch, num_classes)


def check_loss_value(value) -> torch.Tensor:
    """``value`` when it is a scalar float tensor (a custom ``loss``'s result); else a clear error."""
    if not isinstance(value, torch.Tensor) or value.dim() != 0 or not value.is_floating_point():
        got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise TypeError("loss(outputs, labels) must return one number, a 0-dimensional float tensor "
                        f"(the mean over the batch), got {got}")
    return value


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast(device.type, enabled=False)


class EagerAdamW(torch.optim.AdamW):
    """``torch.optim.AdamW`` that does not import the compiler stack (``torch._dynamo``) to take a step.

    Every ``torch.optim`` optimizer imports ``torch._dynamo`` in its first ``add_param_group``, ``zero_grad``
    and ``step``, only so that ``torch.compile`` can trace around them: 2.4 s of one CPU core per process
    (BENCHMARKS.md, section 3), longer than training most of the course's models. Outside ``torch.compile``
    those wrappers do nothing but switch gradients off for the step, so this class calls the methods they wrap
    (``inspect.unwrap``), the step under ``torch.no_grad()``: the update is AdamW's, bit for bit.
    """

    add_param_group = inspect.unwrap(torch.optim.Optimizer.add_param_group)
    zero_grad = inspect.unwrap(torch.optim.Optimizer.zero_grad)
    _adamw_step = inspect.unwrap(torch.optim.AdamW.step)     # unwrapped once, not at every step

    @torch.no_grad()
    def step(self, closure=None):
        return self._adamw_step(closure)


def adamw(params, *, lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW with its fused kernel where the parameters allow it (floating point, on the CPU or CUDA).

    The update is AdamW's, equal to the per-parameter loop within float rounding, done in a few kernels instead
    of about ten small operations per parameter tensor: on the course's tiny models 10-30 % of a CPU
    training step (BENCHMARKS.md, section 5). On CUDA it also takes the fp16 loss scaler's inf check on the device.
    It is an :class:`EagerAdamW`, which skips the 2.4 s import of ``torch._dynamo``.
    """
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return EagerAdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def _precision(device: torch.device, amp: bool) -> str:
    if amp and device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16 + loss scaling"
    return "float32"


def _use_channels_last(channels_last: bool | None, device: torch.device, *datasets) -> bool:
    has_images = any(m.dim() == 4 for d in datasets if d is not None for m in d.modalities)
    if channels_last is None:
        return has_images and device.type == "cuda"
    return bool(channels_last) and has_images


def _to_channels_last(data: MultimodalDataset | None) -> MultimodalDataset | None:
    if data is None:
        return None
    mods = tuple(m.contiguous(memory_format=torch.channels_last) if m.dim() == 4 else m
                 for m in data.modalities)
    return MultimodalDataset(mods, data.labels, data.names, data.num_classes)


_COMPILE_WARNED = False


def _warn_compile_failed(error: BaseException) -> None:
    global _COMPILE_WARNED
    if not _COMPILE_WARNED:
        _COMPILE_WARNED = True
        warnings.warn(f"torch.compile failed ({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}); "
                      "training without compiling (eager mode). This warning is shown once.",
                      RuntimeWarning, stacklevel=3)


class _CompiledOrEager:
    """Calls ``torch.compile(model)``; on the first failure warns once and calls ``model`` from then on.

    Compilation happens lazily at the first call (and again for a new input shape), so errors come
    from the call, not from ``torch.compile`` itself: both places are covered.
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        try:
            self.compiled = torch.compile(model)
        except Exception as error:  # noqa: BLE001 - any failure means "run eagerly"
            _warn_compile_failed(error)
            self.compiled = None

    @property
    def active(self) -> bool:
        return self.compiled is not None

    def __call__(self, *inputs):
        if self.compiled is None:
            return self.model(*inputs)
        try:
            return self.compiled(*inputs)
        except Exception as error:  # noqa: BLE001
            self.compiled = None
            out = self.model(*inputs)  # a bug in the model itself raises here, with its own message
            _warn_compile_failed(error)
            return out


@contextlib.contextmanager
def _cudnn_benchmark(device: torch.device):
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _progress(iterable, enabled: bool, desc: str | None):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc or "training", unit="epoch", leave=False, delay=2.0)


def _cpu_peak_rss_mb() -> float:
    """The process's peak resident set size in MiB (NaN where the OS does not report it, e.g. Windows)."""
    try:
        import resource  # POSIX only
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: MultimodalDataset, *, batch_size: int = 4096,
             device: torch.device | str | None = None, amp: bool = True) -> dict:
    """Loss, accuracy and logits of ``model`` on ``data``.

    Returns ``{"loss": float, "accuracy": float, "logits": (N, num_classes) tensor on the CPU}``.
    """
    data = check_dataset(data, "data")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    return _evaluate(model, model, data.to(device), batch_size, device, amp)


def _evaluate(model, forward, data, batch_size, device, amp, keep_logits: bool = True) -> dict:
    """:func:`evaluate` with the call ``forward`` (the model, or its compiled version)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    outputs = []
    for start in range(0, len(data), batch_size):
        inputs = [m[start:start + batch_size] for m in data.modalities]
        y = data.labels[start:start + batch_size]
        with _autocast(device, amp):
            logits = _check_logits(forward(*inputs), len(y), data.num_classes)
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        if keep_logits:
            outputs.append(logits)
    model.train(was_training)
    n = len(data)
    result = {"loss": loss_sum.item() / n, "accuracy": correct.item() / n}
    if keep_logits:
        result["logits"] = torch.cat(outputs).cpu()
    return result


def fit(model: torch.nn.Module, train: MultimodalDataset, val: MultimodalDataset | None = None, *,
        epochs: int = 20, lr: float = 3e-3, batch_size: int = 128, weight_decay: float = 0.0,
        device: torch.device | str | None = None, seed: int | None = 0, amp: bool = True,
        batch_transform=None, progress: bool | None = None, desc: str | None = None,
        channels_last: bool | None = None, compile: bool = False, loss=None) -> History:
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
        channels_last: store 4-D inputs and the model in the channels-last memory format. ``None``
            (default): on CUDA when some modality is 4-D, never on the CPU. Changes speed, not results.
        compile: run the model through ``torch.compile``; on failure warn once and run eagerly.
        loss: optional ``loss(outputs, labels) -> scalar`` used for training instead of
            ``F.cross_entropy(logits, labels)``; ``outputs`` is what the model returns in training mode,
            its logits or a tuple ``(logits, *more)`` such as auxiliary heads' logits (notebook 11). The
            logits (the first element) give the training accuracy; validation and :func:`evaluate` run the
            model in eval mode, where it must return the logits alone, and score them with cross-entropy.
    Returns:
        :class:`History` with per-epoch losses, accuracies, times and training throughput
        (samples/s), parameter count, peak memory and how the steps ran (precision, channels-last,
        compiled).

    Several seeds: ``course_utils.training.fit_seeds(make_model, train, val, seeds=[0, 1, 2], ...)`` trains
    what ``seed_everything(s); model = make_model(); fit(model, train_s, val_s, seed=s, ...)`` trains for
    each seed, all seeds in one batched step (same initial weights, same batches, same AdamW update, up to
    float rounding), and returns one model and one ``History`` per seed. This function is the loop it
    reproduces; a model it cannot batch is trained here, seed after seed, with a printed notice.
    """
    train = check_dataset(train, "train")
    if val is not None:
        val = check_dataset(val, "val")
    check_training_arguments(epochs, batch_size, lr)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if count_parameters(model) == 0:
        raise ValueError("the model has no trainable parameters: did __init__ create its layers?")

    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    train, val = train.to(device), (val.to(device) if val is not None else None)
    use_cl = _use_channels_last(channels_last, device, train, val)
    if use_cl:
        model.to(memory_format=torch.channels_last)
        train, val = _to_channels_last(train), _to_channels_last(val)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, ()).item()))
    optimizer = adamw(model.parameters(), lr=lr, weight_decay=weight_decay)
    precision = _precision(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.startswith("float16"))
    step_model = _CompiledOrEager(model) if compile else model
    history = History(num_parameters=count_parameters(model), device=str(device), precision=precision,
                      channels_last=use_cl)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    n = len(train)

    show = (not quiet()) if progress is None else progress
    with _cudnn_benchmark(device):
        _train_epochs(model, step_model, train, val, optimizer, scaler, generator, history,
                      epochs=epochs, batch_size=batch_size, device=device, amp=amp,
                      batch_transform=batch_transform, loss=loss,
                      epochs_iter=_progress(range(epochs), show, desc))
    history.compiled = bool(compile) and step_model.active
    history._samples = n * epochs
    if device.type == "cuda":
        history.peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2**20
        history.memory_kind = "CUDA allocator peak during fit"
    else:
        history.peak_memory_mb = _cpu_peak_rss_mb()
        history.memory_kind = "CPU process peak RSS (whole process, not this run alone)"
    model.eval()
    return history


def _train_epochs(model, step_model, train, val, optimizer, scaler, generator, history, *,
                  epochs, batch_size, device, amp, batch_transform, epochs_iter, loss=None) -> None:
    """The epoch loop of :func:`fit`: no host synchronisation inside an epoch."""
    n = len(train)
    for _ in epochs_iter:
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
                outputs = step_model(*inputs)
                logits = training_logits(outputs, len(idx), train.num_classes, loss is not None)
                value = F.cross_entropy(logits.float(), y) if loss is None else check_loss_value(loss(outputs, y))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(value).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += value.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
        # the first host read-back of the epoch: it waits for every queued step, so the clock is right
        history.train_loss.append(loss_sum.item() / n)
        history.train_acc.append(correct.item() / n)
        seconds = time.perf_counter() - start
        history.train_time.append(seconds)
        history.throughput.append(n / seconds if seconds > 0 else float("inf"))
        if val is not None:
            result = _evaluate(model, step_model, val, 4096, device, amp, keep_logits=False)
            history.val_loss.append(result["loss"])
            history.val_acc.append(result["accuracy"])
        history.epoch_time.append(time.perf_counter() - start)

