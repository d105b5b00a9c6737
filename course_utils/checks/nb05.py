"""Checks for notebook 05 (bidirectional cross-attention).

The learner's block is compared with the same computation wired from the learner's own direction layers
(``txt_to_img``, ``img_to_txt``) and layer norms (``norm_txt``, ``norm_img``), so any correct attention layer
(their ``CrossAttentionLayer`` from notebook 04, the course's, or ``nn.MultiheadAttention``) passes, and a
left-out direction, a missing residual, swapped roles or a missing layer norm are named.
"""
from __future__ import annotations

import torch
from torch import nn

from ..feedback import exercise
from ..models.attention import attend
from .nb04 import _cap, find_projections, reference_cross_attention

_NAMES = ("txt_to_img", "img_to_txt", "norm_txt", "norm_img")


def _parts(check, block):
    __tracebackhide__ = True
    missing = [n for n in _NAMES if getattr(block, n, None) is None]
    if missing and len(missing) == len(_NAMES):
        check.not_implemented(f"{type(block).__name__} has none of {', '.join(_NAMES)} yet")
    if missing:
        check.fail(f"create {', '.join(missing)} in __init__: txt_to_img (text queries image), img_to_txt "
                   "(image queries text), norm_txt and norm_img (nn.LayerNorm(dim)).")
    return [getattr(block, n) for n in _NAMES]


def _variants(block, img, txt):
    """The right output (two accepted poolings) and typical mistakes: name -> (B, dim) tensor."""
    t2i, i2t, norm_t, norm_i = (getattr(block, n) for n in _NAMES)
    a_t, a_i = attend(t2i, txt, img), attend(i2t, img, txt)
    t_new, i_new = norm_t(txt + a_t), norm_i(img + a_i)
    return {
        "ok: average of the two pooled modalities": 0.5 * (t_new.mean(1) + i_new.mean(1)),
        "ok: mean over all tokens of both modalities": torch.cat([t_new, i_new], 1).mean(1),
        "only text queries image": t_new.mean(1),
        "only image queries text": i_new.mean(1),
        "no residual": 0.5 * (norm_t(a_t).mean(1) + norm_i(a_i).mean(1)),
        "no residual (tokens)": torch.cat([norm_t(a_t), norm_i(a_i)], 1).mean(1),
        "no layer norm": 0.5 * ((txt + a_t).mean(1) + (img + a_i).mean(1)),
        "residual outside the norm": 0.5 * ((txt + norm_t(a_t)).mean(1) + (img + norm_i(a_i)).mean(1)),
        "roles swapped": 0.5 * (norm_t(txt + attend(t2i, img, txt)).mean(1)
                                + norm_i(img + attend(i2t, txt, img)).mean(1)) if img.shape[1] == txt.shape[1]
        else None,
    }


_ADVICE = {
    "only text queries image": "a direction is left out: the image -> text direction (img_to_txt, image "
                               "queries text) does not reach the output. Compute it and combine both pooled "
                               "results.",
    "only image queries text": "a direction is left out: the text -> image direction (txt_to_img, text "
                               "queries image) does not reach the output. Compute it and combine both pooled "
                               "results.",
    "no residual": "the residual connection is missing: normalise `txt + attention(txt, img)`, not the attention "
                   "output alone (and the same for the image).",
    "no residual (tokens)": "the residual connection is missing: normalise `txt + attention(txt, img)`, not the "
                            "attention output alone (and the same for the image).",
    "no layer norm": "the layer norms are missing: apply norm_txt / norm_img to the residual sums.",
    "residual outside the norm": "apply the layer norm to the residual sum, norm(x + attention(x, other)), "
                                 "not x + norm(attention(...)).",
    "roles swapped": "the directions are swapped: in txt_to_img the TEXT gives the queries and the image the "
                     "keys/values (txt_to_img(txt, img)); in img_to_txt the image queries the text.",
}


def _check_direction_layer(check, layer, name, query, kv):
    """When the layer's projections can be found, compare it with F.scaled_dot_product_attention."""
    __tracebackhide__ = True
    proj = find_projections(layer)
    if proj is None:
        return
    heads = getattr(layer, "num_heads", None)
    if heads is None:
        return
    out = attend(layer, query, kv)
    expected = reference_cross_attention(proj, query, kv, heads)[0]
    if heads > 1 and not torch.allclose(out, expected, atol=1e-5, rtol=1e-4):
        expected = reference_cross_attention(proj, query, kv, heads, interleaved=True)[0]
    check.close(out, expected, f"{name} computes multi-head cross-attention",
                hint=f"{name} itself is wrong: check your CrossAttentionLayer with notebook 04's check.")


