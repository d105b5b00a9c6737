"""Notebook 06 (gated fusion): data generator, reference models, widget fallback and exercise checks."""
import matplotlib
import pytest
import torch
from torch import nn

from course_utils.checks import nb06
from course_utils.data.dataset import MultimodalDataset
from course_utils.data.switch import drop_modality, make_switch_data
from course_utils.feedback import CheckFailed, NotImplementedYet
from course_utils.models import gating

from copies import own

GatedFusionModel = own("06.scalar_gate")
GatedMultimodalUnit = own("06.gmu")
from course_utils.widgets import gate as widgets_gate

matplotlib.use("Agg")


# --------------------------------------------------------------------------------------------- data
def test_switch_data_shapes_and_determinism():
    data, switch = make_switch_data(300, img_dim=10, txt_dim=6, num_classes=4, seed=3)
    assert isinstance(data, MultimodalDataset) and data.num_classes == 4
    assert data.modality("image").shape == (300, 10) and data.modality("text").shape == (300, 6)
    assert switch.shape == (300,) and set(switch.tolist()) <= {0, 1}
    again, switch_again = make_switch_data(300, img_dim=10, txt_dim=6, num_classes=4, seed=3)
    assert torch.equal(again.modalities[0], data.modalities[0]) and torch.equal(switch, switch_again)
    other, _ = make_switch_data(300, img_dim=10, txt_dim=6, num_classes=4, seed=3, sample_seed=9)
    assert not torch.equal(other.modalities[0], data.modalities[0])


def test_switch_data_fingerprint_marks_the_corrupted_modality():
    # with no noise, a reliable modality is exactly its class prototype, a corrupted one is off by the fault
    data, switch = make_switch_data(400, noise=0.0, fault=1.0, seed=0)
    image, text = data.modalities
    img_norm, txt_norm = image.norm(dim=1), text.norm(dim=1)
    assert torch.allclose(img_norm[switch == 1], torch.ones(int((switch == 1).sum())), atol=1e-5)
    assert torch.allclose(txt_norm[switch == 0], torch.ones(int((switch == 0).sum())), atol=1e-5)
    assert not torch.allclose(img_norm[switch == 0], torch.ones(int((switch == 0).sum())), atol=1e-2)
    # the reliable modality's prototype matches the label: same label -> same vector
    for c in range(3):
        rows = image[(switch == 1) & (data.labels == c)]
        assert torch.allclose(rows, rows[:1].expand_as(rows), atol=1e-5)


def test_switch_data_all_one_side_and_clean():
    _, switch = make_switch_data(200, p_image_reliable=1.0)
    assert bool((switch == 1).all())
    _, switch = make_switch_data(200, p_image_reliable=0.0)
    assert bool((switch == 0).all())
    clean, switch = make_switch_data(200, clean=True, noise=0.0)
    assert bool((switch == -1).all())
    assert torch.allclose(clean.modalities[0].norm(dim=1), torch.ones(200), atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 1}, "n must"), ({"noise": -1.0}, "noise"), ({"p_image_reliable": 1.5}, "p_image_reliable"),
    ({"num_classes": 1}, "num_classes"), ({"fault": float("nan")}, "fault"), ({"clean": 1}, "clean"),
])
def test_switch_data_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_switch_data(**kwargs)


def test_drop_modality():
    data, _ = make_switch_data(50)
    dropped = drop_modality(data, "text")
    assert torch.equal(dropped.modalities[0], data.modalities[0])
    assert bool((dropped.modalities[1] == 0).all())
    with pytest.raises(ValueError, match="image"):
        drop_modality(data, "audio")


# ------------------------------------------------------------------------------------------- models
def test_reference_models_shapes_and_gates():
    x_v, x_t = torch.randn(5, 32), torch.randn(5, 16)
    gated = GatedFusionModel()
    assert gated(x_v, x_t).shape == (5, 3) and torch.sigmoid(gated.gate).item() == 0.5
    gmu = gating.GMUModel()
    assert gmu(x_v, x_t).shape == (5, 3) and gmu.last_gate.shape == (5, 32)
    data, _ = make_switch_data(20)
    assert gating.gate_values(gmu, data).shape == (20,)
    scalar = gating.gate_values(gated, data)
    assert scalar.shape == (20,) and bool((scalar == 0.5).all())


