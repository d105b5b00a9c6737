import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from course_utils import data, models
from course_utils.training import EagerAdamW, evaluate, fit
from course_utils.metrics import accuracy, confusion_matrix, per_class_accuracy


@pytest.fixture(scope="module")
def split():
    return data.make_redundant(600, seed=0).split(0.8, seed=0)


def test_fit_learns_and_reports_history(split):
    train, val = split
    model = models.ConcatMLP((32, 16), 32, 2)
    h = fit(model, train, val, epochs=5, device="cpu")
    assert len(h.train_loss) == len(h.val_acc) == len(h.epoch_time) == 5
    assert h.val_acc[-1] > 0.9 and h.train_loss[-1] < h.train_loss[0]
    assert h.num_parameters == sum(p.numel() for p in model.parameters())
    assert h.peak_memory_mb > 0 and "CPU" in h.memory_kind
    assert set(h.final()) >= {"val_acc", "params", "time_per_epoch_s", "peak_memory_mb"}


def test_fit_is_repeatable_for_a_seed(split):
    train, val = split
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(fit(models.ConcatMLP((32, 16), 16, 2), train, val, epochs=2, seed=5, device="cpu").train_loss)
    assert runs[0] == runs[1]


def test_fit_matches_a_plain_pytorch_loop(split):
    """Same init, same batch order: fit's loss equals a hand-written loop's, step for step."""
    train, _ = split
    torch.manual_seed(0)
    model = models.ConcatMLP((32, 16), 16, 2)
    twin = models.ConcatMLP((32, 16), 16, 2)
    twin.load_state_dict(model.state_dict())
    h = fit(model, train, epochs=1, batch_size=64, lr=1e-2, seed=7, device="cpu")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(7))
    opt = torch.optim.AdamW(twin.parameters(), lr=1e-2, weight_decay=0.0)
    total = 0.0
    for i in range(0, len(train), 64):
        idx = order[i:i + 64]
        loss = nn.functional.cross_entropy(twin(*[m[idx] for m in train.modalities]), train.labels[idx])
        opt.zero_grad(); loss.backward(); opt.step()
        total += loss.item() * len(idx)
    assert h.train_loss[0] == pytest.approx(total / len(train), rel=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_eager_adamw_steps_exactly_like_torch_adamw(fused):
    """The course's AdamW (no torch._dynamo import) gives torch.optim.AdamW's parameters bit for bit."""
    torch.manual_seed(0)
    ours, theirs = nn.Linear(6, 3), nn.Linear(6, 3)
    theirs.load_state_dict(ours.state_dict())
    opts = [EagerAdamW(ours.parameters(), lr=1e-2, weight_decay=0.1, fused=fused),
            torch.optim.AdamW(theirs.parameters(), lr=1e-2, weight_decay=0.1, fused=fused)]
    steps = []
    opts[0].register_step_post_hook(lambda opt, args, kwargs: steps.append(1))   # hooks still run
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    for _ in range(4):
        for model, opt in zip((ours, theirs), opts):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
    assert len(steps) == 4 and torch.is_grad_enabled()      # the step hook ran; grad mode is back on


def test_fit_does_not_import_the_compiler_stack():
    """fit's optimizer skips torch._dynamo (2.4 s per process); a regression here costs every notebook."""
    code = ("import sys, torch\n"
            "from course_utils import data, models\n"
            "from course_utils.training import fit\n"
            "fit(models.ConcatMLP((32, 16), 8, 2), data.make_redundant(64, seed=0), epochs=1, device='cpu')\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COURSE_QUIET": "1", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False", "fit imported torch._dynamo: use training.adamw"


class ReturnsNone(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(1, 1)

    def forward(self, *xs):
        return None


class WrongShape(ReturnsNone):
    def forward(self, *xs):
        return xs[0][:, :3]


@pytest.mark.parametrize("model, kwargs, error, message", [
    (ReturnsNone(), {}, TypeError, "returned None"),
    (WrongShape(), {}, ValueError, r"shape \(batch, num_classes\)"),
    (models.ConcatMLP((32, 16), 8, 2), {"epochs": 0}, ValueError, "epochs must be a positive int"),
    (models.ConcatMLP((32, 16), 8, 2), {"batch_size": -1}, ValueError, "batch_size must be a positive int"),
    (models.ConcatMLP((32, 16), 8, 2), {"lr": 0}, ValueError, "lr must be > 0"),
])
def test_fit_rejects_bad_input(split, model, kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(model, split[0], epochs=kwargs.pop("epochs", 1), device="cpu", **kwargs)


def test_fit_rejects_non_dataset():
    with pytest.raises(TypeError, match="MultimodalDataset"):
        fit(models.ConcatMLP((2, 2), 4, 2), (torch.zeros(3, 2), torch.zeros(3)), device="cpu")


def test_evaluate_and_metrics(split):
    _, val = split
    model = models.ConcatMLP((32, 16), 8, 2)
    result = evaluate(model, val, batch_size=7)
    assert result["logits"].shape == (len(val), 2)
    assert result["accuracy"] == pytest.approx(accuracy(result["logits"], val.labels))
    cm = confusion_matrix(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2)
    assert cm.tolist() == [[1, 1], [0, 2]]
    assert per_class_accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="differ in shape"):
        accuracy(torch.zeros(3), torch.zeros(4))


class WithAuxiliaryLogits(nn.Module):
    """Fused logits plus one extra head's logits in training mode; the fused logits alone in eval mode."""

    def __init__(self):
        super().__init__()
        self.body = models.ConcatMLP((32, 16), 16, 2)
        self.extra = nn.Linear(32, 2)

    def forward(self, img, txt):
        fused = self.body(img, txt)
        return (fused, self.extra(img)) if self.training else fused


def test_fit_with_a_custom_loss_matches_a_plain_loop(split):
    """``loss=`` replaces the cross-entropy in training; the model's tuple goes to it, its first entry is scored."""
    train, val = split
    torch.manual_seed(0)
    model, twin = WithAuxiliaryLogits(), WithAuxiliaryLogits()
    twin.load_state_dict(model.state_dict())
    F = nn.functional
    loss = lambda out, y: F.cross_entropy(out[0], y) + 0.5 * F.cross_entropy(out[1], y)  # noqa: E731
    h = fit(model, train, val, epochs=1, batch_size=64, lr=1e-2, seed=7, device="cpu", loss=loss)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(7))
    opt = torch.optim.AdamW(twin.parameters(), lr=1e-2, weight_decay=0.0)
    total, correct = 0.0, 0
    for i in range(0, len(train), 64):
        idx = order[i:i + 64]
        out = twin(*[m[idx] for m in train.modalities])
        value = loss(out, train.labels[idx])
        opt.zero_grad(); value.backward(); opt.step()
        total += value.item() * len(idx)
        correct += int((out[0].argmax(1) == train.labels[idx]).sum())
    assert h.train_loss[0] == pytest.approx(total / len(train), rel=1e-5)
    assert h.train_acc[0] == pytest.approx(correct / len(train))
    assert h.val_acc[0] == pytest.approx(evaluate(model, val)["accuracy"])
    assert torch.allclose(model.extra.weight, twin.extra.weight, atol=1e-6)


@pytest.mark.parametrize("loss, message", [
    (lambda out, y: nn.functional.cross_entropy(out[0], y, reduction="none"), r"one number.*shape \(64,\)"),
    (lambda out, y: nn.functional.cross_entropy(out[0], y).item(), "one number.*float"),
])
def test_fit_rejects_a_loss_that_is_not_one_number(split, loss, message):
    with pytest.raises(TypeError, match=message):
        fit(WithAuxiliaryLogits(), split[0], epochs=1, batch_size=64, device="cpu", loss=loss)


def test_a_tuple_without_a_loss_is_an_error(split):
    with pytest.raises(TypeError, match="tensor of logits"):
        fit(WithAuxiliaryLogits(), split[0], epochs=1, device="cpu")
