"""Notebook 09 (contrastive alignment): paired data, the two-tower models and their training loops, and the
checks of 09.infonce, 09.recall_at_k and 09.learnable_temperature (each accepts several correct forms and
rejects the typical mistakes)."""
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from course_utils import references
from course_utils.checks import nb09
from course_utils.data.dataset import MultimodalDataset
from course_utils.data.paired import few_labels, make_paired
from course_utils.environment import seed_everything
from course_utils.feedback import CheckFailed, NotImplementedYet, ReferenceUsed
from course_utils.models import contrastive

from copies import own

info_nce = own("09.infonce")
recall_at_k = own("09.recall_at_k")


# --------------------------------------------------------------------------------------------- data
def test_paired_shapes_determinism_and_fresh_samples_of_one_task():
    data = make_paired(200, num_classes=4, img_dim=9, txt_dim=7, seed=3)
    assert isinstance(data, MultimodalDataset) and data.num_classes == 4 and data.names == ("image", "text")
    assert data.modality("image").shape == (200, 9) and data.modality("text").shape == (200, 7)
    again = make_paired(200, num_classes=4, img_dim=9, txt_dim=7, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(data.modalities, again.modalities))
    other = make_paired(200, num_classes=4, img_dim=9, txt_dim=7, seed=3, sample_seed=5)
    assert not torch.equal(other.modalities[0], data.modalities[0])
    # without nuisance and noise each view is one fixed linear map of z, the same for every sample_seed
    for view in (0, 1):
        xs, zs = [], []
        for sample_seed in (None, 5):
            d, z = make_paired(60, seed=3, sample_seed=sample_seed, nuisance=0.0, noise=0.0, return_latent=True)
            xs.append(d.modalities[view]), zs.append(z)
        z, x = torch.cat(zs), torch.cat(xs)
        residual = x - z @ torch.linalg.lstsq(z, x).solution
        assert residual.abs().max() < 1e-4


def test_paired_views_share_only_the_latent():
    data, z = make_paired(4000, seed=0, return_latent=True, spread=1.0)
    img, txt = data.modalities
    # the nuisance of one view is independent of the other view: what the views share is explained by z
    both = torch.cat([img, txt], 1)
    resid = both - z @ torch.linalg.lstsq(z, both).solution
    resid = (resid - resid.mean(0)) / resid.std(0)
    correlation = (resid[:, :img.shape[1]].T @ resid[:, img.shape[1]:]) / (len(z) - 1)   # image x text features
    assert correlation.abs().max() < 0.08          # about 4 standard errors (1 / sqrt(4000)) over 768 pairs
    # while the raw views are strongly correlated through z
    raw = (both - both.mean(0)) / both.std(0)
    assert ((raw[:, :img.shape[1]].T @ raw[:, img.shape[1]:]) / (len(z) - 1)).abs().max() > 0.3


def test_paired_returns_the_nuisances_of_the_same_samples():
    plain = make_paired(300, seed=2, sample_seed=5, noise=0.0)
    data, z, (u_img, u_txt) = make_paired(300, seed=2, sample_seed=5, noise=0.0, return_latent=True,
                                          return_nuisances=True)
    again, nuisances = make_paired(300, seed=2, sample_seed=5, noise=0.0, return_nuisances=True)
    for view, other, third in zip(plain.modalities, data.modalities, again.modalities):
        assert torch.equal(view, other) and torch.equal(view, third)
    assert u_img.shape == u_txt.shape == (300, 8) and torch.equal(nuisances[0], u_img)
    for view, u in zip(data.modalities, (u_img, u_txt)):   # without noise each view is exactly z A + nu u B
        design = torch.cat([z, u], dim=1)
        residual = view - design @ torch.linalg.lstsq(design, view).solution
        assert residual.abs().max() < 1e-3
        only_z = view - z @ torch.linalg.lstsq(z, view).solution
        assert only_z.abs().max() > 0.5                   # ... and the nuisance is part of it


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 1}, "n must"), ({"num_classes": 1}, "num_classes"), ({"latent_dim": 0}, "latent_dim"),
    ({"nuisance": -1.0}, "nuisance"), ({"noise": float("nan")}, "noise"), ({"spread": "a"}, "spread"),
    ({"seed": -1}, "seed"), ({"sample_seed": 1.5}, "sample_seed"), ({"return_latent": 1}, "return_latent"),
    ({"return_nuisances": "yes"}, "return_nuisances"),
])
def test_paired_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_paired(**kwargs)