def test_correlation():
    x = torch.arange(10.0)
    assert gating.correlation(x, 2 * x + 1) == pytest.approx(1.0)
    assert gating.correlation(x, -x) == pytest.approx(-1.0)
    assert gating.correlation(torch.ones(10), x) != gating.correlation(torch.ones(10), x)  # NaN
    with pytest.raises(ValueError):
        gating.correlation(x, x[:5])


# ----------------------------------------------------------------------------------------- widgets
def test_gate_explorer_static_fallback_and_gate_restored(monkeypatch):
    monkeypatch.setenv("COURSE_QUIET", "1")
    model = GatedFusionModel()
    with torch.no_grad():
        model.gate.fill_(0.7)
    data, switch = make_switch_data(60)
    ax = widgets_gate.gate_explorer(model, {"all": data, "image reliable": data[switch == 1]})
    assert isinstance(ax, matplotlib.axes.Axes)
    assert model.gate.item() == pytest.approx(0.7)
    values, curves = widgets_gate.accuracy_vs_gate(model, {"all": data}, values=[0.0, 1.0])
    assert values == [0.0, 1.0] and len(curves["all"]) == 2
    with pytest.raises(ValueError, match="value"):
        widgets_gate.accuracy_at_gate(model, {"all": data}, 1.5)
    with pytest.raises(TypeError, match="gate"):
        widgets_gate.gate_explorer(gating.GMUModel(), {"all": data})


# ------------------------------------------------------------------------- exercise 06.scalar_gate
class GatedScalarShape(nn.Module):
    """Correct: gate of shape (), sigmoid written out, torch.lerp for the mix, a Linear head."""

    def __init__(self, img_dim=32, txt_dim=16, embed_dim=32, num_classes=3):
        super().__init__()
        self.img_proj = nn.Linear(img_dim, embed_dim)
        self.txt_proj = nn.Linear(txt_dim, embed_dim)
        self.gate = nn.Parameter(torch.tensor(0.0))
        self.classifier = nn.Linear(embed_dim, num_classes)

    def forward(self, img, txt):
        a = 1 / (1 + torch.exp(-self.gate))
        return self.classifier(torch.lerp(self.txt_proj(txt), self.img_proj(img), a))


def _variant(forward=None, gate=lambda: nn.Parameter(torch.zeros(1))):
    class Variant(nn.Module):
        def __init__(self, img_dim=32, txt_dim=16, embed_dim=32, num_classes=3):
            super().__init__()
            self.img_proj = nn.Linear(img_dim, embed_dim)
            self.txt_proj = nn.Linear(txt_dim, embed_dim)
            self.gate = gate()
            self.classifier = gating.classifier_head(embed_dim, num_classes)

    Variant.forward = forward or GatedFusionModel.forward
    return Variant


def _one_modality(self, img, txt):
    return self.classifier(torch.sigmoid(self.gate) * self.img_proj(img) + self.txt_proj(txt))


def _raw_gate(self, img, txt):
    return self.classifier(self.gate * self.img_proj(img) + (1 - self.gate) * self.txt_proj(txt))


def _swapped(self, img, txt):
    a = torch.sigmoid(self.gate)
    return self.classifier((1 - a) * self.img_proj(img) + a * self.txt_proj(txt))


def _item_gate(self, img, txt):
    a = torch.sigmoid(torch.tensor(self.gate.item()))
    return self.classifier(a * self.img_proj(img) + (1 - a) * self.txt_proj(txt))


class Unfinished(nn.Module):
    def __init__(self, img_dim=32, txt_dim=16, embed_dim=32, num_classes=3):
        super().__init__()
        self.img_proj = nn.Linear(img_dim, embed_dim)
        self.txt_proj = nn.Linear(txt_dim, embed_dim)
        raise NotImplementedError()


class HalfFinished(GatedFusionModel):
    def forward(self, img, txt):
        raise NotImplementedError()


