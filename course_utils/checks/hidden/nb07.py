"""Hidden checks of notebook 07: the fused maps computed again (``torch.cat``, ``+``, ``*``) to compare with.

Left out of a graded release that withholds notebook 07; grading runs them from the instructor's package.
"""
from __future__ import annotations

import torch


def values(check, fuse, a, b):
    """Each mode's result against the computation it stands for."""
    __tracebackhide__ = True
    out = check.call(fuse, a, b, "concat", what="fuse(..., 'concat')")
    ok = torch.allclose(out, torch.cat([a, b], 1)) or torch.allclose(out, torch.cat([b, a], 1))
    check.expect(ok, "concat stacks the two maps' channels",
                 "concat should put the channels of both maps side by side: torch.cat([rgb_map, lidar_map], "
                 "dim=1); the values differ from that")
    out = check.call(fuse, a, b, "add", what="fuse(..., 'add')")
    if torch.allclose(out, (a + b) / 2, atol=1e-6):
        check.ok("add averages the maps (a scaled sum: fine)")
    else:
        check.close(out, a + b, "fuse(..., 'add')", atol=1e-5,
                    hint="Addition is the element-wise sum rgb_map + lidar_map.")
    # square maps make the matmul mistake shape-correct, so compare values
    check.close(check.call(fuse, a, b, "hadamard"), a * b, "fuse(..., 'hadamard')", atol=1e-5,
                hint="The Hadamard product is element-wise: rgb_map * lidar_map (not a matrix product @).")
    a3, b3 = a[:1, :2, :3], b[:1, :2, :3]
    check.close(check.call(fuse, a3, b3, "hadamard"), a3 * b3, "hadamard of (1, 2, 3, 5) maps", atol=1e-5)
