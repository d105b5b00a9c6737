"""course_utils.robustness: fills, noise, robustness metrics, learned placeholder, modality dropout."""
import pytest
import torch
from torch import nn

from course_utils import robustness as R
from course_utils.data import MultimodalDataset, make_information_dataset
from course_utils.training import fit


def small(n=200, seed=0):
    return make_information_dataset("redundant", n, img_dim=8, txt_dim=4, seed=seed)


# ---- fills and noise ----------------------------------------------------------------------------------
def test_with_missing_zero_mean_and_tensor():
    data, ref = small().split(0.5, seed=0)
    data = small()
    zero = R.with_missing(data, "text")
    assert torch.equal(zero.modalities[1], torch.zeros(200, 4)) and torch.equal(zero.modalities[0], data.modalities[0])
    mean = R.with_missing(data, 1, "mean", reference=ref)
    assert torch.allclose(mean.modalities[1], ref.modalities[1].mean(0).expand(200, 4))
    vec = torch.arange(8.0)
    assert torch.equal(R.with_missing(data, "image", vec).modalities[0][5], vec)
    assert not torch.equal(data.modalities[1], zero.modalities[1])        # the original is unchanged


@pytest.mark.parametrize("kwargs, error, match", [
    ({"modality": "audio"}, ValueError, "no modality"),
    ({"modality": 2}, ValueError, "modality must be"),
    ({"modality": "text", "fill": "mean"}, ValueError, "reference"),
    ({"modality": "text", "fill": "median"}, ValueError, "fill must be"),
    ({"modality": "text", "fill": torch.zeros(3)}, ValueError, "per-sample shape"),
])
def test_with_missing_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        R.with_missing(small(), **kwargs)


def test_with_missing_needs_a_dataset():
    with pytest.raises(TypeError, match="MultimodalDataset"):
        R.with_missing(torch.zeros(3, 2), "text")


def test_with_noise_is_seeded_and_scaled():
    data = small()
    a, b = R.with_noise(data, "image", 0.7, seed=3), R.with_noise(data, "image", 0.7, seed=3)
    assert torch.equal(a.modalities[0], b.modalities[0])
    assert torch.equal(R.with_noise(data, "image", 0.0).modalities[0], data.modalities[0])
    eps1 = R.with_noise(data, "image", 1.0, seed=3).modalities[0] - data.modalities[0]
    eps2 = R.with_noise(data, "image", 2.0, seed=3).modalities[0] - data.modalities[0]
    assert torch.allclose(eps2, 2 * eps1, atol=1e-5)                     # the same epsilon at every level
    assert torch.equal(a.modalities[1], data.modalities[1])
    with pytest.raises(ValueError, match="sigma"):
        R.with_noise(data, "image", -1.0)


# ---- robustness metrics --------------------------------------------------------------------------------
def test_relative_robustness_is_the_normalised_area():
    assert R.relative_robustness([0, 1, 2], [0.8, 0.8, 0.8]) == pytest.approx(0.8)
    assert R.relative_robustness([0, 0.5, 1.0], [1.0, 0.75, 0.5]) == pytest.approx(0.75)
    # trapezoid with uneven spacing: area 0.5 * (1 + 0.5) / 2 + 1.5 * (0.5 + 0.5) / 2 = 1.125, over width 2
    assert R.relative_robustness([0, 0.5, 2.0], [1.0, 0.5, 0.5]) == pytest.approx(1.125 / 2)
    # invariant to the units of the noise axis
    assert R.relative_robustness([0, 10, 20], [0.9, 0.7, 0.6]) == pytest.approx(
        R.relative_robustness([0, 1, 2], [0.9, 0.7, 0.6]))


def test_effective_robustness_against_a_shifted_reference():
    levels = [0, 1, 2]
    ref = [0.9, 0.7, 0.5]
    assert R.effective_robustness(levels, ref, ref) == pytest.approx(0.0)
    # same drop as the reference from a lower start: 0 (the reference is shifted to the same clean accuracy)
    assert R.effective_robustness(levels, [0.8, 0.6, 0.4], ref) == pytest.approx(0.0)
    # a flat curve loses nothing: it beats the reference by the reference's average drop
    assert R.effective_robustness(levels, [0.8, 0.8, 0.8], ref) == pytest.approx(0.2)
    assert R.effective_robustness(levels, [0.9, 0.5, 0.3], ref) < 0


