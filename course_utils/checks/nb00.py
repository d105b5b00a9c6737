"""Checks for notebook 00 (setup and tour)."""
import torch

from ..feedback import exercise


@exercise("00.standardize", "standardize(x)")
def check_standardize(check, standardize):
    gen = torch.Generator().manual_seed(0)
    x = 3.0 + 2.5 * torch.randn(200, 5, generator=gen) * torch.arange(1, 6)
    out = check.call(standardize, x.clone())
    check.shape(out, tuple(x.shape), "standardize(x)")
    check.close(out.mean(dim=0), torch.zeros(5), "per-feature mean", atol=1e-4,
                hint="Subtract the mean of each feature (column): x.mean(dim=0), not the mean of each row.")
    biased, unbiased = out.std(dim=0, correction=0), out.std(dim=0, correction=1)
    ok = torch.allclose(biased, torch.ones(5), atol=1e-3) or torch.allclose(unbiased, torch.ones(5), atol=1e-3)
    check.expect(ok, "every feature has standard deviation 1",
                 f"each feature should have standard deviation 1, got {biased.tolist()}: divide each column "
                 "by its own standard deviation x.std(dim=0)")
