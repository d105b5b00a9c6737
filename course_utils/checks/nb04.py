"""Checks for notebook 04 (cross-attention from scratch).

The visible checks test properties that hold for every correct implementation without computing it:
shapes, the worked example of the notebook, weights that are distributions over the keys, invariance to the
order of the keys, equivariance in the queries, gradients. The comparison with
``torch.nn.functional.scaled_dot_product_attention`` on the learner's own projection weights, which
recognises the usual mistakes, is in :mod:`course_utils.checks.hidden.nb04`.
"""
from __future__ import annotations

import torch

from ..feedback import exercise
from ..attention_inspection import find_projections
from .common import hidden

WORKED_Q = [[1.0, 0.0]]
WORKED_K = [[1.0, 1.0], [0.0, 1.0]]
WORKED_V = [[0.5, 0.3], [0.1, 0.8]]


def _unpack(check, result, what):
    """``(output, weights)`` from a learner's attention function."""
    __tracebackhide__ = True
    if isinstance(result, torch.Tensor) or not isinstance(result, (tuple, list)) or len(result) != 2:
        check.fail(f"{what} should return a pair `(output, weights)`, got {type(result).__name__}. "
                   "Return both: `return weights @ v, weights`.")
    out, weights = result
    if out is None or weights is None:
        check.not_implemented(f"{what} returned None inside its (output, weights) pair")
    return out, weights


def _distribution(check, weights, what):
    """Non-negative weights whose rows sum to 1 over the keys (the last axis)."""
    __tracebackhide__ = True
    check.expect(bool((weights >= 0).all()) and torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]),
                                                                atol=1e-5),
                 f"{what}: each query's weights are a distribution over the keys",
                 f"{what}: each query's weights should be non-negative and sum to 1 over the keys (the last axis); "
                 "apply the softmax over dim=-1.")


@exercise("04.sdpa", "scaled_dot_product_attention")
def check_scaled_dot_product_attention(check, scaled_dot_product_attention):
    q, k, v = torch.tensor(WORKED_Q), torch.tensor(WORKED_K), torch.tensor(WORKED_V)
    out, weights = _unpack(check, check.call(scaled_dot_product_attention, q, k, v), "scaled_dot_product_attention")
    check.shape(out, (1, 2), "worked example output")
    check.shape(weights, (1, 2), "worked example weights")
    _distribution(check, weights, "worked example")
    hint = hidden(check, "nb04", "sdpa_hint", weights.detach(), q, k, v) or \
        "Scale the scores q k^T by 1 / sqrt(d_k) before the softmax over the keys."
    check.close(weights, [[0.6698, 0.3302]], "worked example weights (about [0.67, 0.33], as computed by hand above)",
                atol=1e-3, hint=hint)
    check.close(out, weights @ v, "output = weights @ v", hint="Return the weighted sum of the values, weights @ v.")
    gen = torch.Generator().manual_seed(0)
    for shape_q, shape_k, d_v in (((2, 3, 5, 8), (2, 3, 7, 8), 6), ((4, 1, 6), (4, 9, 6), 3)):
        q = torch.randn(*shape_q, generator=gen)
        k = torch.randn(*shape_k, generator=gen) * 2.0
        v = torch.randn(*shape_k[:-1], d_v, generator=gen)
        out, weights = _unpack(check, check.call(scaled_dot_product_attention, q, k, v),
                               "scaled_dot_product_attention")
        check.shape(out, (*shape_q[:-1], d_v), f"output for q {shape_q}, k {shape_k}, v (..., {d_v})")
        check.shape(weights, (*shape_q[:-1], shape_k[-2]), "weights (..., N_q, N_kv)")
        _distribution(check, weights, f"q {shape_q}, k {shape_k}")
        check.close(out, weights @ v, f"output = weights @ v for q {shape_q}")
    hidden(check, "nb04", "sdpa", scaled_dot_product_attention, _unpack)


