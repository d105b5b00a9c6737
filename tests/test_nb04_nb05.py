"""Notebooks 04 and 05: attention reference code, binding data, and the exercise checks (alternatives that
must pass, typical mistakes that must fail with a message saying what to fix)."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import nb04, nb05
from course_utils.data.binding import make_binding, make_two_way_binding
from course_utils.feedback import CheckFailed, NotImplementedYet
from course_utils.models import attention as A

from copies import own

scaled_dot_product_attention = own("04.sdpa")
CrossAttentionLayer = own("04.cross_attention")
BidirectionalCrossAttention = own("05.bidirectional")
from course_utils.training import fit


# --- scaled dot-product attention ------------------------------------------------------------------------

def test_worked_example_matches_hand_computation():
    out, w = scaled_dot_product_attention(torch.tensor(nb04.WORKED_Q), torch.tensor(nb04.WORKED_K),
                                            torch.tensor(nb04.WORKED_V))
    e = math.exp(1 / math.sqrt(2))
    assert torch.allclose(w, torch.tensor([[e / (e + 1), 1 / (e + 1)]]), atol=1e-6)
    assert torch.allclose(w, torch.tensor([[0.67, 0.33]]), atol=5e-3)
    assert torch.allclose(out, torch.tensor([[0.37, 0.47]]), atol=6e-3)


def sdpa_einsum(q, k, v):
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    w = F.softmax(scores, dim=-1)
    return torch.einsum("...qk,...kd->...qd", w, v), w


def sdpa_unscaled(q, k, v):
    w = (q @ k.transpose(-2, -1)).softmax(-1)
    return w @ v, w


def sdpa_by_dk(q, k, v):
    w = (q @ k.transpose(-2, -1) / q.shape[-1]).softmax(-1)
    return w @ v, w


def sdpa_wrong_axis(q, k, v):
    w = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2)
    return w @ v, w


def sdpa_only_output(q, k, v):
    return sdpa_einsum(q, k, v)[0]


def sdpa_todo(q, k, v):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [scaled_dot_product_attention, sdpa_einsum])
def test_sdpa_check_accepts_correct(fn):
    assert nb04.check_scaled_dot_product_attention(fn)


@pytest.mark.parametrize("fn, words", [(sdpa_unscaled, "sqrt(d_k)"), (sdpa_by_dk, "square root"),
                                       (sdpa_wrong_axis, "over the keys"), (sdpa_only_output, "(output, weights)")])
def test_sdpa_check_rejects_mistakes(fn, words):
    with pytest.raises(CheckFailed) as info:
        nb04.check_scaled_dot_product_attention(fn)
    assert words in str(info.value) and "04.sdpa" in str(info.value)
    assert not isinstance(info.value, NotImplementedYet)


def test_sdpa_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb04.check_scaled_dot_product_attention(sdpa_todo)


# --- the cross-attention layer -----------------------------------------------------------------------------

class MHALayer(nn.Module):
    """Built on torch.nn.MultiheadAttention."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, num_heads, batch_first=True)

    def forward(self, query, kv):
        out, self.last_attn_weights = self.mha(query, kv, kv, need_weights=True, average_attn_weights=False)
        return out


class MHAAveraged(MHALayer):
    def forward(self, query, kv):
        out, self.last_attn_weights = self.mha(query, kv, kv)          # weights averaged over heads
        return out


