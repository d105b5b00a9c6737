"""Checks for notebook 10 (multiplicative fusion): Tensor Fusion, Low-rank Multimodal Fusion, FiLM, and the
parameter counts of TFN and LMF as formulas.

The visible checks test properties of the learner's own code (shapes, which terms the fused vector contains, that
the fusion multiplies rather than adds, that it is bilinear, that FiLM is the identity under zero conditioning), so
any correct form passes (broadcasting, ``einsum``, ``bmm``; the outer product in either order). The parts that
compute the answer (the outer product itself, the bilinear form composed from the learner's factors, factors that
reproduce a given Tensor Fusion head, the typical wrong counts that spell out the right ones) are in
``hidden/nb10.py``. The counts are judged against ``sum(p.numel())`` of the notebook's models on several shapes.
"""
from __future__ import annotations

import torch
from torch import nn

from ..feedback import exercise
from .common import hidden, interaction_gap

# distinct sizes, so that a shape tells which mistake made it
D_V, D_T, BATCH = 4, 3, 6


def _inputs(batch: int, d_v: int, d_t: int, seed: int, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, d_v, generator=gen).to(dtype), torch.randn(batch, d_t, generator=gen).to(dtype))


def _columns_match(out: torch.Tensor, target: torch.Tensor, atol: float = 1e-5) -> bool:
    """Whether some column of ``out`` (B, K) equals ``target`` (B,)."""
    return bool(((out - target[:, None]).abs().max(0).values < atol).any())


# ---------------------------------------------------------------------------------------------------
_SHAPE_ADVICE = {
    D_V * D_T: "it has d_v * d_t entries per sample: the 1s are missing. Append a column of ones to each embedding "
               "first, z_v = [e_v; 1] and z_t = [e_t; 1], so that the tensor keeps each modality alone",
    (D_V + 1) * D_T: "only e_v got the appended 1; append one to e_t as well",
    D_V * (D_T + 1): "only e_t got the appended 1; append one to e_v as well",
    D_V + D_T + 2: "that is the size of a concatenation [e_v; 1; e_t; 1]; Tensor Fusion takes the outer product "
                   "z_v z_t^T, with (d_v + 1) * (d_t + 1) entries",
    D_V + D_T: "that is the size of a concatenation [e_v; e_t]; Tensor Fusion takes the outer product of [e_v; 1] "
               "and [e_t; 1], with (d_v + 1) * (d_t + 1) entries",
}


