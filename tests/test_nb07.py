"""Notebook 07: renderer, folder loader/exporter, CNN fusion models, tracker and the fuse check."""
import json

import numpy as np
import pytest
import torch

from course_utils.checks import nb07
from course_utils.data.folder import FolderLayoutError, export_folder, find_pairs, load_folder
from course_utils.data.shapes import PRESETS, make_shapes, render_shapes
from course_utils import references
from course_utils.feedback import CheckFailed, NotImplementedYet, ReferenceUsed
from course_utils.models import cnn
from course_utils.tracking import Tracker, format_table, read_runs, summarize, training_memory_mb
from course_utils.training import fit

from copies import own

fuse = own("07.fuse")


# -- renderer --------------------------------------------------------------------------------------
def test_render_shapes_shapes_ranges_and_determinism():
    b = render_shapes(50, rgb_size=24, depth_size=16, seed=3)
    assert b.rgb.shape == (50, 3, 24, 24) and b.rgb.dtype == np.float32
    assert b.depth.shape == (50, 1, 16, 16) and b.depth.dtype == np.float32
    assert b.labels.shape == (50,) and set(b.labels.tolist()) <= {0, 1}
    assert 0 <= b.rgb.min() and b.rgb.max() <= 1 and b.depth.min() >= 0
    again = render_shapes(50, rgb_size=24, depth_size=16, seed=3)
    assert np.array_equal(b.rgb, again.rgb) and np.array_equal(b.depth, again.depth)
    assert not np.array_equal(b.rgb, render_shapes(50, rgb_size=24, depth_size=16, seed=4).rgb)


def test_render_shapes_is_deterministic_across_chunks():
    b = render_shapes(1100, rgb_size=8, depth_size=8, seed=1)   # more than one internal chunk
    assert np.array_equal(b.depth, render_shapes(1100, rgb_size=8, depth_size=8, seed=1).depth)


def test_presets_degrade_sensors_as_documented():
    easy = render_shapes(400, difficulty="easy", rgb_size=16, depth_size=16, seed=0)
    assert easy.camera_ok.all() and easy.lidar_ok.all()
    default = render_shapes(2000, rgb_size=16, depth_size=16, seed=0)
    assert abs((~default.camera_ok).mean() - PRESETS["default"]["camera_fail_prob"]) < 0.05
    assert abs((~default.lidar_ok).mean() - PRESETS["default"]["lidar_fail_prob"]) < 0.05
    # degraded LiDAR loses most returns; a degraded camera is dark
    ret = (default.depth > 0).mean((1, 2, 3))
    assert ret[~default.lidar_ok].mean() < 0.5 * ret[default.lidar_ok].mean()
    bright = default.rgb.mean((1, 2, 3))
    assert bright[~default.camera_ok].mean() < 0.5 * bright[default.camera_ok].mean()


def test_ring_step_leaves_empty_scan_lines():
    b = render_shapes(20, difficulty="easy", depth_size=16, seed=0, ring_step=4, dropout=0.0)
    rows_with_returns = (b.depth[:, 0] > 0).any(2).sum(1)
    assert (rows_with_returns == 4).all()


def test_make_shapes_dataset_and_bad_arguments():
    ds = make_shapes(10, rgb_size=16, depth_size=16)
    assert ds.names == ("rgb", "lidar") and ds.modalities[0].shape == (10, 3, 16, 16)
    with pytest.raises(ValueError, match="difficulty"):
        render_shapes(5, difficulty="hard")
    with pytest.raises(TypeError, match="unknown sensor setting"):
        render_shapes(5, fog=1.0)
    with pytest.raises(ValueError, match="dropout"):
        render_shapes(5, dropout=1.5)
    with pytest.raises(ValueError, match="n must be"):
        render_shapes(0)


