"""Notebook 10 (multiplicative fusion): data generator, models around the exercises, and the exercise checks."""
import pytest
import torch
from torch import nn

from course_utils.checks import nb10
from course_utils.data import make_interaction
from course_utils.data.dataset import MultimodalDataset
from course_utils.feedback import CheckFailed, NotImplementedYet
from course_utils.models import multiplicative
from course_utils.models.probes import ConcatMLP
from course_utils.training import count_parameters, fit_seeds

from copies import own

tensor_fusion = own("10.tensor_fusion")
LowRankFusion = own("10.low_rank_fusion")
FiLM = own("10.film")


# --------------------------------------------------------------------------------------------- data
def test_interaction_data_shapes_determinism_and_balance():
    data = make_interaction(500, img_dim=8, txt_dim=5, rank=3, seed=2)
    assert isinstance(data, MultimodalDataset) and data.num_classes == 2
    assert data.modality("image").shape == (500, 8) and data.modality("text").shape == (500, 5)
    again = make_interaction(500, img_dim=8, txt_dim=5, rank=3, seed=2)
    assert torch.equal(again.modalities[0], data.modalities[0]) and torch.equal(again.labels, data.labels)
    fresh = make_interaction(500, img_dim=8, txt_dim=5, rank=3, seed=2, sample_seed=7)
    assert not torch.equal(fresh.modalities[0], data.modalities[0])
    big = make_interaction(20000, seed=0)
    assert abs(big.labels.float().mean().item() - 0.5) < 0.02


def test_interaction_main_effect_changes_some_labels_of_the_same_samples():
    # the task's directions and the samples do not depend on `main`: only the labels move where the main effect wins
    with_main = make_interaction(2000, seed=1, main=0.7)
    pure = make_interaction(2000, seed=1, main=0.0)
    assert torch.equal(pure.modalities[0], with_main.modalities[0])
    assert torch.equal(pure.modalities[1], with_main.modalities[1])
    assert 0.05 < (pure.labels != with_main.labels).float().mean().item() < 0.5
    assert abs(pure.labels.float().mean().item() - 0.5) < 0.05


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 1}, "n must"), ({"rank": 0}, "rank"), ({"rank": 20}, "rank must be at most"),
    ({"main": -1.0}, "main"), ({"main": float("nan")}, "main"), ({"img_dim": 0}, "img_dim"),
    ({"sample_seed": -1}, "sample_seed"),
])
def test_interaction_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_interaction(**kwargs)


# ------------------------------------------------------------------------------------------- models
def test_models_shapes_and_parameter_counts():
    img, txt = torch.randn(5, 16), torch.randn(5, 16)
    tfn = multiplicative.TensorFusionModel(16, 16, 2)
    assert tfn(img, txt).shape == (5, 2) and count_parameters(tfn) == 17 * 17 * 2 + 2
    lmf = multiplicative.LowRankFusionModel(16, 16, 2, rank=4)
    assert lmf(img, txt).shape == (5, 2) and count_parameters(lmf) == 4 * (17 + 17) * 2
    film = multiplicative.FiLMModel(16, 16, 2)
    assert film(img, txt).shape == (5, 2) and count_parameters(film) == 16 * 2 * 17 + 17 * 2
    bil = multiplicative.BilinearModel(16, 16, 2)
    assert bil(img, txt).shape == (5, 2) and count_parameters(bil) == 16 * 16 * 2 + 2
    with torch.no_grad():                      # no appended 1: a zero text gives one answer for every sample
        out = bil(img, torch.zeros_like(txt))
    assert torch.allclose(out, out[:1].expand_as(out))
    encoded = multiplicative.LowRankFusionModel(32, 16, 3, rank=2, embed_dim=8)
    assert encoded(torch.randn(4, 32), txt[:4]).shape == (4, 3)
    assert multiplicative.TensorFusionModel(32, 16, 3, embed_dim=8)(torch.randn(4, 32), txt[:4]).shape == (4, 3)
    assert multiplicative.FiLMModel(32, 16, 3, embed_dim=8)(torch.randn(4, 32), txt[:4]).shape == (4, 3)


