"""Notebooks 02 and 03: reference fusion models, and checks that accept correct variants and reject mistakes."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import nb02, nb03
from course_utils.feedback import CheckFailed, NotImplementedYet
from course_utils.models import fusion

from copies import own

EarlyFusionModel = own("02.early_fusion")
DecisionLateFusion = own("03.decision_fusion")
product_of_experts = own("03.product_of_experts")
EmbeddingConcatFusion = own("03.embedding_concat")


@pytest.fixture(autouse=True)
def one_thread():
    # the checks train tiny models; on a shared CPU extra threads only spin (tens of times slower under load)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mlp(i, h, o, act=nn.ReLU):
    return nn.Sequential(nn.Linear(i, h), act(), nn.Linear(h, o))


# ---------------------------------------------------------------- reference models
def test_reference_models_shapes_and_additivity():
    img, txt = torch.randn(5, 32), torch.randn(5, 16)
    img2, txt2 = torch.randn(5, 32), torch.randn(5, 16)
    for model in (EarlyFusionModel(32, 16, 64, 3), DecisionLateFusion(32, 16, 64, 3),
                  EmbeddingConcatFusion(32, 16, 32, 3),
                  fusion.ReferenceTutorialLateFusion(32, 16, 32, 3)):
        assert model(img, txt).shape == (5, 3)
    additive = fusion.interaction_contrast(DecisionLateFusion(32, 16, 64, 3), img, txt, img2, txt2)
    assert additive.abs().max() < 1e-5
    for model in (EarlyFusionModel(32, 16, 64, 3), EmbeddingConcatFusion(32, 16, 32, 3)):
        assert fusion.interaction_contrast(model, img, txt, img2, txt2).abs().max() > 1e-3


def test_reference_tutorial_late_fusion_is_embedding_concat():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    tutorial = fusion.ReferenceTutorialLateFusion(32, 16, 32, 3)
    assert count(tutorial) == 5891  # the reference tutorial prints 5,891 for its LateFusionModel
    assert count(tutorial) == count(EmbeddingConcatFusion(32, 16, 32, 3))


def test_product_of_experts_is_logit_sum_up_to_normalisation():
    a, b = torch.randn(6, 4), torch.randn(6, 4)
    assert torch.allclose(product_of_experts(a, b), F.log_softmax(a + b, -1), atol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        product_of_experts(a, torch.randn(6, 3))


def test_reference_models_pass_their_checks():
    nb02.check_early_fusion(EarlyFusionModel)
    nb03.check_decision_fusion(DecisionLateFusion)
    nb03.check_product_of_experts(product_of_experts)
    nb03.check_embedding_concat(EmbeddingConcatFusion)


# ---------------------------------------------------------------- 02.early_fusion
class EarlyTutorialStyle(nn.Module):  # two hidden layers, dropout, GELU
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.fusion = nn.Sequential(nn.Linear(img_dim + txt_dim, hidden_dim), nn.GELU(), nn.Dropout(0.1),
                                    nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, num_classes))

    def forward(self, img, txt):
        return self.fusion(torch.cat((img, txt), dim=1))


class EarlySplitFirstLayer(nn.Module):  # W [x_v; x_t] written as W_v x_v + W_t x_t, then tanh
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.w_img = nn.Linear(img_dim, hidden_dim)
        self.w_txt = nn.Linear(txt_dim, hidden_dim, bias=False)
        self.out = nn.Linear(hidden_dim, num_classes)

    def forward(self, img, txt):
        return self.out(torch.tanh(self.w_img(img) + self.w_txt(txt)))


class EarlyDropsText(nn.Module):
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.net = mlp(img_dim, hidden_dim, num_classes)

    def forward(self, img, txt):
        return self.net(img)


class EarlyAffine(nn.Module):  # forgot the nonlinearity
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(img_dim + txt_dim, hidden_dim), nn.Linear(hidden_dim, num_classes))

    def forward(self, img, txt):
        return self.net(torch.cat([img, txt], -1))


class EarlyHardCoded(nn.Module):
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.net = mlp(32 + 16, hidden_dim, num_classes)

    def forward(self, img, txt):
        return self.net(torch.cat([img, txt], -1))


class EarlyStub(nn.Module):
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.net = None

    def forward(self, img, txt):
        raise NotImplementedError()


class EarlyStubForward(EarlyAffine):
    def forward(self, img, txt):
        raise NotImplementedError()


@pytest.mark.parametrize("cls", [EarlyTutorialStyle, EarlySplitFirstLayer])
def test_early_fusion_accepts_correct_variants(cls):
    assert nb02.check_early_fusion(cls)


@pytest.mark.parametrize("cls, message", [
    (EarlyDropsText, "do not depend on txt"),
    (EarlyAffine, "nonlinearity"),
    (EarlyHardCoded, "sizes given to __init__"),
])
def test_early_fusion_rejects_mistakes(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb02.check_early_fusion(cls)
    assert not isinstance(info.value, NotImplementedYet)
    assert "02.early_fusion" in str(info.value)


@pytest.mark.parametrize("cls", [EarlyStub, EarlyStubForward])
def test_early_fusion_unfinished_is_not_implemented_yet(cls):
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb02.check_early_fusion(cls)


# ---------------------------------------------------------------- 03.decision_fusion
class DecisionStacked(nn.Module):  # tanh heads, mean over a stacked dimension
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.img_head = mlp(img_dim, hidden_dim, num_classes, nn.Tanh)
        self.txt_head = mlp(txt_dim, hidden_dim, num_classes, nn.Tanh)

    def forward(self, img, txt):
        return torch.stack([self.img_head(img), self.txt_head(txt)]).mean(dim=0)


class DecisionLinearHeads(nn.Module):  # linear heads are a legitimate decision-level model too
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.img_head = nn.Linear(img_dim, num_classes)
        self.txt_head = nn.Linear(txt_dim, num_classes)

    def forward(self, img, txt):
        return 0.5 * self.img_head(img) + 0.5 * self.txt_head(txt)


def decision_variant(combine):
    class Variant(DecisionLateFusion):
        def forward(self, img, txt):
            return combine(self.img_head(img), self.txt_head(txt))
    return Variant


class DecisionNoHeads(nn.Module):
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.a = mlp(img_dim, hidden_dim, num_classes)
        self.b = mlp(txt_dim, hidden_dim, num_classes)

    def forward(self, img, txt):
        return (self.a(img) + self.b(txt)) / 2


class DecisionStub(nn.Module):
    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.img_head = mlp(img_dim, hidden_dim, num_classes)
        self.txt_head = mlp(txt_dim, hidden_dim, num_classes)

    def forward(self, img, txt):
        raise NotImplementedError()


@pytest.mark.parametrize("cls", [DecisionStacked, DecisionLinearHeads])
def test_decision_fusion_accepts_correct_variants(cls):
    assert nb03.check_decision_fusion(cls)


@pytest.mark.parametrize("cls, message", [
    (decision_variant(lambda a, b: (a.softmax(-1) + b.softmax(-1)) / 2), "softmax before averaging"),
    (decision_variant(lambda a, b: ((a + b) / 2).softmax(-1)), "probability distribution"),
    (decision_variant(lambda a, b: torch.log((a.softmax(-1) + b.softmax(-1)) / 2)), "mixture"),
    (decision_variant(lambda a, b: a + 0 * b), "do not depend on txt"),
    (decision_variant(lambda a, b: a + b), "sum of the logits"),
    (DecisionNoHeads, "self.img_head"),
])
def test_decision_fusion_rejects_mistakes(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb03.check_decision_fusion(cls)
    assert not isinstance(info.value, NotImplementedYet)


def test_decision_fusion_unfinished_is_not_implemented_yet():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb03.check_decision_fusion(DecisionStub)


# ---------------------------------------------------------------- 03.product_of_experts
def poe_logit_sum(a, b):
    return torch.log_softmax(a + b, dim=-1)


def poe_logsumexp(a, b):
    joint = a.log_softmax(1) + b.log_softmax(1)
    return joint - torch.logsumexp(joint, dim=1, keepdim=True)


@pytest.mark.parametrize("fn", [poe_logit_sum, poe_logsumexp])
def test_product_of_experts_accepts_correct_variants(fn):
    assert nb03.check_product_of_experts(fn)


@pytest.mark.parametrize("fn, message", [
    (lambda a, b: torch.log((a.softmax(-1) + b.softmax(-1)) / 2), "mixture"),
    (lambda a, b: a.softmax(-1) * b.softmax(-1), "returned probabilities"),
    (lambda a, b: a.log_softmax(-1) + b.log_softmax(-1), "not normalised"),
    (lambda a, b: torch.log(a.softmax(-1) * b.softmax(-1) / (a.softmax(-1) * b.softmax(-1)).sum(-1, keepdim=True)),
     "underflows"),
    (lambda a, b: a.log_softmax(-1), "log_softmax"),
])
def test_product_of_experts_rejects_mistakes(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb03.check_product_of_experts(fn)
    assert not isinstance(info.value, NotImplementedYet)


def test_product_of_experts_unfinished_is_not_implemented_yet():
    def stub(a, b):
        raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb03.check_product_of_experts(stub)
    with pytest.raises(NotImplementedYet, match="returned None"):
        nb03.check_product_of_experts(lambda a, b: None)


# ---------------------------------------------------------------- 03.embedding_concat
class ConcatSwappedGELU(nn.Module):  # text first, one-layer encoders, GELU head
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__()
        self.img_encoder = nn.Sequential(nn.Linear(img_dim, embed_dim), nn.ReLU())
        self.txt_encoder = nn.Sequential(nn.Linear(txt_dim, embed_dim), nn.ReLU())
        self.head = mlp(2 * embed_dim, 2 * embed_dim, num_classes, nn.GELU)

    def forward(self, img, txt):
        return self.head(torch.cat((self.txt_encoder(txt), self.img_encoder(img)), dim=1))


class ConcatLinearEncoders(nn.Module):  # linear encoders, nonlinear head: still solves XOR
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__()
        self.img_encoder = nn.Linear(img_dim, embed_dim)
        self.txt_encoder = nn.Linear(txt_dim, embed_dim)
        self.head = nn.Sequential(nn.Linear(2 * embed_dim, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, img, txt):
        e = torch.cat([self.img_encoder(img), self.txt_encoder(txt)], -1)
        return self.head(e)


class ConcatLinearHead(nn.Module):  # nonlinear encoders, linear head: additive
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__()
        self.img_encoder = mlp(img_dim, embed_dim, embed_dim)
        self.txt_encoder = mlp(txt_dim, embed_dim, embed_dim)
        self.head = nn.Linear(2 * embed_dim, num_classes)

    def forward(self, img, txt):
        return self.head(torch.cat([self.img_encoder(img), self.txt_encoder(txt)], -1))


class ConcatDropsText(ConcatLinearHead):
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__(img_dim, txt_dim, embed_dim, num_classes)
        self.head = mlp(embed_dim, embed_dim, num_classes)

    def forward(self, img, txt):
        return self.head(self.img_encoder(img))


class ConcatNotUsingHead(ConcatLinearHead):  # head defined but forward builds its own path
    def forward(self, img, txt):
        e = torch.cat([self.img_encoder(img), self.txt_encoder(txt)], -1)
        return self.head(torch.relu(e) * 2)


class ConcatStub(nn.Module):
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__()
        self.img_encoder = None
        self.txt_encoder = None
        self.head = None

    def forward(self, img, txt):
        raise NotImplementedError()


@pytest.mark.parametrize("cls", [ConcatSwappedGELU, ConcatLinearEncoders])
def test_embedding_concat_accepts_correct_variants(cls):
    assert nb03.check_embedding_concat(cls)


@pytest.mark.parametrize("cls, message", [
    (ConcatLinearHead, "additive"),
    (ConcatDropsText, "do not depend on txt"),
    (ConcatNotUsingHead, "additive"),
])
def test_embedding_concat_rejects_mistakes(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb03.check_embedding_concat(cls)
    assert not isinstance(info.value, NotImplementedYet)


def test_embedding_concat_unfinished_is_not_implemented_yet():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb03.check_embedding_concat(ConcatStub)


# ---------------------------------------------------------------- 02.early_fusion: the skeleton's layers
class EarlySkeleton(nn.Module):
    """The notebook's skeleton: layers given, the learner writes forward."""

    def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
        super().__init__()
        self.hidden = nn.Linear(img_dim + txt_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, num_classes)