@pytest.mark.parametrize("levels, accs, match", [
    ([0], [1.0], "at least 2"), ([0, 1], [1.0], "one accuracy per"), ([1, 0], [0.5, 0.6], "increasing"),
])
def test_metrics_reject_bad_curves(levels, accs, match):
    with pytest.raises(ValueError, match=match):
        R.relative_robustness(levels, accs)


# ---- models under missing modalities ----------------------------------------------------------------------
class Offset(nn.Module):
    """A linear model that only works when the text sits at its usual offset."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8 + 4, 2)

    def forward(self, img, txt):
        return self.lin(torch.cat([img, txt], 1))


def offset_data(n, seed):
    d = small(n, seed)
    return MultimodalDataset((d.modalities[0], d.modalities[1] + 3.0), d.labels, d.names, 2)


def hand_set_model(train):
    """A linear model that reads both modalities along their class directions and cancels the text offset."""
    model = Offset()
    with torch.no_grad():
        y = train.labels
        w = [m[y == 1].mean(0) - m[y == 0].mean(0) for m in train.modalities]
        model.lin.weight.zero_()
        model.lin.weight[1] = torch.cat(w)
        model.lin.bias.zero_()
        model.lin.bias[1] = -(torch.cat(w) @ torch.cat([m.mean(0) for m in train.modalities]))
    return model


def test_learned_placeholder_recovers_what_zero_fill_loses_and_keeps_weights():
    train, test = offset_data(1000, 0).split(0.6, seed=0)
    model = hand_set_model(train)
    assert R.accuracy_on(model, test) > 0.95
    before = [p.detach().clone() for p in model.parameters()]
    accs = R.missing_accuracies(model, test, train, "text")
    assert set(accs) == {"zero", "mean", "placeholder"}
    assert accs["zero"] < 0.6                                  # zeros are far from the text's usual offset
    assert accs["mean"] > 0.9 and accs["placeholder"] > 0.9
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.requires_grad for p in model.parameters())


def test_noise_curve_falls_with_noise():
    train, test = small(1000, 0).split(0.6, seed=0)
    model = hand_set_model(train)
    curve = R.noise_curve(model, test, "image", [0.0, 2.0, 8.0])
    assert curve.shape == (3,) and curve[0] > curve[-1]
    assert R.accuracy_on(model, test) == pytest.approx(float(curve[0]))


# ---- modality dropout ---------------------------------------------------------------------------------------
def test_modality_dropout_rates_and_fill():
    torch.manual_seed(0)
    img, txt = torch.randn(20000, 3) + 5, torch.randn(20000, 2) + 5
    out = R.ModalityDropout(0.5)([img, txt], None)
    dropped = torch.stack([(o == 0).all(1) for o in out], 1)
    assert not bool((dropped.sum(1) == 2).any())
    assert dropped.any(1).float().mean().item() == pytest.approx(0.5, abs=0.02)
    assert dropped.float().mean(0).tolist() == pytest.approx([0.25, 0.25], abs=0.02)
    kept = ~dropped[:, 0]
    assert torch.equal(out[0][kept], img[kept])
    fills = [torch.ones(3), torch.full((2,), -1.0)]
    out = R.ModalityDropout(1.0, fills=fills)([img, txt], None)
    assert bool(((out[0] == 1).all(1) | (out[1] == -1).all(1)).all())
    md = R.ModalityDropout(1.0).eval()
    assert all(torch.equal(a, b) for a, b in zip(md([img, txt], None), [img, txt]))


def test_modality_dropout_works_on_token_inputs_and_in_fit():
    tokens = torch.randn(10, 4, 3) + 2
    out = R.ModalityDropout(1.0)([tokens, torch.randn(10, 5) + 2])
    assert out[0].shape == (10, 4, 3)
    data = small(300)
    model = Offset()
    history = fit(model, data, epochs=2, seed=0, progress=False, device="cpu", batch_transform=R.ModalityDropout(0.5))
    assert len(history.train_loss) == 2


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.3", True])
def test_modality_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="probability"):
        R.ModalityDropout(p)
