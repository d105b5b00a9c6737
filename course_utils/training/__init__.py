"""Training: the one training loop learners read, and the batched run of several seeds that reproduces it.

- :mod:`~course_utils.training.loop`: ``fit`` (AdamW on device-resident batches), ``evaluate``,
  ``count_parameters``, ``History``, the AdamW helpers (``adamw``, ``EagerAdamW``) and the argument checks
  that the other training code shares;
- :mod:`~course_utils.training.batched_seeds`: ``fit_seeds`` and ``evaluate_seeds``, what ``fit`` and
  ``evaluate`` give seed by seed, for several seeds of one architecture in one batched step (``SeedRuns``);
- :mod:`~course_utils.training.folding`: several seeds' models as one model on a batch of ``S * B`` samples
  (``Folded``), the engine ``fit_seeds`` prefers and the contrastive models' batched training uses.

``from course_utils.training import fit, evaluate, fit_seeds`` is what notebooks write. The modules' old
names ``course_utils.seeds`` and ``course_utils._folded`` are import aliases of ``batched_seeds`` and
``folding`` (same module objects), so notebooks handed out before this package existed still run.
"""
from .loop import (EagerAdamW, History, adamw, check_loss_value, check_training_arguments, count_parameters,
                   evaluate, fit, training_logits)
from .batched_seeds import SeedRuns, evaluate_seeds, fit_seeds

__all__ = ["fit", "evaluate", "count_parameters", "History", "adamw", "EagerAdamW", "check_training_arguments",
           "check_loss_value", "training_logits", "fit_seeds", "evaluate_seeds", "SeedRuns"]
