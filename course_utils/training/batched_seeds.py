"""Train the same architecture for several seeds at once: one batched step instead of one per seed.

The course's models are tiny, so a training step costs PyTorch's per-operation overhead, not arithmetic.
Training three seeds one after the other pays that overhead three times for the same arithmetic.
:func:`fit_seeds` pays it once: it stacks the seeds' parameters along a new leading dimension and maps the
model over that dimension with ``torch.func.vmap``:

.. math::  \\theta = [\\theta_{s_1}, \\dots, \\theta_{s_S}] \\quad (S, \\dots), \\qquad
           L(\\theta) = \\sum_s \\mathrm{CE}(f(x_s; \\theta_s), y_s)

Each seed's loss depends only on its own slice ``theta_s``, so ``dL/dtheta_s`` is that seed's gradient
alone, and AdamW (an elementwise update) on the stacked tensors is AdamW on each seed. Each seed starts
from the weights ``seed_everything(s); make_model()`` gives and sees the batches ``fit(..., seed=s)`` would
draw, so the result is what ``fit`` gives seed by seed, up to float rounding (and dropout masks, which
the batched map draws itself). ``fit`` stays the one readable training loop; this is how the notebooks
run their multi-seed experiments faster. A model that cannot be mapped (``vmap`` raises, e.g. its
forward calls ``.item()``) is trained with plain ``fit`` per seed, with a printed notice.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from ..data.dataset import MultimodalDataset, check_dataset
from ..environment import get_device, quiet, seed_everything
from .folding import Folded, check_folded, foldable
from .loop import (History, _autocast, _check_logits, _cpu_peak_rss_mb, _precision, _progress, adamw,
                   check_loss_value, check_training_arguments, count_parameters, evaluate, fit, training_logits)


@dataclass
class SeedRuns:
    """What :func:`fit_seeds` returns: one trained model and one :class:`History` per seed, in order.

    ``batched`` says whether the seeds trained together (False after a fallback to plain ``fit``).
    Iterating yields ``(seed, model, history)``.
    """

    seeds: list
    models: list
    histories: list
    batched: bool = True
    #: why the batched path was not used (empty when it was)
    fallback_reason: str = ""
    _val: list = field(default_factory=list, repr=False)

    def __iter__(self):
        return iter(zip(self.seeds, self.models, self.histories))

    def __len__(self) -> int:
        return len(self.seeds)

    def evaluate(self, data=None, **kwargs) -> list:
        """:func:`evaluate_seeds` of these models on ``data`` (default: each seed's validation set)."""
        data = data if data is not None else self._val
        if not data:
            raise ValueError("no data: pass a dataset (or one per seed); fit_seeds was given no val")
        return evaluate_seeds(self.models, data, **kwargs)


def _per_seed(data, seeds, name: str, required: bool = True) -> list:
    """``data`` (one dataset for every seed, or a list with one per seed) as a list of ``len(seeds)``."""
    if data is None:
        if required:
            raise TypeError(f"{name} is required")
        return []
    if isinstance(data, MultimodalDataset):
        return [check_dataset(data, name)] * len(seeds)
    data = list(data)
    if len(data) != len(seeds):
        raise ValueError(f"{name} must be one MultimodalDataset or one per seed ({len(seeds)}); got {len(data)}")
    return [check_dataset(d, f"{name}[{i}]") for i, d in enumerate(data)]


def _same_layout(datasets) -> bool:
    """True when the datasets can be stacked: equal sizes, modality shapes, dtypes and class counts."""
    first = datasets[0]
    return all(len(d) == len(first) and d.num_classes == first.num_classes
               and [(m.shape, m.dtype) for m in d.modalities] == [(m.shape, m.dtype) for m in first.modalities]
               for d in datasets)


class _StackedData:
    """Per-seed datasets as stacked tensors: modalities ``(S, N, ...)``, labels ``(S, N)``.

    When every seed shares one dataset it is stored once and indexed with each seed's indices.
    """

    def __init__(self, datasets, device):
        self.shared = all(d is datasets[0] for d in datasets)
        self.num_seeds, self.n, self.num_classes = len(datasets), len(datasets[0]), datasets[0].num_classes
        if self.shared:
            d = datasets[0].to(device)
            self.modalities, self.labels = d.modalities, d.labels
        else:
            self.modalities = tuple(torch.stack([d.modalities[k].to(device) for d in datasets])
                                    for k in range(len(datasets[0].modalities)))
            self.labels = torch.stack([d.labels.to(device) for d in datasets])
        self.rows = torch.arange(self.num_seeds, device=device)[:, None]

    def take(self, idx: torch.Tensor):
        """``idx (S, B)`` -> modalities ``[(S, B, ...)]`` and labels ``(S, B)``."""
        if self.shared:
            return [m[idx] for m in self.modalities], self.labels[idx]
        return [m[self.rows, idx] for m in self.modalities], self.labels[self.rows, idx]


def _rng_state(device: torch.device):
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set_rng_state(state, device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


def _per_seed_transform(batch_transform, inputs, labels, rng_states, device):
    """Apply ``batch_transform`` to each seed's batch outside the batched map, each with its own RNG stream.

    Seed ``s``'s masks come from the global generator in the state it had after ``seed_everything(s);
    make_model()`` (then advanced by its own earlier draws), i.e. what ``fit`` on that seed alone draws
    when the model itself draws nothing random (no dropout).
    """
    outs = []
    for s in range(len(rng_states)):
        _set_rng_state(rng_states[s], device)
        outs.append(list(batch_transform([m[s] for m in inputs], labels[s])))
        rng_states[s] = _rng_state(device)
    return [torch.stack([o[k] for o in outs]) for k in range(len(outs[0]))]


def _tensor_attributes(module: torch.nn.Module, skip=()) -> dict:
    """``(submodule name, attribute) -> id`` of plain tensor attributes (not parameters or buffers), except
    the ``(submodule, attribute)`` pairs in ``skip``."""
    skip = {(id(m), a) for m, a, *_ in skip}
    return {(name, key): id(value) for name, sub in module.named_modules() for key, value in vars(sub).items()
            if isinstance(value, torch.Tensor) and (id(sub), key) not in skip}


class _Batched:
    """Stacked parameters of ``models`` and the batched forward ``f(params, buffers, *inputs)``."""

    def __init__(self, models):
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0])    # its own parameters are never used, only its code

        def forward(params, buffers, *inputs):
            return functional_call(self.base, (params, buffers), tuple(inputs))

        self.forward = vmap(forward, randomness="different")

    def logits(self, inputs):
        return self.forward(self.params, self.buffers, *inputs)

    def copy_into(self, models) -> None:
        """Write seed ``s``'s slice of every stacked parameter and buffer into ``models[s]``."""
        with torch.no_grad():
            for s, model in enumerate(models):
                for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
                    stacked = self.params.get(name, self.buffers.get(name))
                    if stacked is not None:
                        tensor.copy_(stacked[s])


