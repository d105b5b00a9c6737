"""Checks for notebook 07 (RGB + LiDAR fusion); the value comparisons are in :mod:`.hidden.nb07`."""
from __future__ import annotations

import torch

from ..feedback import CheckFailed, exercise
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
    if torch.equal(out[:, :4], b) and torch.equal(out[:, 4:], a):
        check.fail("concat put the LiDAR map's channels first; the docstring fixes the order, RGB first: "
                   "torch.cat([rgb_map, lidar_map], dim=1)")
    check.expect(torch.equal(out[:, :4], a), "concat: the first C channels are the RGB map",
                 "concat should start with the RGB map's channels, then the LiDAR map's: "
                 "torch.cat([rgb_map, lidar_map], dim=1)")
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
        if torch.allclose(added, a / 2, atol=1e-6):
            check.fail("add returned the mean (rgb_map + lidar_map) / 2; the equation is the sum A + B: "
                       "return rgb_map + lidar_map")
        check.expect(torch.allclose(added, a, atol=1e-6), "adding a map of zeros leaves the other map",
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


def _sensors(seed: int, rgb_size: int = 16, depth_size: int = 16, b: int = 4):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(b, 3, rgb_size, rgb_size, generator=g)
    depth = 2.0 + 4.0 * torch.rand(b, 1, depth_size, depth_size, generator=g)
    depth[:, :, ::3, ::2] = 0.0                      # some beams without a return
    return rgb, depth


def _no_inherited_forward(check, model, rgb, depth):
    """Fail when the forward reaches nn.Module's own (``super().forward(...)``: the parent holds no answer)."""
    __tracebackhide__ = True
    try:
        with torch.no_grad():
            model(rgb, depth)
    except NotImplementedError as error:
        if 'missing the required "forward"' in str(error):
            check.fail("forward calls the parent's forward (super().forward(...)), and cnn.FeatureMapFusionLayers "
                       "has none: it only builds the layers. Write the steps yourself: prepare both inputs, the "
                       "two stems, cnn.same_grid, self.fuse_fn, the trunk, the mean over positions, the head")
    except Exception:  # noqa: BLE001 - any other error is reported by the call that follows
        pass


@exercise("07.intermediate_forward", "the forward pass of the feature-map fusion CNN")
def check_intermediate_forward(check, FusionCNN):
    """``FusionCNN(mode, fuse_fn=...)`` with the layers of ``cnn.FeatureMapFusionLayers`` (the template subclasses
    it); its ``forward`` is the learner's. That parent holds the layers and no forward, so an inherited forward is
    no answer."""
    from ..models import cnn

    if not (isinstance(FusionCNN, type) and issubclass(FusionCNN, torch.nn.Module)):
        check.fail(f"FeatureMapFusionCNN should be a module class (the template's `class FeatureMapFusionCNN("
                   f"cnn.FeatureMapFusionLayers)`, which makes the layers), got {FusionCNN!r}")
    if FusionCNN.forward is torch.nn.Module.forward:
        check.not_implemented("FeatureMapFusionCNN has no forward of its own; write forward(self, rgb, lidar)")
    fuse = cnn.fuse          # exercise 07.fuse: the course's, or in a graded release your own once it passed
    for mode in cnn.FUSION_MODES:
        calls = []

        def spy(rgb_map, lidar_map, mode_, calls=calls):
            calls.append((rgb_map.detach().clone(), lidar_map.detach().clone(), mode_))
            return fuse(rgb_map, lidar_map, mode_)

        torch.manual_seed(0)
        model = check.build(FusionCNN, mode, fuse_fn=spy)
        reference = cnn.FeatureMapFusionLayers(mode, fuse_fn=fuse)   # the same layers, no forward
        try:
            reference.load_state_dict(model.state_dict())
        except RuntimeError:
            check.fail("keep the layers that __init__ builds (rgb_stem, lidar_stem, trunk, head): only write forward")
        for rgb_size in (16, 32):                    # the same grid, then an image larger than the depth map
            rgb, depth = _sensors(rgb_size, rgb_size=rgb_size)
            _no_inherited_forward(check, model, rgb, depth)
            calls.clear()
            try:
                out = check.call(model, rgb, depth, what=f"forward ({mode})")
            except CheckFailed:
                raise
            except Exception as error:  # noqa: BLE001 - name the likely cause
                check.fail(f"forward ({mode}, image {rgb_size}x{rgb_size}, depth map 16x16) raised "
                           f"{type(error).__name__}: {error}. Bring both feature maps to one grid with "
                           "cnn.same_grid(rgb_map, lidar_map) before fusing them")
            check.shape(out, (4, 2), f"forward ({mode}) on a batch of 4")
            if not calls:
                check.fail(f"forward ({mode}) never called self.fuse_fn: fuse the maps with "
                           "self.fuse_fn(rgb_map, lidar_map, self.mode) (notebook 07 passes your fuse there)")
            rgb_map, lidar_map, used_mode = calls[-1]
            check.expect(used_mode == mode, f"{mode}: self.fuse_fn gets self.mode",
                         f"self.fuse_fn was called with mode {used_mode!r}; pass self.mode")
            want_rgb, want_lidar = cnn.same_grid(reference.rgb_stem(cnn.prepare_rgb(rgb)),
                                                 reference.lidar_stem(cnn.prepare_lidar(depth)))
            if rgb_map.shape == want_lidar.shape and torch.allclose(rgb_map, want_lidar, atol=1e-5):
                check.fail("self.fuse_fn got the LiDAR map first; its first argument is the RGB map")
            raw = cnn.same_grid(reference.rgb_stem(rgb), reference.lidar_stem(cnn.densify(depth)))
            if rgb_map.shape == raw[0].shape and torch.allclose(rgb_map, raw[0], atol=1e-5):
                check.fail("the RGB stem got the raw image: prepare the inputs first with "
                           "cnn.prepare_rgb(rgb, self.channels_last) and cnn.prepare_lidar(lidar, self.channels_last)")
            hidden(check, "nb07", "forward_values", mode, rgb_size, (rgb_map, lidar_map), (want_rgb, want_lidar),
                   out, reference)
        out.sum().backward()
        for name in ("rgb_stem", "lidar_stem", "trunk", "head"):
            grads = [p.grad for p in getattr(model, name).parameters()]
            check.expect(all(g is not None and g.abs().sum() > 0 for g in grads), f"{mode}: gradients reach {name}",
                         f"{mode}: no gradient reaches {name}; compute the logits from its output without .detach()")
