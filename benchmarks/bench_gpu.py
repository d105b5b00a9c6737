"""Benchmark 5 (needs CUDA): training throughput of the RGB + LiDAR CNNs (notebook 07) on a GPU.

- ``fit`` (data resident on the GPU, batches by index, bf16/fp16 autocast, channels-last, fused AdamW),
  eager and with ``compile=True``;
- the reference pipeline on the same GPU: a per-sample ``Dataset`` on the host, a ``DataLoader``,
  ``.to(device)`` per batch, fp32, Adam, ``loss.item()`` per step;
- samples per second of each, the training step's achieved FLOP/s (FLOPs counted with
  ``torch.utils.flop_counter`` for one forward + backward) as a fraction of the GPU's dense peak,
  and a ``torch.profiler`` table of where the time goes (``benchmarks/results/gpu_profile.txt``).

On a machine without CUDA the harness skips it; ``run(device="cpu", quick=True)`` exercises the code.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from course_utils.data.dataset import MultimodalDataset
from course_utils.training import fit

from .reference import _Samples

RESULTS = Path(__file__).resolve().parent / "results"

#: dense (no sparsity) bf16 tensor-core peak in TFLOP/s, by a substring of the device name
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0,
                    "H100": 756.0, "A100": 312.0, "L4": 121.0, "A10G": 70.0, "T4": 65.0, "V100": 125.0}


def peak_tflops(device: torch.device) -> tuple[float | None, str]:
    if device.type != "cuda":
        return None, "no CUDA device"
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value, name
    return None, name


def shapes_data(n: int, size: int, seed: int = 0) -> MultimodalDataset:
    """The notebook 07 renderer when available, else random tensors of the same shapes (throughput
    does not depend on the pixel values)."""
    try:
        from course_utils.data.shapes import make_shapes
        return make_shapes(n, rgb_size=size, depth_size=size, seed=seed)
    except ImportError:
        gen = torch.Generator().manual_seed(seed)
        return MultimodalDataset((torch.rand(n, 3, size, size, generator=gen),
                                  torch.rand(n, 1, size, size, generator=gen)),
                                 torch.randint(0, 2, (n,), generator=gen), ("rgb", "lidar"), 2)


def models():
    from course_utils.models.cnn import EmbeddingConcatCNN, IntermediateFusionCNN
    return {"embedding concat": EmbeddingConcatCNN, "feature-map concat": lambda: IntermediateFusionCNN("concat")}


def reference_throughput(model: nn.Module, data: MultimodalDataset, device, batch_size: int, epochs: int) -> float:
    """Samples/s of the reference pipeline (last epoch): host Dataset + DataLoader, fp32, Adam."""
    loader = torch.utils.data.DataLoader(_Samples(data), batch_size=batch_size, shuffle=True)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rate = 0.0
    for _ in range(epochs):
        start, seen, total = time.perf_counter(), 0, 0.0
        for *inputs, y in loader:
            inputs, y = [x.to(device) for x in inputs], y.to(device)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(*inputs), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
            seen += len(y)
        rate = seen / (time.perf_counter() - start)
    return rate


def flops_per_sample(model: nn.Module, data: MultimodalDataset, device, batch_size: int) -> float:
    """Forward + backward FLOPs of one training step, per sample (matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode
    model.to(device).train()
    batch = [m[:batch_size].to(device) for m in data.modalities]
    with FlopCounterMode(display=False) as counter:
        loss = nn.functional.cross_entropy(model(*batch), data.labels[:batch_size].to(device))
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch_size


def profile_table(model: nn.Module, data: MultimodalDataset, device, batch_size: int, rows: int = 20) -> str:
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fit(model, data, epochs=1, batch_size=batch_size, device=device, progress=False)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def run(device: str | None = None, quick: bool = False, results_dir: Path = RESULTS,
        compile_too: bool | None = None) -> dict:
    """``compile_too``: also time ``fit(compile=True)`` (default: on CUDA only; compiling for a CPU
    takes minutes on a small machine)."""
    device = torch.device(device or "cuda")
    compile_too = device.type == "cuda" if compile_too is None else compile_too
    if device.type == "cuda" and not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    n, size, batch, epochs = (256, 16, 64, 2) if quick else (16384, 64, 256, 3)
    train = shapes_data(n, size)
    peak, name = peak_tflops(device)
    out = {"device": name, "n": n, "image_size": size, "batch_size": batch, "epochs": epochs,
           "peak_bf16_tflops": peak, "models": {}}
    for label, make in models().items():
        torch.manual_seed(0)
        h = fit(make(), train, epochs=epochs, batch_size=batch, device=device, progress=False)
        row = {"fit_samples_per_s": h.throughput[-1], "precision": h.precision,
               "channels_last": h.channels_last, "peak_memory_mb": h.peak_memory_mb}
        if compile_too:
            torch.manual_seed(0)
            hc = fit(make(), train, epochs=epochs, batch_size=batch, device=device, progress=False, compile=True)
            row.update(compiled=hc.compiled, fit_compiled_samples_per_s=hc.throughput[-1])
        torch.manual_seed(0)
        row["reference_samples_per_s"] = reference_throughput(make(), train, device, batch, epochs)
        row["speedup_fit_vs_reference"] = row["fit_samples_per_s"] / row["reference_samples_per_s"]
        fps = flops_per_sample(make(), train, device, batch)
        best = max(row["fit_samples_per_s"], row.get("fit_compiled_samples_per_s", 0.0))
        row["train_flops_per_sample"] = fps
        row["achieved_tflops"] = fps * best / 1e12
        row["fraction_of_peak"] = row["achieved_tflops"] / peak if peak else None
        out["models"][label] = row
    first = next(iter(models().values()))
    table = profile_table(first(), train, device, batch)
    results_dir.mkdir(parents=True, exist_ok=True)
    profile_path = results_dir / ("gpu_profile.txt" if device.type == "cuda" else "gpu_profile_cpu_dryrun.txt")
    profile_path.write_text(table + "\n")
    out["profile"] = str(profile_path)
    return out
