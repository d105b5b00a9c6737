"""Several seeds' models as one model on a batch of ``S * B`` samples: the seed is folded into the batch.

A layer with parameters gets the seed from the position of a sample: rows ``s*B ... s*B + B - 1`` belong to
seed ``s``. Every other operation of the model's own code (activations, ``cat``, reshapes that keep the
batch dimension, attention within a sample) is per sample already, so it runs unchanged on ``S * B``
samples. The stacked layers (parameters ``(S, ...)``):

- ``Linear``: $y_s = x_s W_s^\\top + b_s$ as one ``baddbmm`` over ``(S, B*..., in)``;
- ``Conv2d`` and ``BatchNorm``: one call per seed on its own ``B`` samples (so each seed normalises with its
  own batch's statistics); a convolution costs arithmetic, not overhead, so there is little to save;
- ``LayerNorm``: normalise per sample, then each seed's scale and shift.

A parameter the model uses directly (``self.gate``) is repeated for each of its seed's samples,
``(S, *shape) -> (S*B, *shape)``, which is right where it broadcasts per sample (a scalar gate). Whether the
folded model computes what the separate models compute is not assumed: :func:`check_folded` compares the
two on a real batch before training, and the caller falls back when they differ.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)


class FoldedLinear(nn.Module):
    def __init__(self, layer: nn.Linear, owner):
        super().__init__()
        self.owner, self.prefix = [owner], None

    def forward(self, x):
        w, b = self.owner[0].tensor(self.prefix + "weight"), self.owner[0].tensor(self.prefix + "bias")
        s = w.shape[0]
        flat = x.reshape(s, -1, x.shape[-1])                                    # (S, B*..., in)
        out = torch.bmm(flat, w.transpose(1, 2)) if b is None else torch.baddbmm(b[:, None], flat, w.transpose(1, 2))
        return out.reshape(*x.shape[:-1], w.shape[1])


class FoldedConv2d(nn.Module):
    """One convolution per seed on its own samples (a grouped convolution over the seeds measured no faster
    on the CPU: convolutions cost arithmetic, not overhead), then the seeds' outputs back in one batch."""

    def __init__(self, layer: nn.Conv2d, owner):
        super().__init__()
        self.owner, self.prefix, self.layer = [owner], None, [layer]

    def forward(self, x):
        conv = self.layer[0]
        w, b = self.owner[0].tensor(self.prefix + "weight"), self.owner[0].tensor(self.prefix + "bias")
        return torch.cat([conv._conv_forward(x_s, w[s], None if b is None else b[s])
                          for s, x_s in enumerate(x.chunk(w.shape[0]))])


class FoldedBatchNorm(nn.Module):
    """Each seed's batch normalised with its own statistics (and its own running averages, if tracked)."""

    def __init__(self, layer, owner):
        super().__init__()
        self.owner, self.prefix, self.layer = [owner], None, [layer]

    def forward(self, x):
        bn, owner = self.layer[0], self.owner[0]
        w, b = owner.tensor(self.prefix + "weight"), owner.tensor(self.prefix + "bias")
        mean, var = owner.tensor(self.prefix + "running_mean"), owner.tensor(self.prefix + "running_var")
        use_batch = self.training or mean is None
        momentum = bn.momentum if bn.momentum is not None else 0.0
        tracked = owner.tensor(self.prefix + "num_batches_tracked")
        if self.training and bn.track_running_stats and tracked is not None:
            tracked.add_(1)
            if bn.momentum is None:                     # cumulative moving average
                momentum = 1.0 / float(tracked[0])
        pick = lambda t, s: None if t is None else t[s]  # noqa: E731
        return torch.cat([F.batch_norm(x_s, pick(mean, s), pick(var, s), pick(w, s), pick(b, s), use_batch,
                                       momentum, bn.eps) for s, x_s in enumerate(x.chunk(owner.num_seeds))])


class FoldedLayerNorm(nn.Module):
    def __init__(self, layer: nn.LayerNorm, owner):
        super().__init__()
        self.owner, self.prefix, self.layer = [owner], None, [layer]

    def forward(self, x):
        ln, owner = self.layer[0], self.owner[0]
        w, b = owner.tensor(self.prefix + "weight"), owner.tensor(self.prefix + "bias")
        out = F.layer_norm(x, ln.normalized_shape, None, None, ln.eps)
        shape = (owner.num_seeds, -1, *ln.normalized_shape)
        if w is not None:
            out = out.reshape(shape) * w[:, None]
        if b is not None:
            out = out.reshape(shape) + b[:, None]
        return out.reshape(x.shape)


