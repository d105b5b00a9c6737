r"""Attention from first principles and the fusion models built on it (notebooks 04 and 05).

- :func:`scaled_dot_product_attention`: $\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$, returning output and weights
- :class:`CrossAttentionLayer`: multi-head cross-attention, queries from one modality, keys/values from the other
- :class:`CrossAttentionFusion`: text tokens query image tokens, residual + layer norm, pooled, classified
- :class:`BidirectionalCrossAttention`: both modalities attend to each other (separate or shared weights)
- :class:`BidirectionalFusion`: a classifier on top of :class:`BidirectionalCrossAttention`
- baselines on the same token inputs: :class:`TokenConcatMLP` (early fusion of the flattened tokens),
  :class:`TokenDecisionLateFusion` (average of per-modality logits) and :class:`TokenEmbeddingConcatFusion`
  (per-modality encoders, concatenated embeddings, MLP head)

Every model takes ``forward(image, text)`` with image ``(B, K, d_img)`` tokens and text ``(B, d_txt)``
(one token) or ``(B, T, d_txt)`` tokens, and returns logits ``(B, num_classes)``, so
:func:`course_utils.training.fit` trains any of them.
"""
from __future__ import annotations

import torch
from torch import nn

from ..attention_inspection import attend, query_key_gradients  # noqa: F401  (notebook 04 calls query_key_gradients here)
from ..references import implementation, lazy_exports
from .probes import MLP, classifier_head


def _as_tokens(x: torch.Tensor, name: str) -> torch.Tensor:
    """``(B, d)`` -> ``(B, 1, d)``; ``(B, N, d)`` unchanged; anything else is an error."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if x.dim() == 2:
        return x.unsqueeze(1)
    if x.dim() != 3:
        raise ValueError(f"{name} must have shape (B, dim) or (B, N, dim), got {tuple(x.shape)}")
    return x


class CrossAttentionFusion(nn.Module):
    r"""Text queries image tokens: $h = \mathrm{LN}(t + \mathrm{CrossAttn}(t, v))$, mean over text tokens, MLP.

    ``forward(image (B, K, img_dim), text (B, txt_dim) or (B, T, txt_dim)) -> (B, num_classes)``.
    ``pool_image=True`` averages the image tokens into ONE token first (the degenerate design).
    ``layer_cls`` builds the attention layer (``layer_cls(dim, num_heads)``), e.g. the learner's own.
    """

    def __init__(self, img_dim: int, txt_dim: int, dim: int = 32, num_heads: int = 4, num_classes: int = 4,
                 *, pool_image: bool = False, layer_cls=None):
        super().__init__()
        self.pool_image = pool_image
        self.img_proj = nn.Linear(img_dim, dim)
        self.txt_proj = nn.Linear(txt_dim, dim)
        self.cross_attn = (layer_cls or implementation("04.cross_attention"))(dim, num_heads)
        self.norm = nn.LayerNorm(dim)
        self.classifier = classifier_head(dim, num_classes)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        image, text = _as_tokens(image, "image"), _as_tokens(text, "text")
        if self.pool_image:
            image = image.mean(dim=1, keepdim=True)
        img, txt = self.img_proj(image), self.txt_proj(text)
        fused = self.norm(txt + attend(self.cross_attn, txt, img))
        return self.classifier(fused.mean(dim=1))

    @property
    def last_attn_weights(self) -> torch.Tensor:
        """The attention layer's weights of the last forward pass ``(B, H, N_txt, N_img)``."""
        return self.cross_attn.last_attn_weights


class ImageQueriesText(nn.Module):
    """The other single direction, for comparisons: ``LN(v + CrossAttn(v, t))`` pooled over image tokens.
    ``forward(img_embed, txt_embed) -> (B, dim)``, same interface as :class:`BidirectionalCrossAttention`."""

    def __init__(self, dim: int, num_heads: int = 4, *, layer_cls=None):
        super().__init__()
        self.img_to_txt = (layer_cls or implementation("04.cross_attention"))(dim, num_heads)
        self.norm_img = nn.LayerNorm(dim)

    def forward(self, img_embed, txt_embed):
        img, txt = _as_tokens(img_embed, "img_embed"), _as_tokens(txt_embed, "txt_embed")
        return self.norm_img(img + attend(self.img_to_txt, img, txt)).mean(dim=1)


class TextQueriesImage(nn.Module):
    """One direction: ``LN(t + CrossAttn(t, v))`` pooled over text tokens; ``forward(img, txt) -> (B, dim)``."""

    def __init__(self, dim: int, num_heads: int = 4, *, layer_cls=None):
        super().__init__()
        self.txt_to_img = (layer_cls or implementation("04.cross_attention"))(dim, num_heads)
        self.norm_txt = nn.LayerNorm(dim)

    def forward(self, img_embed, txt_embed):
        img, txt = _as_tokens(img_embed, "img_embed"), _as_tokens(txt_embed, "txt_embed")
        return self.norm_txt(txt + attend(self.txt_to_img, txt, img)).mean(dim=1)


