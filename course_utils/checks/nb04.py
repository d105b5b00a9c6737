"""Checks for notebook 04 (cross-attention from scratch).

Each check compares the learner's code with ``torch.nn.functional.scaled_dot_product_attention`` run on the
learner's own inputs and projection weights, and recognises the usual mistakes (missing scaling, scaling by
the wrong dimension, softmax over the wrong axis, no output projection) to say what to fix.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..feedback import exercise

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


def _attention_variants(q, k, v):
    """Reference weights and typical wrong ones: name -> weights."""
    scores = q @ k.transpose(-2, -1)
    d_k, d_v = q.shape[-1], v.shape[-1]
    return {
        "missing scale": scores.softmax(-1),
        "scaled by d_k": (scores / d_k).softmax(-1),
        "scaled by sqrt(d_v)": (scores / math.sqrt(d_v)).softmax(-1),
        "softmax over queries": (scores / math.sqrt(d_k)).softmax(-2),
    }


_ADVICE = {
    "missing scale": "the scores are not scaled: divide Q K^T by sqrt(d_k) before the softmax.",
    "scaled by d_k": "the scores are divided by d_k; divide by its square root, sqrt(d_k).",
    "scaled by sqrt(d_v)": "the scores are scaled by sqrt of the VALUE dimension; use the query/key dimension "
                           "d_k = q.shape[-1].",
    "softmax over queries": "the softmax runs over the queries; it must run over the keys (the last axis, "
                            "dim=-1), so that each query's weights sum to 1.",
}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _diagnose(weights, q, k, v):
    for name, wrong in _attention_variants(q, k, v).items():
        if weights.shape == wrong.shape and torch.allclose(weights, wrong, atol=1e-5):
            return _cap(_ADVICE[name])
    return ""


@exercise("04.sdpa", "scaled_dot_product_attention")
def check_scaled_dot_product_attention(check, scaled_dot_product_attention):
    q, k, v = torch.tensor(WORKED_Q), torch.tensor(WORKED_K), torch.tensor(WORKED_V)
    out, weights = _unpack(check, check.call(scaled_dot_product_attention, q, k, v), "scaled_dot_product_attention")
    check.shape(out, (1, 2), "worked example output")
    check.shape(weights, (1, 2), "worked example weights")
    hint = _diagnose(weights.detach(), q, k, v)
    check.close(weights, [[0.6698, 0.3302]], "worked example weights (about [0.67, 0.33])", atol=1e-3, hint=hint)
    check.close(out, [[0.3679, 0.4651]], "worked example output (about [0.37, 0.47])", atol=1e-3, hint=hint)

    gen = torch.Generator().manual_seed(0)
    for shape_q, shape_k, d_v in (((2, 3, 5, 8), (2, 3, 7, 8), 6), ((4, 1, 6), (4, 9, 6), 3)):
        q = torch.randn(*shape_q, generator=gen)
        k = torch.randn(*shape_k, generator=gen) * 2.0
        v = torch.randn(*shape_k[:-1], d_v, generator=gen)
        out, weights = _unpack(check, check.call(scaled_dot_product_attention, q, k, v),
                               "scaled_dot_product_attention")
        expected_out = F.scaled_dot_product_attention(q, k, v)
        check.shape(out, tuple(expected_out.shape), f"output for q {shape_q}, k {shape_k}, v (..., {d_v})")
        check.shape(weights, (*shape_q[:-1], shape_k[-2]), "weights (..., N_q, N_kv)")
        hint = _diagnose(weights.detach(), q, k, v)
        expected_w = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
        check.close(weights, expected_w, f"weights for N_q={shape_q[-2]}, N_kv={shape_k[-2]}", hint=hint)
        check.close(out, expected_out, "output vs torch.nn.functional.scaled_dot_product_attention", hint=hint)


# --- finding the learner's projection weights -------------------------------------------------------------

_NAMES = {
    "q": {"q_proj", "q", "query", "to_q", "w_q", "wq", "q_linear", "linear_q", "query_proj", "proj_q"},
    "k": {"k_proj", "k", "key", "to_k", "w_k", "wk", "k_linear", "linear_k", "key_proj", "proj_k"},
    "v": {"v_proj", "v", "value", "to_v", "w_v", "wv", "v_linear", "linear_v", "value_proj", "proj_v"},
    "kv": {"kv_proj", "kv", "to_kv", "w_kv", "kv_linear", "linear_kv"},
    "o": {"out_proj", "o_proj", "out", "to_out", "w_o", "wo", "out_linear", "linear_out", "o", "proj_out",
          "output_proj", "fc_out"},
}


def _affine(linear: nn.Linear):
    bias = linear.bias if linear.bias is not None else torch.zeros(linear.out_features)
    return linear.weight.detach(), bias.detach()


def find_projections(layer: nn.Module):
    """The layer's ``{"q": (W, b), "k": ..., "v": ..., "o": ...}`` or ``None`` when it cannot be found.

    Understands ``nn.MultiheadAttention`` anywhere inside the layer, and ``nn.Linear`` children named like
    ``q_proj``/``k_proj``/``v_proj``/``out_proj`` (or ``to_q``, ``query``, ``kv_proj`` packed, ...).
    """
    for module in layer.modules():
        if isinstance(module, nn.MultiheadAttention):
            d = module.embed_dim
            if module._qkv_same_embed_dim:
                wq, wk, wv = module.in_proj_weight.detach().chunk(3)
            else:
                wq, wk, wv = (module.q_proj_weight.detach(), module.k_proj_weight.detach(),
                              module.v_proj_weight.detach())
            bias = module.in_proj_bias.detach() if module.in_proj_bias is not None else torch.zeros(3 * d)
            bq, bk, bv = bias.chunk(3)
            return {"q": (wq, bq), "k": (wk, bk), "v": (wv, bv), "o": _affine(module.out_proj),
                    "mha": module}
    found = {}
    for name, module in layer.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        leaf = name.split(".")[-1].lower()
        if leaf.isdigit() and "." in name:          # e.g. to_out = Sequential(Linear, Dropout): "to_out.0"
            leaf = name.split(".")[-2].lower()
        for role, names in _NAMES.items():
            if leaf in names and role not in found:
                found[role] = _affine(module)
    if "kv" in found and not ("k" in found and "v" in found):
        w, b = found.pop("kv")
        found["k"], found["v"] = (w.chunk(2)[0], b.chunk(2)[0]), (w.chunk(2)[1], b.chunk(2)[1])
    if all(role in found for role in "qkvo"):
        return found
    return None


def _split(x, num_heads, interleaved):
    b, n, d = x.shape
    if interleaved:                                  # head h takes channels h, h + H, h + 2H, ...
        return x.reshape(b, n, d // num_heads, num_heads).permute(0, 3, 1, 2)
    return x.reshape(b, n, num_heads, d // num_heads).transpose(1, 2)


def _merge(x, interleaved):
    b, h, n, hd = x.shape
    if interleaved:
        return x.permute(0, 2, 3, 1).reshape(b, n, h * hd)
    return x.transpose(1, 2).reshape(b, n, h * hd)


def reference_cross_attention(proj, query, kv, num_heads, *, interleaved=False, variant=None):
    """Multi-head cross-attention with the given projections through ``F.scaled_dot_product_attention``.

    Returns ``(output (B, N_q, dim), weights (B, H, N_q, N_kv))``. ``variant`` computes a typical mistake
    instead (for diagnosis): "missing scale", "scaled by sqrt(dim)", "softmax over queries", "no out_proj".
    """
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = proj["q"], proj["k"], proj["v"], proj["o"]
    q = _split(F.linear(query, wq, bq), num_heads, interleaved)
    k = _split(F.linear(kv, wk, bk), num_heads, interleaved)
    v = _split(F.linear(kv, wv, bv), num_heads, interleaved)
    head_dim = q.shape[-1]
    scores = q @ k.transpose(-2, -1)
    if variant is None:
        out = F.scaled_dot_product_attention(q, k, v)
        weights = (scores / math.sqrt(head_dim)).softmax(-1)
    else:
        if variant == "missing scale":
            weights = scores.softmax(-1)
        elif variant == "scaled by sqrt(dim)":
            weights = (scores / math.sqrt(query.shape[-1])).softmax(-1)
        elif variant == "softmax over queries":
            weights = (scores / math.sqrt(head_dim)).softmax(-2)
        else:
            weights = (scores / math.sqrt(head_dim)).softmax(-1)
        out = weights @ v
    merged = _merge(out, interleaved)
    if variant == "no out_proj":
        return merged, weights
    return F.linear(merged, wo, bo), weights


_LAYER_ADVICE = {
    "missing scale": "the scores are not scaled: divide by sqrt(head_dim) per head.",
    "scaled by sqrt(dim)": "the scores are divided by sqrt(dim); each head's keys have head_dim = dim // num_heads "
                           "channels, so divide by sqrt(head_dim).",
    "softmax over queries": "the softmax runs over the queries; run it over the keys (the last axis).",
    "no out_proj": "the heads are concatenated but not mixed: apply the output projection (out_proj) at the end.",
}

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
        expected, expected_w = reference_cross_attention(proj, query, kv, heads)
        split = "contiguous"
        if not torch.allclose(out, expected, atol=1e-5, rtol=1e-4) and heads > 1:
            alt, alt_w = reference_cross_attention(proj, query, kv, heads, interleaved=True)
            if torch.allclose(out, alt, atol=1e-5, rtol=1e-4):
                expected, expected_w, split = alt, alt_w, "interleaved"
        hint = ""
        if not torch.allclose(out, expected, atol=1e-5, rtol=1e-4):
            for variant, advice in _LAYER_ADVICE.items():
                wrong, _ = reference_cross_attention(proj, query, kv, heads, variant=variant)
                if wrong.shape == out.shape and torch.allclose(out, wrong, atol=1e-5, rtol=1e-4):
                    hint = _cap(advice)
                    break
            else:
                hint = ("Compare step by step: project, split into heads of dim // num_heads channels, "
                        "softmax(q k^T / sqrt(head_dim)) over the keys, weights @ v, merge the heads, out_proj.")
        check.close(out, expected, f"{prefix}output with {heads} head(s) vs F.scaled_dot_product_attention on "
                    f"your own projection weights ({split} head split)", hint=hint)
        weights = getattr(layer, "last_attn_weights", None)
        mha_hint = (" With nn.MultiheadAttention call it as self.mha(query, kv, kv, need_weights=True, "
                    "average_attn_weights=False).") if "mha" in proj else ""
        if weights is None:
            check.fail("keep the attention weights of the last forward pass in `self.last_attn_weights` "
                       "(shape (B, num_heads, N_q, N_kv)) for the plots." + mha_hint)
        if isinstance(weights, torch.Tensor) and weights.dim() == 3 and tuple(weights.shape) == tuple(
                expected_w.mean(1).shape) and heads > 1:
            check.fail(f"last_attn_weights has shape {tuple(weights.shape)}: the heads were averaged. Keep one "
                       "weight matrix per head, (B, num_heads, N_q, N_kv)." + (mha_hint or " Do not average "
                       "over the head dimension."))
        if isinstance(weights, torch.Tensor) and weights.dim() == 3 and heads == 1:
            weights = weights.unsqueeze(1)           # one head: (B, N_q, N_kv) is the same matrix
        check.shape(weights, tuple(expected_w.shape), f"{prefix}last_attn_weights")
        check.close(weights, expected_w, f"{prefix}last_attn_weights", hint="store the softmax weights "
                    "(after scaling and softmax over the keys) of the LAST forward call.")


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