# -- folder layout ---------------------------------------------------------------------------------
def test_export_then_load_round_trip(tmp_path):
    ds = make_shapes(30, rgb_size=16, depth_size=16, seed=2)
    root = export_folder(ds, tmp_path / "data")
    assert len(list((root / "cubes" / "rgb").glob("*.png"))) == int((ds.labels == 0).sum())
    train, val = load_folder(root, rgb_size=16, depth_shape=(16, 16), train_fraction=0.7, seed=0)
    assert len(train) + len(val) == 30
    depth = torch.cat([train.modalities[1], val.modalities[1]])
    rgb = torch.cat([train.modalities[0], val.modalities[0]])
    labels = torch.cat([train.labels, val.labels])
    match = torch.cdist(depth.flatten(1), ds.modalities[1].flatten(1)).argmin(1)
    assert sorted(match.tolist()) == list(range(30))
    assert torch.equal(depth, ds.modalities[1][match]) and torch.equal(labels, ds.labels[match])
    assert (rgb - ds.modalities[0][match]).abs().max() <= 0.5 / 255 + 1e-6
    # the split is seeded and stratified
    again, _ = load_folder(root, rgb_size=16, depth_shape=(16, 16), train_fraction=0.7, seed=0)
    assert torch.equal(again.modalities[1], train.modalities[1])
    other, _ = load_folder(root, rgb_size=16, depth_shape=(16, 16), train_fraction=0.7, seed=1)
    assert not torch.equal(other.modalities[1], train.modalities[1])
    for c in (0, 1):
        n_c = int((ds.labels == c).sum())
        assert int((train.labels == c).sum()) == round(0.7 * n_c)


def test_loader_resizes_images(tmp_path):
    root = export_folder(make_shapes(6, rgb_size=16, depth_size=16), tmp_path / "d")
    train, _ = load_folder(root, rgb_size=8, depth_shape=(16, 16), train_fraction=0.5)
    assert train.modalities[0].shape[1:] == (3, 8, 8)


def test_bad_folders_give_clear_errors(tmp_path):
    with pytest.raises(FolderLayoutError, match="does not exist"):
        load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FolderLayoutError, match="missing folder .*cubes"):
        load_folder(tmp_path / "empty")
    root = export_folder(make_shapes(12, rgb_size=8, depth_size=16, seed=0), tmp_path / "d")
    with pytest.raises(FolderLayoutError, match="depth map .* has shape \\(16, 16\\), expected \\(64, 64\\)"):
        load_folder(root)
    stray = next((root / "spheres" / "rgb").glob("*.png"))
    stray.rename(stray.with_name("stray.png"))
    with pytest.raises(FolderLayoutError, match="unpaired files .*stray"):
        find_pairs(root)
    pairs = find_pairs(root, unpaired="drop")
    assert all(p[0].stem == p[1].stem for p in pairs)
    with pytest.raises(FileExistsError, match="not empty"):
        export_folder(make_shapes(4, rgb_size=8, depth_size=8), root)


# -- models ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(cnn.model_zoo()))
def test_models_give_logits_and_use_their_inputs(name):
    torch.manual_seed(0)
    model = cnn.model_zoo()[name]()
    rgb, lidar = torch.rand(4, 3, 32, 32), torch.rand(4, 1, 32, 32) * 5
    out = model(rgb, lidar)
    assert out.shape == (4, 2)
    uses_rgb = not torch.allclose(out, model(torch.rand(4, 3, 32, 32), lidar))
    uses_lidar = not torch.allclose(out, model(rgb, torch.rand(4, 1, 32, 32) * 5))
    assert uses_rgb == (name != "lidar only") and uses_lidar == (name != "rgb only")


def test_intermediate_fusion_handles_larger_images_and_channels_last():
    model = cnn.IntermediateFusionCNN("hadamard", channels_last=True).to(memory_format=torch.channels_last)
    assert model(torch.rand(2, 3, 64, 64), torch.rand(2, 1, 32, 32)).shape == (2, 2)


def test_lidar_preparation_maps_no_return_to_far():
    depth = torch.tensor([[[[0.0, 3.0], [5.0, 0.0]]]])
    assert torch.equal(cnn.closeness(depth, 8.0), torch.tensor([[[[0.0, 5.0], [3.0, 0.0]]]]))
    assert cnn.densify(cnn.closeness(depth, 8.0)).item() == 5.0
    with pytest.raises(ValueError, match="mode"):
        fuse(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), "mul")


