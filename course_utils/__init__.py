"""Helpers for "Multimodal Fusion from First Principles".

Each module has one job; notebooks import what earlier notebooks taught:

- ``environment``: device, seeds, Colab detection, environment report (notebook 00)
- ``data``: every data set of the course, generated locally (notebooks 01, 04-07)
- ``models``: reference implementations of what the notebooks build
- ``training``: ``fit`` and ``evaluate`` with device-resident batches (``training.loop``), and ``fit_seeds``:
  ``fit`` for several seeds at once in one batched run (``training.batched_seeds``, ``training.folding``), what
  the notebooks' multi-seed experiments use
- ``attention_inspection``: looking inside a learner's attention layer (the checks of notebooks 04 and 05)
- ``metrics``, ``plots``: accuracy, confusion matrices, curves, bars, scatter
- ``robustness``: missing and noisy modalities, robustness figures, modality dropout (notebook 08)
- ``tracking``: a local experiment tracker, no account needed (notebook 07)
- ``widgets`` (``widgets.attention``, ``widgets.gate``, ``widgets.shapes``): explorers with static fallbacks
- ``feedback`` and ``checks``: exercise feedback, one check module per notebook
- ``seeds``, ``_folded``, ``inspection``: import aliases of ``training.batched_seeds``, ``training.folding``
  and ``attention_inspection`` (their old names, for notebooks handed out before)
- ``instructor``: build, release and grading (``python -m course_utils build|grade|release``), not in the learner wheel
"""
__version__ = "0.1.0"
__all__ = ["setup", "get_device", "seed_everything", "in_colab", "environment_report"]

# Importing course_utils does nothing else: no torch, no hooks. The names below come from ``environment`` when first
# used (PEP 562), so ``python -m course_utils build|release|grade`` starts without importing torch.
_FROM_ENVIRONMENT = ("get_device", "seed_everything", "in_colab", "environment_report")


def __getattr__(name: str):
    if name in _FROM_ENVIRONMENT:
        from . import environment
        return getattr(environment, name)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def setup() -> None:
    """Install what a notebook needs from the course into the running IPython; the first code cell of each notebook
    calls it. A failed check is then shown as one line saying what to fix (not a traceback through the check code),
    and, where this release withholds references, a cell that needs one says which exercise to finish first and
    later dependent cells are skipped (:mod:`course_utils.skipping`). Outside IPython it does nothing; calling it
    again changes nothing.

    Notebooks handed out before this function existed do not call it: their first check or
    ``feedback.yours_or_reference`` call installs the same.
    """
    from . import feedback
    feedback.install_ipython_handler()