@exercise("10.tensor_fusion", "Tensor Fusion: the flattened outer product of [e_v; 1] and [e_t; 1]")
def check_tensor_fusion(check, tensor_fusion):
    e_v, e_t = _inputs(BATCH, D_V, D_T, seed=0)
    e_v.requires_grad_(True)
    e_t.requires_grad_(True)
    out = check.call(tensor_fusion, e_v, e_t, what="tensor_fusion")
    if not isinstance(out, torch.Tensor):
        check.fail(f"tensor_fusion should return a tensor of shape (B, (d_v + 1) * (d_t + 1)), got {type(out).__name__}")
    expected = (BATCH, (D_V + 1) * (D_T + 1))
    if out.dim() == 3 and out.shape[0] == BATCH and out.shape[1:].numel() == expected[1]:
        check.fail(f"the result has shape {tuple(out.shape)}: flatten the outer product of each sample to one vector, "
                   "e.g. .flatten(1) or .reshape(len(e_v), -1)")
    if out.dim() == 2 and out.shape[0] == BATCH and out.shape[1] in _SHAPE_ADVICE:
        check.fail(f"for e_v of shape {tuple(e_v.shape)} and e_t of shape {tuple(e_t.shape)} the result has shape "
                   f"{tuple(out.shape)}: {_SHAPE_ADVICE[out.shape[1]]}")
    check.shape(out, expected, f"tensor_fusion of e_v {tuple(e_v.shape)} and e_t {tuple(e_t.shape)}")

    with torch.no_grad():
        ev, et, o = e_v.detach(), e_t.detach(), out.detach().float()
        single = check.call(tensor_fusion, ev[:1], et[:1], what="tensor_fusion on one sample")
        check.expect(single.shape == (1, expected[1]) and torch.allclose(single.float(), o[:1], atol=1e-5),
                     "each sample's result depends on that sample only",
                     "the result of the first sample changes when the other samples of the batch are left out: the "
                     "outer product must be taken per sample, z_v[b] z_t[b]^T (e.g. einsum 'bi,bj->bij'), never "
                     "across the batch (z_v.T @ z_t sums over it)")
        if bool((o.abs().max(0).values < 1e-7).any()):
            check.fail("a whole column of the result is zero for every sample: did you append 0 instead of 1? "
                       "z_v = torch.cat([e_v, torch.ones(len(e_v), 1)], dim=-1)")
        missing_v = [i for i in range(D_V) if not _columns_match(o, ev[:, i])]
        missing_t = [j for j in range(D_T) if not _columns_match(o, et[:, j])]
        check.expect(not missing_v and not missing_t,
                     "it contains e_v and e_t themselves (their products with the other's 1): the unimodal terms",
                     f"the result should contain every feature of e_v and of e_t unchanged (e_v times the 1 of z_t, "
                     f"and e_t times the 1 of z_v); missing: {len(missing_v)} of e_v's and {len(missing_t)} of e_t's "
                     "features. Multiply (not add) the two vectors, and append a 1 (not another value) to each")
        check.expect(_columns_match(o, torch.ones(BATCH)), "it contains the constant 1 (the product of the two 1s)",
                     "no entry of the result is the constant 1 for every sample: the outer product of [e_v; 1] and "
                     "[e_t; 1] has the entry 1 * 1")
    check.expect(out.requires_grad, "the result is part of the autograd graph",
                 "no gradient reaches e_v or e_t: the result is not connected to them (a .detach(), numpy or .item() "
                 "on the way?). Compute it with torch operations on the inputs")
    (out.float() * torch.linspace(-1, 1, expected[1])).sum().backward()
    check.expect(e_v.grad is not None and e_t.grad is not None and e_v.grad.abs().sum() > 0
                 and e_t.grad.abs().sum() > 0, "the gradient reaches both embeddings",
                 "no gradient reaches e_v or e_t: compute with torch operations on the inputs (no .detach(), numpy "
                 "or .item())")
    hidden(check, "nb10", "tensor_fusion_values", tensor_fusion)


# ---------------------------------------------------------------------------------------------------
L_V, L_T, L_OUT, L_RANK = 5, 3, 7, 2


def _factor(check, module, name: str, expected: tuple, dim_name: str):
    __tracebackhide__ = True
    factor = getattr(module, name, None)
    if factor is None:
        check.not_implemented(f"self.{name} is still None")
    check.expect(isinstance(factor, nn.Parameter) and any(p is factor for p in module.parameters()),
                 f"`self.{name}` is an nn.Parameter registered with the module",
                 f"`self.{name}` should be an nn.Parameter (so the optimiser trains it), got {type(factor).__name__}")
    shape = tuple(factor.shape)
    rank, dim_plus_one, out_dim = expected
    if shape == (rank, dim_plus_one - 1, out_dim):
        check.fail(f"`self.{name}` has shape {shape}: the middle size is {dim_name} + 1, one row more for the "
                   "appended 1 (that row gives the unimodal terms and the bias)")
    if shape != expected and sorted(shape) == sorted(expected):
        check.fail(f"`self.{name}` has shape {shape}; keep the order (rank, {dim_name} + 1, out_dim) = {expected}: "
                   "the check (and the notebook's count of parameters) reads the factors in that order")
    check.expect(shape == expected, f"`self.{name}` has shape (rank, {dim_name} + 1, out_dim) = {expected}",
                 f"`self.{name}` should have shape (rank, {dim_name} + 1, out_dim) = {expected}, got {shape}")
    check.expect(bool(factor.detach().abs().sum() > 0), f"`self.{name}` starts random, not zero",
                 f"`self.{name}` starts at zero: then the gradient of each factor, which is proportional to the other "
                 "factor, is zero too and nothing trains. Initialise with torch.randn(...) / math.sqrt(dim + 1)")
    return factor


