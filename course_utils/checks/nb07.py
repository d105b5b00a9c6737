"""Checks for notebook 07 (RGB + LiDAR fusion)."""
from __future__ import annotations

import torch

from ..feedback import exercise


def _maps(seed: int = 0, b: int = 3, c: int = 4, h: int = 5, w: int = 5):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(b, c, h, w, generator=g, requires_grad=True)
    l = torch.randn(b, c, h, w, generator=g, requires_grad=True)  # noqa: E741
    return a, l


@exercise("07.fuse", "fuse feature maps: concat, add, Hadamard")
def check_fuse(check, fuse):
    """``fuse(rgb_map, lidar_map, mode)`` for mode in concat/add/hadamard, on ``(B, C, H, W)`` maps."""
    a, b = _maps()
    # concatenation: along channels, either order is a correct fusion
    out = check.call(fuse, a, b, "concat", what="fuse(..., 'concat')")
    check.shape(out, (3, 8, 5, 5), "fuse(rgb_map, lidar_map, 'concat') for maps of shape (3, 4, 5, 5)")
    ok = torch.allclose(out, torch.cat([a, b], 1)) or torch.allclose(out, torch.cat([b, a], 1))
    check.expect(ok, "concat stacks the two maps' channels",
                 "concat should put the channels of both maps side by side: torch.cat([rgb_map, lidar_map], "
                 "dim=1); the values differ from that")
    # addition
    out = check.call(fuse, a, b, "add", what="fuse(..., 'add')")
    check.shape(out, (3, 4, 5, 5), "fuse(..., 'add')")
    if torch.allclose(out, (a + b) / 2, atol=1e-6):
        check.ok("add averages the maps (a scaled sum: fine)")
    else:
        check.close(out, a + b, "fuse(..., 'add')", atol=1e-5,
                    hint="Addition is the element-wise sum rgb_map + lidar_map.")
    # Hadamard (element-wise) product; square maps make the matmul mistake shape-correct, so compare values
    out = check.call(fuse, a, b, "hadamard", what="fuse(..., 'hadamard')")
    check.shape(out, (3, 4, 5, 5), "fuse(..., 'hadamard')")
    check.close(out, a * b, "fuse(..., 'hadamard')", atol=1e-5,
                hint="The Hadamard product is element-wise: rgb_map * lidar_map (not a matrix product @).")
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
    check.close(check.call(fuse, a3, b3, "hadamard"), a3 * b3, "hadamard of (1, 2, 3, 6) maps", atol=1e-5)
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