# -- tracker ---------------------------------------------------------------------------------------
def test_tracker_round_trip_and_summary(tmp_path):
    ds = make_shapes(64, rgb_size=16, depth_size=16, seed=0)
    train, val = ds[:48], ds[48:]
    tracker = Tracker(tmp_path / "runs", "exp", fresh=True)
    for seed in (0, 1):
        model = cnn.UnimodalCNN(1, 1)
        history = fit(model, train, val, epochs=1, batch_size=16, seed=seed, progress=False)
        tracker.log("lidar only", history, seed=seed, config={"lr": 3e-3}, extra=1.5)
    tracker.log("other", seed=0, val_acc=0.5)
    runs = read_runs(tmp_path / "runs" / "exp.jsonl")
    assert [r["name"] for r in runs] == ["lidar only", "lidar only", "other"]
    assert runs[0]["config"] == {"lr": 3e-3} and runs[0]["extra"] == 1.5 and runs[0]["memory_kind"]
    assert len(runs[0]["curves"]["val_acc"]) == 1
    table = summarize(runs)
    row = table[0]
    accs = [r["val_acc"] for r in runs[:2]]
    assert row["runs"] == 2 and row["val_acc"][0] == pytest.approx(np.mean(accs))
    assert row["val_acc"][1] == pytest.approx(np.std(accs, ddof=1))
    assert table[1]["runs"] == 1 and table[1]["val_acc"] == (0.5, 0.0)
    text = format_table(table)
    assert "lidar only" in text and "±" in text
    assert not Tracker(tmp_path / "runs", "exp", fresh=True).path.exists()   # fresh starts empty