def test_few_labels():
    data = make_paired(300, seed=1)
    subset = few_labels(data, 3, seed=2)
    assert len(subset) == 30 and torch.equal(subset.labels, torch.arange(10).repeat(3))
    assert torch.equal(few_labels(data, 1, seed=2).labels, torch.arange(10))
    assert not torch.equal(few_labels(data, 3, seed=4).modalities[0], subset.modalities[0])
    with pytest.raises(ValueError, match="per_class"):
        few_labels(data, 0)
    with pytest.raises(ValueError, match="fewer than per_class"):
        few_labels(data, 200)
    with pytest.raises(TypeError, match="MultimodalDataset"):
        few_labels(data.modalities, 1)


# ------------------------------------------------------------------------------------------- models
def test_two_tower_embed_and_similarity():
    model = contrastive.TwoTower(9, 7, 12, 5)
    data = make_paired(20, img_dim=9, txt_dim=7, seed=0)
    z_img, z_txt = model(*data.modalities)
    assert z_img.shape == (20, 5) and z_txt.shape == (20, 5)
    e_img, e_txt = contrastive.embed(model, data)
    assert torch.allclose(e_img.norm(dim=1), torch.ones(20), atol=1e-5)
    sim = contrastive.cosine_similarity_matrix(z_img, z_txt)
    assert sim.shape == (20, 20) and torch.allclose(sim, e_img @ e_txt.T, atol=1e-5)
    emb = contrastive.embedding_dataset(model, data, "text")
    assert emb.names == ("text",) and torch.allclose(emb.modalities[0], e_txt) and torch.equal(emb.labels, data.labels)
    with pytest.raises(ValueError, match="modality"):
        contrastive.embedding_dataset(model, data, "audio")
    with pytest.raises(ValueError, match="z_a and z_b"):
        contrastive.cosine_similarity_matrix(z_img, z_txt[:, :3])


def test_train_contrastive_lowers_the_loss_and_checks_its_arguments():
    pairs = make_paired(256, seed=0)
    seed_everything(0)
    model = contrastive.TwoTower()
    losses = contrastive.train_contrastive(model, pairs, info_nce, temperature=0.3, epochs=5, batch_size=64,
                                           lr=1e-2)
    assert len(losses) == 5 and losses[-1] < losses[0] - 0.5
    for kwargs, match in (({"temperature": 0}, "temperature"), ({"temperature": True}, "temperature"),
                          ({"batch_size": 512}, "fewer than one batch"), ({"epochs": 0}, "epochs")):
        with pytest.raises(ValueError, match=match):
            contrastive.train_contrastive(model, pairs, info_nce, **kwargs)


def _unmappable(z_a, z_b, temperature):
    """A correct loss that torch.func.vmap cannot map (it turns the temperature into a Python float)."""
    return info_nce(z_a, z_b, float(temperature))


@pytest.mark.parametrize("loss_fn, map_loss", [(info_nce, True), (info_nce, False), (_unmappable, True)],
                         ids=["vmap", "loop", "vmap-falls-back"])
def test_runs_train_what_single_runs_train(loss_fn, map_loss):
    runs = [(0, 0.1, make_paired(192, seed=0)), (1, 0.5, make_paired(192, seed=1)), (1, 0.02, make_paired(192, seed=1))]
    models, losses = contrastive.train_contrastive_runs(contrastive.TwoTower, runs, loss_fn, epochs=3,
                                                        batch_size=64, lr=1e-2, map_loss=map_loss)
    for (seed, tau, pairs), model, curve in zip(runs, models, losses):
        seed_everything(seed)
        alone = contrastive.TwoTower()
        alone_curve = contrastive.train_contrastive(alone, pairs, info_nce, temperature=tau, epochs=3,
                                                    batch_size=64, lr=1e-2, seed=seed)
        assert curve == pytest.approx(alone_curve, abs=1e-4)
        for a, b in zip(alone.parameters(), model.parameters()):
            assert torch.allclose(a, b, atol=1e-4)
        assert not model.training


