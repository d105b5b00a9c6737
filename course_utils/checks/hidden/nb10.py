"""Hidden checks of notebook 10: the outer product computed again, the bilinear form composed from the learner's
LMF factors, LMF factors built from a Tensor Fusion head (per-slice SVD), FiLM's scale and shift as linear maps of
the conditioning, and the typical wrong parameter counts of TFN and LMF (which spell out the right ones).

Left out of a graded release that withholds notebook 10; grading runs them from the instructor's package.
"""
from __future__ import annotations

import itertools

import torch


def _with_one(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones_like(x[:, :1])], dim=-1)


def _outer(e_v: torch.Tensor, e_t: torch.Tensor) -> torch.Tensor:
    """``(B, d_v + 1, d_t + 1)``: [e_v; 1] [e_t; 1]^T per sample."""
    return torch.einsum("bi,bj->bij", _with_one(e_v), _with_one(e_t))


def tensor_fusion_values(check, tensor_fusion):
    """Every column of the result is one product z_v[i] z_t[j], each product once (any order of the entries)."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(11)
    for batch, d_v, d_t, dtype in ((7, 4, 3, torch.float32), (3, 1, 5, torch.float64)):
        e_v = torch.randn(batch, d_v, generator=gen).to(dtype)
        e_t = torch.randn(batch, d_t, generator=gen).to(dtype)
        out = check.call(tensor_fusion, e_v, e_t, what=f"tensor_fusion with d_v={d_v}, d_t={d_t}")
        want = _outer(e_v, e_t).flatten(1)
        check.shape(out, tuple(want.shape), f"tensor_fusion with d_v={d_v}, d_t={d_t}, dtype {dtype}")
        out, want = out.detach().double(), want.double()
        # column k of out against column m of want: equal for every sample?
        equal = ((out[:, :, None] - want[:, None, :]).abs().amax(0) < 1e-5)         # (K, K)
        check.expect(bool(equal.any(1).all()) and bool(equal.any(0).all()),
                     f"the entries are exactly the products z_v[i] * z_t[j] (d_v={d_v}, d_t={d_t})",
                     "the result should hold every product z_v[i] * z_t[j] of z_v = [e_v; 1] and z_t = [e_t; 1], each "
                     "once; some entries are not such a product, or some product is missing. Take the outer product "
                     "z_v[:, :, None] * z_t[:, None, :] and flatten it")


def _composed(lmf, e_v, e_t):
    """Sum over the rank of (z_v A_i) * (z_t B_i), from the learner's own factors."""
    a = torch.einsum("bi,rio->bro", _with_one(e_v), lmf.img_factor)
    b = torch.einsum("bj,rjo->bro", _with_one(e_t), lmf.txt_factor)
    return a, b


def low_rank_values(check, LowRankFusion, lmf):
    """The output against the bilinear form composed from its factors; full rank reproduces a Tensor Fusion head."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(12)
    rank, d_v1, out_dim = lmf.img_factor.shape
    d_t1 = lmf.txt_factor.shape[1]
    e_v, e_t = torch.randn(9, d_v1 - 1, generator=gen), torch.randn(9, d_t1 - 1, generator=gen)
    with torch.no_grad():
        got = lmf(e_v, e_t)
        a, b = _composed(lmf, e_v, e_t)
        want = (a * b).sum(1)
        if not torch.allclose(got, want, atol=1e-4, rtol=1e-4):
            hint = "h = sum over i of (z_v A_i) * (z_t B_i), with z = [e; 1] (the 1 last: the factors' last row " \
                   "multiplies it)."
            if torch.allclose(got, want / rank, atol=1e-4):
                hint = "You average over the rank; LMF sums the rank terms: (a * b).sum(1)."
            elif torch.allclose(got, (a + b).sum(1), atol=1e-4):
                hint = "You add the two modalities' projections; LMF multiplies them: (z_v A_i) * (z_t B_i)."
            elif torch.allclose(got, (a * b).prod(1), atol=1e-4):
                hint = "You multiply over the rank; LMF sums the rank terms: (a * b).sum(1)."
            else:
                ones = torch.ones(len(e_v), 1)
                a1 = torch.einsum("bi,rio->bro", torch.cat([ones, e_v], -1), lmf.img_factor)
                b1 = torch.einsum("bj,rjo->bro", torch.cat([ones, e_t], -1), lmf.txt_factor)
                if torch.allclose(got, (a1 * b1).sum(1), atol=1e-4):
                    hint = "You put the 1 first, [1; e]; append it last, [e; 1], so that the factors' last row " \
                           "multiplies it."
            check.close(got, want, "h against sum_i (z_v A_i) * (z_t B_i) composed from your factors", atol=1e-4,
                        hint=hint)
        check.ok("h = sum_i (z_v A_i) * (z_t B_i), composed from your own factors")

    # full rank: any Tensor Fusion head W (out, d_v + 1, d_t + 1) is reproduced by factors from each slice's SVD
    d_v, d_t, out_dim = 3, 4, 5
    full = min(d_v, d_t) + 1
    model = check.build(LowRankFusion, d_v, d_t, out_dim, full)
    weight = torch.randn(out_dim, d_v + 1, d_t + 1, generator=gen)
    u, s, vh = torch.linalg.svd(weight)                            # (out, d_v+1, k), (out, k), (out, k, d_t+1)
    with torch.no_grad():
        model.img_factor.copy_((u[:, :, :full] * s[:, None, :full]).permute(2, 1, 0))
        model.txt_factor.copy_(vh[:, :full, :].permute(1, 2, 0))
        e_v, e_t = torch.randn(8, d_v, generator=gen), torch.randn(8, d_t, generator=gen)
        tfn = torch.einsum("oij,bij->bo", weight, _outer(e_v, e_t))
        check.close(model(e_v, e_t), tfn, f"LMF at full rank ({full}) with factors built from a Tensor Fusion head "
                    "vs that head applied to vec([e_v; 1] x [e_t; 1])", atol=1e-4,
                    hint="At full rank LMF represents every Tensor Fusion head; check the sum over the rank and "
                         "that the 1 is appended last.")


def film_affine_in_cond(check, film, scale_shift, cond, gen):
    """FiLM's scale and shift are affine in the conditioning (one linear layer predicts gamma and beta)."""
    __tracebackhide__ = True
    with torch.no_grad():
        other = torch.randn(cond.shape, generator=gen)
        s0, t0 = scale_shift(film, cond)
        s1, t1 = scale_shift(film, other)
        sm, tm = scale_shift(film, (cond + other) / 2)
        check.expect(torch.allclose(sm, (s0 + s1) / 2, atol=1e-4) and torch.allclose(tm, (t0 + t1) / 2, atol=1e-4),
                     "gamma and beta are a linear map of the conditioning",
                     "gamma and beta should come from the conditioning through a linear map, [gamma; beta] = W cond + b "
                     "(one nn.Linear(cond_dim, 2 * feat_dim), or two); yours are not affine in cond")


