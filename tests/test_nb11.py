"""Notebook 11 (modality imbalance): data generator, models and probes, and the checks of its two exercises."""
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import nb11
from course_utils.data import make_imbalance
from course_utils.data.dataset import MultimodalDataset
from course_utils.feedback import CheckFailed, NotImplementedYet
from course_utils.models import imbalance

from copies import own

UnimodalHeadsFusion = own("11.unimodal_heads")
auxiliary_loss = own("11.auxiliary_loss")
ogm_ge_step = own("11.ogm_step")


# --------------------------------------------------------------------------------------------- data
def test_imbalance_data_shapes_determinism_and_tasks():
    data = make_imbalance(300, easy_dim=6, hard_dim=9, seed=3)
    assert isinstance(data, MultimodalDataset) and data.names == ("easy", "hard") and data.num_classes == 2
    assert data.modality("easy").shape == (300, 6) and data.modality("hard").shape == (300, 9)
    again = make_imbalance(300, easy_dim=6, hard_dim=9, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(data.modalities, again.modalities))
    fresh = make_imbalance(300, easy_dim=6, hard_dim=9, seed=3, sample_seed=11)
    assert not torch.equal(fresh.modalities[0], data.modalities[0])
    assert 0.4 < data.labels.float().mean() < 0.6


def _easy_direction_accuracy(train, test):
    """A linear read-out of the easy modality: the difference of the class means, fitted on ``train``."""
    x, y = train.modality("easy"), train.labels
    w = x[y == 1].mean(0) - x[y == 0].mean(0)
    b = -0.5 * (x[y == 1].mean(0) + x[y == 0].mean(0)) @ w
    return float((((test.modality("easy") @ w + b) > 0).long() == test.labels).float().mean())


def test_easy_modality_is_linear_with_accuracy_phi_of_the_margin():
    train, test = make_imbalance(4000, seed=0), make_imbalance(4000, seed=0, sample_seed=5)
    phi = 0.5 * (1 + math.erf(1.15 / math.sqrt(2)))
    assert abs(_easy_direction_accuracy(train, test) - phi) < 0.02
    useless = make_imbalance(4000, margin=0.0, seed=0), make_imbalance(4000, margin=0.0, seed=0, sample_seed=5)
    assert abs(_easy_direction_accuracy(*useless) - 0.5) < 0.05


def test_hard_modality_holds_the_parity_of_latent_signs():
    # without noise, the hard modality is an orthonormal map of the latent point: lengths are kept and the label is
    # a function of the signs of three latent coordinates, so no linear read-out does better than chance
    data = make_imbalance(3000, hard_noise=0.0, seed=1)
    x, y = data.modality("hard"), data.labels.float()
    w = torch.linalg.lstsq(torch.cat([x, torch.ones(len(x), 1)], 1), 2 * y[:, None] - 1).solution
    linear = float((((torch.cat([x, torch.ones(len(x), 1)], 1) @ w).squeeze(1) > 0).float() == y).float().mean())
    assert linear < 0.6
    assert float(x.norm(dim=1).max()) <= math.sqrt(16) + 1e-4


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 1}, "n must"), ({"easy_dim": 0}, "easy_dim"), ({"parity": 0}, "parity"),
    ({"hard_dim": 2}, "hard_dim"), ({"margin": -1.0}, "margin"), ({"hard_noise": float("nan")}, "hard_noise"),
    ({"seed": -1}, "seed"), ({"sample_seed": 1.5}, "sample_seed"), ({"margin": True}, "margin"),
])
def test_imbalance_data_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_imbalance(**kwargs)


# ------------------------------------------------------------------------------------------- models
def test_models_shapes_and_what_they_read():
    easy, hard = torch.randn(5, 8), torch.randn(5, 16)
    assert imbalance.IntermediateFusion()(easy, hard).shape == (5, 2)
    model = imbalance.UnimodalModel("hard", 16)
    assert hasattr(model, "hard_encoder") and not hasattr(model, "easy_encoder")
    assert torch.equal(model(easy, hard), model(torch.randn(5, 8), hard))
    with pytest.raises(ValueError, match="modality"):
        imbalance.UnimodalModel("audio", 3)
    assert imbalance.UnimodalHeadsFusion is not None and imbalance.auxiliary_loss is not None   # lazy exports


