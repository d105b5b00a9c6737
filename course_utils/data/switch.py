r"""Data where a per-sample switch decides which modality is reliable (notebook 06).

Each sample has a class $y \in \{0, \dots, C-1\}$ and a switch $s \in \{0, 1\}$:

- $s = 1$: the image is reliable, the text is corrupted;
- $s = 0$: the text is reliable, the image is corrupted.

A reliable modality shows its class prototype plus Gaussian noise; a corrupted one shows the
prototype of an independent random class (a plausible but wrong reading) plus noise plus a fixed
*fault fingerprint* $f$ (think of a stuck pixel pattern, or a caption full of unknown tokens):

$$x_{\text{reliable}} = \mu_y + \sigma\varepsilon, \qquad
  x_{\text{corrupted}} = \mu_{\tilde y} + \sigma\varepsilon + \phi f, \quad \tilde y \sim \mathcal U\{0..C-1\}.$$

The fingerprint is what makes the reliable modality recognisable from the inputs, so a gate that
looks at the inputs can learn to follow the switch. The generator is vectorised and deterministic
for a seed; the prototypes and fingerprints depend on ``seed`` only, so two calls with the same
``seed`` and different ``sample_seed`` give fresh samples of the *same* task (train vs test sets).
"""
from __future__ import annotations

import torch

from .dataset import MultimodalDataset, check_float, check_int


def _unit_rows(rows: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    x = torch.randn(rows, dim, generator=gen)
    return x / x.norm(dim=1, keepdim=True)


def make_switch_data(n: int = 3000, *, img_dim: int = 32, txt_dim: int = 16, num_classes: int = 3,
                     noise: float = 0.3, fault: float = 1.0, p_image_reliable: float = 0.5,
                     clean: bool = False, seed: int = 0, sample_seed: int | None = None):
    """A ``num_classes``-way task in which, per sample, only one modality tells the truth.

    Args:
        n: number of samples.
        img_dim, txt_dim: feature sizes of the image and the text.
        num_classes: number of classes (>= 2).
        noise: standard deviation $\\sigma$ of the Gaussian noise on every feature.
        fault: strength $\\phi$ of the fault fingerprint on the corrupted modality (0 hides it).
        p_image_reliable: probability that the switch picks the image (1.0: the text is always the
            corrupted one; 0.0: the image always is).
        clean: if True nothing is corrupted: both modalities show the true class, without fingerprint.
        seed: fixes the task (class prototypes and fingerprints).
        sample_seed: fixes the samples; defaults to ``seed``.
    Returns:
        ``(data, switch)``: a :class:`MultimodalDataset` with ``image`` ``(n, img_dim)``, ``text``
        ``(n, txt_dim)`` and labels ``(n,)`` in ``[0, num_classes)``; and ``switch`` ``(n,)`` long,
        1 where the image is reliable and 0 where the text is.
    """
    check_int("n", n, 2)
    check_int("img_dim", img_dim, 1)
    check_int("txt_dim", txt_dim, 1)
    check_int("num_classes", num_classes, 2)
    check_float("noise", noise, 0.0)
    check_float("fault", fault, 0.0)
    check_float("p_image_reliable", p_image_reliable, 0.0, 1.0)
    if not isinstance(clean, bool):
        raise ValueError(f"clean must be a bool, got {clean!r}")
    check_int("seed", seed, 0)
    if sample_seed is not None:
        check_int("sample_seed", sample_seed, 0)

    task = torch.Generator().manual_seed(seed)
    proto_img, proto_txt = _unit_rows(num_classes, img_dim, task), _unit_rows(num_classes, txt_dim, task)
    fault_img, fault_txt = _unit_rows(1, img_dim, task)[0], _unit_rows(1, txt_dim, task)[0]

    gen = torch.Generator().manual_seed(seed if sample_seed is None else sample_seed + 1_000_003)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    switch = (torch.rand(n, generator=gen) < p_image_reliable).long()
    decoy = torch.randint(0, num_classes, (n,), generator=gen)   # what a corrupted modality shows
    image_ok, text_ok = switch.bool(), ~switch.bool()
    if clean:
        switch = torch.full((n,), -1, dtype=torch.long)
        image_ok = text_ok = torch.ones(n, dtype=torch.bool)

    img_class = torch.where(image_ok, labels, decoy)
    txt_class = torch.where(text_ok, labels, decoy)
    image = proto_img[img_class] + noise * torch.randn(n, img_dim, generator=gen)
    text = proto_txt[txt_class] + noise * torch.randn(n, txt_dim, generator=gen)
    image = image + fault * (~image_ok).float().unsqueeze(1) * fault_img
    text = text + fault * (~text_ok).float().unsqueeze(1) * fault_txt
    data = MultimodalDataset((image, text), labels, ("image", "text"), num_classes=num_classes)
    return data, switch


def drop_modality(data: MultimodalDataset, name: str) -> MultimodalDataset:
    """The same dataset with modality ``name`` ("image" or "text") replaced by zeros (a missing sensor)."""
    if not isinstance(data, MultimodalDataset):
        raise TypeError(f"data must be a MultimodalDataset, got {type(data).__name__}")
    if name not in data.names:
        raise ValueError(f"name must be one of {data.names}, got {name!r}")
    mods = tuple(torch.zeros_like(m) if n == name else m for n, m in zip(data.names, data.modalities))
    return MultimodalDataset(mods, data.labels, data.names, data.num_classes)
