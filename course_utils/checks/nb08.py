"""Checks for notebook 08 (robustness): modality dropout (ModDrop) as a training ``batch_transform``.

The check calls the learner's transform many times on batches whose rows are all distinct and non-zero,
finds which (sample, modality) pairs it replaced, and tests the properties of ModDrop on those counts:
a replaced modality holds exactly its fill, a kept one is untouched (no rescaling), a sample never loses
every modality, the rate of samples hit is ``p``, each modality is hit equally often, and nothing happens
in eval mode. Per-sample and per-batch drop decisions both pass (same expected rates).
"""
from __future__ import annotations

import torch
from torch import nn

from ..feedback import exercise

_P = 0.4
_CALLS = 400
_BATCH = 64


def _batch(seed: int, batch: int = _BATCH):
    gen = torch.Generator().manual_seed(seed)
    img = torch.randn(batch, 6, generator=gen) + 3.0          # rows far from 0 and from any fill
    txt = torch.randn(batch, 4, generator=gen) - 3.0
    labels = torch.randint(0, 2, (batch,), generator=gen)
    return img, txt, labels


def _run(check, transform, inputs, labels):
    __tracebackhide__ = True
    out = check.call(transform, list(inputs), labels, what="ModalityDropout.forward")
    if not isinstance(out, (list, tuple)) or len(out) != len(inputs):
        check.fail(f"the transform must return a list with one tensor per modality ({len(inputs)}), "
                   f"got {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (list, tuple)) else ""))
    for k, (o, x) in enumerate(zip(out, inputs)):
        if not isinstance(o, torch.Tensor) or o.shape != x.shape:
            got = tuple(o.shape) if isinstance(o, torch.Tensor) else type(o).__name__
            check.fail(f"modality {k} must keep its shape {tuple(x.shape)}, got {got}")
    return out


def _analyse(check, out, inputs, fills):
    """Per (sample, modality): replaced by the fill?  Fails on rows that changed in any other way."""
    __tracebackhide__ = True
    dropped = []
    for k, (o, x, f) in enumerate(zip(out, inputs, fills)):
        changed = (o != x).flatten(1).any(1)
        is_fill = (o == f).flatten(1).all(1)
        bad = changed & ~is_fill
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            ratio = o[i] / x[i]
            if torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-4) and abs(float(ratio[0]) - 1) > 1e-4:
                check.fail(f"modality {k} of a sample was multiplied by {float(ratio[0]):.3g}. ModDrop does not "
                           "rescale like nn.Dropout: a kept modality must stay exactly as it was (at test time a "
                           "present modality is not rescaled either), and a dropped one must equal its fill")
            check.fail(f"modality {k} of sample {i} changed but does not equal the fill "
                       f"({'zeros' if not bool(f.any()) else 'the given fill vector'}); a dropped modality must be "
                       "replaced by its fill, a kept one must stay unchanged")
        dropped.append(changed)
    return torch.stack(dropped, 1)       # (B, M) bool


@exercise("08.moddrop", "ModalityDropout")
def check_modality_dropout(check, ModalityDropout):
    transform = check.call(ModalityDropout, what="ModalityDropout.__init__", p=_P)
    check.expect(isinstance(transform, nn.Module), "ModalityDropout is an nn.Module",
                 "ModalityDropout should subclass nn.Module, so that .train() / .eval() switch it on and off")
    img, txt, labels = _batch(0)
    originals = (img.clone(), txt.clone())
    zeros = (torch.zeros(6), torch.zeros(4))
    torch.manual_seed(0)
    out = _run(check, transform, (img, txt), labels)
    check.expect(torch.equal(img, originals[0]) and torch.equal(txt, originals[1]),
                 "the input tensors are not modified in place",
                 "the transform changed the tensors it was given (in place); build new tensors "
                 "(torch.where, or .clone() first) so the caller's data stays intact")
    _analyse(check, out, (img, txt), zeros)

    # rates over many calls (seeded, so the check is deterministic)
    torch.manual_seed(1)
    masks = []
    for call in range(_CALLS):
        img, txt, labels = _batch(call + 1)
        masks.append(_analyse(check, _run(check, transform, (img, txt), labels), (img, txt), zeros))
    dropped = torch.cat(masks).float()                     # (CALLS * B, 2)
    both = float((dropped.sum(1) == 2).float().mean())
    check.expect(both == 0.0, "no sample ever loses both modalities",
                 f"{both:.1%} of the samples lost both modalities at once; drop at most ONE modality per sample "
                 "(choose which one, then replace only that one): a sample with nothing left teaches nothing")
    hit = float((dropped.sum(1) > 0).float().mean())
    per_modality = dropped.mean(0).tolist()
    check.expect(hit < 0.95, "not every sample is hit",
                 f"{hit:.0%} of the samples lost a modality with p = {_P}: the transform drops regardless of p. "
                 "Draw a random number per sample (or per batch) and drop only when it is below p")
    check.expect(abs(hit - _P) < 0.08, f"a modality is dropped in {hit:.1%} of the samples (p = {_P:.0%})",
                 f"with p = {_P} a modality was dropped in {hit:.1%} of the samples; p is the probability that a "
                 "sample loses one of its modalities (not the probability of each modality separately, and not "
                 "the probability of keeping)")
    check.expect(all(abs(r - _P / 2) < 0.06 for r in per_modality),
                 f"each modality is dropped equally often ({per_modality[0]:.1%} and {per_modality[1]:.1%})",
                 f"the image was dropped in {per_modality[0]:.1%} and the text in {per_modality[1]:.1%} of the "
                 f"samples; pick the modality to drop uniformly at random (each about {_P / 2:.0%})")

    # p = 0 keeps everything
    none = check.call(ModalityDropout, what="ModalityDropout.__init__", p=0.0)
    img, txt, labels = _batch(999)
    out = _run(check, none, (img, txt), labels)
    check.expect(torch.equal(out[0], img) and torch.equal(out[1], txt), "p = 0 leaves the batch unchanged",
                 "with p = 0 the batch must come back unchanged")

    # eval mode: no dropping
    strong = check.call(ModalityDropout, what="ModalityDropout.__init__", p=0.9)
    strong.eval()
    out = _run(check, strong, (img, txt), labels)
    check.expect(torch.equal(out[0], img) and torch.equal(out[1], txt), "nothing is dropped in eval mode",
                 "in eval mode (after .eval()) the transform must return the inputs unchanged: dropout is for "
                 "training only. Test `self.training` first")

    # a given fill (e.g. the training mean) is used
    fills = [torch.linspace(-1, 1, 6), torch.full((4,), 0.5)]
    filled = check.call(ModalityDropout, what="ModalityDropout.__init__", p=0.9, fills=fills)
    torch.manual_seed(2)
    mask = _analyse(check, _run(check, filled, (img, txt), labels), (img, txt), fills)
    check.expect(bool(mask.any()), "dropped modalities take the given fill vectors",
                 "with fills given, a dropped modality must equal fills[m] (none was dropped at p = 0.9)")