def test_matched_hidden_matches_the_parameter_count():
    target = count_parameters(multiplicative.TensorFusionModel(16, 16, 2))
    hidden = multiplicative.matched_hidden(target, 16, 16, 2)
    assert abs(count_parameters(ConcatMLP((16, 16), hidden, 2)) - target) <= 35 // 2 + 1


def test_models_take_the_learners_classes():
    calls = []

    def spy(e_v, e_t):
        calls.append(e_v.shape)
        return tensor_fusion(e_v, e_t)

    model = multiplicative.TensorFusionModel(4, 3, 2, fuse_fn=spy)
    model(torch.randn(2, 4), torch.randn(2, 3))
    assert calls == [(2, 4)]
    assert isinstance(multiplicative.LowRankFusionModel(4, 3, 2, rank=2, lmf_class=LowRankFusion).fusion, LowRankFusion)
    assert isinstance(multiplicative.FiLMModel(4, 3, 2, film_class=FiLM).film, FiLM)


def test_models_train_batched_over_seeds():
    train = make_interaction(256, img_dim=6, txt_dim=6, rank=2, seed=0)
    for make in (lambda: multiplicative.TensorFusionModel(6, 6, 2), lambda: multiplicative.LowRankFusionModel(6, 6, 2),
                 lambda: multiplicative.FiLMModel(6, 6, 2)):
        runs = fit_seeds(make, train, seeds=[0, 1], epochs=1, progress=False)
        assert runs.batched, runs.fallback_reason


# ------------------------------------------------------------------------------- 10.tensor_fusion
def _ones(x):
    return torch.ones(len(x), 1, dtype=x.dtype)


def tfn_einsum(e_v, e_t):
    z_v, z_t = torch.cat([e_v, _ones(e_v)], 1), torch.cat([e_t, _ones(e_t)], 1)
    return torch.einsum("bi,bj->bij", z_v, z_t).reshape(len(e_v), -1)


def tfn_bmm(e_v, e_t):
    z_v = nn.functional.pad(e_v, (0, 1), value=1.0)
    z_t = nn.functional.pad(e_t, (0, 1), value=1.0)
    return torch.bmm(z_v.unsqueeze(2), z_t.unsqueeze(1)).view(len(e_v), -1)


def tfn_text_first(e_v, e_t):
    # the other order of the outer product, and the 1 put first: the same entries, another layout
    z_v, z_t = torch.cat([_ones(e_v), e_v], 1), torch.cat([_ones(e_t), e_t], 1)
    return (z_t[:, :, None] * z_v[:, None, :]).flatten(1)


def tfn_no_ones(e_v, e_t):
    return (e_v[:, :, None] * e_t[:, None, :]).flatten(1)


def tfn_one_sided(e_v, e_t):
    z_v = torch.cat([e_v, _ones(e_v)], 1)
    return (z_v[:, :, None] * e_t[:, None, :]).flatten(1)


def tfn_concat(e_v, e_t):
    return torch.cat([e_v, _ones(e_v), e_t, _ones(e_t)], 1)


def tfn_sum(e_v, e_t):
    z_v, z_t = torch.cat([e_v, _ones(e_v)], 1), torch.cat([e_t, _ones(e_t)], 1)
    return (z_v[:, :, None] + z_t[:, None, :]).flatten(1)


def tfn_zero_appended(e_v, e_t):
    z_v, z_t = torch.cat([e_v, 0 * _ones(e_v)], 1), torch.cat([e_t, 0 * _ones(e_t)], 1)
    return (z_v[:, :, None] * z_t[:, None, :]).flatten(1)


def tfn_batch_mixed(e_v, e_t):
    z_v, z_t = torch.cat([e_v, _ones(e_v)], 1), torch.cat([e_t, _ones(e_t)], 1)
    return torch.einsum("bi,cj->bij", z_v, z_t).flatten(1) / len(e_v)