def test_runs_reject_bad_input():
    pairs = make_paired(128, seed=0)
    with pytest.raises(ValueError, match="non-empty"):
        contrastive.train_contrastive_runs(contrastive.TwoTower, [], info_nce)
    with pytest.raises(ValueError, match="same number of samples"):
        contrastive.train_contrastive_runs(contrastive.TwoTower, [(0, 0.1, pairs), (1, 0.1, make_paired(130))],
                                           info_nce, batch_size=64)
    with pytest.raises(ValueError, match="temperature"):
        contrastive.train_contrastive_runs(contrastive.TwoTower, [(0, -1.0, pairs)], info_nce, batch_size=64)


def test_lazy_exports_give_the_references():
    from course_utils import references
    assert contrastive.info_nce is references.reference("09.infonce")
    assert contrastive.recall_at_k is references.reference("09.recall_at_k")
    assert contrastive.LearnedTemperature is references.reference("09.learnable_temperature")


# -------------------------------------------------------------------------------- exercise 09.infonce
def nce_log_softmax(z_a, z_b, temperature=0.1):
    """Correct: manual normalisation and log-softmax over both axes, diagonal averaged."""
    a = z_a / z_a.norm(dim=1, keepdim=True)
    b = z_b / z_b.norm(dim=1, keepdim=True)
    s = a @ b.t() / temperature
    return -(s.log_softmax(dim=1).diagonal().mean() + s.log_softmax(dim=0).diagonal().mean()) / 2


def nce_concatenated(z_a, z_b, temperature=0.1):
    """Correct: the two directions as one cross-entropy over 2B rows; temperature applied to z_a first."""
    a = F.normalize(z_a, dim=1) / temperature
    s = a @ F.normalize(z_b, dim=1).T
    targets = torch.arange(len(s))
    return F.cross_entropy(torch.cat([s, s.T]), torch.cat([targets, targets]))


def nce_soft_targets(z_a, z_b, temperature=0.1):
    """Correct: probability targets (the identity) and an explicit sum / B reduction."""
    s = torch.einsum("id,jd->ij", F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)) / temperature
    eye = torch.eye(len(s))
    loss_ab = F.cross_entropy(s, eye, reduction="sum") / len(s)
    loss_ba = F.cross_entropy(s.T, eye, reduction="sum") / len(s)
    return 0.5 * loss_ab + 0.5 * loss_ba


def _nce(direction="both", normalise="rows", scale="divide", targets="arange", reduce="mean", halve=True,
         detach=False, as_float=False):
    def loss(z_a, z_b, temperature=0.1):
        if normalise == "rows":
            z_a, z_b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
        elif normalise == "matrix":
            z_a, z_b = z_a / z_a.norm(), z_b / z_b.norm()
        elif normalise == "columns":
            z_a, z_b = F.normalize(z_a, dim=0), F.normalize(z_b, dim=0)
        s = z_a @ z_b.T
        s = {"divide": s / temperature, "multiply": s * temperature, "twice": s / temperature / temperature}[scale]
        if detach:
            s = s.detach()
        n = len(s)
        t = {"arange": torch.arange(n), "flip": torch.arange(n).flip(0),
             "zeros": torch.zeros(n, dtype=torch.long)}[targets]
        ab = F.cross_entropy(s, t, reduction=reduce)
        ba = F.cross_entropy(s.T if direction != "same twice" else s, t, reduction=reduce)
        value = {"both": ab + ba, "same twice": ab + ba, "a->b": 2 * ab, "b->a": 2 * ba}[direction]
        value = value / 2 if halve else value
        return value.item() if as_float else value
    return loss


class _UnfinishedLoss:
    def __call__(self, z_a, z_b, temperature=0.1):
        raise NotImplementedError()


@pytest.mark.parametrize("fn", [info_nce, nce_log_softmax, nce_concatenated, nce_soft_targets],
                         ids=["reference-copy", "log-softmax", "concatenated", "soft-targets"])
def test_info_nce_check_accepts(fn):
    assert nb09.check_info_nce(fn)


