"""fit_seeds: several seeds in one batched run give what fit gives seed by seed."""
import pytest
import torch
from torch import nn

from course_utils import data, seed_everything
from course_utils.models import attention, cnn, fusion, gating, probes
from course_utils.robustness import ModalityDropout
from course_utils.training import evaluate, evaluate_seeds, fit, fit_seeds

SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def splits():
    """One (train, val) pair per seed, as the notebooks build them."""
    return [data.make_information_dataset("synergy", 400, noise=0.5, seed=s).split(0.8, seed=s) for s in SEEDS]


def separately(make_model, trains, vals, **recipe):
    """The reference: seed_everything(s); make_model(); fit(..., seed=s), one seed after the other."""
    models, histories = [], []
    for seed, train, val in zip(SEEDS, trains, vals):
        seed_everything(seed)
        model = make_model()
        histories.append(fit(model, train, val, seed=seed, device="cpu", **recipe))
        models.append(model)
    return models, histories


def assert_same_parameters(models_a, models_b, atol=1e-5):
    for a, b in zip(models_a, models_b):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.allclose(p, q, atol=atol, rtol=1e-4), name


@pytest.mark.parametrize("make_model", [
    lambda: fusion.EarlyFusionModel(32, 16, 32, 2),
    lambda: gating.GatedFusionModel(32, 16, 16, 2),          # a parameter used directly: the scalar gate
    lambda: gating.GMUModel(32, 16, 16, 2),
    lambda: probes.UnimodalProbe(16, 32, 2, modality=1),
], ids=["early fusion", "scalar gate", "GMU", "probe"])
def test_first_steps_match_separate_training(splits, make_model):
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]
    recipe = dict(epochs=1, batch_size=64, lr=3e-3)
    runs = fit_seeds(make_model, trains, vals, seeds=SEEDS, device="cpu", **recipe)
    models, histories = separately(make_model, trains, vals, **recipe)
    assert runs.batched and len(runs) == 3
    assert_same_parameters(runs.models, models)
    for h_batched, h_alone in zip(runs.histories, histories):
        assert h_batched.train_loss[0] == pytest.approx(h_alone.train_loss[0], abs=1e-5)
        assert h_batched.val_acc[0] == pytest.approx(h_alone.val_acc[0], abs=1e-6)
        assert h_batched.seeds_together == 3 and h_alone.seeds_together == 1


def test_whole_runs_agree_within_seed_noise(splits):
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]
    make = lambda: fusion.EarlyFusionModel(32, 16, 32, 2)  # noqa: E731
    runs = fit_seeds(make, trains, vals, seeds=SEEDS, device="cpu", epochs=15)
    _, histories = separately(make, trains, vals, epochs=15)
    batched = [h.val_acc[-1] for h in runs.histories]
    alone = [h.val_acc[-1] for h in histories]
    assert min(alone) > 0.8 and min(batched) > 0.8            # both actually learn the synergy task
    assert max(abs(a - b) for a, b in zip(batched, alone)) <= 0.02


def test_one_dataset_for_every_seed_and_a_batched_evaluate(splits):
    train, val = splits[0]
    make = lambda: fusion.EarlyFusionModel(32, 16, 32, 2)  # noqa: E731
    runs = fit_seeds(make, train, val, seeds=SEEDS, device="cpu", epochs=2)
    for model, result in zip(runs.models, runs.evaluate()):
        alone = evaluate(model, val)
        assert result["accuracy"] == pytest.approx(alone["accuracy"])
        assert torch.allclose(result["logits"], alone["logits"], atol=1e-5)
    assert [r["loss"] for r in evaluate_seeds(runs.models, [val] * 3)] == pytest.approx(
        [evaluate(m, val)["loss"] for m in runs.models], abs=1e-6)


class WithBuffer(nn.Module):
    """A buffer outside the layers the folded engine supports: evaluated through vmap instead."""

    def __init__(self):
        super().__init__()
        self.net = fusion.EarlyFusionModel(32, 16, 32, 2)
        self.register_buffer("temperature", torch.tensor(2.0))

    def forward(self, image, text):
        return self.net(image, text) / self.temperature


