"""Hidden checks of notebook 04: the parts that compute the answer (attention weights and a full multi-head
attention on the learner's own projection weights) and the typical mistakes that spell the formula out.

Left out of a graded release that withholds notebook 04; grading runs them from the instructor's package.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..common import cap


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


def _diagnose(weights, q, k, v):
    for name, wrong in _attention_variants(q, k, v).items():
        if weights.shape == wrong.shape and torch.allclose(weights, wrong, atol=1e-5):
            return cap(_ADVICE[name])
    return ""


def sdpa_hint(check, weights, q, k, v) -> str:
    """Advice naming the mistake when ``weights`` equal a typical wrong computation, else ``""``."""
    return _diagnose(weights, q, k, v)


def sdpa(check, scaled_dot_product_attention, unpack):
    """Weights and output against ``F.scaled_dot_product_attention`` on random batched inputs."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    for shape_q, shape_k, d_v in (((2, 3, 5, 8), (2, 3, 7, 8), 6), ((4, 1, 6), (4, 9, 6), 3)):
        q = torch.randn(*shape_q, generator=gen)
        k = torch.randn(*shape_k, generator=gen) * 2.0
        v = torch.randn(*shape_k[:-1], d_v, generator=gen)
        out, weights = unpack(check, check.call(scaled_dot_product_attention, q, k, v),
                              "scaled_dot_product_attention")
        expected_out = F.scaled_dot_product_attention(q, k, v)
        check.shape(out, tuple(expected_out.shape), f"output for q {shape_q}, k {shape_k}, v (..., {d_v})")
        hint = _diagnose(weights.detach(), q, k, v)
        expected_w = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
        check.close(weights, expected_w, f"weights for N_q={shape_q[-2]}, N_kv={shape_k[-2]}", hint=hint)
        check.close(out, expected_out, "output vs torch.nn.functional.scaled_dot_product_attention", hint=hint)


# --- a full multi-head cross-attention on the learner's projections -----------------------------------------

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

def layer(check, layer, proj, query, kv, heads, out, prefix=""):
    """Compare the output and ``last_attn_weights`` of one call with the reference on the layer's own weights."""
    __tracebackhide__ = True
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
                hint = cap(advice)
                break
        else:
            hint = ("Compare step by step: project, split into heads of dim // num_heads channels, "
                    "softmax(q k^T / sqrt(head_dim)) over the keys, weights @ v, merge the heads, out_proj.")
    check.close(out, expected, f"{prefix}output with {heads} head(s) vs F.scaled_dot_product_attention on "
                f"your own projection weights ({split} head split)", hint=hint)
    weights = getattr(layer, "last_attn_weights", None)
    if weights is not None and weights.dim() == 3:
        weights = weights.unsqueeze(1)           # one head (the visible check rejects averaged heads)
    check.close(weights, expected_w, f"{prefix}last_attn_weights", hint="store the softmax weights "
                "(after scaling and softmax over the keys) of the LAST forward call.")


def direction_layer(check, layer, name, query, kv, proj, heads, out):
    """Notebook 05: one direction layer of a bidirectional block against the reference on its own weights."""
    __tracebackhide__ = True
    expected = reference_cross_attention(proj, query, kv, heads)[0]
    if heads > 1 and not torch.allclose(out, expected, atol=1e-5, rtol=1e-4):
        expected = reference_cross_attention(proj, query, kv, heads, interleaved=True)[0]
    check.close(out, expected, f"{name} computes multi-head cross-attention",
                hint=f"{name} itself is wrong: check your CrossAttentionLayer with notebook 04's check.")