def tfn_not_flat(e_v, e_t):
    z_v, z_t = torch.cat([e_v, _ones(e_v)], 1), torch.cat([e_t, _ones(e_t)], 1)
    return z_v[:, :, None] * z_t[:, None, :]


def tfn_numpy(e_v, e_t):
    return torch.as_tensor(tfn_einsum(e_v.detach(), e_t.detach()).numpy())


def tfn_unfinished(e_v, e_t):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [tensor_fusion, tfn_einsum, tfn_bmm, tfn_text_first],
                         ids=["reference-copy", "einsum", "bmm-pad", "text-first-one-first"])
def test_tensor_fusion_check_accepts(fn):
    assert nb10.check_tensor_fusion(fn)


@pytest.mark.parametrize("fn, message", [
    (tfn_no_ones, "the 1s are missing"),
    (tfn_one_sided, "only e_v got the appended 1"),
    (tfn_concat, "concatenation"),
    (tfn_sum, r"Multiply \(not add\)"),
    (tfn_zero_appended, "append 0 instead of 1"),
    (tfn_batch_mixed, "per sample"),
    (tfn_not_flat, "flatten"),
    (tfn_numpy, "no gradient"),
], ids=["no-ones", "one-sided", "concat", "sum", "zero-appended", "batch-mixed", "not-flattened", "numpy"])
def test_tensor_fusion_check_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb10.check_tensor_fusion(fn)
    assert not isinstance(info.value, NotImplementedYet)
    assert "10.tensor_fusion" in str(info.value)


def test_tensor_fusion_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb10.check_tensor_fusion(tfn_unfinished)


# ------------------------------------------------------------------------------ 10.low_rank_fusion
class _Factors(nn.Module):
    """The factors as the exercise fixes them; subclasses write forward."""

    def __init__(self, img_dim, txt_dim, out_dim, rank):
        super().__init__()
        self.rank = rank
        self.img_factor = nn.Parameter(torch.randn(rank, img_dim + 1, out_dim) * 0.3)
        self.txt_factor = nn.Parameter(torch.randn(rank, txt_dim + 1, out_dim) * 0.3)

    def projections(self, e_v, e_t):
        z_v = torch.cat([e_v, _ones(e_v)], 1)
        z_t = torch.cat([e_t, _ones(e_t)], 1)
        return torch.einsum("bi,rio->bro", z_v, self.img_factor), torch.einsum("bj,rjo->bro", z_t, self.txt_factor)


class LMFEinsum(_Factors):
    def forward(self, e_v, e_t):
        a, b = self.projections(e_v, e_t)
        return torch.einsum("bro,bro->bo", a, b)


class LMFMatmul(_Factors):
    """matmul over the rank (as in Liu et al.'s code), the rank dimension first."""

    def forward(self, e_v, e_t):
        z_v = nn.functional.pad(e_v, (0, 1), value=1.0)
        z_t = nn.functional.pad(e_t, (0, 1), value=1.0)
        fused = torch.matmul(z_v, self.img_factor) * torch.matmul(z_t, self.txt_factor)     # (rank, B, out)
        return fused.sum(0)


class LMFAdd(_Factors):
    def forward(self, e_v, e_t):
        a, b = self.projections(e_v, e_t)
        return (a + b).sum(1)


class LMFMean(_Factors):
    def forward(self, e_v, e_t):
        a, b = self.projections(e_v, e_t)
        return (a * b).mean(1)


class LMFProduct(_Factors):
    def forward(self, e_v, e_t):
        a, b = self.projections(e_v, e_t)
        return (a * b).prod(1)


class LMFOneFirst(_Factors):
    def forward(self, e_v, e_t):
        z_v = torch.cat([_ones(e_v), e_v], 1)
        z_t = torch.cat([_ones(e_t), e_t], 1)
        a = torch.einsum("bi,rio->bro", z_v, self.img_factor)
        return (a * torch.einsum("bj,rjo->bro", z_t, self.txt_factor)).sum(1)


class LMFFirstRankOnly(_Factors):
    def forward(self, e_v, e_t):
        a, b = self.projections(e_v, e_t)
        return a[:, 0] * b[:, 0]


