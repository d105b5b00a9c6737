"""Reference models the notebooks build, one module per idea.

- ``probes``: MLP, unimodal probes and a linear (additive) probe (notebook 01)
"""
from .probes import MLP, UnimodalProbe, LinearProbe

__all__ = ["MLP", "UnimodalProbe", "LinearProbe"]
