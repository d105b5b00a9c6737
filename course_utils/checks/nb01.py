"""Checks for notebook 01 (synthetic multimodal data); the value comparisons of the training step and the
evaluation loop are in :mod:`.hidden.nb01`."""
import torch

from ..feedback import exercise
from .common import hidden


def _unit(dim, gen):
    u = torch.randn(dim, generator=gen)
    return u / u.norm()


@exercise("01.xor_data", "make_xor_data")
def check_xor_data(check, make_xor_data):
    gen = torch.Generator().manual_seed(1)
    u_img, u_txt = _unit(8, gen), _unit(5, gen)
    n = 4000
    out = check.call(make_xor_data, n, u_img, u_txt, 0.0, torch.Generator().manual_seed(0))
    check.expect(isinstance(out, tuple) and len(out) == 3, "returns (image, text, labels)",
                 f"return a tuple (image, text, labels), got {type(out).__name__}")
    image, text, labels = out
    check.shape(image, (n, 8), "image")
    check.shape(text, (n, 5), "text")
    check.shape(labels, (n,), "labels")
    check.expect(not labels.is_floating_point(), "labels are integers",
                 f"labels should be integer class indices (torch.long), got {labels.dtype}")
    # with noise 0 each row must be exactly +u or -u
    proj_img, proj_txt = image @ u_img, text @ u_txt
    check.close(proj_img.abs(), torch.ones(n), "image along u_img (noise=0)", atol=1e-4,
                hint="With noise=0 each image row should be +u_img (bit 1) or -u_img (bit 0): (2a-1) * u_img.")
    check.close(proj_txt.abs(), torch.ones(n), "text along u_txt (noise=0)", atol=1e-4,
                hint="With noise=0 each text row should be +u_txt or -u_txt: (2b-1) * u_txt.")
    a, b = (proj_img > 0).long(), (proj_txt > 0).long()
    check.expect(0.45 < a.float().mean() < 0.55 and 0.45 < b.float().mean() < 0.55,
                 "bits a and b are balanced", "draw a and b uniformly from {0, 1} (torch.randint(0, 2, ...))")
    check.expect(abs((a == b).float().mean().item() - 0.5) < 0.05, "a and b are independent",
                 "the image bit a and the text bit b must be drawn independently")
    check.expect(bool((labels == (a ^ b)).all()), "labels = a XOR b",
                 f"labels should be a XOR b; they agree with it on {(labels == (a ^ b)).float().mean():.0%} "
                 "of samples (AND or OR is not XOR: XOR is 1 when exactly one bit is 1)")
    # noise: E||x||^2 = 1 + d * noise^2
    sigma = 0.7
    img, txt, _ = check.call(make_xor_data, n, u_img, u_txt, sigma, torch.Generator().manual_seed(0))
    energy = (img ** 2).sum(1).mean().item()
    check.expect(abs(energy - (1 + 8 * sigma ** 2)) < 0.1 * (1 + 8 * sigma ** 2),
                 f"noise has standard deviation {sigma}",
                 f"E||image||^2 should be 1 + d*noise^2 = {1 + 8 * sigma ** 2:.2f}, got {energy:.2f}: add "
                 "noise * torch.randn(...) (noise is a standard deviation, not a variance)")
    again = check.call(make_xor_data, n, u_img, u_txt, sigma, torch.Generator().manual_seed(0))
    check.expect(all(torch.equal(x, y) for x, y in zip((img, txt), again[:2])),
                 "same generator seed gives the same data",
                 "pass generator=generator to every torch.randint / torch.randn call so the data is reproducible")


@exercise("01.unimodal_probe", "UnimodalProbe")
def check_unimodal_probe(check, UnimodalProbe):
    torch.manual_seed(0)
    dims = (6, 4)  # image, text
    for modality in (0, 1):
        probe = check.build(UnimodalProbe, dims[modality], 16, 3, modality)
        x = [torch.randn(5, d, requires_grad=True) for d in dims]
        out = check.call(probe, *x)
        check.shape(out, (5, 3), f"logits (modality={modality})")
        out.sum().backward()
        seen, other = x[modality], x[1 - modality]
        check.expect(seen.grad is not None and seen.grad.abs().sum() > 0,
                     f"gradient reaches modality {modality}",
                     f"the probe with modality={modality} must use modalities[{modality}]")
        check.expect(other.grad is None or other.grad.abs().sum() == 0,
                     f"modality {1 - modality} is ignored",
                     f"a unimodal probe must not look at modality {1 - modality}: use only modalities[self.modality]")
    probe = check.build(UnimodalProbe, 6, 32, 2, 0)
    a, b, t = torch.randn(64, 6), torch.randn(64, 6), torch.randn(64, 4)
    with torch.no_grad():
        gap = (probe(a, t) + probe(b, t) - 2 * probe((a + b) / 2, t)).abs().max().item()
    check.expect(gap > 1e-4, "the probe is nonlinear (an MLP with a hidden layer)",
                 "the probe is affine: put a nonlinearity (e.g. ReLU) between two Linear layers")
    with torch.no_grad():
        out = probe(3 * torch.randn(64, 6), t)
    probabilities = bool((out >= 0).all()) and torch.allclose(out.sum(-1), torch.ones(64), atol=1e-4)
    check.expect(not probabilities, "the probe returns logits, not probabilities",
                 "the rows of the output are probabilities (a softmax at the end?). Return raw logits: "
                 "F.cross_entropy applies log-softmax itself, and a softmax inside the model trains badly.")
    check.expect(not bool((out >= 0).all()), "the logits can be negative (no nonlinearity after the last layer)",
                 "every logit is >= 0: a ReLU after the last Linear clips the logits. End with the Linear layer.")


