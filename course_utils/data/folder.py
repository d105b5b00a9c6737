"""Read and write the reference RGB + LiDAR folder layout (notebook 07)::

    root/
      cubes/   rgb/*.png   lidar/*.npy
      spheres/ rgb/*.png   lidar/*.npy

An image and a depth map form a pair when their file stems match (``cubes/rgb/0042.png`` with
``cubes/lidar/0042.npy``). Class 0 is ``cubes``, class 1 is ``spheres``. PNG files are read and
written with Pillow (installed with matplotlib); nothing here needs torchvision.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .dataset import MultimodalDataset

#: class folder names in label order (0 = cubes, 1 = spheres)
CLASS_FOLDERS = ("cubes", "spheres")
LAYOUT = "root/{cubes,spheres}/{rgb/*.png, lidar/*.npy}"


class FolderLayoutError(ValueError):
    """The folder does not follow the expected layout; the message says what is missing or wrong."""


def find_pairs(root, unpaired: str = "error") -> list:
    """``[(rgb_path, lidar_path, label), ...]`` sorted by class then stem.

    ``unpaired="error"`` (default) raises :class:`FolderLayoutError` naming files without a partner;
    ``"drop"`` skips them (what the reference notebook did silently).
    """
    if unpaired not in ("error", "drop"):
        raise ValueError(f"unpaired must be 'error' or 'drop', got {unpaired!r}")
    root = Path(root)
    if not root.is_dir():
        raise FolderLayoutError(f"data folder {str(root)!r} does not exist; expected the layout {LAYOUT}")
    pairs = []
    for label, name in enumerate(CLASS_FOLDERS):
        rgb_dir, lidar_dir = root / name / "rgb", root / name / "lidar"
        for d in (rgb_dir, lidar_dir):
            if not d.is_dir():
                raise FolderLayoutError(f"missing folder {str(d)!r}; expected the layout {LAYOUT}")
        rgb = {p.stem: p for p in rgb_dir.glob("*.png")}
        lidar = {p.stem: p for p in lidar_dir.glob("*.npy")}
        if not rgb:
            raise FolderLayoutError(f"no .png images in {str(rgb_dir)!r}")
        only_rgb, only_lidar = sorted(set(rgb) - set(lidar)), sorted(set(lidar) - set(rgb))
        if (only_rgb or only_lidar) and unpaired == "error":
            raise FolderLayoutError(
                f"unpaired files in {str(root / name)!r}: {len(only_rgb)} image(s) without a depth map "
                f"(e.g. {only_rgb[:3]}) and {len(only_lidar)} depth map(s) without an image "
                f"(e.g. {only_lidar[:3]}). Pairs are matched by file stem; pass unpaired='drop' to skip them.")
        pairs += [(rgb[s], lidar[s], label) for s in sorted(set(rgb) & set(lidar))]
    return pairs


def read_rgb(path, size: int | None = None) -> np.ndarray:
    """One PNG as ``(3, S, S)`` float32 in [0, 1] (resized to ``size`` if given; alpha dropped)."""
    from PIL import Image
    with Image.open(path) as image:
        image = image.convert("RGB")
        if size is not None and image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0


def read_depth(path, shape: tuple | None = (64, 64)) -> np.ndarray:
    """One ``.npy`` depth map as ``(1, H, W)`` float32; raises if its shape is not ``shape``."""
    depth = np.load(path)
    if depth.ndim == 3 and depth.shape[0] == 1:
        depth = depth[0]
    if depth.ndim != 2 or (shape is not None and tuple(depth.shape) != tuple(shape)):
        raise FolderLayoutError(f"depth map {str(path)!r} has shape {depth.shape}, expected {tuple(shape)} "
                                "(pass depth_shape=None to accept any 2-D map of one common shape)")
    return depth.astype(np.float32)[None]


def load_folder(root, *, rgb_size: int | None = 64, depth_shape: tuple | None = (64, 64),
                train_fraction: float = 0.8, seed: int = 0, unpaired: str = "error", limit: int | None = None):
    """Load the reference layout into memory and split it: returns ``(train, val)`` datasets.

    Args:
        root: folder holding ``cubes/`` and ``spheres/``.
        rgb_size: images are resized to ``(3, rgb_size, rgb_size)`` (``None`` keeps the size; all must match).
        depth_shape: the expected shape of every depth map (``(64, 64)`` in the reference data).
        train_fraction, seed: a seeded split, stratified by class (same seed, same split).
        unpaired: see :func:`find_pairs`.
        limit: keep at most this many pairs per class (the first ones by stem) for quick runs.
    Returns:
        ``(train, val)`` :class:`MultimodalDataset` with modalities ``("rgb", "lidar")``:
        rgb ``(N, 3, S, S)`` float32 in [0, 1], lidar ``(N, 1, H, W)`` float32.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    pairs = find_pairs(root, unpaired)
    if limit is not None:
        pairs = [p for c in range(len(CLASS_FOLDERS)) for p in [q for q in pairs if q[2] == c][:limit]]
    rgb = [read_rgb(p, rgb_size) for p, _, _ in pairs]
    if len({r.shape for r in rgb}) > 1:
        raise FolderLayoutError(f"images have different sizes {sorted({r.shape for r in rgb})}; pass rgb_size")
    depth = [read_depth(p, depth_shape) for _, p, _ in pairs]
    if len({d.shape for d in depth}) > 1:
        raise FolderLayoutError(f"depth maps have different shapes {sorted({d.shape for d in depth})}")
    labels = np.array([label for _, _, label in pairs], dtype=np.int64)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in range(len(CLASS_FOLDERS)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = int(round(train_fraction * len(idx)))
        train_idx.append(idx[:cut])
        val_idx.append(idx[cut:])
    data = MultimodalDataset((torch.from_numpy(np.stack(rgb)), torch.from_numpy(np.stack(depth))),
                             torch.from_numpy(labels), names=("rgb", "lidar"), num_classes=2)
    train, val = (torch.from_numpy(np.sort(np.concatenate(i))) for i in (train_idx, val_idx))
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"a split of {len(labels)} pairs at {train_fraction} leaves one side empty")
    return data[train], data[val]