def _batched_evaluate(batched: _Batched, data: _StackedData, batch_size: int, device, amp, keep_logits=True):
    """Per-seed ``{"loss", "accuracy"[, "logits"]}`` of the stacked models, one batched forward per chunk."""
    was_training = batched.base.training
    batched.base.eval()
    loss_sum = torch.zeros(data.num_seeds, device=device)
    correct = torch.zeros(data.num_seeds, device=device, dtype=torch.long)
    outputs = []
    with torch.no_grad():
        for start in range(0, data.n, batch_size):
            idx = torch.arange(start, min(start + batch_size, data.n), device=device).expand(data.num_seeds, -1)
            inputs, y = data.take(idx)
            with _autocast(device, amp):
                logits = batched.logits(inputs).float()                                # (S, B, C)
            _check_logits(logits[0], y.shape[1], data.num_classes)
            loss_sum += F.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(1)
            correct += (logits.argmax(2) == y).sum(1)
            if keep_logits:
                outputs.append(logits)
    batched.base.train(was_training)
    losses, accs = (loss_sum / data.n).tolist(), (correct / data.n).tolist()
    logits = torch.cat(outputs, 1).cpu() if keep_logits else None
    return [{"loss": losses[s], "accuracy": accs[s], **({"logits": logits[s]} if keep_logits else {})}
            for s in range(data.num_seeds)]


