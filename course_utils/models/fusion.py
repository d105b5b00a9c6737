r"""Reference fusion models of notebooks 02 (early fusion) and 03 (late fusion).

Where the two modalities meet decides what a model can represent:

- :class:`EarlyFusionModel` (notebook 02): concatenate the raw features, then an MLP,
  $\hat y = f([x_v; x_t])$.
- :class:`DecisionLateFusion` (notebook 03): each modality has its own classifier, and only their
  logits are combined, $\hat y = \tfrac12\,(g_v(x_v) + g_t(x_t))$: *decision-level* late fusion.
  The fused logits are a sum of a function of the image and a function of the text (an additive
  model), which cannot represent XOR.
- :func:`product_of_experts` (notebook 03, extension): multiply the experts' class distributions and
  renormalise, $p(y) \propto p_v(y)\,p_t(y)$; in log space a sum, so it is additive as well.
- :class:`EmbeddingConcatFusion` (notebook 03): per-modality encoders, concatenated embeddings, an MLP
  head, $\hat y = h([e_v(x_v); e_t(x_t)])$. Many codebases call this "late fusion"; the modalities
  meet *before* the last nonlinearity, so it is intermediate fusion and can learn interactions.
- :class:`ReferenceTutorialLateFusion`: the architecture of the reference tutorial's ``LateFusionModel``,
  kept to show by parameter count and structure that it is embedding concatenation.

Every model is called as ``model(img (B, img_dim), txt (B, txt_dim)) -> logits (B, num_classes)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .probes import MLP


def _check_pair(img: torch.Tensor, txt: torch.Tensor, img_dim: int, txt_dim: int) -> None:
    if not (isinstance(img, torch.Tensor) and isinstance(txt, torch.Tensor)):
        raise TypeError("expected two tensors: img (B, img_dim) and txt (B, txt_dim)")
    if img.dim() != 2 or img.shape[1] != img_dim or txt.dim() != 2 or txt.shape[1] != txt_dim:
        raise ValueError(f"expected img of shape (B, {img_dim}) and txt of shape (B, {txt_dim}); "
                         f"got {tuple(img.shape)} and {tuple(txt.shape)}")
    if img.shape[0] != txt.shape[0]:
        raise ValueError(f"img and txt must have the same batch size, got {img.shape[0]} and {txt.shape[0]}")


class EarlyFusionModel(nn.Module):
    r"""Early fusion: $\text{logits} = W_2\,\mathrm{ReLU}(W_1 [x_v; x_t] + b_1) + b_2$.

    ``forward(img (B, img_dim), txt (B, txt_dim)) -> (B, num_classes)``.
    """

    def __init__(self, img_dim: int = 32, txt_dim: int = 16, hidden_dim: int = 64, num_classes: int = 2):
        super().__init__()
        self.img_dim, self.txt_dim = img_dim, txt_dim
        self.hidden = nn.Linear(img_dim + txt_dim, hidden_dim)   # W_1 = [W_1v, W_1t]: sees both modalities
        self.out = nn.Linear(hidden_dim, num_classes)

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        _check_pair(img, txt, self.img_dim, self.txt_dim)
        return self.out(torch.relu(self.hidden(torch.cat([img, txt], dim=-1))))


class DecisionLateFusion(nn.Module):
    r"""Decision-level late fusion by averaging logits: $\tfrac12\,(g_v(x_v) + g_t(x_t))$.

    ``img_head`` and ``txt_head`` are unimodal MLP classifiers, ``(B, d) -> (B, num_classes)``.
    ``forward(img, txt) -> (B, num_classes)`` logits (not probabilities: cross-entropy applies
    the log-softmax itself).
    """

    def __init__(self, img_dim: int = 32, txt_dim: int = 16, hidden_dim: int = 64, num_classes: int = 2):
        super().__init__()
        self.img_dim, self.txt_dim = img_dim, txt_dim
        self.img_head = MLP(img_dim, hidden_dim, num_classes)
        self.txt_head = MLP(txt_dim, hidden_dim, num_classes)

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        _check_pair(img, txt, self.img_dim, self.txt_dim)
        return (self.img_head(img) + self.txt_head(txt)) / 2


def product_of_experts(img_logits: torch.Tensor, txt_logits: torch.Tensor) -> torch.Tensor:
    r"""Log-probabilities of the renormalised product of two experts' class distributions.

    $\log p(y) = \log p_v(y) + \log p_t(y) - \log \sum_{c} p_v(c)\,p_t(c)$.

    Both inputs are logits ``(B, C)``; returns ``(B, C)`` whose rows ``exp`` to a distribution.
    Since ``log_softmax(l) = l - logsumexp(l)`` differs from ``l`` by one number per row, this equals
    ``log_softmax(img_logits + txt_logits)``: averaging logits is the same product with temperature 2.
    """
    if img_logits.shape != txt_logits.shape or img_logits.dim() != 2:
        raise ValueError(f"expected two logit tensors of the same shape (B, C); got "
                         f"{tuple(img_logits.shape)} and {tuple(txt_logits.shape)}")
    return torch.log_softmax(F.log_softmax(img_logits, dim=-1) + F.log_softmax(txt_logits, dim=-1), dim=-1)


class ProductOfExpertsFusion(DecisionLateFusion):
    """Decision-level late fusion by :func:`product_of_experts` of the two unimodal heads."""

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        _check_pair(img, txt, self.img_dim, self.txt_dim)
        return product_of_experts(self.img_head(img), self.txt_head(txt))


class EmbeddingConcatFusion(nn.Module):
    r"""Encoders per modality, concatenated embeddings, an MLP head: $h([e_v(x_v); e_t(x_t)])$.

    ``img_encoder``: ``(B, img_dim) -> (B, embed_dim)``; ``txt_encoder``: ``(B, txt_dim) -> (B, embed_dim)``;
    ``head``: ``(B, 2 * embed_dim) -> (B, num_classes)``, with a ReLU after the concatenation, which is
    what lets the model combine the modalities non-additively.
    """

    def __init__(self, img_dim: int = 32, txt_dim: int = 16, embed_dim: int = 32, num_classes: int = 2):
        super().__init__()
        self.img_dim, self.txt_dim = img_dim, txt_dim
        self.img_encoder = MLP(img_dim, embed_dim, embed_dim)
        self.txt_encoder = MLP(txt_dim, embed_dim, embed_dim)
        self.head = MLP(2 * embed_dim, embed_dim, num_classes)

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        _check_pair(img, txt, self.img_dim, self.txt_dim)
        return self.head(torch.cat([self.img_encoder(img), self.txt_encoder(txt)], dim=-1))


class ReferenceTutorialLateFusion(nn.Module):
    """The architecture of the reference tutorial's ``LateFusionModel`` (same layers, same sizes).

    ``img_encoder``: Linear(img_dim, e) -> ReLU -> Linear(e, e); ``txt_encoder`` likewise;
    ``fusion_head``: Linear(2e, e) -> ReLU -> Linear(e, num_classes) over the concatenated embeddings.
    Written here to count its parameters and to train it, not as a model to copy: it is
    :class:`EmbeddingConcatFusion` under another name.
    """

    def __init__(self, img_dim: int = 32, txt_dim: int = 16, embed_dim: int = 32, num_classes: int = 3):
        super().__init__()
        self.img_encoder = nn.Sequential(nn.Linear(img_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))
        self.txt_encoder = nn.Sequential(nn.Linear(txt_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))
        self.fusion_head = nn.Sequential(nn.Linear(2 * embed_dim, embed_dim), nn.ReLU(),
                                         nn.Linear(embed_dim, num_classes))

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        return self.fusion_head(torch.cat([self.img_encoder(img), self.txt_encoder(txt)], dim=-1))


def interaction_contrast(model: nn.Module, img: torch.Tensor, txt: torch.Tensor,
                         img2: torch.Tensor, txt2: torch.Tensor) -> torch.Tensor:
    r"""$f(x_v, x_t) - f(x_v, x_t') - f(x_v', x_t) + f(x_v', x_t')$, per sample: ``(B, C)``.

    Zero for every additive model $f(x_v, x_t) = g(x_v) + h(x_t)$ (decision-level late fusion, any
    affine model); non-zero when the modalities interact. All inputs are ``(B, d)`` for their modality.
    """
    with torch.no_grad():
        return model(img, txt) - model(img, txt2) - model(img2, txt) + model(img2, txt2)
