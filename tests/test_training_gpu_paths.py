"""The GPU-oriented options of ``fit`` (channels-last, torch.compile with a fallback, throughput),
tested where they can be on a CPU: they must not change results, and a failing compile must fall
back to eager training with one warning. Nothing here compiles for real (that takes minutes on a
small CPU); ``torch.compile`` is replaced by stand-ins."""
import warnings

import pytest
import torch
from torch import nn

from course_utils import data, models
from course_utils.training import loop as training
from course_utils.data.dataset import MultimodalDataset
from course_utils.training import fit


@pytest.fixture(scope="module")
def split():
    return data.make_redundant(400, seed=1).split(0.75, seed=0)


def twins(make):
    torch.manual_seed(0)
    a, b = make(), make()
    b.load_state_dict(a.state_dict())
    return a, b


class TinyCNN(nn.Module):
    """rgb ``(B, 3, 8, 8)`` and depth ``(B, 1, 8, 8)`` -> logits ``(B, 2)``."""

    def __init__(self):
        super().__init__()
        self.rgb = nn.Conv2d(3, 4, 3, padding=1)
        self.depth = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(8, 2)

    def forward(self, rgb, depth):
        feats = torch.cat([self.rgb(rgb).relu().mean((2, 3)), self.depth(depth).relu().mean((2, 3))], 1)
        return self.head(feats)


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (96,), generator=gen)
    rgb = torch.randn(96, 3, 8, 8, generator=gen) + y.view(-1, 1, 1, 1)
    depth = torch.randn(96, 1, 8, 8, generator=gen) - y.view(-1, 1, 1, 1)
    return MultimodalDataset((rgb, depth), y, ("rgb", "depth"), 2).split(0.75, seed=0)


@pytest.fixture
def fresh_warning(monkeypatch):
    monkeypatch.setattr(training, "_COMPILE_WARNED", False)


def test_history_reports_throughput_and_how_it_ran(split):
    train, val = split
    h = fit(models.ConcatMLP((32, 16), 16, 2), train, val, epochs=2, device="cpu")
    assert len(h.train_time) == len(h.throughput) == 2
    assert all(t > 0 for t in h.throughput) and h.samples_per_second > 0
    assert all(tt <= et for tt, et in zip(h.train_time, h.epoch_time))
    assert h.precision == "float32" and h.channels_last is False and h.compiled is False
    assert h.final()["samples_per_s"] == h.samples_per_second


def test_channels_last_is_off_on_cpu_by_default(images):
    train, val = images
    model = TinyCNN()
    h = fit(model, train, val, epochs=1, device="cpu")
    assert h.channels_last is False
    assert model.rgb.weight.is_contiguous()  # the model was left in the default memory format


def test_channels_last_changes_no_result(images):
    train, val = images
    a, b = twins(TinyCNN)
    ha = fit(a, train, val, epochs=2, device="cpu", seed=3)
    hb = fit(b, train, val, epochs=2, device="cpu", seed=3, channels_last=True)
    assert hb.channels_last is True
    assert b.rgb.weight.is_contiguous(memory_format=torch.channels_last)
    assert hb.train_loss == pytest.approx(ha.train_loss, rel=1e-4)
    assert hb.val_acc == pytest.approx(ha.val_acc, abs=1e-9)


def test_channels_last_ignored_without_images(split):
    train, _ = split
    h = fit(models.ConcatMLP((32, 16), 8, 2), train, epochs=1, device="cpu", channels_last=True)
    assert h.channels_last is False


def test_compile_that_works_gives_the_same_results(split, monkeypatch, fresh_warning):
    """A stand-in 'compiler' returning the model itself: the compiled path is taken, results equal."""
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(model) or model)
    train, val = split
    a, b = twins(lambda: models.ConcatMLP((32, 16), 16, 2))
    ha = fit(a, train, val, epochs=2, device="cpu", seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hb = fit(b, train, val, epochs=2, device="cpu", seed=2, compile=True)
    assert calls == [b] and hb.compiled is True
    assert hb.train_loss == ha.train_loss and hb.val_acc == ha.val_acc


@pytest.mark.parametrize("where", ["at compile", "at first call"])
def test_compile_failure_falls_back_to_eager_with_one_warning(split, monkeypatch, fresh_warning, where):
    def broken_compile(model, **kw):
        if where == "at compile":
            raise RuntimeError("no C++ compiler found")

        def call(*xs):
            raise RuntimeError("backend failed: unsupported op")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    train, val = split
    a, b = twins(lambda: models.ConcatMLP((32, 16), 16, 2))
    ha = fit(a, train, val, epochs=2, device="cpu", seed=4)
    with pytest.warns(RuntimeWarning, match="torch.compile failed.*eager") as record:
        hb = fit(b, train, val, epochs=2, device="cpu", seed=4, compile=True)
        fit(models.ConcatMLP((32, 16), 16, 2), train, epochs=1, device="cpu", compile=True)
    assert len([w for w in record if "torch.compile" in str(w.message)]) == 1  # once per process
    assert hb.compiled is False
    assert hb.train_loss == ha.train_loss and hb.val_acc == ha.val_acc


def test_a_bug_in_the_model_is_reported_as_itself_under_compile(split, monkeypatch, fresh_warning):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(32, 2)

        def forward(self, img, txt):
            return self.w(txt)  # wrong modality: 16 features into a 32-input layer

    monkeypatch.setattr(torch, "compile", lambda model, **kw: model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
            fit(Broken(), split[0], epochs=1, device="cpu", compile=True)