def evaluate_seeds(models, data, *, batch_size: int = 4096, device=None, amp: bool = True) -> list:
    """:func:`course_utils.training.evaluate` of several models of one architecture in one batched pass.

    ``data`` is one dataset for every model or a list with one per model. Returns one
    ``{"loss", "accuracy", "logits" (N, num_classes)}`` dict per model, in order. The models run folded into
    one batch (as :func:`fit_seeds` trains them) where that agrees with each model on the first samples, else
    through ``vmap``; models that cannot be stacked (different architectures or data layouts, or ``vmap``
    fails) are evaluated one by one.
    """
    models = list(models)
    datasets = _per_seed(data, models, "data")
    device = torch.device(device) if device is not None else next(models[0].parameters()).device
    try:
        if not _same_layout(datasets):
            raise ValueError("the data sets differ in size or shape")
        stacked = _StackedData(datasets, device)
        models = [m.to(device) for m in models]
        return _batched_evaluate(_evaluation_engine(models, stacked), stacked, batch_size, device, amp)
    except Exception:  # noqa: BLE001 - anything that stops batching means "evaluate one by one"
        return [evaluate(m, d, batch_size=batch_size, device=device, amp=amp) for m, d in zip(models, datasets)]


def _evaluation_engine(models, data: _StackedData):
    """The folded engine when it computes what each model computes on the first 64 samples, else ``vmap``."""
    try:
        return _folded_engine(models, data, 64, data.rows.device)
    except _NotBatchable:
        return _Batched(models)


def fit_seeds(make_model, train, val=None, *, seeds=(0, 1, 2), epochs: int = 20, lr: float = 3e-3,
              batch_size: int = 128, weight_decay: float = 0.0, device=None, amp: bool = True,
              batch_transform=None, progress: bool | None = None, desc: str | None = None,
              batched: bool = True, engine: str = "folded", loss=None) -> SeedRuns:
    """``fit`` one model per seed, all seeds in one batched step; returns :class:`SeedRuns`.

    For each seed ``s`` this trains what ::

        seed_everything(s); model = make_model()
        fit(model, train_s, val_s, seed=s, epochs=..., lr=..., batch_size=..., weight_decay=..., ...)

    trains: the same initial weights, the same batch order, the same AdamW update (up to float rounding;
    dropout masks are drawn by the batched map, so a model with dropout agrees within seed noise only).

    Args:
        make_model: a function with no arguments returning a new model (called once per seed, after
            ``seed_everything(seed)``). Every call must build the same architecture.
        train, val: one :class:`MultimodalDataset` for every seed, or a list with one per seed
            (same sizes and shapes, as the course's ``make_*(n, seed=s)`` give).
        seeds: the seeds, e.g. ``[0, 1, 2]``.
        epochs, lr, batch_size, weight_decay, device, amp, progress, desc: as in :func:`fit`.
        batch_transform: as in :func:`fit`; applied to each seed's batch separately, outside the batched
            map, with that seed's own random stream (so modality-dropout masks differ between seeds).
        loss: as in :func:`fit`, called once per seed on that seed's outputs and labels (the model's
            logits, or its tuple ``(logits, *more)``), so each seed's loss is what ``fit`` computes for it.
        batched: ``False`` trains with plain ``fit`` seed after seed (the reference this is tested against).
        engine: ``"folded"`` (default): the seeds are folded into the batch and each layer with parameters
            applies its seed's slice (:mod:`course_utils.training.folding`; checked against the separate models on
            the first batch before training). ``"vmap"``: ``torch.func.vmap`` of ``functional_call`` over the
            stacked parameters; general, but on the CPU its per-operation overhead is larger than the seeds
            it saves (see BENCHMARKS.md). Where the engine does not apply, plain ``fit`` per seed, with a notice.
    Returns:
        :class:`SeedRuns`: ``.models``, ``.histories`` (one :class:`History` each, as ``fit`` returns),
        ``.evaluate(data)`` (batched :func:`evaluate` per seed) and ``.batched``.

    Time and memory: every step trains all seeds at once, so each seed's ``train_time``/``epoch_time`` is the
    batched time divided by the number of seeds (``History.seeds_together`` says by how many), and
    ``throughput`` is its samples over that share. On CUDA ``peak_memory_mb`` is the batched run's allocator
    peak divided likewise; on the CPU it is the process's peak RSS, as for ``fit``.
    """
    seeds = [int(s) for s in seeds]
    if engine not in ("folded", "vmap"):
        raise ValueError(f"engine must be 'folded' or 'vmap', got {engine!r}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {seeds!r}")
    if not callable(make_model) or isinstance(make_model, torch.nn.Module):
        raise TypeError("make_model must be a function returning a new model, e.g. lambda: MyModel(32, 16), "
                        "so that each seed builds its own")
    trains, vals = _per_seed(train, seeds, "train"), _per_seed(val, seeds, "val", required=False)
    recipe = dict(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, device=device,
                  amp=amp, batch_transform=batch_transform, progress=progress, loss=loss)
    reason = "" if batched else "batched=False"
    if batched and not (_same_layout(trains) and (not vals or _same_layout(vals))):
        reason = "the seeds' data sets differ in size or shape"
    if batched and not reason:
        try:
            return _fit_batched(make_model, trains, vals, seeds, engine=engine, desc=desc, **recipe)
        except _NotBatchable as error:
            reason = str(error)
    if batched:
        print(f"fit_seeds: this model cannot be trained batched ({reason}); "
              f"training the {len(seeds)} seeds one after the other with fit.")
    models, histories = [], []
    for i, seed in enumerate(seeds):
        seed_everything(seed)
        model = make_model()
        label = f"{desc}, seed {seed}" if desc else f"seed {seed}"
        histories.append(fit(model, trains[i], vals[i] if vals else None, seed=seed, desc=label, **recipe))
        models.append(model)
    return SeedRuns(seeds, models, histories, batched=False, fallback_reason=reason, _val=vals)


