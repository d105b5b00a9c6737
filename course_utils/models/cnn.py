"""Small CNNs for the RGB + LiDAR task (notebook 07): encoders, unimodal baselines, late fusion and
intermediate fusion of feature maps by concatenation, addition or Hadamard product.

Every classifier is called as ``model(rgb, lidar) -> logits`` with ``rgb (B, 3, H, W)`` and
``lidar (B, 1, D, D)``, so ``course_utils.training.fit`` trains them all the same way. With
``channels_last=True`` the inputs are converted to the channels-last memory format, which makes
convolutions faster on recent GPUs (convert the model too: ``model.to(memory_format=torch.channels_last)``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FUSION_MODES = ("concat", "add", "hadamard")


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution with stride 2, batch norm, ReLU: ``(B, C_in, H, W) -> (B, C_out, H/2, W/2)``."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _prepare(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


class ConvStem(nn.Sequential):
    """``len(widths)`` conv blocks: ``(B, C_in, H, W) -> (B, widths[-1], H / 2^k, W / 2^k)``."""

    def __init__(self, in_channels: int, widths=(16, 32)):
        chans = (in_channels, *widths)
        super().__init__(*[conv_block(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.out_channels = chans[-1]


class CNNEncoder(nn.Module):
    """Conv blocks, global average pooling, a linear layer: ``(B, C_in, H, W) -> (B, embed_dim)``."""

    def __init__(self, in_channels: int, widths=(16, 32, 32), embed_dim: int = 32):
        super().__init__()
        self.stem = ConvStem(in_channels, widths)
        self.proj = nn.Linear(widths[-1], embed_dim)
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.proj(self.stem(x).mean((2, 3))))


class UnimodalCNN(nn.Module):
    """A baseline that sees one sensor only: ``forward(rgb, lidar) -> (B, num_classes)``.

    ``modality`` is 0 for RGB or 1 for LiDAR; the other input is ignored.
    """

    def __init__(self, modality: int, in_channels: int, widths=(16, 32, 32), embed_dim: int = 32,
                 num_classes: int = 2, channels_last: bool = False):
        super().__init__()
        if modality not in (0, 1):
            raise ValueError(f"modality must be 0 (rgb) or 1 (lidar), got {modality!r}")
        self.modality = modality
        self.channels_last = channels_last
        self.encoder = CNNEncoder(in_channels, widths, embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, *modalities: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(_prepare(modalities[self.modality], self.channels_last)))


class LateFusionCNN(nn.Module):
    """Late fusion as in the reference notebooks (and MultiBench): one encoder per sensor, the two
    embeddings concatenated, an MLP head. ``forward(rgb, lidar) -> (B, num_classes)``.

    (In the classic taxonomy "late fusion" means combining *decisions*, e.g. averaging logits; this is
    embedding-level fusion just before the classifier.)
    """

    def __init__(self, widths=(16, 32, 32), embed_dim: int = 32, hidden: int = 32, num_classes: int = 2,
                 rgb_channels: int = 3, lidar_channels: int = 1, channels_last: bool = False):
        super().__init__()
        self.channels_last = channels_last
        self.rgb_encoder = CNNEncoder(rgb_channels, widths, embed_dim)
        self.lidar_encoder = CNNEncoder(lidar_channels, widths, embed_dim)
        self.head = nn.Sequential(nn.Linear(2 * embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, rgb: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        rgb, lidar = _prepare(rgb, self.channels_last), _prepare(lidar, self.channels_last)
        return self.head(torch.cat([self.rgb_encoder(rgb), self.lidar_encoder(lidar)], dim=1))


def fuse(rgb_map: torch.Tensor, lidar_map: torch.Tensor, mode: str) -> torch.Tensor:
    r"""Fuse two aligned feature maps ``(B, C, H, W)`` at every position.

    concat: $[a; b]$ along channels, ``(B, 2C, H, W)``; add: $a + b$; hadamard: $a \odot b$ (both ``(B, C, H, W)``).
    """
    if mode not in FUSION_MODES:
        raise ValueError(f"mode must be one of {FUSION_MODES}, got {mode!r}")
    if rgb_map.shape != lidar_map.shape:
        raise ValueError(f"feature maps must have the same shape, got {tuple(rgb_map.shape)} "
                         f"and {tuple(lidar_map.shape)}")
    if mode == "concat":
        return torch.cat([rgb_map, lidar_map], dim=1)
    if mode == "add":
        return rgb_map + lidar_map
    return rgb_map * lidar_map


class IntermediateFusionCNN(nn.Module):
    """Intermediate fusion: a stem per sensor makes aligned feature maps, ``fuse_fn`` merges them
    position by position, a shared trunk classifies. ``forward(rgb, lidar) -> (B, num_classes)``.

    Both stems end on the same grid (the RGB map is average-pooled to the LiDAR map's size when the
    image is larger), which is what makes a per-position fusion meaningful: the two sensors are
    registered, so position (i, j) of both maps looks at the same spot of the scene.

    ``fuse_fn(rgb_map, lidar_map, mode)`` defaults to :func:`fuse`; notebook 07 passes the learner's.
    """

    def __init__(self, mode: str = "concat", stem_widths=(16, 32), trunk_width: int = 64, num_classes: int = 2,
                 rgb_channels: int = 3, lidar_channels: int = 1, fuse_fn=None, channels_last: bool = False):
        super().__init__()
        if mode not in FUSION_MODES:
            raise ValueError(f"mode must be one of {FUSION_MODES}, got {mode!r}")
        self.mode = mode
        self.channels_last = channels_last
        self.fuse_fn = fuse_fn or fuse
        self.rgb_stem = ConvStem(rgb_channels, stem_widths)
        self.lidar_stem = ConvStem(lidar_channels, stem_widths)
        c = stem_widths[-1]
        self.trunk = conv_block(2 * c if mode == "concat" else c, trunk_width)
        self.head = nn.Linear(trunk_width, num_classes)

    def forward(self, rgb: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        rgb, lidar = _prepare(rgb, self.channels_last), _prepare(lidar, self.channels_last)
        a, b = self.rgb_stem(rgb), self.lidar_stem(lidar)
        if a.shape[-2:] != b.shape[-2:]:
            a = F.adaptive_avg_pool2d(a, b.shape[-2:])
        return self.head(self.trunk(self.fuse_fn(a, b, self.mode)).mean((2, 3)))


def model_zoo(fuse_fn=None, channels_last: bool = False) -> dict:
    """Constructors of every model notebook 07 compares, by name (call one to get a fresh model)."""
    return {
        "rgb only": lambda: UnimodalCNN(0, 3, channels_last=channels_last),
        "lidar only": lambda: UnimodalCNN(1, 1, channels_last=channels_last),
        "late fusion": lambda: LateFusionCNN(channels_last=channels_last),
        "intermediate concat": lambda: IntermediateFusionCNN("concat", fuse_fn=fuse_fn, channels_last=channels_last),
        "intermediate add": lambda: IntermediateFusionCNN("add", fuse_fn=fuse_fn, channels_last=channels_last),
        "intermediate hadamard": lambda: IntermediateFusionCNN("hadamard", fuse_fn=fuse_fn,
                                                               channels_last=channels_last),
    }
