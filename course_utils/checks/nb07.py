"""Checks for notebook 07 (RGB + LiDAR fusion); the value comparisons are in :mod:`.hidden.nb07`."""
from __future__ import annotations

import torch

from ..feedback import exercise
from .common import hidden


def _maps(seed: int = 0, b: int = 3, c: int = 4, h: int = 5, w: int = 5):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(b, c, h, w, generator=g, requires_grad=True)
    l = torch.randn(b, c, h, w, generator=g, requires_grad=True)  # noqa: E741
    return a, l


@exercise("07.fuse", "fuse feature maps: concat, add, Hadamard")
def check_fuse(check, fuse):
    """``fuse(rgb_map, lidar_map, mode)`` for mode in concat/add/hadamard, on ``(B, C, H, W)`` maps."""
    a, b = _maps()
    out = check.call(fuse, a, b, "concat", what="fuse(..., 'concat')")
    check.shape(out, (3, 8, 5, 5), "fuse(rgb_map, lidar_map, 'concat') for maps of shape (3, 4, 5, 5)")
    check.shape(check.call(fuse, a, b, "add", what="fuse(..., 'add')"), (3, 4, 5, 5), "fuse(..., 'add')")
    check.shape(check.call(fuse, a, b, "hadamard", what="fuse(..., 'hadamard')"), (3, 4, 5, 5), "fuse(..., 'hadamard')")
    with torch.no_grad():
        ones, zeros = torch.ones_like(a), torch.zeros_like(a)
        check.close(check.call(fuse, a, ones, "hadamard"), a, "hadamard with a map of ones leaves the other map",
                    atol=1e-5, hint="The Hadamard product is element-wise: it multiplies the maps position by position.")
        check.close(check.call(fuse, a, b, "hadamard"), check.call(fuse, b, a, "hadamard"),
                    "hadamard does not depend on the order of the maps", atol=1e-5,
                    hint="An element-wise product is symmetric; a matrix product (@) is not.")
        added = check.call(fuse, a, zeros, "add")
        check.expect(torch.allclose(added, a, atol=1e-6) or torch.allclose(added, a / 2, atol=1e-6),
                     "adding a map of zeros leaves the other map (or half of it, for a mean)",
                     "fuse(a, zeros, 'add') should give a back: addition is element-wise.")
    hidden(check, "nb07", "values", fuse, a.detach(), b.detach())
    # gradients reach both inputs in every mode
    for mode in ("concat", "add", "hadamard"):
        a2, b2 = _maps(1)
        check.call(fuse, a2, b2, mode, what=f"fuse(..., {mode!r})").sum().backward()
        check.expect(a2.grad is not None and b2.grad is not None and a2.grad.abs().sum() > 0
                     and b2.grad.abs().sum() > 0,
                     f"{mode}: gradients reach both maps",
                     f"{mode}: the result must depend on both maps through differentiable tensor operations "
                     "(no .detach(), no NumPy, no in-place writes into an input)")
    # other shapes: batch of one, non-square maps
    a3, b3 = _maps(2, b=1, c=2, h=3, w=6)
    check.shape(check.call(fuse, a3, b3, "concat"), (1, 4, 3, 6), "concat of (1, 2, 3, 6) maps")
    check.shape(check.call(fuse, a3, b3, "hadamard"), (1, 2, 3, 6), "hadamard of (1, 2, 3, 6) maps")
    # unknown modes are an error, not a silent fallback
    try:
        fuse(a, b, "multiply")
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - any clear error will do
        check.ok("an unknown mode raises an error")
    else:
        check.fail("fuse(..., 'multiply') returned a result; raise a ValueError naming the valid modes "
                   "('concat', 'add', 'hadamard') instead of silently picking one")