@pytest.mark.parametrize("fn, message", [
    (_nce(direction="a->b"), "Only the a -> b direction"),
    (_nce(direction="b->a"), "Only the b -> a direction"),
    (_nce(direction="same twice"), "Only the a -> b direction"),
    (_nce(normalise="none"), "not L2-normalised"),
    (_nce(normalise="matrix"), "normalised as one matrix"),
    (_nce(normalise="columns"), "per feature"),
    (_nce(scale="multiply"), "multiplied by the temperature"),
    (_nce(scale="twice"), "applied twice"),
    (_nce(targets="flip"), "not reversed"),
    (_nce(targets="zeros"), "not 0"),
    (_nce(halve=False), "not averaged"),
    (_nce(reduce="sum"), "summed over the pairs"),
    (_nce(reduce="none"), "0-dim tensor"),
    (_nce(as_float=True), "Do not call .item"),
    (_nce(detach=True), "no gradient reaches z_a or z_b"),
], ids=["a-to-b-only", "b-to-a-only", "transpose-forgotten", "no-normalisation", "matrix-norm", "column-norm",
        "temperature-multiplied", "temperature-twice", "targets-reversed", "targets-zero", "directions-summed",
        "batch-summed", "no-reduction", "item", "detached"])
def test_info_nce_check_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb09.check_info_nce(fn)
    assert not isinstance(info.value, NotImplementedYet)
    assert "09.infonce" in str(info.value)


@pytest.mark.parametrize("fn, message", [
    (_nce(direction="a->b"), "both directions"),
    (_nce(normalise="none"), "L2-normalise"),
    (_nce(normalise="matrix"), "L2-normalise"),
    (_nce(scale="multiply"), "temperature"),
    (_nce(scale="twice"), "temperature"),
    (_nce(targets="flip"), "torch.arange"),
])
def test_info_nce_visible_checks_alone_reject_with_advice(monkeypatch, capsys, fn, message):
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb09", None)     # a graded release
    with pytest.raises(CheckFailed, match=message):
        nb09.check_info_nce(fn)
    assert nb09.check_info_nce(nce_log_softmax)
    assert "visible checks passed; grading also runs hidden checks" in capsys.readouterr().out


def test_info_nce_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb09.check_info_nce(_UnfinishedLoss())


# ---------------------------------------------------------------------------- exercise 09.recall_at_k
def recall_topk(similarity, k):
    """Wrong with ties: topk along the rows breaks ties by position (index order), which can favour the match."""
    top = similarity.topk(min(k, similarity.shape[1]), dim=1).indices
    return (top == torch.arange(len(similarity)).unsqueeze(1)).any(1).float().mean()


def recall_argsort(similarity, k):
    """Wrong with ties: 1-based rank from a descending (stable) argsort, ties broken by position."""
    order = similarity.argsort(dim=1, descending=True, stable=True)
    rank = (order == torch.arange(len(similarity))[:, None]).float().argmax(1) + 1
    return sum(int(r) <= k for r in rank) / len(rank)


def recall_loop(similarity, k):
    """Correct: the pessimistic rank counted query by query in Python; returns a float."""
    hits = 0
    for i, row in enumerate(similarity.tolist()):
        hits += sum(score >= row[i] for j, score in enumerate(row) if j != i) < k
    return hits / len(similarity)


def recall_expected(similarity, k):
    """Correct (the other accepted form): the expected recall under random tie-breaking; a 0-dim tensor."""
    match = similarity.diagonal().unsqueeze(1)
    above, tied = (similarity > match).sum(1), (similarity == match).sum(1)
    return ((k - above) / tied).clamp(0, 1).mean()


def recall_sort_values(similarity, k):
    """Correct: the match is a hit when it beats the (k+1)-th best score of its row strictly... or k = N."""
    n = len(similarity)
    if k >= n:
        return 1.0
    kth_other = similarity.sort(dim=1, descending=True).values[:, k]           # the (k+1)-th best entry of the row
    match = similarity.diagonal()
    ties_above = (similarity >= match[:, None]).sum(1)
    return float(((match > kth_other) & (ties_above <= k)).float().mean())


