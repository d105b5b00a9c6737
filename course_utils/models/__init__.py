"""Reference models the notebooks build, one module per idea.

- ``probes``: MLP, unimodal probes, linear and additive probes, a concatenation MLP (notebook 01)
- ``fusion``: early fusion, decision-level late fusion, embedding concatenation (notebooks 02, 03)
- ``attention``: scaled dot-product and cross-attention, bidirectional blocks, baselines (notebooks 04, 05)
- ``gating``: the scalar gate and the Gated Multimodal Unit (notebook 06)
- ``cnn``: CNN encoders, late and intermediate RGB + LiDAR fusion (notebook 07)
"""
from .probes import MLP, UnimodalProbe, LinearProbe, AdditiveProbe, ConcatMLP

__all__ = ["MLP", "UnimodalProbe", "LinearProbe", "AdditiveProbe", "ConcatMLP"]
