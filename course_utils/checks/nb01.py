"""Checks for notebook 01 (synthetic multimodal data)."""
import torch

from ..feedback import exercise


def _unit(dim, gen):
    u = torch.randn(dim, generator=gen)
    return u / u.norm()


@exercise("01.xor_data", "make_xor_data")
def check_xor_data(check, make_xor_data):
    gen = torch.Generator().manual_seed(1)
    u_img, u_txt = _unit(8, gen), _unit(5, gen)
    n = 4000
    out = check.call(make_xor_data, n, u_img, u_txt, 0.0, torch.Generator().manual_seed(0))
    check.expect(isinstance(out, tuple) and len(out) == 3, "returns (image, text, labels)",
                 f"return a tuple (image, text, labels), got {type(out).__name__}")
    image, text, labels = out
    check.shape(image, (n, 8), "image")
    check.shape(text, (n, 5), "text")
    check.shape(labels, (n,), "labels")
    check.expect(not labels.is_floating_point(), "labels are integers",
                 f"labels should be integer class indices (torch.long), got {labels.dtype}")
    # with noise 0 each row must be exactly +u or -u
    proj_img, proj_txt = image @ u_img, text @ u_txt
    check.close(proj_img.abs(), torch.ones(n), "image along u_img (noise=0)", atol=1e-4,
                hint="With noise=0 each image row should be +u_img (bit 1) or -u_img (bit 0): (2a-1) * u_img.")
    check.close(proj_txt.abs(), torch.ones(n), "text along u_txt (noise=0)", atol=1e-4,
                hint="With noise=0 each text row should be +u_txt or -u_txt: (2b-1) * u_txt.")
    a, b = (proj_img > 0).long(), (proj_txt > 0).long()
    check.expect(0.45 < a.float().mean() < 0.55 and 0.45 < b.float().mean() < 0.55,
                 "bits a and b are balanced", "draw a and b uniformly from {0, 1} (torch.randint(0, 2, ...))")
    check.expect(abs((a == b).float().mean().item() - 0.5) < 0.05, "a and b are independent",
                 "the image bit a and the text bit b must be drawn independently")
    check.expect(bool((labels == (a ^ b)).all()), "labels = a XOR b",
                 f"labels should be a XOR b; they agree with it on {(labels == (a ^ b)).float().mean():.0%} "
                 "of samples (AND or OR is not XOR: XOR is 1 when exactly one bit is 1)")
    # noise: E||x||^2 = 1 + d * noise^2
    sigma = 0.7
    img, txt, _ = check.call(make_xor_data, n, u_img, u_txt, sigma, torch.Generator().manual_seed(0))
    energy = (img ** 2).sum(1).mean().item()
    check.expect(abs(energy - (1 + 8 * sigma ** 2)) < 0.1 * (1 + 8 * sigma ** 2),
                 f"noise has standard deviation {sigma}",
                 f"E||image||^2 should be 1 + d*noise^2 = {1 + 8 * sigma ** 2:.2f}, got {energy:.2f}: add "
                 "noise * torch.randn(...) (noise is a standard deviation, not a variance)")
    again = check.call(make_xor_data, n, u_img, u_txt, sigma, torch.Generator().manual_seed(0))
    check.expect(all(torch.equal(x, y) for x, y in zip((img, txt), again[:2])),
                 "same generator seed gives the same data",
                 "pass generator=generator to every torch.randint / torch.randn call so the data is reproducible")


@exercise("01.unimodal_probe", "UnimodalProbe")
def check_unimodal_probe(check, UnimodalProbe):
    torch.manual_seed(0)
    dims = (6, 4)  # image, text
    for modality in (0, 1):
        probe = check.build(UnimodalProbe, dims[modality], 16, 3, modality)
        x = [torch.randn(5, d, requires_grad=True) for d in dims]
        out = check.call(probe, *x)
        check.shape(out, (5, 3), f"logits (modality={modality})")
        out.sum().backward()
        seen, other = x[modality], x[1 - modality]
        check.expect(seen.grad is not None and seen.grad.abs().sum() > 0,
                     f"gradient reaches modality {modality}",
                     f"the probe with modality={modality} must use modalities[{modality}]")
        check.expect(other.grad is None or other.grad.abs().sum() == 0,
                     f"modality {1 - modality} is ignored",
                     f"a unimodal probe must not look at modality {1 - modality}: use only modalities[self.modality]")
    probe = check.build(UnimodalProbe, 6, 32, 2, 0)
    a, b, t = torch.randn(64, 6), torch.randn(64, 6), torch.randn(64, 4)
    with torch.no_grad():
        gap = (probe(a, t) + probe(b, t) - 2 * probe((a + b) / 2, t)).abs().max().item()
    check.expect(gap > 1e-4, "the probe is nonlinear (an MLP with a hidden layer)",
                 "the probe is affine: put a nonlinearity (e.g. ReLU) between two Linear layers")
