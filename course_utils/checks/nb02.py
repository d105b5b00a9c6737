"""Checks for notebook 02 (early fusion); the helpers they share with notebook 03 live in :mod:`.common`."""
from __future__ import annotations

import torch

from ..feedback import exercise
from .common import (IMG_DIM, NUM_CLASSES, TXT_DIM, both_modalities_matter, interaction_gap, returns_logits,
                     trains)


@exercise("02.early_fusion", "EarlyFusionModel")
def check_early_fusion(check, EarlyFusionModel):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = check.build(EarlyFusionModel, IMG_DIM, TXT_DIM, 16, NUM_CLASSES)
        check.expect(isinstance(model, torch.nn.Module), "EarlyFusionModel is an nn.Module",
                     "EarlyFusionModel must subclass torch.nn.Module and call super().__init__()")
        model.eval()  # switch dropout off, if any, so the outputs are deterministic
        both_modalities_matter(check, model, IMG_DIM, TXT_DIM, NUM_CLASSES, "EarlyFusionModel")
        returns_logits(check, model, IMG_DIM, TXT_DIM, "EarlyFusionModel")
        gap = interaction_gap(model, IMG_DIM, TXT_DIM)
        check.expect(gap > 1e-3, "the modalities interact (the model is not additive: a nonlinearity follows "
                                 "the concatenation)",
                     "the model is additive in img and txt, so it cannot represent XOR. No nonlinearity at all, "
                     "or a nonlinearity applied to each modality *before* torch.cat, both leave it additive. Put "
                     "the ReLU after the layer that sees the concatenation: self.out(relu(self.hidden(cat))).")
        trains(check, EarlyFusionModel(IMG_DIM, TXT_DIM, 64, 2), 0.8, "EarlyFusionModel")