def _count_mistakes(d_v: int, d_t: int, d_o: int, r: int) -> list[tuple[str, int, str]]:
    """``(model, count, advice)`` for the typical wrong counts of TFN and LMF at these sizes."""
    tfn, lmf = _correct(d_v, d_t, d_o, r)
    return [
        ("TFN", d_v * d_t * d_o + d_o, "the appended 1s are missing: the tensor is [e_v; 1] x [e_t; 1], "
                                       "(img_dim + 1) * (txt_dim + 1) entries"),
        ("TFN", (d_v + 1) * d_t * d_o + d_o, "only the image got its appended 1; the text has one too"),
        ("TFN", d_v * (d_t + 1) * d_o + d_o, "only the text got its appended 1; the image has one too"),
        ("TFN", (d_v + 1) * (d_t + 1) * d_o, "the head's bias is missing: nn.Linear has one bias per output"),
        ("TFN", d_v * d_t * d_o, "the appended 1s and the head's bias are missing"),
        ("TFN", (d_v + 1) * (d_t + 1) * (d_o + 1), "the bias is one per output, out_dim values, not one per input"),
        ("TFN", (d_v + d_t + 2) * d_o + d_o, "that is the head of a concatenation [z_v; z_t]; TFN's head reads "
                                             "the outer product, whose size is a product of the two sizes"),
        ("TFN", (d_v + 1) * (d_t + 1) * r + r, "TFN has no rank: its head maps the tensor to out_dim outputs"),
        ("TFN", (d_v + 1) * (d_t + 1) + d_o, "the head has one weight per entry of the tensor and per output"),
        ("LMF", r * (d_v + d_t) * d_o, "each factor has one row more for the appended 1 (img_dim + 1 and "
                                       "txt_dim + 1 rows)"),
        ("LMF", (d_v + 1 + d_t + 1) * d_o, "there is one pair of factors per rank term: multiply by rank"),
        ("LMF", r * r * (d_v + 1 + d_t + 1) * d_o, "the rank appears twice: each factor has shape "
                                                   "(rank, dim + 1, out_dim), so rank once per factor"),
        ("LMF", lmf + d_o, "LowRankFusion has no bias: the appended 1s already give one"),
        ("LMF", r * (d_v + 1) * (d_t + 1) * d_o, "the factors' sizes add, one factor per modality: LMF never "
                                                 "builds the (img_dim + 1) x (txt_dim + 1) tensor"),
        ("LMF", r * (d_v + 1 + d_t + 1), "each factor has out_dim columns: (rank, dim + 1, out_dim)"),
        ("LMF", tfn, "that is Tensor Fusion's count"),
    ]


def parameter_count_mistakes(check, sizes, got, want):
    """Fail with the typical mistake that gives ``got`` at ``sizes``, where one does; else return."""
    __tracebackhide__ = True
    if tuple(got) == tuple(want)[::-1]:
        check.fail("the two counts are swapped: return (tfn, lmf), Tensor Fusion's count first")
    text = "img_dim={}, txt_dim={}, out_dim={}, rank={}".format(*sizes)
    for index, model in enumerate(("TFN", "LMF")):
        if got[index] == want[index]:
            continue
        for name, count, advice in _count_mistakes(*sizes):
            if name == model and count == got[index] and count != want[index]:
                check.fail(f"{model}'s count for {text} is {got[index]}, the model has {want[index]}: {advice}")
        names = ("img_dim", "txt_dim", "out_dim", "rank")
        for a, b in itertools.combinations(range(4), 2):
            swapped = list(sizes)
            swapped[a], swapped[b] = swapped[b], swapped[a]
            count = _correct(*swapped)[index]
            if count == got[index] != want[index]:
                check.fail(f"{model}'s count for {text} is {got[index]}, the model has {want[index]}: your formula "
                           f"uses {names[a]} where {names[b]} belongs (and the other way round)")


def _correct(d_v: int, d_t: int, d_o: int, r: int) -> tuple[int, int]:
    return (d_v + 1) * (d_t + 1) * d_o + d_o, r * (d_v + 1 + d_t + 1) * d_o