class LMFZeroInit(LMFEinsum):
    def __init__(self, img_dim, txt_dim, out_dim, rank):
        super().__init__(img_dim, txt_dim, out_dim, rank)
        nn.init.zeros_(self.img_factor)


class LMFWithBias(LMFEinsum):
    def __init__(self, img_dim, txt_dim, out_dim, rank):
        super().__init__(img_dim, txt_dim, out_dim, rank)
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, e_v, e_t):
        return super().forward(e_v, e_t) + self.bias


class LMFNoPlusOne(nn.Module):
    def __init__(self, img_dim, txt_dim, out_dim, rank):
        super().__init__()
        self.img_factor = nn.Parameter(torch.randn(rank, img_dim, out_dim))
        self.txt_factor = nn.Parameter(torch.randn(rank, txt_dim, out_dim))

    def forward(self, e_v, e_t):
        a = torch.einsum("bi,rio->bro", e_v, self.img_factor)
        return (a * torch.einsum("bj,rjo->bro", e_t, self.txt_factor)).sum(1)


class LMFPermuted(nn.Module):
    def __init__(self, img_dim, txt_dim, out_dim, rank):
        super().__init__()
        self.img_factor = nn.Parameter(torch.randn(img_dim + 1, rank, out_dim))
        self.txt_factor = nn.Parameter(torch.randn(txt_dim + 1, rank, out_dim))

    def forward(self, e_v, e_t):
        a = torch.einsum("bi,iro->bro", torch.cat([e_v, _ones(e_v)], 1), self.img_factor)
        return (a * torch.einsum("bj,jro->bro", torch.cat([e_t, _ones(e_t)], 1), self.txt_factor)).sum(1)


class LMFTextWithoutOne(_Factors):
    """The factor has the row for the 1, but the text gets a 0 there."""

    def forward(self, e_v, e_t):
        z_v = torch.cat([e_v, _ones(e_v)], 1)
        z_t = torch.cat([e_t, 0 * _ones(e_t)], 1)
        a = torch.einsum("bi,rio->bro", z_v, self.img_factor)
        return (a * torch.einsum("bj,rjo->bro", z_t, self.txt_factor)).sum(1)


class LMFUnfinished(_Factors):
    def forward(self, e_v, e_t):
        raise NotImplementedError()


class LMFUnfinishedInit(nn.Module):
    def __init__(self, img_dim, txt_dim, out_dim, rank):
        super().__init__()
        self.img_factor = None
        self.txt_factor = None


@pytest.mark.parametrize("cls", [LowRankFusion, LMFEinsum, LMFMatmul], ids=["reference-copy", "einsum", "matmul"])
def test_low_rank_fusion_check_accepts(cls):
    assert nb10.check_low_rank_fusion(cls)


@pytest.mark.parametrize("cls, message", [
    (LMFAdd, "multiply the two projections"),
    (LMFMean, "average over the rank"),
    (LMFProduct, "product over the rank"),
    (LMFOneFirst, "put the 1 first"),
    (LMFFirstRankOnly, r"img_factor\[1\] to zero leaves h unchanged"),
    (LMFZeroInit, "starts at zero"),
    (LMFWithBias, "no parameters besides"),
    (LMFNoPlusOne, "one row more for the appended 1"),
    (LMFPermuted, "keep the order"),
    (LMFTextWithoutOne, "the 1 appended to e_t is missing"),
], ids=["add-modalities", "mean-over-rank", "product-over-rank", "one-first", "first-rank-only", "zero-init",
        "extra-bias", "no-plus-one", "permuted-factor", "text-without-one"])