class _NotBatchable(Exception):
    """The batched map failed on this model; :func:`fit_seeds` falls back to ``fit``."""


def _build_models(make_model, seeds, device):
    """Each seed's model as ``seed_everything(s); make_model()`` builds it, and the RNG state after it."""
    models, rng_states = [], []
    for seed in seeds:
        seed_everything(seed)
        model = make_model()
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"make_model must return a torch.nn.Module, got {type(model).__name__}")
        if count_parameters(model) == 0:
            raise ValueError("the model has no trainable parameters: did __init__ create its layers?")
        models.append(model.to(device))
        rng_states.append(_rng_state(device))
    shapes = [[(n, p.shape) for n, p in m.named_parameters()] for m in models]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("make_model built different architectures for different seeds")
    return models, rng_states


def _folded_engine(models, train, batch_size, device):
    """The seeds folded into the batch (:mod:`course_utils.training.folding`), checked against the separate models on
    the first ``batch_size`` training samples; raises :class:`_NotBatchable` where it does not apply."""
    reason = foldable(models[0])
    if reason:
        raise _NotBatchable(reason)
    try:
        folded = Folded(models)
        idx = torch.arange(min(batch_size, train.n), device=device).expand(len(models), -1)
        reason = check_folded(folded, models, train.take(idx)[0])
    except Exception as error:  # noqa: BLE001 - the model's own bugs are reported by fit, in the fallback
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    if reason:
        raise _NotBatchable(reason)
    return folded


def _fit_batched(make_model, trains, vals, seeds, *, engine, epochs, lr, batch_size, weight_decay, device, amp,
                 batch_transform, progress, desc, loss) -> SeedRuns:
    device = torch.device(device) if device is not None else get_device()
    check_training_arguments(epochs, batch_size, lr)
    models, rng_states = _build_models(make_model, seeds, device)
    train, val = _StackedData(trains, device), (_StackedData(vals, device) if vals else None)
    batched = _Batched(models) if engine == "vmap" else _folded_engine(models, train, batch_size, device)
    direct = getattr(batched, "direct", ())
    stored_before = _tensor_attributes(batched.base, direct)
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    optimizer = adamw(batched.params.values(), lr=lr, weight_decay=weight_decay)
    precision = _precision(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.startswith("float16"))
    num_seeds = len(seeds)
    histories = [History(num_parameters=count_parameters(models[0]), device=str(device), precision=precision,
                         seeds_together=num_seeds) for _ in seeds]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    show = (not quiet()) if progress is None else progress
    state = dict(rng_states=rng_states, first_step=True)
    for _ in _progress(range(epochs), show, desc):
        _train_epoch(batched, train, val, generators, optimizer, scaler, histories, state,
                     batch_size=batch_size, device=device, amp=amp, batch_transform=batch_transform, loss=loss)
    if batch_transform is not None:     # the global generator ends where the last seed's fit would leave it
        _set_rng_state(state["rng_states"][-1], device)
    batched.copy_into(models)
    for model, history in zip(models, histories):
        history._samples = train.n * epochs
        model.eval()
        if device.type == "cuda":
            history.peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2**20 / num_seeds
            history.memory_kind = f"CUDA allocator peak of {num_seeds} seeds trained together, divided by {num_seeds}"
        else:
            history.peak_memory_mb = _cpu_peak_rss_mb()
            history.memory_kind = "CPU process peak RSS (whole process, not this run alone)"
    if _tensor_attributes(batched.base, direct) != stored_before and vals:
        _leave_state_like_fit(models, vals)
    return SeedRuns(seeds, models, histories, batched=True, _val=vals)