class InterleavedLayer(nn.Module):
    """Hand-written, other names, packed key/value projection, no biases, heads take strided channels."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.h = num_heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, query, kv):
        b, nq, d = query.shape
        q = self.to_q(query).reshape(b, nq, d // self.h, self.h).permute(0, 3, 1, 2)
        k, v = self.to_kv(kv).chunk(2, dim=-1)
        k = k.reshape(b, -1, d // self.h, self.h).permute(0, 3, 1, 2)
        v = v.reshape(b, -1, d // self.h, self.h).permute(0, 3, 1, 2)
        out, self.last_attn_weights = sdpa_einsum(q, k, v)
        return self.to_out(out.permute(0, 2, 3, 1).reshape(b, nq, d))


def _layer_with(weights_fn, out_proj=True):
    class Wrong(CrossAttentionLayer):
        def _heads(self, x):                                     # (B, N, dim) -> (B, H, N, head_dim)
            return x.reshape(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

        def forward(self, query, kv):
            q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(kv)), self._heads(self.v_proj(kv))
            w = weights_fn(q, k, query.shape[-1])
            self.last_attn_weights = w.detach()
            out = (w @ v).transpose(1, 2).reshape(query.shape)
            return self.out_proj(out) if out_proj else out
    return Wrong


RIGHT = lambda q, k, d: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)  # noqa: E731


class TodoLayer(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        raise NotImplementedError()


@pytest.mark.parametrize("layer", [CrossAttentionLayer, MHALayer, InterleavedLayer])
def test_layer_check_accepts_correct(layer):
    assert nb04.check_cross_attention_layer(layer)


@pytest.mark.parametrize("layer, words", [
    (_layer_with(lambda q, k, d: (q @ k.transpose(-2, -1)).softmax(-1)), "not scaled"),
    (_layer_with(lambda q, k, d: (q @ k.transpose(-2, -1) / math.sqrt(d)).softmax(-1)), "sqrt(head_dim)"),
    (_layer_with(lambda q, k, d: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2)), "over the keys"),
    (_layer_with(RIGHT, out_proj=False), "output projection"),
])
def test_layer_check_rejects_mistakes(layer, words):
    with pytest.raises(CheckFailed) as info:
        nb04.check_cross_attention_layer(layer)
    assert words in str(info.value) and not isinstance(info.value, NotImplementedYet)


def test_layer_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb04.check_cross_attention_layer(TodoLayer)


class MHANoWeights(MHALayer):
    def forward(self, query, kv):
        out, self.last_attn_weights = self.mha(query, kv, kv, need_weights=False)
        return out


@pytest.mark.parametrize("layer, words", [(MHAAveraged, "average_attn_weights=False"),
                                          (MHANoWeights, "need_weights=True")])
def test_layer_check_names_what_multihead_attention_needs(layer, words):
    with pytest.raises(CheckFailed) as info:
        nb04.check_cross_attention_layer(layer)
    assert words in str(info.value)


def test_layer_without_stored_weights_is_told():
    class NoWeights(MHALayer):
        def forward(self, query, kv):
            return self.mha(query, kv, kv)[0]
    with pytest.raises(CheckFailed, match="last_attn_weights"):
        nb04.check_cross_attention_layer(NoWeights)


def test_single_token_is_degenerate():
    torch.manual_seed(0)
    layer = CrossAttentionLayer(8, 2)
    kv = torch.randn(3, 1, 8)
    out1, out2 = layer(torch.randn(3, 1, 8), kv), layer(torch.randn(3, 1, 8) * 5, kv)
    assert torch.equal(layer.last_attn_weights, torch.ones_like(layer.last_attn_weights))
    assert torch.allclose(out1, out2, atol=1e-6)
    (out1.sum() + out2.sum()).backward()
    for p in (layer.q_proj.weight, layer.q_proj.bias, layer.k_proj.weight, layer.k_proj.bias):
        assert torch.count_nonzero(p.grad) == 0
    assert layer.v_proj.weight.grad.abs().sum() > 0


# --- bidirectional --------------------------------------------------------------------------------------------

class BidirMHA(nn.Module):
    """Built on nn.MultiheadAttention, pooled as the mean over all tokens of both modalities."""

    def __init__(self, dim, num_heads=4, shared=False):
        super().__init__()
        self.txt_to_img = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.img_to_txt = self.txt_to_img if shared else nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm_txt, self.norm_img = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, img_embed, txt_embed):
        t = self.norm_txt(txt_embed + self.txt_to_img(txt_embed, img_embed, img_embed)[0])
        i = self.norm_img(img_embed + self.img_to_txt(img_embed, txt_embed, txt_embed)[0])
        return torch.cat([t, i], dim=1).mean(dim=1)


def _bidir(combine):
    class Wrong(BidirectionalCrossAttention):
        def forward(self, img_embed, txt_embed):
            return combine(self, img_embed, txt_embed)
    return Wrong


def _ok(self, img, txt):
    return BidirectionalCrossAttention.forward(self, img, txt)


ONLY_TEXT = _bidir(lambda s, i, t: s.norm_txt(t + s.txt_to_img(t, i)).mean(1))
ONLY_IMAGE = _bidir(lambda s, i, t: s.norm_img(i + s.img_to_txt(i, t)).mean(1))
NO_RESIDUAL = _bidir(lambda s, i, t: 0.5 * (s.norm_txt(s.txt_to_img(t, i)).mean(1)
                                            + s.norm_img(s.img_to_txt(i, t)).mean(1)))
SWAPPED = _bidir(lambda s, i, t: 0.5 * (s.norm_txt(t + s.txt_to_img(i, t)).mean(1)
                                        + s.norm_img(i + s.img_to_txt(t, i)).mean(1)))
NORM_OUTSIDE = _bidir(lambda s, i, t: 0.5 * ((t + s.norm_txt(s.txt_to_img(t, i))).mean(1)
                                             + (i + s.norm_img(s.img_to_txt(i, t))).mean(1)))


class IgnoresShared(BidirectionalCrossAttention):
    def __init__(self, dim, num_heads=4, shared=False):
        super().__init__(dim, num_heads, shared=False)


class BidirTodo(nn.Module):
    def __init__(self, dim, num_heads=4, shared=False):
        super().__init__()
        self.txt_to_img = None
        self.img_to_txt = None
        self.norm_txt = None
        self.norm_img = None

    def forward(self, img_embed, txt_embed):
        raise NotImplementedError()


def _with_layer(layer_cls):
    class Block(BidirectionalCrossAttention):
        def __init__(self, dim, num_heads=4, shared=False):
            super().__init__(dim, num_heads, shared)
            self.txt_to_img = layer_cls(dim, num_heads)
            self.img_to_txt = self.txt_to_img if shared else layer_cls(dim, num_heads)
    return Block


@pytest.mark.parametrize("block", [BidirectionalCrossAttention, BidirMHA, _with_layer(InterleavedLayer)])
def test_bidirectional_checks_accept_correct(block):
    assert nb05.check_bidirectional(block)
    assert nb05.check_shared(block)


@pytest.mark.parametrize("block, words", [(ONLY_TEXT, "image -> text"), (ONLY_IMAGE, "text -> image"),
                                          (NO_RESIDUAL, "residual"), (SWAPPED, "swapped"),
                                          (NORM_OUTSIDE, "residual sum")])
def test_bidirectional_check_rejects_mistakes(block, words):
    with pytest.raises(CheckFailed) as info:
        nb05.check_bidirectional(block)
    assert words in str(info.value) and not isinstance(info.value, NotImplementedYet), str(info.value)


def test_bidirectional_wrong_direction_layer_is_named():
    with pytest.raises(CheckFailed, match="txt_to_img"):
        nb05.check_bidirectional(_with_layer(_layer_with(lambda q, k, d: (q @ k.transpose(-2, -1)).softmax(-1))))


class SharedCopy(BidirectionalCrossAttention):
    """shared=True as a copy of the layer: equal values at the start, but two sets of weights."""

    def __init__(self, dim, num_heads=4, shared=False):
        super().__init__(dim, num_heads, shared=False)
        if shared:
            self.img_to_txt = copy.deepcopy(self.txt_to_img)


class SharesNorms(BidirectionalCrossAttention):
    """shared=True also merges the two layer norms (the exercise shares the attention layer only)."""

    def __init__(self, dim, num_heads=4, shared=False):
        super().__init__(dim, num_heads, shared=shared)
        if shared:
            self.norm_img = self.norm_txt


class SharedLoadState(BidirectionalCrossAttention):
    """shared=True by loading the same state dict: tied values, untied weights."""

    def __init__(self, dim, num_heads=4, shared=False):
        super().__init__(dim, num_heads, shared=False)
        if shared:
            self.img_to_txt.load_state_dict(self.txt_to_img.state_dict())


@pytest.mark.parametrize("block, words", [(IgnoresShared, "ONE attention layer"), (SharedCopy, "ONE attention layer"),
                                          (SharedLoadState, "ONE attention layer"),
                                          (SharesNorms, "exactly one attention layer")],
                         ids=["separate", "deepcopy", "load-state", "shares-norms"])
def test_shared_check_rejects_mistakes(block, words):
    with pytest.raises(CheckFailed, match=words) as info:
        nb05.check_shared(block)
    assert not isinstance(info.value, NotImplementedYet)


def test_bidirectional_check_unfinished():
    for check in (nb05.check_bidirectional, nb05.check_shared):
        with pytest.raises(NotImplementedYet, match="not implemented yet"):
            check(BidirTodo)


def test_bidirectional_shapes_and_parameters():
    sep, sh = BidirectionalCrossAttention(32, 4), BidirectionalCrossAttention(32, 4, shared=True)
    assert sep(torch.randn(2, 1, 32), torch.randn(2, 1, 32)).shape == (2, 32)
    assert sh(torch.randn(2, 5, 32), torch.randn(2, 3, 32)).shape == (2, 32)
    layer = sum(p.numel() for p in CrossAttentionLayer(32, 4).parameters())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(sep) - count(sh) == layer == 4 * (32 * 32 + 32)


# --- data and models -----------------------------------------------------------------------------------------

def test_binding_data_is_consistent_and_deterministic():
    data, info = make_binding(500, seed=3, return_info=True)
    image, text = data.modalities
    assert image.shape == (500, 4, 16) and text.shape == (500, 16) and data.num_classes == 6
    rows = torch.arange(500)
    assert torch.equal(info["shapes"][rows, info["target"]], info["query_shape"])
    assert torch.equal(info["colours"][rows, info["target"]], data.labels)
    assert all(len(set(r.tolist())) == 4 for r in info["shapes"][:50])
    assert all(len(set(r.tolist())) == 4 for r in info["colours"][:50])
    again = make_binding(500, seed=3)
    assert torch.equal(again.modalities[0], image) and torch.equal(again.labels, data.labels)
    assert not torch.equal(make_binding(500, seed=4).labels, data.labels)
    # the codebooks do not depend on the sample seed: a noiseless token is the same vector in every draw
    a, ia = make_binding(50, seed=0, noise=0.0, return_info=True)
    b, ib = make_binding(50, seed=1, noise=0.0, return_info=True)
    i, j = 0, 0
    match = (ia["shapes"] == ib["shapes"][j, 0]) & (ia["colours"] == ib["colours"][j, 0])
    if match.any():
        r, c = match.nonzero()[0]
        assert torch.allclose(a.modalities[0][r, c], b.modalities[0][j, 0])


def test_binding_bad_input():
    with pytest.raises(ValueError, match="num_shapes"):
        make_binding(10, num_objects=5, num_shapes=4)
    with pytest.raises(ValueError, match="distinct_colours"):
        make_binding(10, num_objects=4, num_colours=3)
    with pytest.raises(ValueError, match="n must"):
        make_binding(1)


def test_two_way_binding():
    data, info = make_two_way_binding(400, seed=1, return_info=True)
    image, text = data.modalities
    assert image.shape == (400, 4, 16) and text.shape == (400, 4, 16) and data.num_classes == 9
    assert torch.equal(data.labels, info["red"] * 3 + info["big"])
    assert (info["present"].sum(1) == 2).all()
    assert info["red"].max() == 2 and info["big"].max() == 2
    with pytest.raises(ValueError, match="num_mentioned"):
        make_two_way_binding(10, num_mentioned=5)


@pytest.mark.parametrize("make", [
    lambda: A.CrossAttentionFusion(16, 16, 32, 4, 6), lambda: A.CrossAttentionFusion(16, 16, 32, 4, 6, pool_image=True),
    lambda: A.TokenConcatMLP(64, 16, 48, 6), lambda: A.TokenDecisionLateFusion(64, 16, 40, 6),
    lambda: A.TokenEmbeddingConcatFusion(64, 16, 32, 6), lambda: A.BidirectionalFusion(16, 16, 32, 4, 6),
    lambda: A.BidirectionalFusion(16, 16, 32, 4, 6, block_cls=A.ImageQueriesText),
    lambda: A.DeepSetsFusion(16, 16, 48, 6)])
def test_models_train_with_fit_on_tokens(make):
    data = make_binding(256, seed=0)
    history = fit(make(), data, data, epochs=1, batch_size=64, progress=False)
    assert len(history.val_acc) == 1


def test_models_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, dim\) or \(B, N, dim\)"):
        A.CrossAttentionFusion(16, 16, 32, 4, 6)(torch.randn(2, 4, 16), torch.randn(2, 1, 1, 16))
    with pytest.raises(ValueError, match="divisible"):
        CrossAttentionLayer(10, 3)


@pytest.mark.parametrize("layer_cls", [CrossAttentionLayer, MHALayer, InterleavedLayer])
def test_query_key_gradients_are_exactly_zero_over_one_token(layer_cls):
    torch.manual_seed(0)
    layer = layer_cls(8, 2)
    layer(torch.randn(3, 2, 8), torch.randn(3, 1, 8)).sum().backward()
    grads = A.query_key_gradients(layer)
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)
    layer.zero_grad()
    layer(torch.randn(3, 2, 8), torch.randn(3, 4, 8)).sum().backward()
    assert all(torch.count_nonzero(g) > 0 for g in A.query_key_gradients(layer))


def test_deep_sets_with_a_linear_phi_is_the_pooled_model_of_the_same_size():
    """04's ablation: without phi's ReLUs the shared layers commute with the mean over the tokens."""
    import torch
    from course_utils.models import attention
    from course_utils.training import count_parameters
    linear = attention.DeepSetsFusion(10, 4, 8, 3, linear_phi=True)
    assert count_parameters(linear) == count_parameters(attention.DeepSetsFusion(10, 4, 8, 3))
    image, text = torch.randn(5, 4, 10), torch.randn(5, 4)
    with torch.no_grad():
        pooled = linear.rho(linear.phi(torch.cat([image.mean(1), text], -1)))
        assert torch.allclose(linear(image, text), pooled, atol=1e-5)
        relu = attention.DeepSetsFusion(10, 4, 8, 3)
        assert not torch.allclose(relu(image, text), relu.rho(relu.phi(torch.cat([image.mean(1), text], -1))))