@exercise("10.low_rank_fusion", "Low-rank Multimodal Fusion: h = sum_i (z_v A_i) * (z_t B_i)")
def check_low_rank_fusion(check, LowRankFusion):
    lmf = check.build(LowRankFusion, L_V, L_T, L_OUT, L_RANK)
    img_factor = _factor(check, lmf, "img_factor", (L_RANK, L_V + 1, L_OUT), "img_dim")
    txt_factor = _factor(check, lmf, "txt_factor", (L_RANK, L_T + 1, L_OUT), "txt_dim")
    extra = [name for name, p in lmf.named_parameters() if name not in ("img_factor", "txt_factor")]
    check.expect(not extra, "the factors are the only parameters",
                 f"LowRankFusion should have no parameters besides img_factor and txt_factor, found {extra}: the "
                 "appended 1s already give a bias, and fusion weights per rank can be folded into the factors")

    e_v, e_t = _inputs(BATCH, L_V, L_T, seed=1)
    h = check.call(lmf, e_v, e_t, what="LowRankFusion.forward")
    check.shape(h, (BATCH, L_OUT), f"h for e_v {tuple(e_v.shape)}, e_t {tuple(e_t.shape)}, out_dim {L_OUT}")
    with torch.no_grad():
        gap = interaction_gap(lambda a, b: lmf(a, b), L_V, L_T)
        check.expect(gap > 1e-3, "h has an interaction term: the two modalities are multiplied",
                     "h is additive in the modalities (h(a, t) - h(a, t') - h(a', t) + h(a', t') = 0): multiply the "
                     "two projections, (z_v A_i) * (z_t B_i), instead of adding them")
        v2, t2 = _inputs(BATCH, L_V, L_T, seed=2)
        for name, mid, ends in (("e_v", lmf((e_v + v2) / 2, e_t), (lmf(e_v, e_t), lmf(v2, e_t))),
                                ("e_t", lmf(e_v, (e_t + t2) / 2), (lmf(e_v, e_t), lmf(e_v, t2)))):
            check.expect(torch.allclose(mid, (ends[0] + ends[1]) / 2, atol=1e-4),
                         f"h is affine in {name} when the other embedding is fixed",
                         f"h should be affine in {name} for a fixed other embedding (a bilinear form of z_v and z_t); "
                         "it is not: is there a nonlinearity, a square, or a product over the rank instead of a sum?")
        alone = lmf(e_v, torch.zeros_like(e_t))
        check.expect(bool((alone - alone.mean(0)).abs().max() > 1e-4), "with e_t = 0 the image still reaches h",
                     "with e_t = 0 every sample gets the same h: the 1 appended to e_t is missing, so the image has no "
                     "path of its own. z_t = [e_t; 1] multiplies txt_factor's last row")
        for i in range(L_RANK):
            saved = img_factor[i].clone()
            img_factor[i].zero_()
            changed = not torch.allclose(lmf(e_v, e_t), h.detach(), atol=1e-6)
            img_factor[i].copy_(saved)
            check.expect(changed, f"rank term {i} is used", f"setting img_factor[{i}] to zero leaves h unchanged: "
                         "every rank term i = 0 .. rank - 1 should contribute, h = sum_i (z_v A_i) * (z_t B_i)")
    hidden(check, "nb10", "low_rank_values", LowRankFusion, lmf)


# ---------------------------------------------------------------------------------------------------
F_DIM, C_DIM = 6, 4


def _scale_shift(film, cond):
    """``(s, t)`` with ``film(x, cond) = s * x + t`` read off the learner's layer: t at x = 0, s from x = 1."""
    zeros = torch.zeros(len(cond), F_DIM)
    shift = film(zeros, cond)
    return film(torch.ones_like(zeros), cond) - shift, shift


