r"""Two views of the same latent, each with its own nuisance (notebook 09: contrastive alignment).

Each sample has a class $y \in \{0, \dots, C-1\}$ and a shared latent $z \in \mathbb{R}^{d_z}$, its class centre
plus a detail of its own:

$$z = c_y + s\,\varepsilon, \qquad \varepsilon \sim \mathcal N(0, I).$$

Each modality sees $z$ through its own fixed random linear map, mixed with a *nuisance* $u$ that only that
modality has (lighting for a camera, wording for a caption), plus a little noise:

$$x_{\text{img}} = A_{\text{img}} z + \nu B_{\text{img}} u_{\text{img}} + \sigma \eta, \qquad
  x_{\text{txt}} = A_{\text{txt}} z + \nu B_{\text{txt}} u_{\text{txt}} + \sigma \eta',$$

with $u_{\text{img}}$, $u_{\text{txt}}$, $\eta$, $\eta'$ independent standard normals. What the two views share is
exactly $z$: a model that matches image to text has to find it and can ignore each view's nuisance. The maps and
the class centres depend on ``seed`` only, so ``sample_seed`` draws fresh samples of the *same* task.
"""
from __future__ import annotations

import math

import torch

from .dataset import MultimodalDataset, check_dataset, check_float, check_int


def make_paired(n: int = 2000, *, num_classes: int = 10, latent_dim: int = 8, img_dim: int = 32,
                txt_dim: int = 24, nuisance_dim: int = 8, spread: float = 0.5, nuisance: float = 2.0,
                noise: float = 0.1, seed: int = 0, sample_seed: int | None = None,
                return_latent: bool = False, return_nuisances: bool = False):
    """Paired image and text features of ``n`` samples that share a latent and differ in their nuisances.

    Args:
        n: number of pairs (>= 2).
        num_classes: number of classes $C$ (>= 2); the class centres $c_y$ are standard normal.
        latent_dim: size of the shared latent $z$.
        img_dim, txt_dim: feature sizes of the two views.
        nuisance_dim: size of each view's own nuisance $u$.
        spread: $s$, the standard deviation of a sample's own detail around its class centre.
        nuisance: $\\nu$, the strength of each view's nuisance.
        noise: $\\sigma$, the standard deviation of the per-feature noise.
        seed: fixes the task (class centres and the maps $A$, $B$ of both views).
        sample_seed: fixes the samples; defaults to ``seed``.
        return_latent: also return the latent $z$ ``(n, latent_dim)``.
        return_nuisances: also return the two views' nuisances $(u_{\text{img}}, u_{\text{txt}})$, each
            ``(n, nuisance_dim)`` (what notebook 09 measures the embeddings' share of).
    Returns:
        a :class:`MultimodalDataset` with ``image`` ``(n, img_dim)``, ``text`` ``(n, txt_dim)`` and labels
        ``(n,)`` in ``[0, num_classes)``; row ``i`` of both views is the same sample. With
        ``return_latent=True`` the pair ``(data, z)``; with ``return_nuisances=True`` also the pair of nuisances
        last: ``(data, (u_img, u_txt))`` or ``(data, z, (u_img, u_txt))``. The samples do not depend on what
        is returned.
    """
    for name, value, minimum in (("n", n, 2), ("num_classes", num_classes, 2), ("latent_dim", latent_dim, 1),
                                 ("img_dim", img_dim, 1), ("txt_dim", txt_dim, 1),
                                 ("nuisance_dim", nuisance_dim, 1), ("seed", seed, 0)):
        check_int(name, value, minimum)
    if sample_seed is not None:
        check_int("sample_seed", sample_seed, 0)
    for name, value in (("spread", spread), ("nuisance", nuisance), ("noise", noise)):
        check_float(name, value, 0.0)
    for name, value in (("return_latent", return_latent), ("return_nuisances", return_nuisances)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a bool, got {value!r}")

    task = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, latent_dim, generator=task)
    maps = {name: (torch.randn(latent_dim, dim, generator=task) / math.sqrt(latent_dim),
                   torch.randn(nuisance_dim, dim, generator=task) / math.sqrt(nuisance_dim))
            for name, dim in (("image", img_dim), ("text", txt_dim))}

    gen = torch.Generator().manual_seed(seed if sample_seed is None else sample_seed + 2_000_003)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    z = centres[labels] + spread * torch.randn(n, latent_dim, generator=gen)
    views, nuisances = [], []
    for name in ("image", "text"):
        shared, own = maps[name]
        u = torch.randn(n, nuisance_dim, generator=gen)
        nuisances.append(u)
        view = noise * torch.randn(n, shared.shape[1], generator=gen)
        view.addmm_(z, shared).addmm_(u, own, alpha=nuisance)
        views.append(view)
    data = MultimodalDataset(tuple(views), labels, ("image", "text"), num_classes=num_classes)
    out = (data,) + ((z,) if return_latent else ()) + ((tuple(nuisances),) if return_nuisances else ())
    return out[0] if len(out) == 1 else out


def few_labels(data: MultimodalDataset, per_class: int, seed: int = 0) -> MultimodalDataset:
    """A labelled subset of ``data``: ``per_class`` samples of every class, drawn at random (seeded).

    Returns a :class:`MultimodalDataset` of ``per_class * num_classes`` samples, classes in turn.
    """
    data = check_dataset(data)
    check_int("per_class", per_class, 1)
    check_int("seed", seed, 0)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    picked = []
    for c in range(data.num_classes):
        rows = order[data.labels[order] == c][:per_class]
        if len(rows) < per_class:
            raise ValueError(f"class {c} has only {len(rows)} samples, fewer than per_class={per_class}")
        picked.append(rows)
    return data[torch.stack(picked, 1).flatten()]