class _BufferGate(GatedFusionModel):
    def __init__(self, img_dim=32, txt_dim=16, embed_dim=32, num_classes=3):
        super().__init__(img_dim, txt_dim, embed_dim, num_classes)
        del self.gate
        self.register_buffer("gate", torch.zeros(1))


@pytest.mark.parametrize("cls", [GatedFusionModel, GatedScalarShape], ids=["reference", "scalar-lerp"])
def test_scalar_gate_check_accepts(cls):
    assert nb06.check_gated_fusion(cls)


@pytest.mark.parametrize("cls, message", [
    (_variant(gate=lambda: torch.zeros(1)), "plain tensor"),
    (_BufferGate, "plain tensor"),
    (_variant(gate=lambda: nn.Parameter(torch.zeros(1), requires_grad=False)), "requires_grad=False"),
    (_variant(gate=lambda: nn.Parameter(torch.full((1,), 0.5))), "initialise the gate to 0"),
    (_variant(gate=lambda: nn.Parameter(torch.ones(1))), "initialise the gate to 0"),
    (_variant(gate=lambda: nn.Parameter(torch.zeros(32))), "one number"),
    (_variant(forward=_one_modality), "one modality only"),
    (_variant(forward=_raw_gate), "torch.sigmoid"),
    (_variant(forward=_swapped), "swapped"),
    (_variant(forward=_item_gate), "no gradient"),
], ids=["plain-tensor", "buffer", "frozen", "init-0.5", "init-1", "per-feature", "one-modality", "raw-gate", "swapped",
        "item"])