_NOT_FOUND = ("could not find your projection weights. Keep the four nn.Linear layers the skeleton names "
              "(q_proj, k_proj, v_proj, out_proj; to_q/to_k/to_v/to_out or a packed kv_proj also work), or "
              "build the layer on torch.nn.MultiheadAttention(dim, num_heads, batch_first=True).")


def check_attention_layer(check, CrossAttentionLayer, configs=((16, 1), (16, 2), (16, 4), (24, 3)),
                          prefix=""):
    """The shared body of the layer check (reused by notebook 05 on its direction layers)."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(1)
    for dim, heads in configs:
        torch.manual_seed(dim * 10 + heads)
        layer = check.call(CrossAttentionLayer, dim, heads, what="CrossAttentionLayer.__init__")
        layer.eval()
        query, kv = torch.randn(2, 3, dim, generator=gen), torch.randn(2, 5, dim, generator=gen)
        out = check.call(layer, query, kv, what=f"{prefix}CrossAttentionLayer.forward")
        check.shape(out, (2, 3, dim), f"{prefix}output for query (2, 3, {dim}), kv (2, 5, {dim}), {heads} head(s)")
        proj = find_projections(layer)
        if proj is None:
            check.fail(_NOT_FOUND)
        weights = getattr(layer, "last_attn_weights", None)
        mha_hint = (" With nn.MultiheadAttention call it as self.mha(query, kv, kv, need_weights=True, "
                    "average_attn_weights=False).") if "mha" in proj else ""
        if weights is None:
            check.fail("keep the attention weights of the last forward pass in `self.last_attn_weights` "
                       "(shape (B, num_heads, N_q, N_kv)) for the plots." + mha_hint)
        if isinstance(weights, torch.Tensor) and weights.dim() == 3:
            if heads > 1:
                check.fail(f"last_attn_weights has shape {tuple(weights.shape)}: the heads were averaged. Keep one "
                           "weight matrix per head, (B, num_heads, N_q, N_kv)." + (mha_hint or " Do not average "
                           "over the head dimension."))
            weights = weights.unsqueeze(1)           # one head: (B, N_q, N_kv) is the same matrix
        check.shape(weights, (2, heads, 3, 5), f"{prefix}last_attn_weights")
        _distribution(check, weights, f"{prefix}last_attn_weights")
        hidden(check, "nb04", "layer", layer, proj, query, kv, heads, out, prefix=prefix)
        with torch.no_grad():
            keys = torch.randperm(5, generator=gen)
            check.close(check.call(layer, query, kv[:, keys]), out,
                        f"{prefix}the output does not depend on the order of the keys ({heads} head(s))",
                        hint="Attention is a weighted sum over the keys: shuffling them (with their values) must "
                             "not change the result. Use the same kv for keys and values.")
            queries = torch.randperm(3, generator=gen)
            check.close(check.call(layer, query[:, queries], kv), out[:, queries],
                        f"{prefix}each query token is attended on its own ({heads} head(s))",
                        hint="Shuffling the query tokens should shuffle the outputs the same way: split into "
                             "heads along the channels, not along the tokens.")


@exercise("04.cross_attention", "CrossAttentionLayer")
def check_cross_attention_layer(check, CrossAttentionLayer):
    check_attention_layer(check, CrossAttentionLayer)
    torch.manual_seed(0)
    layer = check.call(CrossAttentionLayer, 8, 2, what="CrossAttentionLayer.__init__")
    query = torch.randn(1, 1, 8)
    out = check.call(layer, query, torch.randn(1, 6, 8))
    check.shape(out, (1, 1, 8), "one query token against six keys")
    out.sum().backward()
    proj = [p for p in layer.parameters() if p.grad is not None]
    check.expect(len(proj) == len(list(layer.parameters())) and
                 all(torch.isfinite(p.grad).all() for p in proj),
                 "gradients reach every parameter", "some parameters receive no gradient: every projection "
                 "must be used in forward.")