def _recall(mistake):
    def recall(similarity, k):
        s = similarity.T if mistake == "columns" else (-similarity if mistake == "smallest" else similarity)
        rank = (s > s.diagonal()[:, None]).sum(1)           # 0-based
        hits = {"k+1": rank <= k, "k-1": rank < k - 1}.get(mistake, rank < k)
        if mistake == "count":
            return int(hits.sum())
        if mistake == "per-query":
            return hits.float()
        return hits.float().mean().item()
    return recall


def _unfinished_recall(similarity, k):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [recall_at_k, recall_loop, recall_expected, recall_sort_values],
                         ids=["reference-copy", "python-loop", "expected-under-random-ties", "sorted-values"])
def test_recall_check_accepts(fn):
    assert nb09.check_recall_at_k(fn)


def _optimistic(similarity, k):
    """The former reference: ties in the match's favour, so a collapsed encoder scores R@1 = 1."""
    return ((similarity > similarity.diagonal()[:, None]).sum(1) < k).float().mean().item()


def _expected_rank_threshold(similarity, k):
    """Wrong: thresholds the expected rank 1 + above + ties/2, which beats chance on a constant matrix."""
    match = similarity.diagonal().unsqueeze(1)
    rank = 1 + (similarity > match).sum(1) + ((similarity == match).sum(1) - 1) / 2
    return (rank <= k).float().mean().item()