@pytest.mark.parametrize("make_model, engine", [
    (lambda: gating.GatedFusionModel(32, 16, 16, 2), "_folded_engine"),   # folded (a directly used parameter)
    (WithBuffer, "_Batched"),                                               # not foldable: vmap
])
def test_batched_evaluate_agrees_with_evaluate_folded_or_through_vmap(splits, make_model, engine, monkeypatch):
    from course_utils.training import batched_seeds as seeds_module
    used = []
    original = getattr(seeds_module, engine)
    monkeypatch.setattr(seeds_module, engine, lambda *a, **k: used.append(engine) or original(*a, **k))
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]
    runs = fit_seeds(make_model, trains, seeds=SEEDS, device="cpu", epochs=2, batched=False)
    used.clear()
    for model, val, result in zip(runs.models, vals, evaluate_seeds(runs.models, vals)):
        alone = evaluate(model, val)
        assert result["accuracy"] == pytest.approx(alone["accuracy"])
        assert result["loss"] == pytest.approx(alone["loss"], abs=1e-5)
        assert torch.allclose(result["logits"], alone["logits"], atol=1e-5)
    assert used and used[-1] == engine


def test_modality_dropout_masks_are_drawn_per_seed_as_fit_draws_them(splits):
    """Each seed's masks come from its own random stream: the same masks fit draws for that seed alone."""
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]
    seen = []

    class Recording(ModalityDropout):
        def forward(self, inputs, labels=None):
            out = super().forward(inputs, labels)
            seen.append(tuple((o == 0).all(1).sum().item() for o in out))   # samples that lost each modality
            return out

    make = lambda: fusion.EarlyFusionModel(32, 16, 32, 2)  # noqa: E731
    recipe = dict(epochs=2, batch_size=64, batch_transform=Recording(0.5))
    runs = fit_seeds(make, trains, vals, seeds=SEEDS, device="cpu", **recipe)
    batched_masks, seen[:] = list(seen), []
    models, _ = separately(make, trains, vals, **recipe)
    steps = len(batched_masks) // 3
    per_seed = [batched_masks[s::3] for s in range(3)]          # the batched run interleaves the seeds
    assert per_seed == [seen[s * steps:(s + 1) * steps] for s in range(3)]
    assert per_seed[0] != per_seed[1]                           # different seeds, different masks
    assert_same_parameters(runs.models, models)


class BatchMean(nn.Module):
    """Subtracts the mean over the batch: samples are not independent, so folding seeds would mix them."""

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(48, 2)

    def forward(self, img, txt):
        x = torch.cat([img, txt], 1)
        return self.net(x - x.mean(0))


class WithAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 2)

    def forward(self, img, txt):
        t = txt[:, None]
        return self.head(self.attn(t, t, t)[0][:, 0])


@pytest.mark.parametrize("make_model, why", [(BatchMean, "differ"), (WithAttention, "Linear")])
def test_a_model_that_cannot_be_batched_falls_back_to_fit_with_a_notice(splits, capsys, make_model, why):
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]
    runs = fit_seeds(make_model, trains, vals, seeds=SEEDS, device="cpu", epochs=1)
    out = capsys.readouterr().out
    assert "cannot be trained batched" in out and "one after the other with fit" in out
    assert not runs.batched and why in runs.fallback_reason
    models, histories = separately(make_model, trains, vals, epochs=1)
    assert_same_parameters(runs.models, models, atol=0)
    assert [h.seeds_together for h in runs.histories] == [1, 1, 1]


def test_a_learners_bug_is_reported_as_fit_reports_it(splits):
    class NoReturn(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(48, 2)

        def forward(self, img, txt):
            self.net(torch.cat([img, txt], 1))

    with pytest.raises(TypeError, match="forget `return`"):
        fit_seeds(NoReturn, splits[0][0], seeds=SEEDS, device="cpu", epochs=1)


def test_vmap_engine_matches_and_falls_back_where_vmap_raises(splits, capsys):
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]
    make = lambda: fusion.EarlyFusionModel(32, 16, 32, 2)  # noqa: E731
    runs = fit_seeds(make, trains, vals, seeds=SEEDS, device="cpu", epochs=1, engine="vmap")
    models, _ = separately(make, trains, vals, epochs=1)
    assert runs.batched
    assert_same_parameters(runs.models, models)

    class Item(nn.Module):                     # .item() in forward: vmap cannot map it
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(48, 2)

        def forward(self, img, txt):
            scale = 1.0 if img.abs().max().item() > 0 else 2.0
            return self.net(torch.cat([img, txt], 1)) * scale

    runs = fit_seeds(Item, trains, vals, seeds=SEEDS, device="cpu", epochs=1, engine="vmap")
    assert not runs.batched and "cannot be trained batched" in capsys.readouterr().out


