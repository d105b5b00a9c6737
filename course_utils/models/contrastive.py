r"""Contrastive alignment (notebook 09): two encoders trained to map paired samples to the same point.

The loss is the symmetric InfoNCE of CLIP (Radford et al., 2021) over a batch of $B$ pairs, with
$\hat z = z / \lVert z \rVert$ and temperature $\tau$:

$$S_{ij} = \hat z^{a}_i \cdot \hat z^{b}_j / \tau, \qquad
  \mathcal L = \tfrac12 \bigl(\mathrm{CE}(S, [0..B-1]) + \mathrm{CE}(S^\top, [0..B-1])\bigr).$$

The loss and recall@k are the notebook's exercises (references via :mod:`course_utils.references`, handed
out here by name); this module holds what surrounds them: the two-tower model, a training loop for a
loss that compares the samples of a batch with each other (so not ``fit``'s cross-entropy on labels),
embeddings, and the cosine-similarity matrix.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import vmap

from ..training.folding import Folded
from ..data.dataset import MultimodalDataset, check_dataset, check_int
from ..references import lazy_exports
from ..environment import seed_everything
from ..training import adamw, check_training_arguments
from .probes import MLP


class TwoTower(nn.Module):
    """One encoder per modality into a shared ``embed_dim``-dimensional space.

    ``image_encoder``, ``text_encoder``: :class:`~course_utils.models.probes.MLP` s
    ``in_dim -> hidden_dim -> ReLU -> embed_dim``. ``forward(img (B, img_dim), txt (B, txt_dim))`` returns
    the pair ``(z_img (B, embed_dim), z_txt (B, embed_dim))``, not normalised.
    """

    def __init__(self, img_dim: int = 32, txt_dim: int = 24, hidden_dim: int = 64, embed_dim: int = 16):
        super().__init__()
        self.image_encoder = MLP(img_dim, hidden_dim, embed_dim)
        self.text_encoder = MLP(txt_dim, hidden_dim, embed_dim)

    def forward(self, img: torch.Tensor, txt: torch.Tensor):
        return self.image_encoder(img), self.text_encoder(txt)


def _check_recipe(pairs, temperature, epochs, batch_size, lr, seed):
    check_training_arguments(epochs, batch_size, lr)
    check_int("seed", seed, 0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if len(pairs) < batch_size:
        raise ValueError(f"pairs has {len(pairs)} samples, fewer than one batch of {batch_size}")


def train_contrastive(model: nn.Module, pairs: MultimodalDataset, loss_fn, *, temperature: float = 0.1,
                      epochs: int = 30, batch_size: int = 256, lr: float = 3e-3, seed: int = 0) -> list:
    """Train ``model`` (``model(img, txt) -> (z_img, z_txt)``) on the pairs, labels unused.

    Every step draws a batch of pairs (a new random order each epoch, seeded), embeds both views and
    takes one AdamW step on ``loss_fn(z_img, z_txt, temperature)``. The last batch of an epoch is skipped
    when it has fewer than ``batch_size`` pairs: the loss compares each pair with the others of its batch,
    so a tiny batch would be an easier task with a differently scaled loss. Returns the mean loss per epoch.
    """
    pairs = check_dataset(pairs, "pairs")
    _check_recipe(pairs, temperature, epochs, batch_size, lr, seed)
    losses, _ = _train(model, [], lambda: temperature, pairs, loss_fn, epochs, batch_size, lr, seed)
    return losses


def train_learned_temperature(model: nn.Module, temperature: nn.Module, pairs: MultimodalDataset, loss_fn, *,
                              epochs: int = 30, batch_size: int = 256, lr: float = 3e-3, seed: int = 0) -> tuple:
    r""":func:`train_contrastive` with a learned temperature, as CLIP trains it.

    ``temperature`` is a module whose call ``temperature()`` returns the 0-dim tensor $\tau$ (notebook 09's
    ``LearnedTemperature``: $\tau = 1 / \min(e^{w}, s_{\max})$); its parameters are trained by the same AdamW
    steps as the model's, on ``loss_fn(z_img, z_txt, temperature())``. The same batches as
    ``train_contrastive(model, pairs, loss_fn, seed=seed, ...)``. Returns ``(losses, temperatures)``: the mean
    loss of each epoch and $\tau$ at the end of each epoch (floats).
    """
    pairs = check_dataset(pairs, "pairs")
    _check_recipe(pairs, 1.0, epochs, batch_size, lr, seed)
    if not isinstance(temperature, nn.Module) or not list(temperature.parameters()):
        raise ValueError(f"temperature must be a module with a parameter (e.g. LearnedTemperature()), got "
                         f"{temperature!r}")
    return _train(model, list(temperature.parameters()), temperature, pairs, loss_fn, epochs, batch_size, lr, seed)


def _train(model, extra_params, temperature_of, pairs, loss_fn, epochs, batch_size, lr, seed) -> tuple:
    """The loop of :func:`train_contrastive`; ``temperature_of()`` gives each step's temperature."""
    img, txt = pairs.modalities
    optimizer = adamw(list(model.parameters()) + extra_params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses, temperatures = [], []
    model.train()
    for _ in range(epochs):
        order, total, steps = torch.randperm(len(pairs), generator=generator), 0.0, 0
        for start in range(0, len(pairs) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(*model(img[idx], txt[idx]), temperature_of())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + loss.detach(), steps + 1
        losses.append(float(total) / steps)
        with torch.no_grad():
            temperatures.append(float(temperature_of()))
    model.eval()
    return losses, temperatures


def train_contrastive_runs(make_model, runs, loss_fn, *, epochs: int = 30, batch_size: int = 256,
                           lr: float = 3e-3, map_loss: bool = True) -> tuple:
    """Several :func:`train_contrastive` runs in one batched step; returns ``(models, losses)``, one per run.

    ``runs`` is a list of ``(seed, temperature, pairs)``. For each run this trains what
    ``seed_everything(seed); model = make_model(); train_contrastive(model, pairs, loss_fn,
    temperature=temperature, seed=seed, ...)`` trains, up to float rounding: the same initial weights, the same
    batches, the same AdamW update. The runs' parameters are stacked and their samples folded into one batch
    (:mod:`course_utils.training.folding`, as :func:`course_utils.training.fit_seeds` does), and the loss is mapped over the
    runs with ``torch.func.vmap``; where ``loss_fn`` cannot be mapped, it is called run after run. Each run's
    loss depends only on its own parameters, so the sum of the losses gives each run its own gradient.
    All ``pairs`` must have the same size and shapes.
    """
    if not runs:
        raise ValueError("runs must be a non-empty list of (seed, temperature, pairs)")
    for seed, temperature, pairs in runs:
        pairs = check_dataset(pairs, "pairs")
        _check_recipe(pairs, temperature, epochs, batch_size, lr, seed)
    if len({(len(p), *(tuple(m.shape[1:]) for m in p.modalities)) for _, _, p in runs}) != 1:
        raise ValueError("every run's pairs must have the same number of samples and the same feature sizes")
    models = []
    for seed, _, _ in runs:
        seed_everything(seed)
        models.append(make_model())
    folded = Folded(models)
    images = torch.cat([p.modalities[0] for _, _, p in runs])                   # (R * N, img_dim)
    texts = torch.cat([p.modalities[1] for _, _, p in runs])                    # (R * N, txt_dim)
    temperatures = torch.tensor([float(t) for _, t, _ in runs])
    generators = [torch.Generator().manual_seed(seed) for seed, _, _ in runs]
    optimizer = adamw(folded.params.values(), lr=lr)
    mapped = vmap(loss_fn) if map_loss else None
    r = len(runs)
    n = len(images) // r
    offsets = torch.arange(r)[:, None] * n                                       # run i's rows start at i * N
    losses = [[] for _ in runs]
    folded.base.train()
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in generators])        # (R, N)
        total, steps = torch.zeros(r), 0
        for start in range(0, n - batch_size + 1, batch_size):
            rows = (orders[:, start:start + batch_size] + offsets).flatten()          # (R * B,)
            z_img, z_txt = folded.base(images.index_select(0, rows), texts.index_select(0, rows))
            z_img, z_txt = z_img.reshape(r, batch_size, -1), z_txt.reshape(r, batch_size, -1)
            try:
                loss = mapped(z_img, z_txt, temperatures) if mapped is not None else None
            except Exception:  # noqa: BLE001 - a loss vmap cannot map (e.g. it calls .item()) runs per run
                mapped, loss = None, None
            if loss is None:
                loss = torch.stack([loss_fn(z_img[i], z_txt[i], float(temperatures[i])) for i in range(r)])
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            total, steps = total + loss.detach(), steps + 1
        for history, value in zip(losses, (total / steps).tolist()):
            history.append(value)
    folded.copy_into(models)
    for model in models:
        model.eval()
    return models, losses


