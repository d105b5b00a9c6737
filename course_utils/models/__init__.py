"""Reference models the notebooks build, one module per idea.

- ``probes``: MLP, unimodal probes, linear and additive probes, a concatenation MLP (notebook 01)
"""
from .probes import MLP, UnimodalProbe, LinearProbe, AdditiveProbe, ConcatMLP

__all__ = ["MLP", "UnimodalProbe", "LinearProbe", "AdditiveProbe", "ConcatMLP"]