def export_folder(data: MultimodalDataset, root, *, overwrite: bool = False) -> Path:
    """Write ``data`` (modalities rgb ``(N, 3, S, S)`` in [0, 1] and lidar ``(N, 1, H, W)``) in the layout.

    Images become 8-bit PNGs (so values are rounded to multiples of 1/255), depth maps ``(H, W)`` float32
    ``.npy`` files; sample ``i`` is stored under the stem ``f"{i:06d}"``. Returns ``root``.
    """
    if not isinstance(data, MultimodalDataset) or len(data.modalities) != 2:
        raise TypeError("data must be a MultimodalDataset with two modalities (rgb, lidar)")
    rgb, depth = (m.detach().cpu() for m in data.modalities)
    if rgb.dim() != 4 or rgb.shape[1] != 3 or depth.dim() != 4 or depth.shape[1] != 1:
        raise ValueError(f"expected rgb (N, 3, S, S) and lidar (N, 1, H, W), got {tuple(rgb.shape)} "
                         f"and {tuple(depth.shape)}")
    if data.num_classes != len(CLASS_FOLDERS):
        raise ValueError(f"the layout has {len(CLASS_FOLDERS)} classes, the data {data.num_classes}")
    root = Path(root)
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{str(root)!r} is not empty; pass overwrite=True or choose an empty folder")
    from PIL import Image
    images = (rgb.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    depth = depth[:, 0].numpy().astype(np.float32)
    for name in CLASS_FOLDERS:
        (root / name / "rgb").mkdir(parents=True, exist_ok=True)
        (root / name / "lidar").mkdir(parents=True, exist_ok=True)
    for i, label in enumerate(data.labels.tolist()):   # one file per sample: the layout is per file
        folder = root / CLASS_FOLDERS[label]
        Image.fromarray(images[i]).save(folder / "rgb" / f"{i:06d}.png")
        np.save(folder / "lidar" / f"{i:06d}.npy", depth[i])
    return root