_FOLDED = {nn.Linear: FoldedLinear, nn.Conv2d: FoldedConv2d, nn.BatchNorm1d: FoldedBatchNorm,
           nn.BatchNorm2d: FoldedBatchNorm, nn.LayerNorm: FoldedLayerNorm}


class Folded:
    """The stacked parameters ``{name: (S, ...)}`` of ``models`` and a base model that runs on them."""

    def __init__(self, models):
        self.num_seeds = len(models)
        with torch.no_grad():
            self.params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_()
                           for name, _ in models[0].named_parameters()}
            self.buffers = {name: torch.stack([dict(m.named_buffers())[name] for m in models])
                            for name, _ in models[0].named_buffers()}
        self.base = copy.deepcopy(models[0])
        self.direct = []                      # (module, attribute, stacked name): parameters used directly
        self._swap_layers(self.base, "")
        self._batch = 1

    def _swap_layers(self, module, prefix):
        for name, child in list(module.named_children()):
            full = f"{prefix}{name}."
            if type(child) in _FOLDED:
                folded = _FOLDED[type(child)](child, self)
                folded.prefix = full
                folded.train(child.training)
                setattr(module, name, folded)
            else:
                self._swap_layers(child, full)
        for name in list(module._parameters):
            if module._parameters[name] is not None:
                del module._parameters[name]
                self.direct.append((module, name, prefix + name))
        for name in list(module._buffers):
            if module._buffers[name] is not None:
                raise NotImplementedError(f"a buffer outside the supported layers ({prefix + name})")

    def tensor(self, name):
        return self.params.get(name, self.buffers.get(name))

    def logits(self, inputs):
        """``inputs``: per modality ``(S, B, ...)`` -> logits ``(S, B, C)`` (or a tuple of ``(S, B, ...)``
        tensors when the model returns one, as with ``fit``'s ``loss``)."""
        s, b = inputs[0].shape[:2]
        for module, attribute, name in self.direct:
            setattr(module, attribute, self.params[name].repeat_interleave(b, dim=0))
        out = self.base(*[x.reshape(s * b, *x.shape[2:]) for x in inputs])
        if isinstance(out, (tuple, list)):      # (logits, *more) in training mode (a custom loss in fit)
            if not all(isinstance(o, torch.Tensor) and o.dim() >= 1 and o.shape[0] == s * b for o in out):
                raise ValueError("the folded model did not return (S*B, ...) tensors")
            return type(out)(o.reshape(s, b, *o.shape[1:]) for o in out)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != s * b:
            raise ValueError("the folded model did not return (S*B, C) logits")
        return out.reshape(s, b, -1)

    def copy_into(self, models) -> None:
        with torch.no_grad():
            for s, model in enumerate(models):
                for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
                    tensor.copy_(self.tensor(name)[s])


def foldable(model: nn.Module) -> str:
    """Empty when every parameter and buffer of ``model`` sits in a layer :class:`Folded` supports (or is
    a directly used parameter); otherwise why not."""
    for name, module in model.named_modules():
        if isinstance(module, SUPPORTED):
            if type(module) not in _FOLDED:
                return f"{name}: a subclass of {type(module).__name__}"
            continue
        if any(b is not None for b in module._buffers.values()):
            return f"{name or 'the model'} has buffers outside the supported layers"
    return ""


@torch.no_grad()
def check_folded(folded: Folded, models, inputs, atol: float = 1e-4) -> str:
    """Compare the folded model with each separate model on ``inputs`` (per modality ``(S, B, ...)``), in
    eval mode. Empty when they agree, otherwise what differed."""
    modes = [m.training for m in models]
    base_mode = folded.base.training
    folded.base.eval()
    try:
        together = folded.logits(inputs)
        for s, model in enumerate(models):
            model.eval()
            alone = model(*[x[s] for x in inputs])
            if alone.shape != together[s].shape or not torch.allclose(alone, together[s], atol=atol, rtol=1e-3):
                return f"seed {s}: the folded model's logits differ from the model's own (largest difference " \
                       f"{(alone - together[s]).abs().max().item() if alone.shape == together[s].shape else 'shape'})"
        return ""
    finally:
        folded.base.train(base_mode)
        for model, mode in zip(models, modes):
            model.train(mode)