# ---- 01.train_step and 01.evaluate: a training step and an evaluation loop ------------------------------

class _Recorder(torch.nn.Module):
    """A small two-modality model that records, at each forward, (training mode, gradients on, batch size)."""

    def __init__(self, img_dim: int = 6, txt_dim: int = 4, num_classes: int = 3):
        super().__init__()
        self.img = torch.nn.Linear(img_dim, 8)
        self.txt = torch.nn.Linear(txt_dim, 8)
        self.out = torch.nn.Linear(8, num_classes)
        self.calls = []

    def forward(self, img, txt):
        self.calls.append((self.training, torch.is_grad_enabled(), len(img)))
        return self.out(torch.relu(self.img(img) + self.txt(txt)))


def _batch(n: int = 24, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 6, generator=gen), torch.randn(n, 4, generator=gen)], torch.randint(0, 3, (n,), generator=gen)


def _fresh_model(seed: int = 0) -> _Recorder:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _Recorder()


def _fit_steps(inputs, labels, steps: int, lr: float) -> _Recorder:
    """``steps`` full-batch updates by ``training.fit`` itself, from :func:`_fresh_model`'s weights."""
    from ..data.dataset import MultimodalDataset
    from ..training import fit
    model = _fresh_model()
    data = MultimodalDataset(tuple(inputs), labels, ("image", "text"), num_classes=3)
    fit(model, data, epochs=steps, lr=lr, batch_size=len(labels), seed=0, device="cpu", progress=False)
    return model


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@exercise("01.train_step", "train_step(model, optimizer, inputs, labels)")
def check_train_step(check, train_step):
    inputs, labels = _batch()
    lr = 0.01
    model = _fresh_model().eval()                  # left in eval mode, as after an evaluation
    before = _params(model)
    with torch.no_grad():
        logits = model(*inputs)
    model.calls.clear()
    # AdamW as fit uses it: torch.optim's own would import torch's compiler (about 1 s) in every kernel that checks
    from ..training import EagerAdamW
    optimizer = EagerAdamW(model.parameters(), lr=lr, weight_decay=0.0)
    loss = check.call(train_step, model, optimizer, inputs, labels, what="train_step")
    check.expect(len(model.calls) >= 1, "train_step calls the model",
                 "train_step never called the model: compute logits = model(*inputs)")
    check.expect(all(training for training, _, _ in model.calls), "the model is in training mode during the step",
                 "the model was in eval mode during the step: call model.train() first (an evaluation may have "
                 "left it in eval mode, which switches dropout and batch statistics off while training)")
    try:
        loss_value = float(loss)
    except (TypeError, ValueError, RuntimeError):
        check.fail(f"train_step should return the loss as a float (loss.item()), got {type(loss).__name__}")
    after = _params(model)
    check.expect(not torch.equal(before, after), "the weights changed",
                 "the weights did not change: call loss.backward() and then optimizer.step() (zero the gradients "
                 "before backward, not between backward and step)")
    hidden(check, "nb01", "train_step_values", train_step, inputs, labels, lr, logits, loss_value, after)


@exercise("01.evaluate", "evaluate_accuracy(model, inputs, labels, batch_size)")
def check_evaluate(check, evaluate_accuracy):
    n, batch_size = 50, 16
    inputs, _ = _batch(n, seed=1)
    model = _fresh_model(1)
    with torch.no_grad():
        predicted = model(*inputs).argmax(1)
    labels = predicted.clone()
    labels[::3] = (labels[::3] + 1) % 3           # a third of the first chunks wrong ...
    labels[-2:] = (predicted[-2:] + 1) % 3        # ... and the short last chunk entirely wrong
    model.train()
    model.calls.clear()
    weights = _params(model)
    result = check.call(evaluate_accuracy, model, inputs, labels, batch_size, what="evaluate_accuracy")
    try:
        value = float(result)
    except (TypeError, ValueError, RuntimeError):
        check.fail(f"evaluate_accuracy should return the accuracy as a float, got {type(result).__name__}")
    check.expect(bool(model.calls) and not any(training for training, _, _ in model.calls),
                 "the model runs in eval mode", "the model ran in training mode: call model.eval() before the loop "
                 "(dropout would stay on and batch norm would use batch statistics)")
    check.expect(not any(grad for _, grad, _ in model.calls), "no gradients are recorded (torch.no_grad)",
                 "autograd recorded a graph during evaluation: run the loop inside `with torch.no_grad():`")
    sizes = [size for _, _, size in model.calls]
    check.expect(max(sizes) <= batch_size and sum(sizes) == n,
                 f"the loop runs over chunks of at most batch_size={batch_size} rows",
                 f"the model was called on chunks of {sizes} rows; loop over range(0, len(labels), batch_size) and "
                 f"call it on rows start:start + batch_size")
    check.expect(torch.equal(weights, _params(model)), "evaluation leaves the weights unchanged",
                 "the weights changed during evaluation: evaluation must not take optimizer steps")
    hidden(check, "nb01", "evaluate_values", value, predicted, labels, batch_size)
    check.expect(0.0 <= value <= 1.0, "the accuracy is a fraction between 0 and 1",
                 f"evaluate_accuracy returned {value:.4g}: an accuracy is the fraction of correct predictions, "
                 "between 0 and 1")
