"""Hidden checks of notebook 07: the fused maps computed again (``torch.cat``, ``+``, ``*``) to compare with.

Left out of a graded release that withholds notebook 07; grading runs them from the instructor's package.
"""
from __future__ import annotations

import torch


def values(check, fuse, a, b):
    """Each mode's result against the computation it stands for."""
    __tracebackhide__ = True
    out = check.call(fuse, a, b, "concat", what="fuse(..., 'concat')")
    check.expect(torch.allclose(out, torch.cat([a, b], 1)), "concat stacks the two maps' channels, RGB first",
                 "concat should put the channels of both maps side by side: torch.cat([rgb_map, lidar_map], "
                 "dim=1); the values differ from that")
    out = check.call(fuse, a, b, "add", what="fuse(..., 'add')")
    check.close(out, a + b, "fuse(..., 'add')", atol=1e-5,
                hint="Addition is the element-wise sum rgb_map + lidar_map (not their mean).")
    # square maps make the matmul mistake shape-correct, so compare values
    check.close(check.call(fuse, a, b, "hadamard"), a * b, "fuse(..., 'hadamard')", atol=1e-5,
                hint="The Hadamard product is element-wise: rgb_map * lidar_map (not a matrix product @).")
    a3, b3 = a[:1, :2, :3], b[:1, :2, :3]
    check.close(check.call(fuse, a3, b3, "hadamard"), a3 * b3, "hadamard of (1, 2, 3, 5) maps", atol=1e-5)


def forward_values(check, mode, rgb_size, maps, want_maps, out, layers):
    """The maps handed to ``fuse_fn`` and the logits, against the forward pass computed again on ``layers``
    (a ``cnn.FeatureMapFusionLayers`` with the learner's weights): head(mean over positions of trunk(fuse))."""
    __tracebackhide__ = True
    with torch.no_grad():
        expected = layers.head(layers.trunk(layers.fuse_fn(*want_maps, mode)).mean((2, 3)))
    check.close(maps[0], want_maps[0], f"{mode}: the RGB map given to fuse_fn", atol=1e-5,
                hint="It is self.rgb_stem(cnn.prepare_rgb(rgb)), on the common grid (cnn.same_grid).")
    check.close(maps[1], want_maps[1], f"{mode}: the LiDAR map given to fuse_fn", atol=1e-5,
                hint="It is self.lidar_stem(cnn.prepare_lidar(lidar)), on the common grid (cnn.same_grid).")
    check.close(out, expected, f"forward ({mode}, image {rgb_size}x{rgb_size})", atol=1e-5,
                hint="After fusing: self.trunk, then the mean over the positions (dims 2 and 3), then "
                     "self.head (no softmax: return logits).")