def test_embeddings_and_probe_accuracy():
    trains = [make_imbalance(200, seed=s) for s in (0, 1)]
    tests = [make_imbalance(200, seed=s, sample_seed=9) for s in (0, 1)]
    models = [imbalance.IntermediateFusion(), imbalance.IntermediateFusion()]
    z = imbalance.embeddings(models[0], trains[0], "easy")
    assert z.modalities[0].shape == (200, 32) and torch.equal(z.labels, trains[0].labels)
    accs = imbalance.probe_accuracy(models, trains, tests, "easy", seeds=[0, 1], epochs=2)
    assert len(accs) == 2 and all(0.0 <= a <= 1.0 for a in accs)
    with pytest.raises(TypeError, match="hard_encoder"):
        imbalance.embeddings(imbalance.UnimodalModel("easy", 8), trains[0], "hard")
    with pytest.raises(ValueError, match="modality"):
        imbalance.embeddings(models[0], trains[0], "audio")


# ------------------------------------------------------------------------------- 11.unimodal_heads
class ListInsteadOfTuple(UnimodalHeadsFusion):
    """Correct, in another form: a list in training mode, the fused head's input built by its own code."""

    def forward(self, easy, hard):
        z = [self.easy_encoder(easy), self.hard_encoder(hard)]
        fused = self.head(torch.cat(z, dim=1))
        return [fused, self.easy_head(z[0]), self.hard_head(z[1])] if self.training else fused


class Detached(UnimodalHeadsFusion):
    def forward(self, easy, hard):
        z_e, z_h = self.easy_encoder(easy), self.hard_encoder(hard)
        fused = self.head(torch.cat([z_e, z_h], -1))
        return (fused, self.easy_head(z_e.detach()), self.hard_head(z_h.detach())) if self.training else fused


class FusedAsUnimodal(UnimodalHeadsFusion):
    def forward(self, easy, hard):
        fused = self.head(torch.cat([self.easy_encoder(easy), self.hard_encoder(hard)], -1))
        return (fused, fused, fused) if self.training else fused


class SwappedOrder(UnimodalHeadsFusion):
    def forward(self, easy, hard):
        z_e, z_h = self.easy_encoder(easy), self.hard_encoder(hard)
        fused = self.head(torch.cat([z_e, z_h], -1))
        return (fused, self.hard_head(z_h), self.easy_head(z_e)) if self.training else fused


class SwappedHeads(UnimodalHeadsFusion):
    def forward(self, easy, hard):
        z_e, z_h = self.easy_encoder(easy), self.hard_encoder(hard)
        fused = self.head(torch.cat([z_e, z_h], -1))
        return (fused, self.hard_head(z_e), self.easy_head(z_h)) if self.training else fused


class TupleInEval(UnimodalHeadsFusion):
    def forward(self, easy, hard):
        z_e, z_h = self.easy_encoder(easy), self.hard_encoder(hard)
        return self.head(torch.cat([z_e, z_h], -1)), self.easy_head(z_e), self.hard_head(z_h)


class FusedOnly(UnimodalHeadsFusion):
    def forward(self, easy, hard):
        return self.head(torch.cat([self.easy_encoder(easy), self.hard_encoder(hard)], -1))


class ThroughFusedHead(UnimodalHeadsFusion):
    def forward(self, easy, hard):
        z_e, z_h = self.easy_encoder(easy), self.hard_encoder(hard)
        fused = self.head(torch.cat([z_e, z_h], -1))
        if not self.training:
            return fused
        return fused, self.head(torch.cat([z_e, torch.zeros_like(z_h)], -1)), \
            self.head(torch.cat([torch.zeros_like(z_e), z_h], -1))


class Unfinished(UnimodalHeadsFusion):
    def __init__(self, *args, **kwargs):
        nn.Module.__init__(self)
        raise NotImplementedError()


@pytest.mark.parametrize("cls", [UnimodalHeadsFusion, ListInsteadOfTuple], ids=["own copy", "list form"])
def test_unimodal_heads_check_accepts_correct_forms(cls):
    assert nb11.check_unimodal_heads(cls)


@pytest.mark.parametrize("cls, message", [
    (Detached, "detached"),
    (FusedAsUnimodal, "fused logits"),
    (SwappedOrder, "order of the tuple"),
    (SwappedHeads, "use self.hard_head"),
    (TupleInEval, "in eval mode forward should return the fused logits alone"),
    (FusedOnly, "in training mode .* should return the tuple"),
    (ThroughFusedHead, "pass through the fused head"),
])
def test_unimodal_heads_check_rejects_typical_mistakes(cls, message):
    with pytest.raises(CheckFailed, match=message):
        nb11.check_unimodal_heads(cls)