def test_low_rank_fusion_check_rejects(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb10.check_low_rank_fusion(cls)
    assert not isinstance(info.value, NotImplementedYet)
    assert "10.low_rank_fusion" in str(info.value)


@pytest.mark.parametrize("cls", [LMFUnfinished, LMFUnfinishedInit])
def test_low_rank_fusion_check_unfinished(cls):
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb10.check_low_rank_fusion(cls)


# ------------------------------------------------------------------------------------------ 10.film
class FiLMTwoLayers(nn.Module):
    """Correct: one layer per output, both zero-initialised (the identity for every cond at the start)."""

    def __init__(self, feat_dim, cond_dim):
        super().__init__()
        self.gamma = nn.Linear(cond_dim, feat_dim)
        self.beta = nn.Linear(cond_dim, feat_dim)
        for layer in (self.gamma, self.beta):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x, cond):
        return x + self.gamma(cond) * x + self.beta(cond)


class FiLMScaleBiasOne(nn.Module):
    """Correct: the scale predicted directly, its bias initialised to 1 (so zero conditioning gives scale 1)."""

    def __init__(self, feat_dim, cond_dim):
        super().__init__()
        self.feat_dim = feat_dim
        self.proj = nn.Linear(cond_dim, 2 * feat_dim)
        with torch.no_grad():
            self.proj.bias.zero_()
            self.proj.bias[:feat_dim] = 1.0

    def forward(self, x, cond):
        scale, shift = self.proj(cond).split(self.feat_dim, dim=-1)
        return torch.addcmul(shift, scale, x)


def _film(forward=None, bias=0.0, gamma_bias=None):
    class Variant(nn.Module):
        def __init__(self, feat_dim, cond_dim):
            super().__init__()
            self.feat_dim = feat_dim
            self.proj = nn.Linear(cond_dim, 2 * feat_dim)
            if bias is not None:
                nn.init.constant_(self.proj.bias, bias)
            if gamma_bias is not None:
                with torch.no_grad():
                    self.proj.bias[:feat_dim] = gamma_bias

        def forward(self, x, cond):
            gamma, beta = self.proj(cond).chunk(2, dim=-1)
            return (1 + gamma) * x + beta

    if forward is not None:
        Variant.forward = forward
    return Variant


def _gamma_only(self, x, cond):
    gamma, beta = self.proj(cond).chunk(2, dim=-1)
    return gamma * x + beta


def _no_beta(self, x, cond):
    gamma, _ = self.proj(cond).chunk(2, dim=-1)
    return (1 + gamma) * x


def _scalar_gamma(self, x, cond):
    gamma, beta = self.proj(cond).chunk(2, dim=-1)
    return (1 + gamma.mean(-1, keepdim=True)) * x + beta


def _tanh_generator(self, x, cond):
    gamma, beta = torch.tanh(self.proj(cond)).chunk(2, dim=-1)
    return (1 + gamma) * x + beta


def _quadratic(self, x, cond):
    gamma, beta = self.proj(cond).chunk(2, dim=-1)
    return x + gamma * x * x + beta


class FiLMFromX(nn.Module):
    """Wrong: gamma and beta predicted from x (the modulated modality) instead of the conditioning."""

    def __init__(self, feat_dim, cond_dim):
        super().__init__()
        self.proj = nn.Linear(feat_dim, 2 * feat_dim)
        nn.init.zeros_(self.proj.bias)
        self.unused = nn.Linear(cond_dim, 1)

    def forward(self, x, cond):
        gamma, beta = self.proj(x).chunk(2, dim=-1)
        return (1 + gamma) * x + beta


def _unfinished(self, x, cond):
    raise NotImplementedError()


@pytest.mark.parametrize("cls", [FiLM, FiLMTwoLayers, FiLMScaleBiasOne],
                         ids=["reference-copy", "two-zero-layers", "scale-with-bias-one"])
def test_film_check_accepts(cls):
    assert nb10.check_film(cls)


@pytest.mark.parametrize("cls, message", [
    (_film(_gamma_only), "Hadamard collapse"),
    (_film(bias=None), "Initialise the bias"),
    (_film(bias=0.3, gamma_bias=0.0), "initialise the bias that predicts beta"),
    (_film(_no_beta), "the shift does not change with cond"),
    (_film(_scalar_gamma), "every feature of x gets the same scale"),
    (_film(_quadratic), "not affine in x"),
    (FiLMFromX, "not from x"),
    (_film(_tanh_generator), "not affine in cond"),
], ids=["gamma-times-x", "default-init", "beta-bias", "no-beta", "scalar-gamma", "not-affine-in-x", "from-x",
        "tanh-generator"])