def _compare(check, out, variants, what):
    __tracebackhide__ = True
    matched = next((name for name, ref in variants.items()
                    if ref is not None and torch.allclose(out, ref, atol=1e-5, rtol=1e-4)), None)
    if matched is None or not matched.startswith("ok"):
        hint = _cap(_ADVICE.get(matched, "compute t' = norm_txt(txt + txt_to_img(txt, img)) and "
                                    "v' = norm_img(img + img_to_txt(img, txt)), then return "
                                    "0.5 * (t'.mean(1) + v'.mean(1))."))
        check.close(out, variants["ok: average of the two pooled modalities"],
                    f"output ({what}) vs the block wired from your own layers", hint=hint)
    check.ok(f"output ({what}) matches the reference wiring ({matched[4:]})")


def _check_block(check, Block, shared):
    __tracebackhide__ = True
    dim, heads = 16, 4
    torch.manual_seed(0)
    block = check.call(Block, dim, heads, shared=shared, what="BidirectionalCrossAttention.__init__")
    t2i, i2t, norm_t, norm_i = _parts(check, block)
    for norm, name in ((norm_t, "norm_txt"), (norm_i, "norm_img")):
        check.expect(isinstance(norm, nn.Module), f"{name} is a module",
                     f"{name} should be nn.LayerNorm(dim), got {type(norm).__name__}")
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():                             # make the norms' affine parameters non-trivial
        for norm in (norm_t, norm_i):
            for p in norm.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    block.eval()
    img, txt = torch.randn(3, 5, dim, generator=gen), torch.randn(3, 2, dim, generator=gen)
    _check_direction_layer(check, t2i, "txt_to_img", txt, img)
    _check_direction_layer(check, i2t, "img_to_txt", img, txt)

    # equal token counts first: with them a block whose directions swap queries and keys still runs
    img3, txt3 = torch.randn(2, 3, dim, generator=gen), torch.randn(2, 3, dim, generator=gen) * 2
    out3 = check.call(block, img3, txt3, what="BidirectionalCrossAttention.forward")
    check.shape(out3, (2, dim), "output for img (2, 3, 16), txt (2, 3, 16)")
    _compare(check, out3, _variants(block, img3, txt3), "img and txt with 3 tokens each")
    out = check.call(block, img, txt, what="BidirectionalCrossAttention.forward")
    check.shape(out, (3, dim), "output for img (3, 5, 16), txt (3, 2, 16)")
    _compare(check, out, _variants(block, img, txt), "img with 5 tokens, txt with 2")

    one = check.call(block, torch.randn(4, 1, dim, generator=gen), torch.randn(4, 1, dim, generator=gen))
    check.shape(one, (4, dim), "output for (B, 1, dim) inputs (the reference tutorial's shapes)")
    return block


@exercise("05.bidirectional", "BidirectionalCrossAttention (separate weights)")
def check_bidirectional(check, BidirectionalCrossAttention):
    block = _check_block(check, BidirectionalCrossAttention, shared=False)
    ids_t = {id(p) for p in block.txt_to_img.parameters()}
    ids_i = {id(p) for p in block.img_to_txt.parameters()}
    check.expect(block.txt_to_img is not block.img_to_txt and ids_t and ids_i and not ids_t & ids_i,
                 "shared=False: each direction has its own weights",
                 "with shared=False the two directions must be two different layers with their own weights.")


@exercise("05.shared", "BidirectionalCrossAttention (shared weights)")
def check_shared(check, BidirectionalCrossAttention):
    block = _check_block(check, BidirectionalCrossAttention, shared=True)
    ids_t = {id(p) for p in block.txt_to_img.parameters()}
    ids_i = {id(p) for p in block.img_to_txt.parameters()}
    check.expect(ids_t == ids_i and len(ids_t) > 0, "shared=True: both directions use the same attention weights",
                 "with shared=True both directions must use ONE attention layer: "
                 "set self.img_to_txt = self.txt_to_img.")
    separate = _check_sizes(BidirectionalCrossAttention)
    n_shared = sum(p.numel() for p in block.parameters())
    layer = sum(p.numel() for p in block.txt_to_img.parameters())
    check.expect(separate - n_shared == layer, f"parameter count: {n_shared} shared vs {separate} separate "
                 f"(one attention layer of {layer} fewer)",
                 f"the shared block should have exactly one attention layer ({layer} parameters) fewer than the "
                 f"separate one; got {n_shared} vs {separate}.")


def _check_sizes(Block):
    torch.manual_seed(0)
    return sum(p.numel() for p in Block(16, 4, shared=False).parameters())