@pytest.mark.parametrize("fn, message", [
    (_optimistic, "in the match's favour"),
    (recall_topk, "break ties by position|in the match's favour"),
    (recall_argsort, "break ties by position|in the match's favour"),
    (_expected_rank_threshold, "above chance|ties"),
], ids=["optimistic-ties", "topk", "stable-argsort", "expected-rank-threshold"])
def test_recall_check_rejects_ties_that_help_the_match(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb09.check_recall_at_k(fn)
    assert not isinstance(info.value, NotImplementedYet)


def test_recall_check_rejects_a_collapsed_encoder_scoring_above_chance_without_the_hidden_checks(monkeypatch):
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb09", None)
    with pytest.raises(CheckFailed, match="collapsed encoder"):
        nb09.check_recall_at_k(_optimistic)
    assert nb09.check_recall_at_k(recall_loop)


def test_recall_reference_scores_ties_no_better_than_chance():
    ones = torch.ones(10, 10)
    assert [recall_at_k(ones, k) for k in (1, 5, 10)] == [0.0, 0.0, 1.0]
    assert recall_expected(ones, 3).item() == pytest.approx(0.3)


@pytest.mark.parametrize("fn, message", [
    (_recall("columns"), "along the columns"),
    (_recall("k+1"), r"recall@\(k\+1\)"),
    (_recall("k-1"), r"recall@\(k-1\)"),
    (_recall("smallest"), "SMALLEST"),
    (_recall("count"), "not a count"),
    (_recall("per-query"), "one number"),
], ids=["columns", "k-plus-one", "k-minus-one", "smallest", "count", "per-query"])
def test_recall_check_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb09.check_recall_at_k(fn)
    assert not isinstance(info.value, NotImplementedYet)
    assert "09.recall_at_k" in str(info.value)


def test_recall_visible_checks_alone_reject(monkeypatch):
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb09", None)
    for mistake in ("columns", "k+1", "k-1", "smallest"):
        with pytest.raises(CheckFailed, match="worked example"):
            nb09.check_recall_at_k(_recall(mistake))
    assert nb09.check_recall_at_k(recall_expected)


def test_recall_check_unfinished():
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb09.check_recall_at_k(_unfinished_recall)


def test_worked_example_numbers():
    similarity = torch.tensor(nb09.WORKED_SIMILARITY)
    assert {k: recall_at_k(similarity, k) for k in nb09.WORKED_RECALL} == nb09.WORKED_RECALL
    assert recall_at_k(similarity.T, 1) != nb09.WORKED_RECALL[1]          # the columns give other numbers
    assert math.isclose(info_nce(torch.eye(4, 6), torch.eye(4, 6), 0.5).item(), math.log(1 + 3 * math.exp(-2)),
                        rel_tol=1e-5)


# ------------------------------------------------------------------- exercise 09.learnable_temperature
LearnedTemperature = own("09.learnable_temperature")


def _temperature(forward):
    """A LearnedTemperature with the given forward (the given __init__ kept)."""
    return type("Learned", (LearnedTemperature,), {"forward": forward})


def _log_clamped(self):
    return torch.exp(-self.log_scale.clamp(max=math.log(self.max_scale)))


def _clamped_in_place(self):                           # open_clip's way: the parameter itself is clipped
    with torch.no_grad():
        self.log_scale.clamp_(max=math.log(self.max_scale))
    return 1 / self.log_scale.exp()


def _minimum(self):
    return 1 / torch.minimum(self.log_scale.exp(), torch.tensor(self.max_scale))


@pytest.mark.parametrize("forward", [LearnedTemperature.forward, _log_clamped, _clamped_in_place, _minimum],
                         ids=["reference-copy", "clamp-the-log", "clamp-in-place", "torch-minimum"])
def test_learned_temperature_check_accepts(forward):
    assert nb09.check_learned_temperature(_temperature(forward))


@pytest.mark.parametrize("forward, message", [
    (lambda self: self.log_scale.exp().clamp(max=self.max_scale), "logit scale"),
    (lambda self: 1 / self.log_scale, "LOGARITHM"),
    (lambda self: 1 / self.log_scale.exp().clamp(min=self.max_scale), "wrong side"),
    (lambda self: 1 / self.log_scale.exp(), "clamp the SCALE"),
    (lambda self: 1 / self.log_scale.clamp(max=self.max_scale).exp(), "clamp the SCALE"),
    (lambda self: 1 / self.log_scale.exp().clamp(max=100.0), "hard-coded"),
    (lambda self: torch.tensor(1 / min(math.exp(self.log_scale.item()), self.max_scale)), "detached"),
    (lambda self: 1 / min(math.exp(self.log_scale.item()), self.max_scale), "0-dim torch tensor"),
    (lambda self: (1 / self.log_scale.exp().clamp(max=self.max_scale)).reshape(1), "one number"),
], ids=["returns-the-scale", "no-exp", "clamp-min", "no-clamp", "clamps-the-log-at-100", "hard-coded-100",
        "detached", "python-float", "shape-1"])
def test_learned_temperature_check_rejects(forward, message):
    with pytest.raises(CheckFailed, match=message) as info:
        nb09.check_learned_temperature(_temperature(forward))
    assert not isinstance(info.value, NotImplementedYet)
    assert "09.learnable_temperature" in str(info.value)


def test_learned_temperature_check_unfinished_and_reference_used():
    def forward(self):
        raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb09.check_learned_temperature(_temperature(forward))
    with pytest.raises(ReferenceUsed):
        nb09.check_learned_temperature(references.reference("09.learnable_temperature"))


def test_learned_temperature_visible_checks_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "course_utils.checks.hidden.nb09", None)
    assert nb09.check_learned_temperature(_temperature(_log_clamped))
    with pytest.raises(CheckFailed, match="0.07"):
        nb09.check_learned_temperature(_temperature(lambda self: 1 / self.log_scale))


def test_train_learned_temperature_trains_tau_and_checks_its_arguments():
    pairs = make_paired(256, seed=0)
    torch.manual_seed(0)
    model, temperature = contrastive.TwoTower(), LearnedTemperature()
    losses, taus = contrastive.train_learned_temperature(model, temperature, pairs, info_nce, epochs=3,
                                                         batch_size=64, lr=1e-2, seed=0)
    assert len(losses) == len(taus) == 3 and taus[-1] != pytest.approx(0.07, abs=1e-4)
    assert taus[-1] == pytest.approx(float(temperature().detach()))
    with pytest.raises(ValueError, match="temperature must be a module"):
        contrastive.train_learned_temperature(model, 0.1, pairs, info_nce, epochs=1, batch_size=64)
    with pytest.raises(ValueError, match="init_temperature"):
        LearnedTemperature(0.0)
    # a fixed temperature trains the same way as before
    torch.manual_seed(0)
    assert len(contrastive.train_contrastive(contrastive.TwoTower(), pairs, info_nce, epochs=2, batch_size=64)) == 2
