"""Where the course runs: device choice, seeds, Colab detection, an environment report."""
from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch


def get_device(prefer: str | None = None) -> torch.device:
    """The fastest available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` ("cpu", "cuda", "mps") forces a choice; the environment variable
    ``COURSE_DEVICE`` does the same for a whole run (CI sets nothing and gets the CPU here).
    """
    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice:
        if choice not in {"cpu", "cuda", "mps"}:
            raise ValueError(f"device must be 'cpu', 'cuda' or 'mps', got {choice!r}")
        if choice == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for but torch.cuda.is_available() is False")
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and PyTorch (all devices) so a run repeats exactly on CPU."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def environment_report() -> dict:
    """A short description of this environment, for notebook 00 and for bug reports."""
    device = get_device()
    report = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "cpu threads": torch.get_num_threads(),
        "colab": in_colab(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        report["gpu"] = props.name
        report["gpu memory (GiB)"] = round(props.total_memory / 2**30, 1)
        report["bf16 supported"] = torch.cuda.is_bf16_supported()
    return report


def quiet() -> bool:
    """True under tests, grading and CI, where progress bars and live widgets would only clutter logs."""
    return bool(os.environ.get("COURSE_QUIET") or os.environ.get("CI"))


def seeds(default=(0, 1, 2)) -> list[int]:
    """The seeds a notebook's multi-seed claims run on: ``default``, or ``COURSE_SEEDS`` when it is set.

    ``COURSE_SEEDS="3,4,5"`` replaces every notebook's seed list for one run, so anyone can check that the
    asserted claims hold on seeds nobody chose. Returns a list of non-negative ints (at least one).
    """
    text = os.environ.get("COURSE_SEEDS", "").strip()
    if not text:
        values = list(default)
    else:
        try:
            values = [int(part) for part in text.replace(" ", "").split(",") if part != ""]
        except ValueError:
            raise ValueError(f"COURSE_SEEDS must be comma-separated non-negative integers such as '3,4,5', "
                             f"got {text!r}") from None
    if not values or any(not isinstance(v, int) or v < 0 for v in values):
        raise ValueError(f"the seed list must hold at least one non-negative int, got {values!r}"
                         + (" (from COURSE_SEEDS)" if text else ""))
    return values