def test_film_check_rejects(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb10.check_film(cls)
    assert not isinstance(info.value, NotImplementedYet)
    assert "10.film" in str(info.value)


def test_film_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb10.check_film(_film(_unfinished))


def test_checks_reject_the_reference_itself():
    from course_utils.feedback import ReferenceUsed
    from course_utils.references import nb10 as references
    for check, answer in ((nb10.check_tensor_fusion, references.tensor_fusion),
                          (nb10.check_low_rank_fusion, references.LowRankFusion), (nb10.check_film, references.FiLM),
                          (nb10.check_parameter_counts, references.parameter_counts)):
        with pytest.raises(ReferenceUsed):
            check(answer)


def test_full_rank_factors_reproduce_a_tensor_fusion_head():
    """The construction the hidden check uses, on its own: LMF at full rank equals a TFN head."""
    from course_utils.checks.hidden import nb10 as hidden
    weight = torch.randn(2, 5, 4)
    u, s, vh = torch.linalg.svd(weight)
    lmf = LowRankFusion(4, 3, 2, 4)
    with torch.no_grad():
        lmf.img_factor.copy_((u[:, :, :4] * s[:, None, :4]).permute(2, 1, 0))
        lmf.txt_factor.copy_(vh[:, :4, :].permute(1, 2, 0))
        e_v, e_t = torch.randn(6, 4), torch.randn(6, 3)
        want = torch.einsum("oij,bij->bo", weight, hidden._outer(e_v, e_t))
        assert torch.allclose(lmf(e_v, e_t), want, atol=1e-4)
        # and the same head through Tensor Fusion and a linear layer
        head = nn.Linear(20, 2, bias=False)
        head.weight.copy_(weight.reshape(2, 20))
        assert torch.allclose(head(tensor_fusion(e_v, e_t)), want, atol=1e-4)


# ----------------------------------------------------------------------------- 10.parameter_counts
parameter_counts = own("10.parameter_counts")


def counts_expanded(img_dim, txt_dim, out_dim, rank):
    # multiplied out, in another order, and with numpy integers
    import numpy as np
    d_v, d_t, d_o, r = (np.int64(x) for x in (img_dim, txt_dim, out_dim, rank))
    return d_o * (d_v * d_t + d_v + d_t + 2), 2 * r * d_o + r * d_o * (d_v + d_t)


def counts_floats(img_dim, txt_dim, out_dim, rank):
    # floats that are whole numbers, as a list, through math.prod
    import math
    return [float(math.prod([img_dim + 1, txt_dim + 1, out_dim]) + out_dim),
            rank * out_dim * (img_dim + txt_dim + 2.0)]


def counts_tensors(img_dim, txt_dim, out_dim, rank):
    # 0-d tensors: the TFN head's weight and bias as shapes, the LMF factors as shapes
    weight = torch.tensor([(img_dim + 1) * (txt_dim + 1), out_dim]).prod() + out_dim
    return weight, torch.tensor(rank * (img_dim + 1) * out_dim + rank * (txt_dim + 1) * out_dim)


def _counts_mistake(tfn=None, lmf=None):
    def counts(img_dim, txt_dim, out_dim, rank):
        right_tfn, right_lmf = parameter_counts(img_dim, txt_dim, out_dim, rank)
        return (tfn(img_dim, txt_dim, out_dim, rank) if tfn else right_tfn,
                lmf(img_dim, txt_dim, out_dim, rank) if lmf else right_lmf)
    return counts


def counts_swapped(img_dim, txt_dim, out_dim, rank):
    return parameter_counts(img_dim, txt_dim, out_dim, rank)[::-1]


def counts_one_number(img_dim, txt_dim, out_dim, rank):
    return sum(parameter_counts(img_dim, txt_dim, out_dim, rank))


def counts_unfinished(img_dim, txt_dim, out_dim, rank):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [parameter_counts, counts_expanded, counts_floats, counts_tensors],
                         ids=["reference-copy", "expanded-numpy", "floats-list", "tensors"])
