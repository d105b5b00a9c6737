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
    # a seed from the global RNG, from a range wide enough that two calls never draw the same one (with 99 seeds,
    # 1 run in 99 drew the same twice and the mistake passed: a fresh-clone run failed so)
    return make_xor_tensors(n, u_img, u_txt, noise, torch.Generator().manual_seed(int(torch.randint(0, 2**62, ()))))


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


class ProbeSoftmax(ProbeSequential):
    def forward(self, *modalities):
        return self.net(modalities[self.modality]).softmax(-1)


class ProbeReluLogits(ProbeSequential):
    def forward(self, *modalities):
        return torch.relu(self.net(modalities[self.modality]))


@pytest.mark.parametrize("cls, message", [(ProbeSoftmax, "probabilities"), (ProbeReluLogits, "ReLU after the last")])
def test_probe_rejects_probabilities_and_clipped_logits(cls, message):
    with pytest.raises(CheckFailed, match=message):
        nb01.check_unimodal_probe(cls)


# ---- 01.train_step ------------------------------------------------------------------------------------
import torch.nn.functional as F  # noqa: E402

from course_utils.references import reference  # noqa: E402

reference_step, reference_evaluate = own("01.train_step"), own("01.evaluate")


def step_zero_at_end(model, optimizer, inputs, labels):
    model.train(True)
    loss = nn.CrossEntropyLoss()(model(inputs[0], inputs[1]), labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()                      # a 0-dim tensor is accepted as the loss


def step_no_zero_grad(model, optimizer, inputs, labels):
    model.train()
    loss = F.cross_entropy(model(*inputs), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_train_mode(model, optimizer, inputs, labels):
    loss = F.cross_entropy(model(*inputs), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_softmax(model, optimizer, inputs, labels):
    model.train()
    loss = F.cross_entropy(model(*inputs).softmax(-1), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_sum(model, optimizer, inputs, labels):
    model.train()
    optimizer.zero_grad()
    loss = F.cross_entropy(model(*inputs), labels, reduction="sum")
    loss.backward()
    optimizer.step()
    return loss.item() / len(labels)          # reports the mean, but the update uses the sum


def step_zero_between(model, optimizer, inputs, labels):
    model.train()
    loss = F.cross_entropy(model(*inputs), labels)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def step_loss_after(model, optimizer, inputs, labels):
    model.train()
    optimizer.zero_grad()
    F.cross_entropy(model(*inputs), labels).backward()
    optimizer.step()
    return F.cross_entropy(model(*inputs), labels).item()


@pytest.mark.parametrize("fn", [reference_step, step_zero_at_end])
def test_train_step_accepts(fn):
    assert nb01.check_train_step(fn) and passed("01.train_step")


@pytest.mark.parametrize("fn, message", [
    (step_no_zero_grad, "zero_grad"), (step_no_train_mode, "model.train"), (step_softmax, "softmax"),
    (step_sum, "reduction='sum'"), (step_zero_between, "did not change"), (step_loss_after, "before"),
])
def test_train_step_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message):
        nb01.check_train_step(fn)
    assert not passed("01.train_step")


def test_train_step_unfinished():
    def stub(model, optimizer, inputs, labels):
        raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        nb01.check_train_step(stub)


# ---- 01.evaluate --------------------------------------------------------------------------------------
@torch.inference_mode()
def evaluate_inference_mode(model, inputs, labels, batch_size=256):
    model.eval()
    chunks = [model(*(m[s:s + batch_size] for m in inputs)) for s in range(0, len(labels), batch_size)]
    return (torch.cat(chunks).argmax(-1) == labels).float().mean()


def evaluate_no_eval(model, inputs, labels, batch_size=256):
    with torch.no_grad():
        correct = sum((model(*(m[s:s + batch_size] for m in inputs)).argmax(1) == labels[s:s + batch_size]).sum()
                      .item() for s in range(0, len(labels), batch_size))
    return correct / len(labels)


def evaluate_with_grad(model, inputs, labels, batch_size=256):
    model.eval()
    correct = sum((model(*(m[s:s + batch_size] for m in inputs)).argmax(1) == labels[s:s + batch_size]).sum().item()
                  for s in range(0, len(labels), batch_size))
    return correct / len(labels)


def evaluate_mean_of_chunks(model, inputs, labels, batch_size=256):
    model.eval()
    with torch.no_grad():
        accs = [(model(*(m[s:s + batch_size] for m in inputs)).argmax(1) == labels[s:s + batch_size]).float().mean()
                for s in range(0, len(labels), batch_size)]
    return sum(accs).item() / len(accs)


def evaluate_count(model, inputs, labels, batch_size=256):
    model.eval()
    with torch.no_grad():
        return sum((model(*(m[s:s + batch_size] for m in inputs)).argmax(1) == labels[s:s + batch_size]).sum().item()
                   for s in range(0, len(labels), batch_size))


def evaluate_no_loop(model, inputs, labels, batch_size=256):
    model.eval()
    with torch.no_grad():
        return (model(*inputs).argmax(1) == labels).float().mean().item()


@pytest.mark.parametrize("fn", [reference_evaluate, evaluate_inference_mode])
def test_evaluate_accepts(fn):
    assert nb01.check_evaluate(fn) and passed("01.evaluate")


@pytest.mark.parametrize("fn, message", [
    (evaluate_no_eval, "model.eval"), (evaluate_with_grad, "no_grad"), (evaluate_mean_of_chunks, "per-chunk"),
    (evaluate_count, "number of correct"), (evaluate_no_loop, "chunks"),
])
def test_evaluate_rejects(fn, message):
    with pytest.raises(CheckFailed, match=message):
        nb01.check_evaluate(fn)
    assert not passed("01.evaluate")
