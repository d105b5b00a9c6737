"""Rendered cubes and spheres seen by a camera (RGB) and a LiDAR (depth map) (notebook 07).

Every sample is one object, a cube or a sphere, in front of a wall. Both sensors look along the same
axis (an orthographic camera and a LiDAR registered to it), so pixel ``(i, j)`` of the depth map
looks at the same spot as the matching region of the image. Everything is vectorised over samples
and pixels with NumPy (no per-sample Python loop) and deterministic for a seed.

Camera: Lambertian + Blinn-Phong shading with a random light direction, random object and wall
colours, a shading ramp and texture on the wall, an exposure level and Gaussian sensor noise;
optionally a blob on the lens (dirt, glare) that hides part of the scene.

LiDAR: the range (distance along the viewing axis) of the first surface each beam hits, on a
``depth_size x depth_size`` grid; only every ``ring_step``-th row is a scan line (sparse returns),
each return drops out with probability ``dropout`` and at grazing incidence, surviving ranges get
Gaussian noise, and "no return" is 0.

Difficulty (``PRESETS``): in each scene each sensor is independently *degraded* with some
probability: the camera at night (tiny exposure, strong noise, lens blob), the LiDAR in spray
(most returns lost, noisy ranges, clutter). ``"easy"`` never degrades a sensor, so either modality
alone solves the task (as in the reference data set); ``"default"`` degrades each sensor in a third
of the scenes, so each modality alone is clearly imperfect and a model that uses both can do better.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from .dataset import MultimodalDataset

#: class index -> name (the reference folder layout uses the plurals, see ``course_utils.data.folder``)
CLASSES = ("cube", "sphere")

#: sensor settings per difficulty; see ``render_shapes`` for what each knob does
PRESETS = {
    "easy": dict(camera_fail_prob=0.0, lidar_fail_prob=0.0, image_noise=0.02, exposure=(0.8, 1.0),
                 occlusion_prob=0.0, ring_step=1, dropout=0.05, range_noise=0.01, clutter=0.0),
    "default": dict(camera_fail_prob=0.3, lidar_fail_prob=0.3, image_noise=0.03, exposure=(0.7, 1.0),
                    occlusion_prob=0.0, ring_step=2, dropout=0.1, range_noise=0.02, clutter=0.0),
}
#: what a degraded sensor looks like (applied per scene with the preset's ``*_fail_prob``)
DEGRADED = dict(night_exposure=(0.02, 0.06), night_noise=0.12, lidar_dropout=0.93,
                lidar_range_noise=0.3, lidar_clutter=0.05)

_SENSOR_DEPTH = 4.0      # distance from the sensors to the object centre
_MAX_CHUNK = 1024        # samples rendered at once (bounds memory; results do not depend on it)


@dataclass
class ShapesBatch:
    """Rendered samples as NumPy arrays.

    Attributes:
        rgb: ``(N, 3, S, S)`` float32 in [0, 1].
        depth: ``(N, 1, D, D)`` float32 ranges, 0 where the LiDAR got no return.
        labels: ``(N,)`` int64, 0 = cube, 1 = sphere.
        camera_ok, lidar_ok: ``(N,)`` bool, False where that sensor was degraded in the scene.
    """

    rgb: np.ndarray
    depth: np.ndarray
    labels: np.ndarray
    camera_ok: np.ndarray
    lidar_ok: np.ndarray

    def to_dataset(self) -> MultimodalDataset:
        """The samples as a :class:`MultimodalDataset` with modalities ``("rgb", "lidar")``."""
        return MultimodalDataset((torch.from_numpy(self.rgb), torch.from_numpy(self.depth)),
                                 torch.from_numpy(self.labels), names=("rgb", "lidar"), num_classes=2)

    def __len__(self) -> int:
        return len(self.labels)


def _settings(difficulty: str, overrides: dict) -> dict:
    if difficulty not in PRESETS:
        raise ValueError(f"difficulty must be one of {sorted(PRESETS)}, got {difficulty!r}")
    settings = dict(PRESETS[difficulty])
    unknown = set(overrides) - set(settings)
    if unknown:
        raise TypeError(f"unknown sensor setting(s) {sorted(unknown)}; known: {sorted(settings)}")
    settings.update(overrides)
    for key in ("camera_fail_prob", "lidar_fail_prob", "occlusion_prob", "dropout", "clutter"):
        if not 0.0 <= settings[key] <= 1.0:
            raise ValueError(f"{key} must lie in [0, 1], got {settings[key]}")
    if not (isinstance(settings["ring_step"], int) and settings["ring_step"] >= 1):
        raise ValueError(f"ring_step must be a positive int, got {settings['ring_step']!r}")
    return settings


def _rotations(spin: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """``R = R_z(spin) R_x(tilt_x) R_y(tilt_y)`` for angles ``spin (N,)`` and ``tilt (N, 2)``: ``(N, 3, 3)``."""
    def rot(angle, i, j):
        m = np.tile(np.eye(3), (len(angle), 1, 1))
        c, s = np.cos(angle), np.sin(angle)
        m[:, i, i], m[:, j, j], m[:, i, j], m[:, j, i] = c, c, -s, s
        return m
    return rot(spin, 0, 1) @ rot(tilt[:, 0], 1, 2) @ rot(tilt[:, 1], 2, 0)


def _grid(size: int):
    """Pixel centres in [-1, 1]: u to the right, v up; each ``(size, size)``."""
    c = ((np.arange(size) + 0.5) / size * 2 - 1).astype(np.float32)
    u, v = np.meshgrid(c, -c)
    return u, v


def _intersect(scene: dict, size: int):
    """Ray-cast every pixel of every scene along -z.

    Returns ``hit (N, S, S)`` bool, ``t (N, S, S)`` range to the object (inf where missed) and
    ``normal (N, S, S, 3)`` world-space unit normals (meaningless where missed).
    """
    u, v = _grid(size)
    n = len(scene["radius"])
    hit = np.zeros((n, size, size), bool)
    t = np.full((n, size, size), np.inf, np.float32)
    normal = np.zeros((n, size, size, 3), np.float32)
    col = lambda x: x.astype(np.float32)[:, None, None]  # noqa: E731  (n,) -> (n, 1, 1)
    # each pixel's ray starts on the sensor plane z = 0; o = ray origin minus the object centre
    sph = np.flatnonzero(scene["is_sphere"])
    if len(sph):
        c, r = scene["centre"][sph], col(scene["radius"][sph])
        ox, oy = u[None] - col(c[:, 0]), v[None] - col(c[:, 1])
        d2 = ox ** 2 + oy ** 2
        zs = np.sqrt(np.clip(r ** 2 - d2, 0, None))
        hit[sph] = d2 < r ** 2
        t[sph] = np.where(hit[sph], -col(c[:, 2]) - zs, np.inf)       # |o + t (0, 0, -1)| = r
        normal[sph] = np.stack([ox / r, oy / r, zs / r], -1)
    cub = np.flatnonzero(~scene["is_sphere"])
    if len(cub):
        # slab test in the cube's own frame: o' = R^T o, d' = R^T (0, 0, -1)
        c, a, rot = scene["centre"][cub], col(scene["half_side"][cub]), scene["rot"][cub].astype(np.float32)
        ox, oy, oz = u[None] - col(c[:, 0]), v[None] - col(c[:, 1]), -col(c[:, 2])
        t_near_axes, t_far_axes, d_local = [], [], -rot[:, 2, :]
        d_local = np.where(np.abs(d_local) < 1e-6, 1e-6, d_local)
        for i in range(3):  # the three slabs (axes), not samples
            o_i = rot[:, 0, i, None, None] * ox + rot[:, 1, i, None, None] * oy + rot[:, 2, i, None, None] * oz
            t1, t2 = (-a - o_i) / col(d_local[:, i]), (a - o_i) / col(d_local[:, i])
            t_near_axes.append(np.minimum(t1, t2))
            t_far_axes.append(np.maximum(t1, t2))
        t_near_axes = np.stack(t_near_axes, -1)
        t_near, t_far = t_near_axes.max(-1), np.minimum(np.minimum(*t_far_axes[:2]), t_far_axes[2])
        hit[cub] = t_near <= t_far
        t[cub] = np.where(hit[cub], t_near, np.inf)
        # the face entered is the slab with the largest t_near; its world normal is that column of R,
        # signed to face the ray
        axis = t_near_axes.argmax(-1)                                               # (m, S, S)
        columns = rot.transpose(0, 2, 1) * -np.sign(d_local)[:, :, None]          # (m, axis, xyz)
        normal[cub] = columns[np.arange(len(cub))[:, None, None], axis]
    return hit, t, normal


def _draw_scenes(rng: np.random.Generator, n: int, s: dict) -> dict:
    """Every random choice of ``n`` scenes (pose, colours, light, sensor conditions)."""
    labels = rng.integers(0, 2, n)
    radius = rng.uniform(0.45, 0.7, n)
    spin, tilt = rng.uniform(0, np.pi / 2, n), rng.uniform(-0.4, 0.4, (n, 2))   # a cube faces the sensors, tilted
    centre = np.stack([rng.uniform(-0.2, 0.2, n), rng.uniform(-0.2, 0.2, n),
                       -_SENSOR_DEPTH + rng.uniform(-0.3, 0.3, n)], 1)
    light = np.stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(0.4, 1.2, n)], 1)
    hue = rng.uniform(0, 1, (n, 2))
    sat = rng.uniform(0.2, 0.9, (n, 2))
    val = rng.uniform(0.35, 1.0, (n, 2))
    camera_ok = rng.random(n) >= s["camera_fail_prob"]
    lidar_ok = rng.random(n) >= s["lidar_fail_prob"]
    return dict(
        labels=labels, is_sphere=labels == 1, radius=radius,
        half_side=radius * rng.uniform(0.75, 0.9, n),    # similar apparent size for both shapes
        rot=_rotations(spin, tilt), centre=centre, light=light / np.linalg.norm(light, axis=1, keepdims=True),
        ambient=rng.uniform(0.15, 0.35, n), specular=rng.uniform(0.0, 0.4, n),
        colour=_hsv_to_rgb(hue, sat, val),                  # (n, 2, 3): object, wall
        wall_depth=_SENSOR_DEPTH + rng.uniform(1.0, 1.8, n), wall_tilt=rng.uniform(-0.3, 0.3, (n, 2)),
        wall_ramp=rng.uniform(-0.25, 0.25, (n, 2)), wall_texture=rng.uniform(0.0, 0.15, n),
        texture_freq=rng.uniform(2, 6, (n, 2)), texture_phase=rng.uniform(0, 2 * np.pi, (n, 2)),
        camera_ok=camera_ok, lidar_ok=lidar_ok,
        exposure=np.where(camera_ok, rng.uniform(*s["exposure"], n), rng.uniform(*DEGRADED["night_exposure"], n)),
        image_noise=np.where(camera_ok, s["image_noise"], DEGRADED["night_noise"]),
        occluded=rng.random(n) < np.where(camera_ok, s["occlusion_prob"], 1.0),
        blob=np.concatenate([centre[:, :2] + rng.uniform(-0.25, 0.25, (n, 2)),
                             rng.uniform(0.25, 0.5, (n, 2)), rng.uniform(0.1, 0.9, (n, 1))], 1),
        dropout=np.where(lidar_ok, s["dropout"], DEGRADED["lidar_dropout"]),
        range_noise=np.where(lidar_ok, s["range_noise"], DEGRADED["lidar_range_noise"]),
        clutter=np.where(lidar_ok, s["clutter"], DEGRADED["lidar_clutter"]),
        ring_offset=rng.integers(0, s["ring_step"], n),
    )


def _hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB; inputs of any equal shape, output with a trailing axis of 3."""
    k = np.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], -1)
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def _render_rgb(scene: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    hit, _, normal = _intersect(scene, size)
    n = len(hit)
    light = scene["light"][:, None, None, :]
    diffuse = np.clip((normal * light).sum(-1), 0, None)
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    nh = np.clip((normal * half).sum(-1), 0, None)
    nh4 = (nh * nh) ** 2
    spec = scene["specular"][:, None, None] * nh4 * (nh4 * nh4) ** 2             # (n . h)^20
    amb = scene["ambient"][:, None, None]
    obj = scene["colour"][:, 0, None, None, :] * (amb + (1 - amb) * diffuse)[..., None] + spec[..., None]
    u, v = _grid(size)
    wall_shade = amb + (1 - amb) * scene["light"][:, 2, None, None]
    ramp = scene["wall_ramp"]
    wall_shade = wall_shade + ramp[:, 0, None, None] * u + ramp[:, 1, None, None] * v
    f, p = scene["texture_freq"], scene["texture_phase"]
    c = u[:1]                                                            # (1, S): u along a row
    texture = (np.sin(f[:, 0, None, None] * np.pi * c + p[:, 0, None, None])                # (n, 1, S)
               * np.sin(f[:, 1, None, None] * np.pi * -c.T + p[:, 1, None, None]))          # (n, S, 1)
    wall_shade = wall_shade + scene["wall_texture"][:, None, None] * texture
    wall = scene["colour"][:, 1, None, None, :] * wall_shade[..., None]
    img = np.where(hit[..., None], obj, wall)
    # a blob on the lens (dirt or glare): an ellipse of flat grey in front of everything
    b = scene["blob"]
    inside = (((u - b[:, 0, None, None]) / b[:, 2, None, None]) ** 2
              + ((v - b[:, 1, None, None]) / b[:, 3, None, None]) ** 2) < 1
    inside &= scene["occluded"][:, None, None]
    img = np.where(inside[..., None], b[:, 4, None, None, None], img)
    img = img * scene["exposure"][:, None, None, None]
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * scene["image_noise"][:, None, None, None]
    return np.clip(img, 0, 1).transpose(0, 3, 1, 2).astype(np.float32)


def _render_depth(scene: dict, size: int, ring_step: int, rng: np.random.Generator) -> np.ndarray:
    hit, t, normal = _intersect(scene, size)
    u, v = _grid(size)
    tilt = scene["wall_tilt"]
    wall = scene["wall_depth"][:, None, None] + tilt[:, 0, None, None] * u + tilt[:, 1, None, None] * v
    rng_map = np.where(hit, t, wall)
    # no return at grazing incidence (the beam glances off) or by random dropout
    grazing = hit & (np.abs(normal[..., 2]) < 0.15)
    keep = (rng.random(hit.shape, dtype=np.float32) >= scene["dropout"][:, None, None]) & ~grazing
    rows = np.arange(size)[None, :, None]
    keep &= (rows % ring_step) == scene["ring_offset"][:, None, None]
    noisy = rng_map + rng.standard_normal(hit.shape, dtype=np.float32) * scene["range_noise"][:, None, None]
    clutter = rng.random(hit.shape, dtype=np.float32) < scene["clutter"][:, None, None]
    noisy = np.where(clutter, rng.uniform(0.5, _SENSOR_DEPTH + 2, hit.shape).astype(np.float32), noisy)
    depth = np.where(keep | clutter, np.clip(noisy, 0.05, None), 0.0)
    return depth[:, None].astype(np.float32)


def render_shapes(n: int, *, difficulty: str = "default", rgb_size: int = 32, depth_size: int = 32,
                  seed: int = 0, **overrides) -> ShapesBatch:
    """Render ``n`` paired (RGB, depth) samples of cubes and spheres.

    Args:
        n: number of samples (classes are drawn with equal probability).
        difficulty: a key of ``PRESETS`` ("default" or "easy").
        rgb_size: image side ``S``; images are ``(3, S, S)``.
        depth_size: depth-map side ``D`` (the reference data uses 64); maps are ``(1, D, D)``.
        seed: the same seed gives the same samples.
        **overrides: replace preset settings: ``camera_fail_prob``, ``lidar_fail_prob`` (chance a
            scene degrades that sensor), ``image_noise`` (std of camera noise), ``exposure``
            ``(low, high)``, ``occlusion_prob`` (lens blob in a good camera scene), ``ring_step``
            (keep every k-th LiDAR row), ``dropout`` (chance a return is lost), ``range_noise``
            (std of range error), ``clutter`` (chance of a spurious return).
    Returns:
        :class:`ShapesBatch` (NumPy arrays; ``.to_dataset()`` gives a :class:`MultimodalDataset`).
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    for name, size in (("rgb_size", rgb_size), ("depth_size", depth_size)):
        if not isinstance(size, (int, np.integer)) or size < 8:
            raise ValueError(f"{name} must be an int >= 8, got {size!r}")
    settings = _settings(difficulty, overrides)
    rng = np.random.default_rng(seed)
    scene = {k: v.astype(np.float32) if v.dtype == np.float64 else v
             for k, v in _draw_scenes(rng, n, settings).items()}
    # pixel noise from independent streams per fixed-size chunk: deterministic, bounded memory
    noise_seeds = np.random.SeedSequence([seed, n]).spawn((n + _MAX_CHUNK - 1) // _MAX_CHUNK)
    rgb, depth = [], []
    for start, ss in zip(range(0, n, _MAX_CHUNK), noise_seeds):
        part = {k: v[start:start + _MAX_CHUNK] for k, v in scene.items()}
        chunk_rng = np.random.default_rng(ss)
        rgb.append(_render_rgb(part, rgb_size, chunk_rng))
        depth.append(_render_depth(part, depth_size, settings["ring_step"], chunk_rng))
    return ShapesBatch(np.concatenate(rgb), np.concatenate(depth), scene["labels"].astype(np.int64),
                       scene["camera_ok"], scene["lidar_ok"])


def make_shapes(n: int, *, difficulty: str = "default", rgb_size: int = 32, depth_size: int = 32,
                seed: int = 0, **overrides) -> MultimodalDataset:
    """``render_shapes(...)`` as a :class:`MultimodalDataset`: rgb ``(N, 3, S, S)``, lidar ``(N, 1, D, D)``."""
    return render_shapes(n, difficulty=difficulty, rgb_size=rgb_size, depth_size=depth_size,
                         seed=seed, **overrides).to_dataset()
