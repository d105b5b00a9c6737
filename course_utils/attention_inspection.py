"""Looking inside a learner's attention layer: where its projections are, how to call it, its gradients.

The checks use it to test a learner's layer with the learner's own weights, the notebooks to show what
the gradients of the query and key projections do. Nothing here computes an exercise's answer.
"""
from __future__ import annotations

import torch
from torch import nn

PROJECTION_NAMES = {
    # attribute names of nn.Linear children that hold the query, key, value, packed key-value and output projections
    "q": {"q_proj", "q", "query", "to_q", "w_q", "wq", "q_linear", "linear_q", "query_proj", "proj_q"},
    "k": {"k_proj", "k", "key", "to_k", "w_k", "wk", "k_linear", "linear_k", "key_proj", "proj_k"},
    "v": {"v_proj", "v", "value", "to_v", "w_v", "wv", "v_linear", "linear_v", "value_proj", "proj_v"},
    "kv": {"kv_proj", "kv", "to_kv", "w_kv", "kv_linear", "linear_kv"},
    "o": {"out_proj", "o_proj", "out", "to_out", "w_o", "wo", "out_linear", "linear_out", "o", "proj_out",
          "output_proj", "fc_out"},
}


def affine(linear: nn.Linear):
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
            return {"q": (wq, bq), "k": (wk, bk), "v": (wv, bv), "o": affine(module.out_proj),
                    "mha": module}
    found = {}
    for name, module in layer.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        leaf = name.split(".")[-1].lower()
        if leaf.isdigit() and "." in name:          # e.g. to_out = Sequential(Linear, Dropout): "to_out.0"
            leaf = name.split(".")[-2].lower()
        for role, names in PROJECTION_NAMES.items():
            if leaf in names and role not in found:
                found[role] = affine(module)
    if "kv" in found and not ("k" in found and "v" in found):
        w, b = found.pop("kv")
        found["k"], found["v"] = (w.chunk(2)[0], b.chunk(2)[0]), (w.chunk(2)[1], b.chunk(2)[1])
    if all(role in found for role in "qkvo"):
        return found
    return None




def attend(layer: nn.Module, query: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
    """Call a cross-attention ``layer`` as ``layer(query, kv)``; also accepts ``nn.MultiheadAttention``
    (``batch_first=True`` or not), which is called as ``layer(query, kv, kv)``."""
    if isinstance(layer, nn.MultiheadAttention):
        if not layer.batch_first:
            out = layer(query.transpose(0, 1), kv.transpose(0, 1), kv.transpose(0, 1))[0]
            return out.transpose(0, 1)
        return layer(query, kv, kv)[0]
    return layer(query, kv)


def query_key_gradients(layer: nn.Module) -> list:
    """The gradients of a layer's query and key projections (weights and biases), for inspection.

    Understands ``q_proj``/``k_proj`` style ``nn.Linear`` children (and ``to_q``, ``query``, ...) and
    ``nn.MultiheadAttention`` (the first two thirds of its stacked ``in_proj`` parameters). Returns a list of
    tensors (zeros where a parameter has no gradient yet); empty when no such projection is found.
    """
    grads = []
    for name, p in layer.named_parameters():
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        parts = name.lower().split(".")
        if parts[-1] in ("in_proj_weight", "in_proj_bias"):
            grads.append(grad[: 2 * p.shape[0] // 3])
        elif parts[-1] in ("q_proj_weight", "k_proj_weight"):
            grads.append(grad)
        elif len(parts) >= 2 and parts[-2] in PROJECTION_NAMES["q"] | PROJECTION_NAMES["k"]:
            grads.append(grad)
    return grads