@exercise("10.film", "FiLM: (1 + gamma(cond)) * x + beta(cond), the identity for zero conditioning")
def check_film(check, FiLM):
    film = check.build(FiLM, F_DIM, C_DIM)
    check.expect(any(p.requires_grad for p in film.parameters()), "FiLM has learnable parameters",
                 "FiLM has no parameters: gamma and beta are predicted from cond by a layer, e.g. "
                 "nn.Linear(cond_dim, 2 * feat_dim)")
    gen = torch.Generator().manual_seed(3)
    x, cond = torch.randn(BATCH, F_DIM, generator=gen), torch.randn(BATCH, C_DIM, generator=gen)
    film.eval()
    out = check.call(film, x, cond, what="FiLM.forward")
    check.shape(out, (BATCH, F_DIM), f"FiLM(x {tuple(x.shape)}, cond {tuple(cond.shape)})")
    with torch.no_grad():
        zero = torch.zeros_like(cond)
        identity = check.call(film, x, zero, what="FiLM.forward with zero conditioning")
        if not torch.allclose(identity, x, atol=1e-5):
            scale, shift = _scale_shift(film, zero)
            if torch.allclose(identity, film(x, torch.randn(cond.shape, generator=gen)), atol=1e-6):
                check.fail("FiLM's output does not change with cond (and is not x for zero cond): gamma and beta "
                           "must be predicted from the conditioning, layer(cond), not from x")
            if scale.abs().max() < 1e-6:
                check.fail("with zero conditioning FiLM returns (close to) a constant, whatever x is: the scale is "
                           "applied as gamma * x, which the zero bias makes 0 * x (the Hadamard collapse). Write "
                           "(1 + gamma) * x + beta")
            if torch.allclose(scale, torch.ones_like(scale), atol=1e-5):
                check.fail("with zero conditioning FiLM returns x plus a shift: initialise the bias that predicts beta "
                           "to zero (nn.init.zeros_(layer.bias)), so that zero conditioning gives beta = 0")
            check.fail("with zero conditioning FiLM should return x itself at initialisation (gamma = beta = 0); it "
                       f"scales x by {scale.mean().item():.3g} on average. Initialise the bias of the layer that "
                       "predicts gamma and beta to zero, and write the scale as (1 + gamma)")
        check.ok("at initialisation FiLM(x, 0) = x: zero conditioning is the identity")

        for p in film.parameters():                       # away from the identity, to see the structure
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        scale, shift = _scale_shift(film, cond)
        x2 = torch.randn(BATCH, F_DIM, generator=gen)
        got = film(x2, cond)
        check.expect(torch.allclose(got, scale * x2 + shift, atol=1e-4),
                     "FiLM scales and shifts each feature of x separately: s(cond) * x + t(cond)",
                     "FiLM's output should be s * x + t, feature by feature, with s and t computed from cond only; "
                     "yours mixes the features of x or is not affine in x. Apply gamma and beta element-wise: "
                     "(1 + gamma) * x + beta, with gamma and beta of shape (B, feat_dim) predicted from cond")
        scale2, shift2 = _scale_shift(film, cond.flip(0))
        check.expect(not torch.allclose(scale, scale2, atol=1e-5), "the scale depends on the conditioning",
                     "the scale is the same for every cond: gamma must be predicted from cond (not be a fixed "
                     "parameter, and not be computed from x)")
        check.expect(not torch.allclose(shift, shift2, atol=1e-5), "the shift depends on the conditioning",
                     "the shift does not change with cond: add beta, predicted from cond, (1 + gamma) * x + beta")
        check.expect(bool((scale - scale.mean(1, keepdim=True)).abs().max() > 1e-5), "each feature has its own scale",
                     "every feature of x gets the same scale: gamma should have feat_dim values per sample, not one")
    film.zero_grad()
    x_g, c_g = x.clone().requires_grad_(True), cond.clone().requires_grad_(True)
    (film(x_g, c_g) * torch.linspace(-1, 1, F_DIM)).sum().backward()
    check.expect(x_g.grad is not None and c_g.grad is not None and c_g.grad.abs().sum() > 0,
                 "the gradient reaches x and the conditioning", "no gradient reaches cond: compute gamma and beta "
                 "from it with torch layers (no .detach())")
    hidden(check, "nb10", "film_affine_in_cond", film, _scale_shift, cond, gen)


