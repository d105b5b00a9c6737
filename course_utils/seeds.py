"""Import alias: ``course_utils.seeds`` is :mod:`course_utils.training.batched_seeds` (``fit_seeds``, ``evaluate_seeds``).

Batched multi-seed training now lives in the training package (seeding itself is
``course_utils.environment.seed_everything``). Notebooks handed out before the rename import
``from course_utils.seeds import fit_seeds``; this module makes that name the new module itself, not a copy,
so what they import, monkeypatch or test with ``isinstance`` is what the course uses. New code imports
``from course_utils.training import fit_seeds``.
"""
import sys

from .training import batched_seeds as _module

sys.modules[__name__] = _module