def test_tracker_errors_and_optional_backends(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no runs file"):
        read_runs(tmp_path / "none.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"name": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_runs(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="plain file name"):
        Tracker(tmp_path, "a/b")
    tracker = Tracker(tmp_path, "x", wandb=True)   # works whether or not wandb is installed
    if not tracker.use_wandb:
        assert "not installed" in capsys.readouterr().out
    Tracker(tmp_path, "y").log("m", val_acc=1.0)
    assert json.loads((tmp_path / "y.jsonl").read_text())["name"] == "m"


def test_training_memory_grows_with_batch():
    model = cnn.EmbeddingConcatCNN()
    small = training_memory_mb(model, [torch.rand(8, 3, 32, 32), torch.rand(8, 1, 32, 32)])
    large = training_memory_mb(model, [torch.rand(64, 3, 32, 32), torch.rand(64, 1, 32, 32)])
    assert 0 < small < large


# -- the fuse check --------------------------------------------------------------------------------
def fuse_reversed(a, b, mode):
    if mode not in cnn.FUSION_MODES:
        raise ValueError(mode)
    return {"concat": lambda: torch.cat((b, a), 1), "add": lambda: torch.add(b, a),
            "hadamard": lambda: torch.mul(b, a)}[mode]()


def fuse_mean(a, b, mode):
    if mode not in cnn.FUSION_MODES:
        raise ValueError(mode)
    if mode == "add":
        return (a + b) / 2
    return fuse(a, b, mode)


def fuse_other_form(rgb_map, lidar_map, mode):
    if mode not in cnn.FUSION_MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "concat":
        return torch.concat((rgb_map, lidar_map), dim=-3)
    if mode == "add":
        return torch.add(lidar_map, rgb_map)
    return torch.einsum("bchw,bchw->bchw", rgb_map, lidar_map)


@pytest.mark.parametrize("fuse", [fuse, fuse_other_form])
def test_check_accepts_correct_fusions(fuse):
    assert nb07.check_fuse(fuse)


def _variant(**wrong):
    def variant(a, b, mode):
        if mode not in cnn.FUSION_MODES:
            raise ValueError(mode)
        if mode in wrong:
            return wrong[mode](a, b)
        return fuse(a, b, mode)
    return variant


@pytest.mark.parametrize("fuse, message", [
    (_variant(concat=lambda a, b: torch.cat([a, b], 0)), "shape"),
    (_variant(concat=lambda a, b: torch.cat([a, b], -1)), "shape"),
    (_variant(concat=lambda a, b: torch.stack([a, b], 1)), "shape"),
    (fuse_reversed, "LiDAR map's channels first"),
    (fuse_mean, "mean"),
    (_variant(add=lambda a, b: a - b), "sum"),
    (_variant(hadamard=lambda a, b: a @ b), "element-wise"),
    (_variant(hadamard=lambda a, b: a + b), "element-wise"),
    (_variant(hadamard=lambda a, b: (a.detach() * b.detach()).requires_grad_()), "both maps"),
    (lambda a, b, mode: fuse(a, b, mode) if mode in cnn.FUSION_MODES else a * b, "unknown|multiply"),
])
def test_check_rejects_typical_mistakes(fuse, message):
    with pytest.raises(CheckFailed, match=message):
        nb07.check_fuse(fuse)


def test_check_reports_unfinished_code():
    def fuse(a, b, mode):
        raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb07.check_fuse(fuse)
    with pytest.raises(NotImplementedYet):
        nb07.check_fuse(lambda a, b, mode: None)


def test_explore_shapes_is_static_when_quiet(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    from course_utils.widgets.shapes import explore_shapes, show_samples
    monkeypatch.setenv("COURSE_QUIET", "1")
    assert explore_shapes(count=2, rgb_size=16, depth_size=16) is None
    fig = show_samples(render_shapes(3, rgb_size=16, depth_size=16), 3)
    assert len(fig.axes) == 6


# -- the forward-pass check of the feature-map fusion CNN -----------------------------------------
class ForwardInOtherForm(cnn.FeatureMapFusionLayers):
    def forward(self, rgb, lidar):
        a = self.rgb_stem(cnn.prepare_rgb(rgb, self.channels_last))
        b = self.lidar_stem(cnn.prepare_lidar(lidar, self.channels_last))
        a, b = cnn.same_grid(a, b)
        return self.head(self.trunk(self.fuse_fn(a, b, self.mode)).flatten(2).mean(-1))


def _forward(body, parent=None):
    return type("Wrong", (parent or cnn.FeatureMapFusionLayers,), {"forward": body})


def _maps_of(self, rgb, lidar, prepare=True):
    rgb = cnn.prepare_rgb(rgb) if prepare else rgb
    lidar = cnn.prepare_lidar(lidar) if prepare else cnn.densify(lidar)
    return cnn.same_grid(self.rgb_stem(rgb), self.lidar_stem(lidar))


class ForwardStepByStep(cnn.FeatureMapFusionLayers):
    def forward(self, rgb, lidar):
        maps = cnn.same_grid(self.rgb_stem(cnn.prepare_rgb(rgb, self.channels_last)),
                             self.lidar_stem(cnn.prepare_lidar(lidar, self.channels_last)))
        pooled = torch.nn.functional.adaptive_avg_pool2d(self.trunk(self.fuse_fn(*maps, self.mode)), 1)
        return self.head(pooled.flatten(1))


class WholeModelOfItsOwn(torch.nn.Module):
    """Correct: the learner wrote the whole model (the same layers as cnn.FeatureMapFusionLayers) and its forward."""

    def __init__(self, mode="concat", fuse_fn=None, channels_last=False):
        super().__init__()
        self.mode, self.fuse_fn, self.channels_last = mode, fuse_fn or cnn.fuse, channels_last
        self.rgb_stem, self.lidar_stem = cnn.ConvStem(3, (8, 16)), cnn.ConvStem(1, (16,))
        self.trunk = cnn.conv_block(32 if mode == "concat" else 16, 32)
        self.head = torch.nn.Linear(32, 2)

    def forward(self, rgb, lidar):
        a, b = cnn.same_grid(self.rgb_stem(cnn.prepare_rgb(rgb)), self.lidar_stem(cnn.prepare_lidar(lidar)))
        return self.head(self.trunk(self.fuse_fn(a, b, self.mode)).mean((2, 3)))


@pytest.mark.parametrize("cls", [own("07.intermediate_forward"), ForwardInOtherForm, ForwardStepByStep,
                                 WholeModelOfItsOwn])
def test_intermediate_forward_check_accepts(cls):
    assert nb07.check_intermediate_forward(cls)


def test_the_parent_class_holds_no_forward():
    # issue 28: the learner runtime must not ship the answer in the template's parent
    assert cnn.FeatureMapFusionLayers.forward is torch.nn.Module.forward
    assert cnn.IntermediateFusionCNN is references.reference("07.intermediate_forward")


def test_intermediate_forward_check_rejects_the_inherited_forward():
    def forward(self, rgb, lidar):
        return super(type(self), self).forward(rgb, lidar)
    with pytest.raises(CheckFailed, match="parent's forward") as info:
        nb07.check_intermediate_forward(_forward(forward))
    assert not isinstance(info.value, NotImplementedYet)
    with pytest.raises(NotImplementedYet, match="no forward of its own"):
        nb07.check_intermediate_forward(type("NoForward", (cnn.FeatureMapFusionLayers,), {}))


def test_intermediate_forward_check_rejects_the_reference_as_parent():
    # the old template's parent (cnn.IntermediateFusionCNN) is now the reference itself: subclassing it is caught
    def forward(self, rgb, lidar):
        return super(type(self), self).forward(rgb, lidar)
    with pytest.raises(ReferenceUsed):
        nb07.check_intermediate_forward(_forward(forward, cnn.IntermediateFusionCNN))
    with pytest.raises(ReferenceUsed):
        nb07.check_intermediate_forward(cnn.IntermediateFusionCNN)


def test_intermediate_forward_check_rejects_a_class_of_another_kind():
    with pytest.raises(CheckFailed, match="module class"):
        nb07.check_intermediate_forward(lambda mode, fuse_fn=None: None)
    plain = type("Plain", (torch.nn.Module,), {"__init__": lambda s, mode, fuse_fn=None: torch.nn.Module.__init__(s),
                                               "forward": lambda s, r, l: r})
    with pytest.raises(CheckFailed, match="keep the layers"):
        nb07.check_intermediate_forward(plain)


@pytest.mark.parametrize("forward, message", [
    (lambda s, r, l: s.head(s.trunk(s.fuse_fn(*reversed(_maps_of(s, r, l)), s.mode)).mean((2, 3))), "LiDAR map first"),
    (lambda s, r, l: s.head(s.trunk(s.fuse_fn(*_maps_of(s, r, l, prepare=False), s.mode)).mean((2, 3))), "raw image"),
    (lambda s, r, l: s.head(s.trunk(s.fuse_fn(s.rgb_stem(cnn.prepare_rgb(r)), s.lidar_stem(cnn.prepare_lidar(l)),
                                              s.mode)).mean((2, 3))), "same_grid"),
    (lambda s, r, l: s.head(s.trunk(cnn.fuse(*_maps_of(s, r, l), s.mode)).mean((2, 3))), "self.fuse_fn"),
    (lambda s, r, l: s.head(s.trunk(s.fuse_fn(*_maps_of(s, r, l), s.mode)).amax((2, 3))), "mean over the positions"),
    (lambda s, r, l: s.head(s.trunk(s.fuse_fn(*_maps_of(s, r, l), s.mode)).mean((2, 3))).softmax(1), "no softmax"),
], ids=["lidar-first", "unprepared", "no-common-grid", "library-fuse", "max-pool", "softmax"])
def test_intermediate_forward_check_rejects(forward, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb07.check_intermediate_forward(_forward(forward))
    assert not isinstance(info.value, NotImplementedYet)


def test_intermediate_forward_check_unfinished():
    def forward(self, rgb, lidar):
        raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb07.check_intermediate_forward(_forward(forward))


def test_model_zoo_uses_the_given_feature_map_class():
    zoo = cnn.model_zoo(intermediate_cls=ForwardInOtherForm)
    assert isinstance(zoo["feature-map add"](), ForwardInOtherForm)
    assert type(zoo["embedding concat"]()) is cnn.EmbeddingConcatCNN