# ---------------------------------------------------------------------------------------------------
# (img_dim, txt_dim, out_dim, rank): distinct sizes, so that a wrong count tells which size it misuses
COUNT_SHAPES = ((4, 3, 2, 1), (5, 7, 3, 2), (16, 16, 2, 4), (1, 9, 5, 3), (8, 2, 1, 6))


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_counts(img_dim: int, txt_dim: int, out_dim: int, rank: int) -> tuple[int, int]:
    """``(TFN, LMF)``: the parameters of the notebook's ``TensorFusionModel`` and ``LowRankFusionModel`` with
    identity encoders, counted with ``sum(p.numel())`` (no formula). LMF is built on ``10.low_rank_fusion``'s
    implementation (the reference, or the learner's class once its check passed)."""
    from ..models import multiplicative
    from ..references import implementation
    tfn = multiplicative.TensorFusionModel(img_dim, txt_dim, out_dim, fuse_fn=lambda e_v, e_t: None)
    lmf = multiplicative.LowRankFusionModel(img_dim, txt_dim, out_dim, rank=rank,
                                            lmf_class=implementation("10.low_rank_fusion"))
    return _count(tfn), _count(lmf)


def _as_count(check, value, what: str) -> int:
    __tracebackhide__ = True
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            check.fail(f"{what} should be one number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__index__"):
        check.fail(f"{what} should be a number (an int), got {type(value).__name__}")
    if isinstance(value, float) and not value.is_integer():
        check.fail(f"{what} is {value}, not a whole number: a parameter count is an integer (use // or int(), "
                   "and no division that leaves a fraction)")
    return int(value)


@exercise("10.parameter_counts", "the parameter counts of Tensor Fusion and LMF as formulas of the sizes")
def check_parameter_counts(check, parameter_counts):
    for img_dim, txt_dim, out_dim, rank in COUNT_SHAPES:
        sizes = f"img_dim={img_dim}, txt_dim={txt_dim}, out_dim={out_dim}, rank={rank}"
        got = check.call(parameter_counts, img_dim, txt_dim, out_dim, rank, what=f"parameter_counts({sizes})")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            check.fail(f"parameter_counts({sizes}) should return two numbers, (tfn, lmf); got {got!r}")
        tfn, lmf = (_as_count(check, value, f"the {name} count for {sizes}") for value, name in
                    zip(got, ("TFN", "LMF")))
        want_tfn, want_lmf = model_counts(img_dim, txt_dim, out_dim, rank)
        if (tfn, lmf) != (want_tfn, want_lmf):
            hidden(check, "nb10", "parameter_count_mistakes", (img_dim, txt_dim, out_dim, rank), (tfn, lmf),
                   (want_tfn, want_lmf))
            wrong = [f"{name}: yours {mine}, the model has {want}" for name, mine, want in
                     (("TFN", tfn, want_tfn), ("LMF", lmf, want_lmf)) if mine != want]
            check.fail(f"for {sizes}: {'; '.join(wrong)}. Count every parameter of each model: TFN's head is one "
                       "nn.Linear on the flattened tensor (weights and bias); LMF has its two factors only")
    check.ok(f"both counts equal sum(p.numel()) of the notebook's models on {len(COUNT_SHAPES)} shapes")
    big = check.call(parameter_counts, 32, 32, 64, 8, what="parameter_counts(32, 32, 64, 8)")
    tfn, lmf = (_as_count(check, value, f"the {name} count for 32, 32, 64, 8") for value, name in
                zip(big, ("TFN", "LMF")))
    check.expect(lmf < tfn, "LMF at rank 8 is smaller than TFN for 32-dimensional embeddings",
                 "for 32-dimensional embeddings LMF at rank 8 should be smaller than TFN")
