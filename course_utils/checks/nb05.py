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
from ..attention_inspection import attend, find_projections
from .common import hidden

BLOCK_PARTS = ("txt_to_img", "img_to_txt", "norm_txt", "norm_img")   # the block's layers, as notebook 05 names them


def _parts(check, block):
    __tracebackhide__ = True
    missing = [n for n in BLOCK_PARTS if getattr(block, n, None) is None]
    if missing and len(missing) == len(BLOCK_PARTS):
        check.not_implemented(f"{type(block).__name__} has none of {', '.join(BLOCK_PARTS)} yet")
    if missing:
        check.fail(f"create {', '.join(missing)} in __init__: txt_to_img (text queries image), img_to_txt "
                   "(image queries text), norm_txt and norm_img (nn.LayerNorm(dim)).")
    return [getattr(block, n) for n in BLOCK_PARTS]


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
    check.shape(out, tuple(query.shape), f"{name}(query, kv) keeps the query's shape")
    hidden(check, "nb04", "direction_layer", layer, name, query, kv, proj, heads, out)


def _properties(check, block, img, txt, out):
    """What every correct block does, without computing it: token order does not matter, both inputs do."""
    __tracebackhide__ = True
    with torch.no_grad():
        perm_i, perm_t = torch.randperm(img.shape[1]), torch.randperm(txt.shape[1])
        check.close(block(img[:, perm_i], txt[:, perm_t]), out, "the output does not depend on the order of the tokens",
                    hint="Pool each modality with a mean over its tokens after the residual and layer norm.")
        for name, changed in (("img", block(img + torch.randn_like(img), txt)),
                              ("txt", block(img, txt + torch.randn_like(txt)))):
            check.expect(not torch.allclose(changed, out, atol=1e-4),
                         f"the output changes when {name} changes",
                         f"the output ignores {name}: both directions must reach the output.")
    gated = [(n, getattr(block, n)) for n in ("txt_to_img", "img_to_txt")]
    block.zero_grad()
    block(img, txt).pow(2).sum().backward()
    for name, layer in gated:
        grads = [p.grad for p in layer.parameters()]
        check.expect(bool(grads) and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads),
                     f"gradients reach {name}",
                     f"no gradient reaches {name}: a direction is left out of the output. Compute both directions "
                     "and combine their pooled results.")


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
    hidden(check, "nb05", "block_output", block, img3, txt3, out3, "img and txt with 3 tokens each")
    out = check.call(block, img, txt, what="BidirectionalCrossAttention.forward")
    check.shape(out, (3, dim), "output for img (3, 5, 16), txt (3, 2, 16)")
    hidden(check, "nb05", "block_output", block, img, txt, out, "img with 5 tokens, txt with 2")
    _properties(check, block, img, txt, out)

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
