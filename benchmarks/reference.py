"""The reference tutorial's way of doing things, rewritten here as the baseline to measure against.

- data built one sample at a time in a Python loop (the tutorial's ``MultimodalDataset.__init__``),
  for the same distributions the course generates vectorised;
- a ``torch.utils.data.Dataset`` + ``DataLoader`` training loop that reads ``loss.item()`` every
  step and evaluates through a second ``DataLoader``, with Adam;
- the tutorial's early-fusion MLP (48 -> 64 -> 64 -> 3 with dropout 0.2), used by both sides.

Only the *method* is the tutorial's; this code is written for the benchmark.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_utils.data.dataset import MultimodalDataset


# --------------------------------------------------------------------------- data, one sample at a time
def loop_reference_tutorial_data(n: int, img_dim: int = 32, txt_dim: int = 16, noise: float = 0.3,
                                 seed: int = 0) -> MultimodalDataset:
    """Same distribution as ``course_utils.data.make_reference_tutorial_data``, built per sample.

    Classes 0 and 1 get ``n // 3`` samples each (image/text centred on unit vectors ``e_0``/``e_1``),
    class 2 the rest (noise, with ``image[0]`` and ``text[0]`` set to ``|z| + 0.5``).
    """
    gen = torch.Generator().manual_seed(seed)
    image, text = torch.zeros(n, img_dim), torch.zeros(n, txt_dim)
    labels = torch.zeros(n, dtype=torch.long)
    per_class = n // 3
    for i in range(n):
        label = 0 if i < per_class else 1 if i < 2 * per_class else 2
        img = torch.randn(img_dim, generator=gen) * noise
        txt = torch.randn(txt_dim, generator=gen) * noise
        if label == 0:
            img = img + torch.tensor([1.0] + [0.0] * (img_dim - 1))
            txt = txt + torch.tensor([0.0, 1.0] + [0.0] * (txt_dim - 2))
        elif label == 1:
            img = img + torch.tensor([0.0, 1.0] + [0.0] * (img_dim - 2))
            txt = txt + torch.tensor([1.0] + [0.0] * (txt_dim - 1))
        else:
            img[0] = torch.randn(1, generator=gen).abs() + 0.5
            txt[0] = torch.randn(1, generator=gen).abs() + 0.5
        image[i], text[i], labels[i] = img, txt, label
    return MultimodalDataset((image, text), labels, ("image", "text"), num_classes=3)


def loop_information_dataset(kind: str, n: int, img_dim: int = 32, txt_dim: int = 16, noise: float = 0.5,
                             seed: int = 0) -> MultimodalDataset:
    """Same distribution as ``course_utils.data.make_information_dataset``, built per sample.

    Each sample draws bits ``a`` (image) and ``b`` (text; ``b = a`` when redundant) and writes
    ``(2s - 1) u + noise * eps`` for each; the label is ``a`` or, for "synergy", ``a XOR b``.
    """
    gen = torch.Generator().manual_seed(seed)
    u_img = torch.randn(img_dim, generator=gen)
    u_img = u_img / u_img.norm()
    u_txt = torch.randn(txt_dim, generator=gen)
    u_txt = u_txt / u_txt.norm()
    image, text = torch.zeros(n, img_dim), torch.zeros(n, txt_dim)
    labels = torch.zeros(n, dtype=torch.long)
    for i in range(n):
        a = int(torch.randint(0, 2, (1,), generator=gen))
        b = a if kind == "redundant" else int(torch.randint(0, 2, (1,), generator=gen))
        image[i] = (2 * a - 1) * u_img + noise * torch.randn(img_dim, generator=gen)
        text[i] = (2 * b - 1) * u_txt + noise * torch.randn(txt_dim, generator=gen)
        labels[i] = a ^ b if kind == "synergy" else a
    return MultimodalDataset((image, text), labels, ("image", "text"), num_classes=2)


# --------------------------------------------------------------------------- the model both sides train
class TutorialMLP(nn.Module):
    """The tutorial's early-fusion MLP: ``[img; txt] (B, 48) -> 64 -> 64 -> num_classes``, dropout 0.2."""

    def __init__(self, img_dim: int = 32, txt_dim: int = 16, hidden: int = 64, num_classes: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(img_dim + txt_dim, hidden), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(hidden, num_classes))

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([img, txt], dim=-1))


# --------------------------------------------------------------------------- the DataLoader loop
class _Samples(Dataset):
    """Per-sample view of a MultimodalDataset, as a map-style Dataset: item ``i`` -> (x_1, ..., x_m, y)."""

    def __init__(self, data: MultimodalDataset):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        return (*[m[i] for m in self.data.modalities], self.data.labels[i])


def dataloader_fit(model: nn.Module, train: MultimodalDataset, test: MultimodalDataset, *, epochs: int,
                   lr: float = 1e-3, batch_size: int = 64, device: str = "cpu") -> dict:
    """The tutorial's training loop: Adam, a DataLoader with ``shuffle=True``, ``loss.item()`` per
    step, evaluation through a DataLoader after every epoch.

    Returns ``{"test_acc": [...], "epoch_time": [...], "train_loss": [...]}`` (one entry per epoch).
    """
    train_loader = DataLoader(_Samples(train), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(_Samples(test), batch_size=batch_size, shuffle=False)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    out = {"test_acc": [], "epoch_time": [], "train_loss": []}
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        running = 0.0
        for *inputs, labels in train_loader:
            inputs, labels = [x.to(device) for x in inputs], labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(*inputs), labels)
            loss.backward()
            optimizer.step()
            running += loss.item()
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for *inputs, labels in test_loader:
                inputs, labels = [x.to(device) for x in inputs], labels.to(device)
                predicted = model(*inputs).argmax(1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        out["train_loss"].append(running / len(train_loader))
        out["test_acc"].append(correct / total)
        out["epoch_time"].append(time.perf_counter() - start)
    return out