def test_unimodal_heads_check_reports_unfinished_code():
    with pytest.raises(NotImplementedYet):
        nb11.check_unimodal_heads(Unfinished)


# ------------------------------------------------------------------------------- 11.auxiliary_loss
def loss_with_log_softmax(outputs, labels, weight=1.0):
    fused, *rest = outputs
    nll = lambda x: F.nll_loss(F.log_softmax(x, dim=-1), labels)  # noqa: E731
    return nll(fused) + torch.stack([weight * nll(u) for u in rest]).sum()


def loss_in_a_loop(outputs, labels, weight=1.0):
    total = F.cross_entropy(outputs[0], labels)
    for logits in outputs[1:]:
        total = total + weight * F.cross_entropy(logits, labels)
    return total


def _mistake(kind):
    def loss(outputs, labels, weight=1.0):
        fused, *rest = outputs
        ce = lambda x: F.cross_entropy(x, labels)  # noqa: E731
        if kind == "weight on fused":
            return weight * ce(fused) + sum(ce(u) for u in rest)
        if kind == "fused for unimodal":
            return ce(fused) + weight * sum(ce(fused) for _ in rest)
        if kind == "softmax":
            return F.cross_entropy(fused.softmax(-1), labels) + weight * sum(
                F.cross_entropy(u.softmax(-1), labels) for u in rest)
        if kind == "mean over modalities":
            return ce(fused) + weight * sum(ce(u) for u in rest) / len(rest)
        if kind == "per sample":
            return F.cross_entropy(fused, labels, reduction="none") + weight * sum(
                F.cross_entropy(u, labels, reduction="none") for u in rest)
        if kind == "item":
            return (ce(fused) + weight * sum(ce(u) for u in rest)).item()
        if kind == "sum over batch":
            return F.cross_entropy(fused, labels, reduction="sum") + weight * sum(
                F.cross_entropy(u, labels, reduction="sum") for u in rest)
        if kind == "first unimodal only":
            return ce(fused) + weight * ce(rest[0])
        raise NotImplementedError()
    return loss


@pytest.mark.parametrize("fn", [auxiliary_loss, loss_with_log_softmax, loss_in_a_loop],
                         ids=["own copy", "log_softmax + nll", "loop"])
def test_auxiliary_loss_check_accepts_correct_forms(fn):
    assert nb11.check_auxiliary_loss(fn)


@pytest.mark.parametrize("kind, message", [
    ("weight on fused", "with weight = 0 the loss should be the fused cross-entropy alone"),
    ("fused for unimodal", "does not depend on the first unimodal logits"),
    ("softmax", "expects logits"),
    ("mean over modalities", "sum them"),
    ("per sample", "one number, got shape"),
    ("item", "should return a tensor"),
    ("sum over batch", "take the mean"),
    ("first unimodal only", "second unimodal logits"),
    ("unfinished", "not implemented"),
])
def test_auxiliary_loss_check_rejects_typical_mistakes(kind, message):
    with pytest.raises(CheckFailed, match=message):
        nb11.check_auxiliary_loss(_mistake(kind))


