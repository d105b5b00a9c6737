r"""Two modalities of unequal difficulty (notebook 11): an easy linear shortcut and a harder, richer signal.

Binary labels $y \in \{0, 1\}$ come from a latent point $u \sim \mathcal U[-1, 1]^{d_h}$:
$y$ is the parity of the signs of its first ``parity`` coordinates (an XOR for ``parity=2``).

- **hard** modality: the latent point, slightly noisy, in a random orthonormal basis,
  $x_h = Q(u + \sigma_h \varepsilon)$. It determines $y$ up to the noise near the sign boundaries, but only a
  nonlinear function (a parity) reads it, and that takes a network a while to learn.
- **easy** modality: the label as a shift along one fixed direction $v$ (unit length) plus unit noise,
  $x_e = m\,(2y - 1)\,v + \varepsilon$. A linear classifier reads it at once; its best accuracy is
  $\Phi(m)$ (about 0.87 for the default $m = 1.15$), because the noise hides the label on some samples.

The two noises are independent, so the label is best predicted from both. ``seed`` fixes the task (the
direction $v$ and the basis $Q$); ``sample_seed`` draws fresh samples of the same task (a test set).
Vectorised and deterministic for given seeds.
"""
from __future__ import annotations

import torch

from .dataset import MultimodalDataset, check_float, check_int


def make_imbalance(n: int = 2000, *, easy_dim: int = 8, hard_dim: int = 16, parity: int = 3,
                   margin: float = 1.15, hard_noise: float = 0.03, seed: int = 0,
                   sample_seed: int | None = None) -> MultimodalDataset:
    """A binary task with an easy modality (a linear shortcut) and a hard one (a parity of latent signs).

    Args:
        n: number of samples (>= 2).
        easy_dim: features of the easy modality (>= 1).
        hard_dim: features of the hard modality (>= ``parity``).
        parity: how many latent signs the label is the parity of (>= 1; 1 makes the hard modality linear).
        margin: the easy modality's class shift $m$ in units of its noise (>= 0; 0 makes it useless).
        hard_noise: standard deviation $\\sigma_h$ of the hard modality's noise (>= 0).
        seed: fixes the task (the easy direction and the hard basis).
        sample_seed: fixes the samples; defaults to a value derived from ``seed``.
    Returns:
        :class:`MultimodalDataset` with modalities ``easy`` ``(n, easy_dim)`` and ``hard`` ``(n, hard_dim)``,
        labels ``(n,)`` in ``{0, 1}``.
    """
    check_int("n", n, 2)
    check_int("easy_dim", easy_dim, 1)
    check_int("parity", parity, 1)
    check_int("hard_dim", hard_dim, parity)
    check_int("seed", seed, 0)
    if sample_seed is not None:
        check_int("sample_seed", sample_seed, 0)
    check_float("margin", margin, 0.0)
    check_float("hard_noise", hard_noise, 0.0)

    task = torch.Generator().manual_seed(seed)
    direction = torch.randn(easy_dim, generator=task)
    direction = direction / direction.norm()                                   # v, (easy_dim,)
    basis, _ = torch.linalg.qr(torch.randn(hard_dim, hard_dim, generator=task))  # Q, orthonormal
    gen = torch.Generator().manual_seed(1_000_003 * seed + 7 if sample_seed is None else sample_seed)
    latent = 2 * torch.rand(n, hard_dim, generator=gen) - 1                    # u, (n, hard_dim)
    labels = ((latent[:, :parity] > 0).sum(1) % 2).long()                      # parity of the signs
    sign = (2 * labels - 1).float()[:, None]
    easy = margin * sign * direction + torch.randn(n, easy_dim, generator=gen)
    hard = (latent + hard_noise * torch.randn(n, hard_dim, generator=gen)) @ basis.T
    return MultimodalDataset((easy, hard), labels, ("easy", "hard"), 2)
