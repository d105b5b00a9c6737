"""Checks for notebook 03 (late fusion: decision level versus embedding concatenation)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import make_redundant
from ..feedback import exercise
from ..training import fit
from .common import (IMG_DIM, NUM_CLASSES, TXT_DIM, both_modalities_matter, forward, hidden, interaction_gap,
                     module_attribute, returns_logits, same, trains)


@exercise("03.decision_fusion", "DecisionLateFusion")
def check_decision_fusion(check, DecisionLateFusion):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = check.build(DecisionLateFusion, IMG_DIM, TXT_DIM, 16, NUM_CLASSES)
        check.expect(isinstance(model, torch.nn.Module), "DecisionLateFusion is an nn.Module",
                     "DecisionLateFusion must subclass torch.nn.Module and call super().__init__()")
        img_head = module_attribute(check, model, "img_head", "the image classifier: (B, img_dim) -> logits")
        txt_head = module_attribute(check, model, "txt_head", "the text classifier: (B, txt_dim) -> logits")
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
        hidden(check, "nb03", "decision_mistakes", out, li, lt)
        _additive(check, model)
        hidden(check, "nb03", "decision_value", out, li, lt)
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
    hidden(check, "nb03", "product_of_experts_values", out, li, lt)
    check.close(out.exp().sum(-1), torch.ones(16), "each row of exp(output) sums to 1 (log-probabilities)", atol=1e-4,
                hint="Return normalised log-probabilities: subtract the logsumexp of each row.")
    check.close(check.call(product_of_experts, lt, li), out, "the two experts play the same role (symmetric)",
                atol=1e-4, hint="A product does not depend on the order of its factors.")
    shifted = check.call(product_of_experts, li + 5 * torch.randn(16, 1, generator=gen), lt)
    check.close(shifted, out, "adding a constant to one expert's logits changes nothing", atol=1e-4,
                hint="Each expert's distribution is softmax(logits), which ignores a constant added to a row.")
    uniform = check.call(product_of_experts, li, torch.zeros(16, 4))
    check.close(uniform, F.log_softmax(li, -1), "an uninformative (uniform) expert leaves the other's distribution",
                atol=1e-4, hint="Multiplying by a uniform distribution and renormalising changes nothing.")
    # confident experts: probabilities of 1e-30 underflow when multiplied in float32
    sharp_i, sharp_t = 40 * torch.randn(16, 4, generator=gen), 40 * torch.randn(16, 4, generator=gen)
    sharp = check.call(product_of_experts, sharp_i, sharp_t)
    check.expect(bool(torch.isfinite(sharp).all()) and torch.allclose(sharp.exp().sum(-1), torch.ones(16), atol=1e-3),
                 "numerically stable for confident experts (logits around ±40)",
                 "with confident experts (logits around ±40) the result has -inf/nan or is wrong: multiplying "
                 "probabilities underflows. Stay in log space: F.log_softmax, add, then torch.log_softmax.")
    hidden(check, "nb03", "product_of_experts_values", sharp, sharp_i, sharp_t, atol=1e-3)


def _additive(check, model):
    """Decision-level fusion is additive: the fused logits of (img, txt) pairs obey the interaction contrast."""
    __tracebackhide__ = True
    with torch.random.fork_rng():        # leave the caller's random stream as it was
        torch.manual_seed(1)
        gap = interaction_gap(model, IMG_DIM, TXT_DIM)
    check.expect(gap < 1e-4, "the fused logits are additive in img and txt (decision-level fusion)",
                 "the combination is not additive: the fused logits are not a sum of a function of img and a "
                 "function of txt. The heads' outputs "
                 "must only be combined at the end (each head sees its own modality only), with no softmax or "
                 "nonlinearity after combining them.")


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
        img_encoder = module_attribute(check, model, "img_encoder", "(B, img_dim) -> (B, embed_dim)")
        txt_encoder = module_attribute(check, model, "txt_encoder", "(B, txt_dim) -> (B, embed_dim)")
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
        check.expect(same(out, other), "the output depends on img and txt only through the two encoders",
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
