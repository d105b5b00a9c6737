"""RGB + LiDAR input pipelines: the reference's files-on-disk DataLoader against the course's in-memory one.

    python benchmarks/rgb_lidar_pipeline.py [--pairs 2000] [--rgb-size 64] [--depth-size 64] [--epochs 2]
                                            [--workers 0 2] [--device cpu] [--threads 1]

Same data and model for both: ``--pairs`` rendered cubes/spheres written in the reference layout
(``{cubes,spheres}/{rgb/*.png, lidar/*.npy}``) and the embedding-concatenation CNN of notebook 07, Adam, batch 32.

- reference: a ``Dataset`` that opens one PNG with Pillow and one ``.npy`` per sample, a ``DataLoader``
  (batch 32, shuffled, ``--workers`` processes), ``loss.item()`` every step, as in the reference notebook;
- course: ``load_folder`` decodes every file once (timed separately: a one-off cost), then
  ``course_utils.training.fit`` trains on the in-memory tensors, batches by index, no per-step sync.

Reports training samples per second (median over epochs after one warm-up epoch), wall and process CPU
time, and the ratio course / reference. Writes ``benchmarks/results/rgb_lidar_pipeline.json``. On a
shared machine compare the numbers of one run with each other, not across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.data.folder import export_folder, find_pairs, load_folder  # noqa: E402
from course_utils.data.dataset import MultimodalDataset  # noqa: E402
from course_utils.data.shapes import make_shapes  # noqa: E402
from course_utils.models.cnn import EmbeddingConcatCNN  # noqa: E402
from course_utils.training import fit  # noqa: E402

BATCH = 32


class FilesDataset(torch.utils.data.Dataset):
    """The reference's pipeline: decode one PNG and one .npy per sample, on every access."""

    def __init__(self, pairs, rgb_size):
        self.pairs, self.rgb_size = pairs, rgb_size

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        from PIL import Image
        rgb_path, lidar_path, label = self.pairs[i]
        with Image.open(rgb_path) as image:
            image = image.convert("RGB")
            if image.size != (self.rgb_size, self.rgb_size):
                image = image.resize((self.rgb_size, self.rgb_size), Image.BILINEAR)
            rgb = torch.from_numpy(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0)
        lidar = torch.from_numpy(np.load(lidar_path).astype(np.float32))[None]
        return rgb, lidar, torch.tensor(label)


def reference_epochs(pairs, rgb_size, epochs, workers, device):
    torch.manual_seed(0)
    model = EmbeddingConcatCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = torch.utils.data.DataLoader(FilesDataset(pairs, rgb_size), batch_size=BATCH, shuffle=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    times = []
    for _ in range(epochs + 1):                      # the first epoch is a warm-up
        start = time.perf_counter()
        model.train()
        total = 0.0
        for rgb, lidar, y in loader:
            rgb, lidar, y = rgb.to(device), lidar.to(device), y.to(device)
            loss = F.cross_entropy(model(rgb, lidar), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)           # a host sync per step, as in the reference
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times[1:]


def course_epochs(root, rgb_size, depth_size, epochs, batch_size, device):
    start = time.perf_counter()
    a, b = load_folder(root, rgb_size=rgb_size, depth_shape=(depth_size, depth_size), train_fraction=0.5)
    train = MultimodalDataset(tuple(torch.cat([x, y]) for x, y in zip(a.modalities, b.modalities)),
                              torch.cat([a.labels, b.labels]), a.names, a.num_classes)   # every pair
    load_s = time.perf_counter() - start
    torch.manual_seed(0)
    model = EmbeddingConcatCNN()
    history = fit(model, train, None, epochs=epochs + 1, lr=3e-3, batch_size=batch_size, device=device,
                  progress=False)
    return history.epoch_time[1:], load_s, len(train)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--rgb-size", type=int, default=64)
    parser.add_argument("--depth-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fair on a shared CPU)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rgb_lidar_pipeline.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = {"machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                           "cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": args.threads,
                           "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(0),
                           "load_average": os.getloadavg()},
               "settings": {"pairs": args.pairs, "rgb_size": args.rgb_size, "depth_size": args.depth_size,
                            "batch": BATCH, "timed_epochs": args.epochs, "model": "EmbeddingConcatCNN"},
               "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_shapes(args.pairs, rgb_size=args.rgb_size, depth_size=args.depth_size, seed=0)
        root = export_folder(data, Path(tmp) / "assessment")
        pairs = find_pairs(root)
        for workers in args.workers:
            cpu0 = time.process_time()
            times = reference_epochs(pairs, args.rgb_size, args.epochs, workers, device)
            epoch_s = statistics.median(times)
            results["runs"][f"reference_dataloader_workers{workers}"] = {
                "epoch_s": times, "samples_per_s": len(pairs) / epoch_s,
                "process_cpu_s_this_process": time.process_time() - cpu0}
        for batch_size in (BATCH, 128):
            cpu0 = time.process_time()
            times, load_s, n = course_epochs(root, args.rgb_size, args.depth_size, args.epochs, batch_size, device)
            results["runs"][f"course_in_memory_batch{batch_size}"] = {
                "epoch_s": times, "samples_per_s": n / statistics.median(times), "one_off_load_s": load_s,
                "process_cpu_s_this_process": time.process_time() - cpu0}
    runs = results["runs"]
    best_reference = max(v["samples_per_s"] for k, v in runs.items() if k.startswith("reference"))
    results["ratio_course_batch32_vs_best_reference"] = runs[f"course_in_memory_batch{BATCH}"]["samples_per_s"] / best_reference
    results["ratio_course_batch128_vs_best_reference"] = runs["course_in_memory_batch128"]["samples_per_s"] / best_reference
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for name, run in runs.items():
        extra = f", one-off load {run['one_off_load_s']:.1f} s" if "one_off_load_s" in run else ""
        print(f"{name:38s} {run['samples_per_s']:8.0f} samples/s{extra}")
    print(f"ratio course/reference at batch 32: {results['ratio_course_batch32_vs_best_reference']:.2f}x, "
          f"course at batch 128: {results['ratio_course_batch128_vs_best_reference']:.2f}x")


if __name__ == "__main__":
    main()
