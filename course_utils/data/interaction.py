r"""Data whose label depends on a *product* of the two modalities (notebook 10).

Both modalities are standard Gaussian vectors, $x_v \in \mathbb R^{d_v}$, $x_t \in \mathbb R^{d_t}$. The task
(fixed by ``seed``) is a rank-$K$ bilinear interaction plus a main effect of the image alone:

$$s = \frac{1}{\sqrt K}\sum_{k=1}^{K} (u_k^\top x_v)(w_k^\top x_t) + m\, a^\top x_v, \qquad y = [\, s > 0 \,],$$

with orthonormal $u_1..u_K$ (image directions), orthonormal $w_1..w_K$ (text directions) and a unit vector $a$.
The text alone says nothing about $y$: for every $x_t$, $s$ is a linear function of the zero-mean $x_v$, so
$P(y = 1 \mid x_t) = 1/2$. The image alone knows the main effect $m\,a^\top x_v$ and nothing more, because
$x_t = 0$ is the mean of the text. The interaction is what only a model that multiplies can get exactly.
"""
from __future__ import annotations

import math

import torch

from .dataset import MultimodalDataset, check_float, check_int


def _orthonormal(dim: int, k: int, gen: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(dim, k, generator=gen))
    return q                                                               # (dim, k), orthonormal columns


def make_interaction(n: int = 4000, *, img_dim: int = 16, txt_dim: int = 16, rank: int = 6, main: float = 0.5,
                     seed: int = 0, sample_seed: int | None = None) -> MultimodalDataset:
    """A binary task with a rank-``rank`` multiplicative interaction between image and text.

    Args:
        n: number of samples.
        img_dim, txt_dim: feature sizes ($d_v$, $d_t$).
        rank: $K$, the rank of the interaction, at most ``min(img_dim, txt_dim)``.
        main: $m$, the strength of the image's main effect (0: the image alone is at chance too).
        seed: fixes the task ($u_k$, $w_k$, $a$).
        sample_seed: fixes the samples; defaults to ``seed`` (use another value for a test set of the same task).
    Returns:
        :class:`MultimodalDataset` with ``image`` ``(n, img_dim)``, ``text`` ``(n, txt_dim)``, labels ``(n,)``
        in ``{0, 1}``.
    """
    check_int("n", n, 2)
    check_int("img_dim", img_dim, 1)
    check_int("txt_dim", txt_dim, 1)
    check_int("rank", rank, 1)
    if rank > min(img_dim, txt_dim):
        raise ValueError(f"rank must be at most min(img_dim, txt_dim) = {min(img_dim, txt_dim)}, got {rank}")
    check_float("main", main, 0.0)
    check_int("seed", seed, 0)
    if sample_seed is not None:
        check_int("sample_seed", sample_seed, 0)

    task = torch.Generator().manual_seed(seed)
    u, w = _orthonormal(img_dim, rank, task), _orthonormal(txt_dim, rank, task)
    a = torch.randn(img_dim, generator=task)
    a = a / a.norm()

    gen = torch.Generator().manual_seed(seed if sample_seed is None else sample_seed + 2_000_003)
    image = torch.randn(n, img_dim, generator=gen)
    text = torch.randn(n, txt_dim, generator=gen)
    score = ((image @ u) * (text @ w)).sum(1) / math.sqrt(rank) + main * (image @ a)
    labels = (score > 0).long()
    return MultimodalDataset((image, text), labels, ("image", "text"), num_classes=2)