def test_scalar_gate_check_rejects(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb06.check_gated_fusion(cls)
    assert not isinstance(info.value, NotImplementedYet)
    assert "06.scalar_gate" in str(info.value)


@pytest.mark.parametrize("cls", [Unfinished, HalfFinished])
def test_scalar_gate_check_unfinished(cls):
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb06.check_gated_fusion(cls)


# --------------------------------------------------------------------------------- exercise 06.gmu
class FusedGMU(nn.Module):
    """Correct: no biases, separate W_z for each modality (W_z [x_v; x_t] = W_zv x_v + W_zt x_t)."""

    def __init__(self, img_dim=32, txt_dim=16, embed_dim=32):
        super().__init__()
        self.img_proj = nn.Linear(img_dim, embed_dim, bias=False)
        self.txt_proj = nn.Linear(txt_dim, embed_dim, bias=False)
        self.gate_img = nn.Linear(img_dim, embed_dim, bias=False)
        self.gate_txt = nn.Linear(txt_dim, embed_dim)

    def forward(self, x_v, x_t):
        z = torch.sigmoid(self.gate_img(x_v) + self.gate_txt(x_t))
        h_t = torch.tanh(self.txt_proj(x_t))
        return h_t + z * (torch.tanh(self.img_proj(x_v)) - h_t), z


def _gmu_variant(forward=None, init=None):
    class Variant(GatedMultimodalUnit):
        def __init__(self, img_dim=32, txt_dim=16, embed_dim=32):
            super().__init__(img_dim, txt_dim, embed_dim)
            if init is not None:
                init(self, img_dim, txt_dim, embed_dim)

    if forward is not None:
        Variant.forward = forward
    return Variant


def _gmu_parts(self, x_v, x_t):
    return torch.tanh(self.img_proj(x_v)), torch.tanh(self.txt_proj(x_t))


def _gmu_one_modality(self, x_v, x_t):
    h_v, h_t = _gmu_parts(self, x_v, x_t)
    z = torch.sigmoid(self.gate_proj(torch.cat([x_v, x_t], -1)))
    return z * h_v + h_t, z


def _gmu_constant_init(self, img_dim, txt_dim, embed_dim):
    self.gate_logit = nn.Parameter(torch.randn(embed_dim))


def _gmu_constant(self, x_v, x_t):
    h_v, h_t = _gmu_parts(self, x_v, x_t)
    z = torch.sigmoid(self.gate_logit).expand_as(h_v)
    return z * h_v + (1 - z) * h_t, z


def _gmu_text_only_gate_init(self, img_dim, txt_dim, embed_dim):
    self.gate_proj = nn.Linear(txt_dim, embed_dim)


def _gmu_text_only_gate(self, x_v, x_t):
    h_v, h_t = _gmu_parts(self, x_v, x_t)
    z = torch.sigmoid(self.gate_proj(x_t))
    return z * h_v + (1 - z) * h_t, z


def _gmu_no_tanh(self, x_v, x_t):
    z = torch.sigmoid(self.gate_proj(torch.cat([x_v, x_t], -1)))
    return z * self.img_proj(x_v) + (1 - z) * self.txt_proj(x_t), z


def _gmu_scalar_gate_init(self, img_dim, txt_dim, embed_dim):
    self.gate_proj = nn.Linear(img_dim + txt_dim, 1)


def _gmu_scalar_gate(self, x_v, x_t):
    h_v, h_t = _gmu_parts(self, x_v, x_t)
    z = torch.sigmoid(self.gate_proj(torch.cat([x_v, x_t], -1))).expand_as(h_v)
    return z * h_v + (1 - z) * h_t, z


def _gmu_from_features(self, x_v, x_t):
    h_v, h_t = _gmu_parts(self, x_v, x_t)
    z = torch.sigmoid(self.gate_proj2(torch.cat([h_v, h_t], -1)))
    return z * h_v + (1 - z) * h_t, z


def _gmu_from_features_init(self, img_dim, txt_dim, embed_dim):
    self.gate_proj2 = nn.Linear(2 * embed_dim, embed_dim)
    del self.gate_proj


def _gmu_only_h(self, x_v, x_t):
    return GatedMultimodalUnit.forward(self, x_v, x_t)[0]


class UnfinishedGMU(GatedMultimodalUnit):
    def forward(self, x_v, x_t):
        raise NotImplementedError()


@pytest.mark.parametrize("cls", [GatedMultimodalUnit, FusedGMU], ids=["reference", "split-Wz-no-bias"])
def test_gmu_check_accepts(cls):
    assert nb06.check_gmu(cls)


@pytest.mark.parametrize("cls, message", [
    (_gmu_variant(_gmu_one_modality), "one modality only"),
    (_gmu_variant(_gmu_constant, _gmu_constant_init), "ignores the inputs"),
    (_gmu_variant(_gmu_text_only_gate, _gmu_text_only_gate_init), "does not change when the image changes"),
    (_gmu_variant(_gmu_no_tanh), "tanh"),
    (_gmu_variant(_gmu_scalar_gate, _gmu_scalar_gate_init), "same gate value"),
    (_gmu_variant(_gmu_from_features, _gmu_from_features_init), "linear"),
    (_gmu_variant(_gmu_only_h), r"\(h, z\)"),
], ids=["one-modality", "constant-gate", "text-only-gate", "no-tanh", "per-sample-scalar", "gate-from-tanh",
        "returns-h-only"])
def test_gmu_check_rejects(cls, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb06.check_gmu(cls)
    assert not isinstance(info.value, NotImplementedYet)
    assert "06.gmu" in str(info.value)


def test_gmu_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb06.check_gmu(UnfinishedGMU)


def test_gate_explorer_widget_builds_and_leaves_gate_alone(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.delenv("COURSE_QUIET", raising=False)
    monkeypatch.delenv("CI", raising=False)
    model = GatedFusionModel()
    data, switch = make_switch_data(60)
    box = widgets_gate.gate_explorer(model, {"all": data}, interactive=True)
    import ipywidgets
    assert isinstance(box, ipywidgets.VBox)
    slider = box.children[0]
    slider.value = 0.8                       # moving the slider re-evaluates without changing the model
    assert model.gate.item() == 0.0


@pytest.mark.parametrize("forward", [_one_modality, _raw_gate, _swapped], ids=["one-modality", "raw-gate", "swapped"])
def test_without_hidden_checks_the_scalar_gate_properties_still_reject(forward, monkeypatch):
    """A graded release leaves hidden/nb06.py out: the saturated-gate property still catches these mistakes."""
    import sys
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb06", None)
    with pytest.raises(CheckFailed, match="a saturated gate keeps one modality"):
        nb06.check_gated_fusion(_variant(forward=forward))
    assert nb06.check_gated_fusion(GatedFusionModel)