@torch.no_grad()
def embed(model: nn.Module, data: MultimodalDataset):
    """L2-normalised embeddings ``(z_img (N, D), z_txt (N, D))`` of every pair of ``data`` (eval mode)."""
    data = check_dataset(data)
    model.eval()
    z_img, z_txt = model(*data.modalities)
    return F.normalize(z_img, dim=-1), F.normalize(z_txt, dim=-1)


@torch.no_grad()
def cosine_similarity_matrix(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """``(N, M)`` cosine similarities: entry ``[i, j]`` compares row ``i`` of ``z_a`` with row ``j`` of ``z_b``."""
    if z_a.dim() != 2 or z_b.dim() != 2 or z_a.shape[1] != z_b.shape[1]:
        raise ValueError(f"z_a and z_b must be (N, D) and (M, D), got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    return F.normalize(z_a, dim=-1) @ F.normalize(z_b, dim=-1).T


def embedding_dataset(model: nn.Module, data: MultimodalDataset, modality: str = "image") -> MultimodalDataset:
    """The normalised embeddings of one modality of ``data`` as a one-modality dataset with ``data``'s labels
    (what a linear probe on frozen embeddings trains on)."""
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    z = embed(model, data)[0 if modality == "image" else 1]
    return MultimodalDataset((z,), data.labels, (modality,), data.num_classes)


# The exercises' references live once, in the solution notebook; the build derives them into
# course_utils.references, and this module hands them out by name on first use.
__getattr__ = lazy_exports(__name__, {"info_nce": "09.infonce", "recall_at_k": "09.recall_at_k",
                                     "LearnedTemperature": "09.learnable_temperature"})
