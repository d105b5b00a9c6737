"""Checks for notebook 03 (late fusion: decision level versus embedding concatenation)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import make_redundant
from ..feedback import exercise
from ..training import fit
from .nb02 import (BATCH, IMG_DIM, NUM_CLASSES, TXT_DIM, both_modalities_matter, forward, interaction_gap,
                   returns_logits, trains)


def _module_attribute(check, model, name: str, hint: str):
    __tracebackhide__ = True
    part = getattr(model, name, None)
    if name in vars(model) and part is None:
        check.not_implemented(f"self.{name} is still None")
    check.expect(isinstance(part, torch.nn.Module), f"the model has a submodule `{name}`",
                 f"the model needs an attribute `self.{name}` that is an nn.Module ({hint})")
    return part


def _same(a, b, atol=1e-5) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=1e-4)


@exercise("03.decision_fusion", "DecisionLateFusion")
def check_decision_fusion(check, DecisionLateFusion):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = check.build(DecisionLateFusion, IMG_DIM, TXT_DIM, 16, NUM_CLASSES)
        check.expect(isinstance(model, torch.nn.Module), "DecisionLateFusion is an nn.Module",
                     "DecisionLateFusion must subclass torch.nn.Module and call super().__init__()")
        img_head = _module_attribute(check, model, "img_head", "the image classifier: (B, img_dim) -> logits")
        txt_head = _module_attribute(check, model, "txt_head", "the text classifier: (B, txt_dim) -> logits")
        model.eval()
        both_modalities_matter(check, model, IMG_DIM, TXT_DIM, NUM_CLASSES, "DecisionLateFusion")

        img, txt = 2 * torch.randn(64, IMG_DIM), 2 * torch.randn(64, TXT_DIM)
        with torch.no_grad():
            out = forward(check, model, img, txt, "DecisionLateFusion")
            try:
                li, lt = img_head(img), txt_head(txt)
            except RuntimeError as error:
                check.fail(f"img_head(img) / txt_head(txt) raised RuntimeError: {error}. img_head must take the "
                           f"image alone, (B, img_dim) -> (B, num_classes), and txt_head the text alone.")
        check.shape(li, (64, NUM_CLASSES), "img_head(img)")
        check.shape(lt, (64, NUM_CLASSES), "txt_head(txt)")
        check.shape(out, (64, NUM_CLASSES), "the fused logits")
        mean = (li + lt) / 2
        if not _same(out, mean):
            pi, pt = F.softmax(li, -1), F.softmax(lt, -1)
            rows_are_distributions = bool((out >= 0).all()) and _same(out.sum(-1), torch.ones(64))
            if _same(out, (pi + pt) / 2) or rows_are_distributions:
                check.fail("the output is a probability distribution (softmax before averaging?). Return the "
                           "average of the two heads' *logits*: (img_head(img) + txt_head(txt)) / 2. The loss, "
                           "F.cross_entropy, applies log-softmax itself, and a softmax inside the model makes "
                           "training slow and predictions wrong.")
            if _same(out, torch.log((pi + pt) / 2)):
                check.fail("the output is the log of the averaged probabilities (a mixture of experts). This "
                           "exercise asks for the average of the logits: (img_head(img) + txt_head(txt)) / 2.")
            if _same(out, li) or _same(out, lt):
                check.fail("the output equals one head's logits: a modality was dropped. Average both heads.")
            if _same(out, li + lt):
                check.fail("the output is the sum of the logits; divide by 2 to average them.")
            if _same(out, torch.maximum(li, lt)):
                check.fail("the output is the elementwise maximum of the logits; the rule here is their average.")
            if interaction_gap(model, IMG_DIM, TXT_DIM) > 1e-3:
                check.fail("the combination is not additive: something after the two heads (a nonlinearity, a "
                           "layer) mixes the modalities. Decision-level fusion keeps every nonlinearity inside "
                           "the heads; return exactly (img_head(img) + txt_head(txt)) / 2.")
        check.close(out, mean, "output = (img_head(img) + txt_head(txt)) / 2",
                    hint="forward must return the mean of the two heads' logits, each head seeing only its modality.")
        trained = DecisionLateFusion(IMG_DIM, TXT_DIM, 32, 2)
        train, val = make_redundant(1000, img_dim=IMG_DIM, txt_dim=TXT_DIM, seed=1234).split(0.8, seed=0)
        acc = max(fit(trained, train, val, epochs=10, seed=0, progress=False).val_acc[-3:])
        check.expect(acc > 0.9, f"DecisionLateFusion trains: {acc:.2f} validation accuracy on the redundant set",
                     f"after 10 epochs DecisionLateFusion reaches only {acc:.2f} on the redundant set (expected "
                     "above 0.9). Check that forward returns the averaged logits (no softmax).")


@exercise("03.product_of_experts", "product_of_experts")
def check_product_of_experts(check, product_of_experts):
    gen = torch.Generator().manual_seed(0)
    li, lt = 3 * torch.randn(16, 4, generator=gen), 3 * torch.randn(16, 4, generator=gen)
    out = check.call(product_of_experts, li, lt)
    check.shape(out, (16, 4), "product_of_experts(img_logits, txt_logits)")
    pi, pt = F.softmax(li, -1), F.softmax(lt, -1)
    reference = torch.log_softmax(F.log_softmax(li, -1) + F.log_softmax(lt, -1), -1)
    if not _same(out, reference, atol=1e-4):
        if _same(out, torch.log((pi + pt) / 2), atol=1e-4) or _same(out, (pi + pt) / 2, atol=1e-4):
            check.fail("you averaged the probabilities (a mixture of experts). A product of experts multiplies "
                       "them: add the log-probabilities, log_softmax(img) + log_softmax(txt), then renormalise.")
        product = pi * pt
        if _same(out, product, atol=1e-4) or _same(out, product / product.sum(-1, keepdim=True), atol=1e-4):
            check.fail("you returned probabilities; return log-probabilities (work in log space).")
        if _same(F.log_softmax(out, -1), reference, atol=1e-4):
            check.fail("softmax(output) is the right distribution, but the rows are not normalised "
                       "log-probabilities: exp(output) should sum to 1 over the classes. Subtract the "
                       "logsumexp of each row (torch.log_softmax does it).")
    check.close(out, reference, "log p(y) = log_softmax(log p_img + log p_txt)",
                hint="add the two experts' log-probabilities (F.log_softmax of each) and renormalise.")
    check.close(out.exp().sum(-1), torch.ones(16), "each row of exp(output) sums to 1", atol=1e-4)
    # confident experts: probabilities of 1e-30 underflow when multiplied in float32
    sharp_i, sharp_t = 40 * torch.randn(16, 4, generator=gen), 40 * torch.randn(16, 4, generator=gen)
    out = check.call(product_of_experts, sharp_i, sharp_t)
    reference = torch.log_softmax(F.log_softmax(sharp_i, -1) + F.log_softmax(sharp_t, -1), -1)
    check.expect(bool(torch.isfinite(out).all()) and _same(out, reference, atol=1e-3),
                 "numerically stable for confident experts (logits around ±40)",
                 "with confident experts (logits around ±40) the result has -inf/nan or is wrong: multiplying "
                 "probabilities underflows. Stay in log space: F.log_softmax, add, then torch.log_softmax.")


def _encoder_outputs_replaced(model, e_img, e_txt, img, txt):
    """``model(img, txt)`` with the encoders' outputs replaced by ``e_img``, ``e_txt`` (forward hooks)."""
    handles = [model.img_encoder.register_forward_hook(lambda m, args, out: e_img),
               model.txt_encoder.register_forward_hook(lambda m, args, out: e_txt)]
    try:
        with torch.no_grad():
            return model(img, txt)
    finally:
        for handle in handles:
            handle.remove()