class BidirectionalFusion(nn.Module):
    """Token projections, a fusion block ``block(img (B,N,dim), txt (B,T,dim)) -> (B, dim)``, MLP head.

    ``block_cls`` is called as ``block_cls(dim, num_heads, **block_kwargs)``: :class:`BidirectionalCrossAttention`,
    :class:`TextQueriesImage` or :class:`ImageQueriesText`.
    ``forward(image (B, K, img_dim), text (B, T, txt_dim)) -> (B, num_classes)``.
    """

    def __init__(self, img_dim: int, txt_dim: int, dim: int = 32, num_heads: int = 4, num_classes: int = 4,
                 *, block_cls=None, **block_kwargs):
        super().__init__()
        self.img_proj = nn.Linear(img_dim, dim)
        self.txt_proj = nn.Linear(txt_dim, dim)
        self.block = (block_cls or implementation("05.bidirectional"))(dim, num_heads, **block_kwargs)
        self.classifier = classifier_head(dim, num_classes)

    def forward(self, image, text):
        image, text = _as_tokens(image, "image"), _as_tokens(text, "text")
        return self.classifier(self.block(self.img_proj(image), self.txt_proj(text)))


# --- baselines on the same token inputs ----------------------------------------------------------------------

def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1)


class TokenConcatMLP(nn.Module):
    """Early fusion: flatten every token of both modalities, concatenate, MLP.

    ``TokenConcatMLP(img_numel, txt_numel, hidden, num_classes)`` where ``img_numel = K * d_img`` (all image
    features of one sample); ``forward(image (B, K, d_img), text (B, ...)) -> (B, num_classes)``.
    """

    def __init__(self, img_numel: int, txt_numel: int, hidden: int = 64, num_classes: int = 4):
        super().__init__()
        self.net = MLP(img_numel + txt_numel, hidden, num_classes, depth=3)

    def forward(self, image, text):
        return self.net(torch.cat([_flat(image), _flat(text)], dim=-1))


class TokenDecisionLateFusion(nn.Module):
    """Late fusion, joint: one MLP per modality, their logits averaged, trained together.
    ``forward(image (B, K, d_img), text (B, ...)) -> (B, num_classes)``."""

    def __init__(self, img_numel: int, txt_numel: int, hidden: int = 64, num_classes: int = 4):
        super().__init__()
        self.image_net = MLP(img_numel, hidden, num_classes, depth=3)
        self.text_net = MLP(txt_numel, hidden, num_classes, depth=3)

    def forward(self, image, text):
        return 0.5 * (self.image_net(_flat(image)) + self.text_net(_flat(text)))


class TokenEmbeddingConcatFusion(nn.Module):
    """"Late fusion" as MultiBench and the reference tutorial use the name: an encoder per modality, the two
    embeddings concatenated, an MLP head. ``forward(image, text) -> (B, num_classes)``."""

    def __init__(self, img_numel: int, txt_numel: int, hidden: int = 64, num_classes: int = 4):
        super().__init__()
        self.image_enc = nn.Sequential(nn.Linear(img_numel, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.text_enc = nn.Sequential(nn.Linear(txt_numel, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, image, text):
        return self.head(torch.cat([self.image_enc(_flat(image)), self.text_enc(_flat(text))], dim=-1))


class DeepSetsFusion(nn.Module):
    r"""Weight sharing without attention (Deep Sets, Zaheer et al., 2017), the text joined to every image token.

    $h_i = \phi([x_i; t])$ for each image token $x_i$ with the same MLP $\phi$, then
    $\text{logits} = \rho\big(\tfrac1K \sum_i h_i\big)$. Like cross-attention it applies one shared
    computation to every token and is indifferent to their order; unlike it, it has no query-key product and
    no softmax: the comparison of token and text must be learned by $\phi$'s ReLUs.
    ``linear_phi=True`` drops $\phi$'s ReLUs (the same layers, so the same size): a linear $\phi$ commutes with
    the mean, $\tfrac1K \sum_i \phi([x_i; t]) = \phi([\bar x; t])$, so the tokens are in effect pooled first.
    ``forward(image (B, K, d_img), text (B, d_txt)) -> (B, num_classes)``.
    """

    def __init__(self, img_dim: int, txt_dim: int, hidden: int = 48, num_classes: int = 4, linear_phi: bool = False):
        super().__init__()
        layers = [nn.Linear(img_dim + txt_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()]
        self.phi = nn.Sequential(*(layer for layer in layers if not (linear_phi and isinstance(layer, nn.ReLU))))
        self.rho = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        image = _as_tokens(image, "image")                                   # (B, K, d_img)
        text = _flat(text)[:, None, :].expand(-1, image.shape[1], -1)        # (B, K, d_txt): t next to every x_i
        return self.rho(self.phi(torch.cat([image, text], dim=-1)).mean(dim=1))


# The exercises' references live once, in the solution notebooks; the build derives them into
# course_utils.references, and this module hands them out by name on first use (a graded release
# that withholds them still imports this module).
__getattr__ = lazy_exports(__name__, {"scaled_dot_product_attention": "04.sdpa", "CrossAttentionLayer": "04.cross_attention",
                             "BidirectionalCrossAttention": "05.bidirectional"})