def test_batchnorm_cnns_train_batched_as_alone():
    """Notebook 07's CNNs (batch norm from batch statistics) and a batch norm with running averages."""
    from course_utils.data.shapes import render_shapes

    sets = [render_shapes(96, rgb_size=16, depth_size=16, seed=s).to_dataset() for s in SEEDS]
    trains, vals = [d[:64] for d in sets], [d[64:] for d in sets]

    class RunningBN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
            self.head = nn.Linear(4, sets[0].num_classes)

        def forward(self, rgb, lidar):
            return self.head(self.bn(self.conv(rgb)).mean((2, 3)))

    for make in (cnn.model_zoo()["embedding concat"], cnn.model_zoo()["feature-map concat"], RunningBN):
        recipe = dict(epochs=1, batch_size=32)
        runs = fit_seeds(make, trains, vals, seeds=SEEDS, device="cpu", **recipe)
        models, histories = separately(make, trains, vals, **recipe)
        assert runs.batched
        assert_same_parameters(runs.models, models, atol=1e-4)
        for a, b in zip(runs.models, models):
            for (name, x), y in zip(a.named_buffers(), b.buffers()):
                assert torch.allclose(x.float(), y.float(), atol=1e-5), name


def test_state_kept_in_forward_is_what_fit_leaves(splits):
    """CrossAttentionLayer keeps last_attn_weights: after fit_seeds each model holds its own last validation's."""
    from course_utils.data.binding import make_binding

    sets = [make_binding(160, seed=s).split(0.75, seed=s) for s in SEEDS]
    trains, vals = [s[0] for s in sets], [s[1] for s in sets]
    image, text = trains[0].modalities
    make = lambda: attention.CrossAttentionFusion(image.shape[-1], text.shape[-1], 16, 2, trains[0].num_classes)  # noqa: E731
    runs = fit_seeds(make, trains, vals, seeds=SEEDS, device="cpu", epochs=1, batch_size=32)
    models, _ = separately(make, trains, vals, epochs=1, batch_size=32)
    assert runs.batched
    for a, b in zip(runs.models, models):
        assert torch.allclose(a.last_attn_weights, b.last_attn_weights, atol=1e-5)


def test_bad_arguments_say_what_was_expected(splits):
    train, val = splits[0]
    with pytest.raises(TypeError, match="function returning a new model"):
        fit_seeds(fusion.EarlyFusionModel(32, 16, 32, 2), train, seeds=SEEDS)
    with pytest.raises(ValueError, match="distinct"):
        fit_seeds(fusion.EarlyFusionModel, train, seeds=[0, 0])
    with pytest.raises(ValueError, match="one per seed"):
        fit_seeds(fusion.EarlyFusionModel, [train, train], seeds=SEEDS)
    with pytest.raises(ValueError, match="engine"):
        fit_seeds(fusion.EarlyFusionModel, train, seeds=SEEDS, engine="fast")


def test_seeds_with_different_data_sizes_fall_back(splits, capsys):
    sets = [splits[0][0], splits[1][0][:100], splits[2][0]]
    runs = fit_seeds(lambda: fusion.EarlyFusionModel(32, 16, 16, 2), sets, seeds=SEEDS, device="cpu", epochs=1)
    assert not runs.batched and "differ in size" in runs.fallback_reason


def test_a_custom_loss_trains_batched_as_fit_trains_it(splits):
    """``loss=`` with a model that returns (logits, extra logits) in training: the seeds fold, each seed's loss
    is its own, and the result is what fit gives seed by seed."""
    from course_utils.models import imbalance
    trains, vals = [s[0] for s in splits], [s[1] for s in splits]
    F = nn.functional

    class Heads(imbalance.IntermediateFusion):
        def __init__(self):
            super().__init__(easy_dim=32, hard_dim=16, hidden=16)
            self.extra = nn.Linear(16, 2)

        def forward(self, a, b):
            z = self.hard_encoder(b)
            fused = self.head(torch.cat([self.easy_encoder(a), z], -1))
            return (fused, self.extra(z)) if self.training else fused

    loss = lambda out, y: F.cross_entropy(out[0], y) + 2.0 * F.cross_entropy(out[1], y)  # noqa: E731
    recipe = dict(epochs=2, batch_size=64, lr=3e-3, loss=loss)
    runs = fit_seeds(Heads, trains, vals, seeds=SEEDS, device="cpu", **recipe)
    models, histories = separately(Heads, trains, vals, **recipe)
    assert runs.batched
    assert_same_parameters(runs.models, models)
    for h_batched, h_alone in zip(runs.histories, histories):
        assert h_batched.train_loss == pytest.approx(h_alone.train_loss, abs=1e-5)
        assert h_batched.val_acc == pytest.approx(h_alone.val_acc, abs=1e-6)
