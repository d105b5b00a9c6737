"""The models the notebooks build on, one module per idea; exercises' references come from
:mod:`course_utils.references` (derived from the solution notebooks) and are handed out here by name.

- ``probes``: MLP, the classifier head, unimodal probes, linear and additive probes, a concatenation MLP (notebook 01)
- ``fusion``: early fusion, decision-level late fusion, embedding concatenation (notebooks 02, 03)
- ``attention``: attention-based fusion models and token baselines around notebooks 04 and 05's exercises
- ``gating``: the GMU classifier and gate read-outs around notebook 06's exercises
- ``cnn``: CNN encoders, late and intermediate RGB + LiDAR fusion (notebook 07)
- ``multiplicative``: FiLM, tensor fusion and low-rank fusion classifiers around notebook 10's exercises
"""
from . import probes
from .probes import MLP, LinearProbe, AdditiveProbe, ConcatMLP, classifier_head

__all__ = ["MLP", "UnimodalProbe", "LinearProbe", "AdditiveProbe", "ConcatMLP", "classifier_head"]


def __getattr__(name: str):
    if name == "UnimodalProbe":          # exercise 01.unimodal_probe: resolved on first use
        return probes.UnimodalProbe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