def test_parameter_counts_check_accepts(fn):
    assert nb10.check_parameter_counts(fn)


@pytest.mark.parametrize("fn, message", [
    (_counts_mistake(tfn=lambda v, t, o, r: v * t * o + o), "the appended 1s are missing"),
    (_counts_mistake(tfn=lambda v, t, o, r: (v + 1) * t * o + o), "only the image got its appended 1"),
    (_counts_mistake(tfn=lambda v, t, o, r: (v + 1) * (t + 1) * o), "the head's bias is missing"),
    (_counts_mistake(tfn=lambda v, t, o, r: (v + t + 2) * o + o), "concatenation"),
    (_counts_mistake(tfn=lambda v, t, o, r: (v + 1) * (t + 1) * r + r), "TFN has no rank"),
    (_counts_mistake(lmf=lambda v, t, o, r: (v + t + 2) * o), "multiply by rank"),
    (_counts_mistake(lmf=lambda v, t, o, r: r * r * (v + t + 2) * o), "the rank appears twice"),
    (_counts_mistake(lmf=lambda v, t, o, r: r * (v + t + 2) * o + o), "LowRankFusion has no bias"),
    (_counts_mistake(lmf=lambda v, t, o, r: r * (v + t) * o), "one row more for the appended 1"),
    (_counts_mistake(lmf=lambda v, t, o, r: r * (v + 1) * (t + 1) * o), "the factors' sizes add"),
    (_counts_mistake(tfn=lambda v, t, o, r: (o + 1) * (t + 1) * v + v), "uses img_dim where out_dim belongs"),
    (_counts_mistake(lmf=lambda v, t, o, r: r * (v + t + 2) * o / 3 * 3 + 0.5), "not a whole number"),
    (_counts_mistake(lmf=lambda v, t, o, r: r * (v + t + 2) * o - 1), r"LMF: yours \d+, the model has"),
    (counts_swapped, "the two counts are swapped"),
    (counts_one_number, "should return two numbers"),
], ids=["no-ones", "one-sided-one", "no-bias", "concat", "rank-in-tfn", "no-rank", "rank-twice", "lmf-bias",
        "lmf-no-ones", "lmf-product", "swapped-dims", "fraction", "off-by-one-unknown", "swapped-order",
        "one-number"])
def test_parameter_counts_check_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb10.check_parameter_counts(fn)
    assert not isinstance(info.value, NotImplementedYet)
    assert "10.parameter_counts" in str(info.value)


def test_parameter_counts_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb10.check_parameter_counts(counts_unfinished)


def test_parameter_counts_check_counts_the_models_not_a_formula():
    """The visible check's target is sum(p.numel()) of the built models, for every shape it uses."""
    from course_utils.models import multiplicative
    for d_v, d_t, d_o, r in nb10.COUNT_SHAPES:
        tfn = multiplicative.TensorFusionModel(d_v, d_t, d_o)
        lmf = multiplicative.LowRankFusionModel(d_v, d_t, d_o, rank=r)
        assert nb10.model_counts(d_v, d_t, d_o, r) == (count_parameters(tfn), count_parameters(lmf))
        assert nb10.model_counts(d_v, d_t, d_o, r) == tuple(parameter_counts(d_v, d_t, d_o, r))


def test_parameter_counts_visible_check_rejects_without_the_hidden_part(monkeypatch):
    """A graded release leaves hidden/nb10.py out: a wrong count still fails, with the models' numbers."""
    from course_utils.checks import common
    monkeypatch.setattr(common, "hidden_module", lambda notebook: None)
    with pytest.raises(CheckFailed, match=r"TFN: yours \d+, the model has \d+"):
        nb10.check_parameter_counts(_counts_mistake(tfn=lambda v, t, o, r: (v + 1) * (t + 1) * o))
    assert nb10.check_parameter_counts(parameter_counts)