def early_skeleton(forward):
    return type("EarlyVariant", (EarlySkeleton,), {"forward": forward})


@pytest.mark.parametrize("forward", [
    lambda self, img, txt: self.out(F.relu(self.hidden(torch.cat([img, txt], dim=1)))),
    lambda self, img, txt: self.out(torch.tanh(self.hidden(torch.cat((txt, img), -1)))),   # text first, tanh
])
def test_early_fusion_skeleton_accepts(forward):
    assert nb02.check_early_fusion(early_skeleton(forward))


@pytest.mark.parametrize("forward, message", [
    (lambda self, img, txt: self.out(self.hidden(torch.cat([img.relu(), txt.relu()], -1))), "before\\* torch.cat"),
    (lambda self, img, txt: self.out(self.hidden(torch.cat([img, txt], -1))), "additive"),
    (lambda self, img, txt: F.relu(self.out(self.hidden(torch.cat([img, txt], -1)))), "clips the logits"),
    (lambda self, img, txt: self.out(F.relu(self.hidden(torch.cat([img, txt], -1)))).softmax(-1), "probabilities"),
    (lambda self, img, txt: self.out(F.relu(self.hidden(torch.cat([img, img[:, :txt.shape[1]]], -1)))),
     "do not depend on txt"),
])
def test_early_fusion_skeleton_rejects(forward, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb02.check_early_fusion(early_skeleton(forward))
    assert not isinstance(info.value, NotImplementedYet)


# ---------------------------------------------------------------- 03.decision_fusion: the fixed rule
@pytest.mark.parametrize("combine, message", [
    (lambda a, b: torch.maximum(a, b), "maximum"),
    (lambda a, b: F.relu((a + b) / 2), "not additive|clips"),
    (lambda a, b: (a + b) / 2 * torch.sigmoid(a.sum(-1, keepdim=True) * b.sum(-1, keepdim=True)), "not additive"),
])
def test_decision_fusion_rejects_rules_that_are_not_the_average(combine, message):
    with pytest.raises(CheckFailed, match=message):
        nb03.check_decision_fusion(decision_variant(combine))


def test_decision_fusion_accepts_torch_mean_of_stack():
    assert nb03.check_decision_fusion(decision_variant(lambda a, b: torch.mean(torch.stack((a, b), -1), -1)))


# ---------------------------------------------------------------- 03.embedding_concat: the skeleton
class ConcatSkeleton(nn.Module):
    """The notebook's skeleton: the encoders are given; the learner writes the head and forward."""

    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__()
        self.img_encoder = mlp(img_dim, embed_dim, embed_dim)
        self.txt_encoder = mlp(txt_dim, embed_dim, embed_dim)
        self.embed_dim, self.num_classes, self.dims = embed_dim, num_classes, (img_dim, txt_dim)


class ConcatHeadLayersInForward(ConcatSkeleton):   # correct, no `head` attribute: two layers and F.gelu in forward
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__(img_dim, txt_dim, embed_dim, num_classes)
        self.fuse = nn.Linear(2 * embed_dim, embed_dim)
        self.classify = nn.Linear(embed_dim, num_classes)

    def forward(self, img, txt):
        joint = torch.cat([self.img_encoder(img), self.txt_encoder(txt)], dim=1)
        return self.classify(F.gelu(self.fuse(joint)))


class ConcatBypassesEncoders(ConcatSkeleton):       # early fusion by mistake: raw inputs reach the head
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__(img_dim, txt_dim, embed_dim, num_classes)
        self.head = mlp(img_dim + txt_dim, embed_dim, num_classes)

    def forward(self, img, txt):
        self.img_encoder(img), self.txt_encoder(txt)
        return self.head(torch.cat([img, txt], -1))


class ConcatHeadPerEmbedding(ConcatSkeleton):       # a head on each embedding, then summed: additive
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__(img_dim, txt_dim, embed_dim, num_classes)
        self.head = mlp(embed_dim, embed_dim, num_classes)

    def forward(self, img, txt):
        return self.head(self.img_encoder(img)) + self.head(self.txt_encoder(txt))


class ConcatSoftmax(ConcatSkeleton):
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__(img_dim, txt_dim, embed_dim, num_classes)
        self.head = nn.Sequential(mlp(2 * embed_dim, embed_dim, num_classes), nn.Softmax(-1))

    def forward(self, img, txt):
        return self.head(torch.cat([self.img_encoder(img), self.txt_encoder(txt)], -1))


class ConcatReluOnLogits(ConcatSoftmax):
    def __init__(self, img_dim, txt_dim, embed_dim, num_classes):
        super().__init__(img_dim, txt_dim, embed_dim, num_classes)
        self.head = nn.Sequential(mlp(2 * embed_dim, embed_dim, num_classes), nn.ReLU())


def test_embedding_concat_accepts_a_head_without_the_name_head():
    assert nb03.check_embedding_concat(ConcatHeadLayersInForward)
    assert nb03.check_embedding_concat(EmbeddingConcatFusion)


@pytest.mark.parametrize("cls, message", [
    (ConcatBypassesEncoders, "bypasses an encoder"), (ConcatHeadPerEmbedding, "additive"),
    (ConcatSoftmax, "probabilities"), (ConcatReluOnLogits, "clips the logits"),
])
def test_embedding_concat_skeleton_rejects(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb03.check_embedding_concat(cls)
    assert not isinstance(info.value, NotImplementedYet)