def _leave_state_like_fit(models, vals) -> None:
    """A model that stores tensors in forward (``last_attn_weights``) holds, after ``fit``, those of its last
    validation chunk: run each seed's model on that chunk once so it holds its own, not the batched map's."""
    with torch.no_grad():
        for model, data in zip(models, vals):
            start = (len(data) - 1) // 4096 * 4096
            model(*[m[start:].to(next(model.parameters()).device) for m in data.modalities])


def _seed_slice(outputs, s: int):
    """Seed ``s``'s part of a batched training output: a tensor ``(S, B, ...)`` or a tuple of them."""
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(o[s] for o in outputs)
    return outputs[s]


def _train_epoch(batched, train, val, generators, optimizer, scaler, histories, state, *, batch_size, device,
                 amp, batch_transform, loss=None) -> None:
    """One epoch for every seed: per step one batched forward, one backward, one AdamW update."""
    start = time.perf_counter()
    batched.base.train()
    num_seeds, n = len(generators), train.n
    loss_sum = torch.zeros(num_seeds, device=device)
    correct = torch.zeros(num_seeds, device=device, dtype=torch.long)
    orders = torch.stack([torch.randperm(n, device=device, generator=g) for g in generators])   # (S, N)
    for i in range(0, n, batch_size):
        inputs, y = train.take(orders[:, i:i + batch_size])                                      # (S, B, ...)
        if batch_transform is not None:
            inputs = _per_seed_transform(batch_transform, inputs, y, state["rng_states"], device)
        try:
            with _autocast(device, amp):
                outputs = batched.logits(inputs)                              # (S, B, C), or a tuple of (S, B, ...)
                logits = outputs[0] if loss is not None and isinstance(outputs, (tuple, list)) else outputs
                if loss is None:
                    losses = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none").mean(1)  # (S,)
                else:
                    losses = torch.stack([check_loss_value(loss(_seed_slice(outputs, s), y[s]))
                                          for s in range(num_seeds)])
            if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
                raise _NotBatchable("the model's training output is not logits or a tuple (logits, ...)")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses.sum()).backward()
        except Exception as error:  # noqa: BLE001
            if not state["first_step"]:
                raise
            # the learner's own bug (wrong shape, missing return) is reported by fit with its usual message
            raise _NotBatchable(f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}")
        if state["first_step"]:
            state["first_step"] = False
            training_logits(_seed_slice(outputs, 0), y.shape[1], train.num_classes, loss is not None)
        scaler.step(optimizer)
        scaler.update()
        loss_sum += losses.detach() * y.shape[1]
        correct += (logits.detach().argmax(2) == y).sum(1)
    train_loss, train_acc = (loss_sum / n).tolist(), (correct / n).tolist()   # waits for every queued step
    seconds = (time.perf_counter() - start) / num_seeds
    results = _batched_evaluate(batched, val, 4096, device, amp, keep_logits=False) if val is not None else None
    epoch_seconds = (time.perf_counter() - start) / num_seeds
    for s, history in enumerate(histories):
        history.train_loss.append(train_loss[s])
        history.train_acc.append(train_acc[s])
        history.train_time.append(seconds)
        history.throughput.append(n / seconds if seconds > 0 else float("inf"))
        if results is not None:
            history.val_loss.append(results[s]["loss"])
            history.val_acc.append(results[s]["accuracy"])
        history.epoch_time.append(epoch_seconds)