def test_checks_without_their_hidden_part(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb11", None)
    assert nb11.check_auxiliary_loss(auxiliary_loss) and nb11.check_unimodal_heads(UnimodalHeadsFusion)
    assert "visible checks passed; grading also runs hidden checks" in capsys.readouterr().out
    with pytest.raises(CheckFailed):          # caught by the visible properties alone
        nb11.check_unimodal_heads(Detached)
    with pytest.raises(CheckFailed):
        nb11.check_auxiliary_loss(_mistake("weight on fused"))


# ------------------------------------------------------------------------------------- 11.ogm_step
def _ogm(kind="ok"):
    """OGM-GE steps: correct forms and typical mistakes, named by ``kind``."""
    def step(model, easy, hard, labels, alpha=0.5, noise=True):
        with torch.no_grad():
            z = {"easy": model.easy_encoder(easy), "hard": model.hard_encoder(hard)}
            hidden = z["easy"].shape[-1]
            w, b = model.head.weight, model.head.bias
            blocks = {"easy": w[:, :hidden], "hard": w[:, hidden:]}
            half = b if kind == "full bias" else b / 2
            score = {}
            for m in ("easy", "hard"):
                out = z[m] @ blocks[m].T + half
                if kind == "logits as score":
                    score[m] = out.gather(1, labels[:, None]).sum()
                elif kind == "softmax over the batch":
                    score[m] = F.softmax(out, dim=0).gather(1, labels[:, None]).sum()
                elif kind == "log_softmax mean":          # correct: the mean gives the same ratio
                    score[m] = F.log_softmax(out, -1).gather(1, labels[:, None]).exp().mean()
                else:
                    score[m] = F.softmax(out, -1)[torch.arange(len(labels)), labels].sum()
            rho = {"easy": float(score["easy"] / score["hard"]), "hard": float(score["hard"] / score["easy"])}
            if kind == "no rho test":
                k = {m: 1 - math.tanh(alpha * r) for m, r in rho.items()}
            else:
                k = {m: 1 - math.tanh(alpha * r) if r > 1 else 1.0 for m, r in rho.items()}
            if kind == "weak modality":
                k = {"easy": k["hard"], "hard": k["easy"]}
            if kind == "always easy":
                k = {"easy": 1 - math.tanh(alpha * rho["easy"]), "hard": 1.0}
            params = {m: list(getattr(model, f"{m}_encoder").parameters()) for m in ("easy", "hard")}
            if kind == "head too":
                params["easy" if rho["easy"] > 1 else "hard"] += list(model.head.parameters())
            for m, ps in params.items():
                for p in ps:
                    g = p.grad
                    scale = {"unit noise": torch.ones(()), "scaled spread": (k[m] * g).std()}.get(kind, g.std())
                    new = g * k[m] + (torch.randn_like(g) * scale if noise and kind != "no noise" else 0)
                    if kind == "reassign":                # correct: a new tensor instead of in place
                        p.grad = new
                    else:
                        p.grad.copy_(new)
        if kind == "tensors":                             # correct: 0-d tensors instead of floats
            return torch.tensor(k["easy"]), torch.tensor(k["hard"])
        if kind == "dict":
            return k
        return k["easy"], k["hard"]
    return step


@pytest.mark.parametrize("fn", [ogm_ge_step, _ogm("ok"), _ogm("log_softmax mean"), _ogm("reassign"),
                                _ogm("tensors")],
                         ids=["own copy", "indexing", "log_softmax + mean", "reassigned grad", "tensors"])
def test_ogm_step_check_accepts_correct_forms(fn):
    assert nb11.check_ogm_step(fn)


@pytest.mark.parametrize("kind, message", [
    ("weak modality", "Did you scale the weak modality"),
    ("no rho test", "only the dominant modality"),
    ("always easy", "the hard modality is the confident one, the easy encoder"),
    ("logits as score", "scores are"),
    ("softmax over the batch", "scores are"),
    ("full bias", "scores are"),
    ("head too", "fused head's gradients changed"),
    ("unit noise", "times the gradient's standard deviation"),
    ("scaled spread", "spread of the scaled gradient"),
    ("no noise", "no noise was added"),
    ("dict", "should return the pair"),
])
def test_ogm_step_check_rejects_typical_mistakes(kind, message):
    with pytest.raises(CheckFailed, match=message):
        nb11.check_ogm_step(_ogm(kind))


def test_ogm_step_check_without_its_hidden_part(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb11", None)
    assert nb11.check_ogm_step(ogm_ge_step)
    with pytest.raises(CheckFailed):          # the weak modality scaled: caught by the visible part
        nb11.check_ogm_step(_ogm("weak modality"))


def test_train_recording_records_the_hard_encoders_gradient_and_calls_the_edit():
    data = make_imbalance(256, seed=0)
    calls = []

    def edit(model, easy, hard, labels):
        calls.append(len(labels))
        for p in model.hard_encoder.parameters():
            p.grad.zero_()                    # the hard encoder never moves
    torch.manual_seed(0)
    model = imbalance.IntermediateFusion()
    start = [p.clone() for p in model.hard_encoder.parameters()]
    norms = imbalance.train_recording(model, data, seed=0, epochs=2, batch_size=128, after_backward=edit)
    assert len(norms) == 2 and all(n > 0 for n in norms) and calls == [128, 128, 128, 128]
    assert all(torch.equal(a, b) for a, b in zip(start, model.hard_encoder.parameters()))
    assert not model.training
    with pytest.raises(TypeError, match="hard_encoder"):
        imbalance.train_recording(nn.Linear(2, 2), data, seed=0)
