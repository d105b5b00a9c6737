"""Checks of notebooks 00 and 01 accept correct variants and reject typical mistakes."""
import pytest
import torch
from torch import nn

from course_utils.checks import nb00, nb01
from copies import own

make_xor_tensors = own("01.xor_data")
from course_utils.feedback import CheckFailed, NotImplementedYet, passed


# ---- 00.standardize ---------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda x: (x - x.mean(0)) / x.std(0),
    lambda x: (x - x.mean(0, keepdim=True)) / x.std(0, unbiased=False, keepdim=True),
])
def test_standardize_accepts(fn):
    assert nb00.check_standardize(fn) and passed("00.standardize")


@pytest.mark.parametrize("fn, message", [
    (lambda x: (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True), "mean of each feature"),
    (lambda x: x - x.mean(0), "standard deviation 1"),
    (lambda x: x[:10], "shape"),
])
def test_standardize_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message):
        nb00.check_standardize(fn)
    assert not passed("00.standardize")


def test_standardize_unfinished():
    def stub(x):
        raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="00.standardize.*not implemented yet"):
        nb00.check_standardize(stub)


# ---- 01.xor_data ---------------------------------------------------------------------------------
def xor_by_where(n, u_img, u_txt, noise, generator):
    bits = torch.randint(0, 2, (2, n), generator=generator)
    image = torch.where(bits[0, :, None] == 1, u_img, -u_img) + noise * torch.randn(n, len(u_img), generator=generator)
    text = torch.where(bits[1, :, None] == 1, u_txt, -u_txt) + noise * torch.randn(n, len(u_txt), generator=generator)
    return image, text, (bits[0] != bits[1]).long()


def xor_and(n, u_img, u_txt, noise, generator):
    image, text, _ = make_xor_tensors(n, u_img, u_txt, noise, generator)
    return image, text, ((image @ u_img > 0) & (text @ u_txt > 0)).long()


def xor_variance_noise(n, u_img, u_txt, noise, generator):
    return make_xor_tensors(n, u_img, u_txt, noise ** 2, generator)


def xor_global_rng(n, u_img, u_txt, noise, generator):
    return make_xor_tensors(n, u_img, u_txt, noise, torch.Generator().manual_seed(int(torch.randint(0, 99, ()))))


def xor_same_bit(n, u_img, u_txt, noise, generator):
    a = torch.randint(0, 2, (n,), generator=generator)
    sign = (2 * a - 1).float()[:, None]
    return sign * u_img, sign * u_txt, a


@pytest.mark.parametrize("fn", [make_xor_tensors, xor_by_where])
def test_xor_data_accepts(fn):
    assert nb01.check_xor_data(fn)


@pytest.mark.parametrize("fn, message", [
    (xor_and, "a XOR b"), (xor_variance_noise, "standard deviation"),
    (xor_global_rng, "generator=generator"), (xor_same_bit, "independent"),
])
def test_xor_data_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message):
        nb01.check_xor_data(fn)


# ---- 01.unimodal_probe -----------------------------------------------------------------------------
class ProbeSequential(nn.Module):
    def __init__(self, in_dim, hidden_dim, num_classes, modality):
        super().__init__()
        self.modality = modality
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, num_classes))

    def forward(self, *modalities):
        return self.net(modalities[self.modality])


class ProbeTanh(nn.Module):
    def __init__(self, in_dim, hidden_dim, num_classes, modality):
        super().__init__()
        self.m, self.a, self.b = modality, nn.Linear(in_dim, hidden_dim), nn.Linear(hidden_dim, num_classes)

    def forward(self, image, text):
        return self.b(torch.tanh(self.a((image, text)[self.m])))


class ProbeAlwaysImage(ProbeSequential):
    def __init__(self, in_dim, hidden_dim, num_classes, modality):
        super().__init__(6, hidden_dim, num_classes, modality)

    def forward(self, *modalities):
        return self.net(modalities[0])


class ProbeLinear(ProbeSequential):
    def __init__(self, in_dim, hidden_dim, num_classes, modality):
        super().__init__(in_dim, hidden_dim, num_classes, modality)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.Linear(hidden_dim, num_classes))


class ProbeUnfinished(nn.Module):
    def __init__(self, in_dim, hidden_dim, num_classes, modality):
        super().__init__()
        self.modality = modality
        raise NotImplementedError()


@pytest.mark.parametrize("cls", [ProbeSequential, ProbeTanh])
def test_probe_accepts(cls):
    assert nb01.check_unimodal_probe(cls)


@pytest.mark.parametrize("cls, error, message", [
    (ProbeAlwaysImage, CheckFailed, "must use modalities\\[1\\]"),
    (ProbeLinear, CheckFailed, "nonlinearity"),
    (ProbeUnfinished, NotImplementedYet, "not implemented yet"),
])
def test_probe_rejects(cls, error, message):
    with pytest.raises(error, match=message):
        nb01.check_unimodal_probe(cls)


class ProbeNonePlaceholder(nn.Module):
    """The reference tutorial's TODO style: a layer left as None."""

    def __init__(self, in_dim, hidden_dim, num_classes, modality):
        super().__init__()
        self.modality = modality
        self.net = None

    def forward(self, *modalities):
        return self.net(modalities[self.modality])


class ProbeWithNoneCache(ProbeSequential):
    """Correct, with a public attribute that is legitimately None until used."""

    def __init__(self, in_dim, hidden_dim, num_classes, modality):
        super().__init__(in_dim, hidden_dim, num_classes, modality)
        self.last_logits = None


def test_none_placeholder_is_not_implemented():
    with pytest.raises(NotImplementedYet, match="ProbeNonePlaceholder.net still None"):
        nb01.check_unimodal_probe(ProbeNonePlaceholder)


def test_a_legitimate_none_attribute_passes():
    assert nb01.check_unimodal_probe(ProbeWithNoneCache)
