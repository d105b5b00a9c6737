"""Check 08.moddrop accepts correct variants of modality dropout and rejects the typical mistakes."""
import pytest
import torch
from torch import nn

from course_utils.checks import nb08
from course_utils.feedback import CheckFailed, NotImplementedYet, passed
from copies import own

Reference = own("08.moddrop")


class Base(nn.Module):
    def __init__(self, p=0.3, fills=None):
        super().__init__()
        self.p = p
        self.fills = fills

    def fill(self, k, x):
        return torch.zeros_like(x[0]) if self.fills is None else self.fills[k].to(x)


# ---- correct variants ------------------------------------------------------------------------------
class PerSampleWhere(Base):          # draw "hit" and "which" per sample, torch.where
    def forward(self, inputs, labels=None):
        if not self.training:
            return list(inputs)
        b = len(inputs[0])
        hit = torch.rand(b) < self.p
        which = torch.randint(0, len(inputs), (b,))
        return [torch.where((hit & (which == k)).view(b, *[1] * (x.dim() - 1)), self.fill(k, x), x)
                for k, x in enumerate(inputs)]


class UniformSplit(Base):            # one uniform number: [0, p/2) image, [p/2, p) text; masked assignment
    def forward(self, inputs, labels=None):
        if not self.training:
            return list(inputs)
        u = torch.rand(len(inputs[0]))
        img, txt = inputs[0].clone(), inputs[1].clone()
        img[u < self.p / 2] = self.fill(0, img)
        txt[(u >= self.p / 2) & (u < self.p)] = self.fill(1, txt)
        return [img, txt]


class PerBatch(Base):                # one decision for the whole batch
    def forward(self, inputs, labels=None):
        if not self.training or torch.rand(()) >= self.p:
            return list(inputs)
        k = int(torch.randint(0, 2, ()))
        out = list(inputs)
        out[k] = self.fill(k, out[k]).expand_as(out[k]).clone()
        return out


class MultiplyMask(Base):            # keep * x + (1 - keep) * fill
    def forward(self, inputs, labels=None):
        if not self.training:
            return list(inputs)
        b = len(inputs[0])
        hit = (torch.rand(b) < self.p).float()
        img_drop = hit * (torch.rand(b) < 0.5).float()
        drops = [img_drop, hit - img_drop]
        return [x * (1 - d[:, None]) + d[:, None] * self.fill(k, x) for k, (x, d) in enumerate(zip(inputs, drops))]


@pytest.mark.parametrize("cls", [Reference, PerSampleWhere, UniformSplit, PerBatch, MultiplyMask])
def test_accepts_correct_variants(cls):
    assert nb08.check_modality_dropout(cls) and passed("08.moddrop")


# ---- typical mistakes ---------------------------------------------------------------------------------
class DropsBoth(Base):               # each modality independently: sometimes both go
    def forward(self, inputs, labels=None):
        if not self.training:
            return list(inputs)
        b = len(inputs[0])
        return [torch.where((torch.rand(b) < self.p / 2)[:, None], self.fill(k, x), x)
                for k, x in enumerate(inputs)]


class DropsAtEval(PerSampleWhere):
    def forward(self, inputs, labels=None):
        self.training = True
        return super().forward(inputs, labels)


class Rescales(PerSampleWhere):      # copies nn.Dropout's 1 / (1 - p)
    def forward(self, inputs, labels=None):
        out = super().forward(inputs, labels)
        if not self.training:
            return out
        return [o / (1 - self.p / 2) if not torch.equal(o, x) or True else o for o, x in zip(out, inputs)]


class AlwaysDrops(Base):
    def forward(self, inputs, labels=None):
        if not self.training:
            return list(inputs)
        b = len(inputs[0])
        which = torch.randint(0, 2, (b,))
        return [torch.where((which == k)[:, None], self.fill(k, x), x) for k, x in enumerate(inputs)]


class KeepProbability(PerSampleWhere):      # rand > p: drops with probability 1 - p
    def forward(self, inputs, labels=None):
        self.p, p = 1 - self.p, self.p
        try:
            return super().forward(inputs, labels)
        finally:
            self.p = p


class OnlyImage(Base):
    def forward(self, inputs, labels=None):
        if not self.training:
            return list(inputs)
        hit = torch.rand(len(inputs[0])) < self.p
        return [torch.where(hit[:, None], self.fill(0, inputs[0]), inputs[0]), inputs[1]]


class InPlace(Base):
    def forward(self, inputs, labels=None):
        if not self.training:
            return list(inputs)
        u = torch.rand(len(inputs[0]))
        inputs[0][u < self.p / 2] = self.fill(0, inputs[0])
        inputs[1][(u >= self.p / 2) & (u < self.p)] = self.fill(1, inputs[1])
        return list(inputs)


class IgnoresFills(PerSampleWhere):
    def fill(self, k, x):
        return torch.zeros_like(x[0])


class NoiseFill(PerSampleWhere):
    def fill(self, k, x):
        return torch.randn_like(x[0])


class NotAModule:
    def __init__(self, p=0.3, fills=None):
        self.inner = Reference(p, fills)

    def __call__(self, inputs, labels=None):
        return self.inner(inputs, labels)


@pytest.mark.parametrize("cls, message", [
    (DropsBoth, "lost both modalities"),
    (DropsAtEval, "eval mode"),
    (Rescales, "does not rescale"),
    (AlwaysDrops, "drops regardless of p"),
    (KeepProbability, "probability that a sample loses"),
    (OnlyImage, "uniformly at random"),
    (InPlace, "in place"),
    (IgnoresFills, "fill"),
    (NoiseFill, "fill"),
    (NotAModule, "nn.Module"),
])
def test_rejects_typical_mistakes(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb08.check_modality_dropout(cls)
    assert not isinstance(info.value, NotImplementedYet)
    assert not passed("08.moddrop")


def test_unfinished():
    class Stub(Base):
        def forward(self, inputs, labels=None):
            raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="08.moddrop.*not implemented yet"):
        nb08.check_modality_dropout(Stub)


def test_returns_none_is_unfinished():
    class Forgot(Base):
        def forward(self, inputs, labels=None):
            pass
    with pytest.raises(NotImplementedYet):
        nb08.check_modality_dropout(Forgot)