@exercise("03.embedding_concat", "EmbeddingConcatFusion")
def check_embedding_concat(check, EmbeddingConcatFusion):
    embed = 8
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = check.build(EmbeddingConcatFusion, IMG_DIM, TXT_DIM, embed, NUM_CLASSES)
        check.expect(isinstance(model, torch.nn.Module), "EmbeddingConcatFusion is an nn.Module",
                     "EmbeddingConcatFusion must subclass torch.nn.Module and call super().__init__()")
        img_encoder = _module_attribute(check, model, "img_encoder", "(B, img_dim) -> (B, embed_dim)")
        txt_encoder = _module_attribute(check, model, "txt_encoder", "(B, txt_dim) -> (B, embed_dim)")
        if "head" in vars(model) and model.head is None:
            check.not_implemented("self.head is still None")
        model.eval()
        both_modalities_matter(check, model, IMG_DIM, TXT_DIM, NUM_CLASSES, "EmbeddingConcatFusion")

        img, txt = torch.randn(32, IMG_DIM), torch.randn(32, TXT_DIM)
        with torch.no_grad():
            out = forward(check, model, img, txt, "EmbeddingConcatFusion")
            try:
                e_img, e_txt = img_encoder(img), txt_encoder(txt)
            except RuntimeError as error:
                check.fail(f"img_encoder(img) / txt_encoder(txt) raised RuntimeError: {error}. Each encoder takes "
                           "its own modality alone.")
        check.shape(e_img, (32, embed), "img_encoder(img)")
        check.shape(e_txt, (32, embed), "txt_encoder(txt)")
        # the head sees the modalities only through the encoders: fixed embeddings, other raw inputs, same output
        other = _encoder_outputs_replaced(model, e_img, e_txt, torch.randn(32, IMG_DIM), torch.randn(32, TXT_DIM))
        check.expect(_same(out, other), "the output depends on img and txt only through the two encoders",
                     "with the encoders' outputs held fixed, the output still changed when the raw inputs did: "
                     "forward bypasses an encoder (the raw img or txt reaches the head). Concatenate the "
                     "embeddings img_encoder(img) and txt_encoder(txt), not the raw inputs.")
        returns_logits(check, model, IMG_DIM, TXT_DIM, "EmbeddingConcatFusion")
        gap = interaction_gap(model, IMG_DIM, TXT_DIM)
        check.expect(gap > 1e-3, "the head combines the embeddings non-additively (a nonlinearity after the "
                                 "concatenation)",
                     "the model is additive in img and txt: a linear head over [e_img; e_txt] equals "
                     "W_img e_img + W_txt e_txt (and a head applied to each embedding separately, then summed, "
                     "is additive too): decision-level fusion in disguise, which cannot represent XOR. Give the "
                     "head a hidden layer with a nonlinearity after the concatenation (Linear -> ReLU -> Linear).")
        trains(check, EmbeddingConcatFusion(IMG_DIM, TXT_DIM, 32, 2), 0.8, "EmbeddingConcatFusion")
