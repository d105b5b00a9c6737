"""A local experiment tracker that needs no account (notebook 07).

Every run is one JSON line appended to ``<root>/<experiment>.jsonl``: the model's name, the seed,
the configuration and the numbers ``fit`` measured. ``read_runs`` gives them back, ``summarize``
turns them into the comparison table (mean and std over seeds per model) and ``format_table``
prints it. Weights & Biases or TensorBoard logging is optional: it is used only when the package is
installed *and* you turn it on (``Tracker(..., wandb=True)``); nothing here needs it.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

#: the numbers of a run that the table summarises, in display order
METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "params", "peak_memory_mb",
           "time_per_epoch_s", "total_time_s")


_RUNS_DIR: dict = {}


def default_root() -> Path:
    """This process's own runs folder: made once per process under its temporary folder.

    Never a shared fixed path, so two notebooks (or two graded submissions) running at once never
    append to, or ``fresh``-delete, each other's runs. Removed when the process (the kernel) exits;
    pass ``root="runs"`` to keep runs next to the notebook instead.
    """
    pid = os.getpid()
    if pid not in _RUNS_DIR:
        _RUNS_DIR[pid] = Path(tempfile.mkdtemp(prefix="course-runs-"))
        atexit.register(shutil.rmtree, _RUNS_DIR[pid], True)
    return _RUNS_DIR[pid]


class Tracker:
    """Append runs to ``<root>/<experiment>.jsonl``.

    Args:
        root: the runs folder (created if needed); by default a folder of this process's own
            (:func:`default_root`).
        experiment: file name of this experiment's runs.
        fresh: start the file empty (a notebook re-run then does not mix with an earlier one).
        wandb, tensorboard: also log to Weights & Biases / TensorBoard when the package is installed.
            When it is not, a notice is printed and the run is only stored locally.
    """

    def __init__(self, root=None, experiment: str = "runs", *, fresh: bool = False,
                 wandb: bool = False, tensorboard: bool = False, project: str = "multimodal-fusion-course"):
        if not experiment or any(c in experiment for c in "/\\"):
            raise ValueError(f"experiment must be a plain file name, got {experiment!r}")
        self.path = Path(default_root() if root is None else root) / f"{experiment}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh and self.path.exists():
            self.path.unlink()
        self.project = project
        self.use_wandb = wandb and _installed("wandb", "Weights & Biases")
        self.use_tensorboard = tensorboard and _installed("torch.utils.tensorboard", "TensorBoard")

    def log(self, name: str, history=None, *, seed: int | None = None, config: dict | None = None,
            **metrics) -> dict:
        """Store one run: ``history`` (a ``course_utils.training.History``) and/or extra ``metrics``."""
        if not name:
            raise ValueError("a run needs a name (the model it trained)")
        record = {"name": name, "seed": seed, "time": time.time(), "config": dict(config or {})}
        if history is not None:
            record.update(history.final())
            record["memory_kind"] = history.memory_kind
            record["device"] = history.device
            record["curves"] = {k: list(getattr(history, k)) for k in ("train_loss", "train_acc",
                                                                       "val_loss", "val_acc")}
        record.update(metrics)
        with self.path.open("a") as f:
            f.write(json.dumps(record, default=float) + "\n")
        if self.use_wandb:
            self._log_wandb(record)
        if self.use_tensorboard:
            self._log_tensorboard(record)
        return record

    def runs(self) -> list:
        return read_runs(self.path)

    def _log_wandb(self, record: dict) -> None:  # pragma: no cover - needs the package and an account
        import wandb
        run = wandb.init(project=self.project, name=f"{record['name']} seed {record['seed']}",
                         config={**record["config"], "model": record["name"], "seed": record["seed"]},
                         reinit=True)
        for epoch, values in enumerate(zip(*record.get("curves", {}).values())):
            run.log(dict(zip(record["curves"], values)), step=epoch)
        run.summary.update({k: record[k] for k in METRICS if k in record})
        run.finish()

    def _log_tensorboard(self, record: dict) -> None:  # pragma: no cover - needs the package
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(self.path.parent / "tensorboard" / f"{record['name']}-seed{record['seed']}")
        for key, values in record.get("curves", {}).items():
            for epoch, value in enumerate(values):
                writer.add_scalar(key, value, epoch)
        writer.close()


def _installed(module: str, label: str) -> bool:
    import importlib.util
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        print(f"ℹ️  {label} is not installed: runs are stored locally only.")
    return found


def read_runs(path) -> list:
    """Every run stored in a ``.jsonl`` file, as dicts (a missing file raises with its path)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no runs file {str(path)!r}; log a run with Tracker.log first")
    runs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {number} is not valid JSON ({error})") from error
    return runs


def _mean_std(values: list) -> tuple:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def summarize(runs: list, metrics=METRICS) -> list:
    """One row per model name (in first-seen order): ``{"name", "runs", metric: (mean, std), ...}``.

    The std is the sample standard deviation over runs (0 for a single run).
    """
    if not runs:
        raise ValueError("no runs to summarize")
    rows = {}
    for run in runs:
        rows.setdefault(run["name"], []).append(run)
    table = []
    for name, group in rows.items():
        row = {"name": name, "runs": len(group)}
        for m in metrics:
            values = [float(r[m]) for r in group if m in r]
            if values:
                row[m] = _mean_std(values)
        table.append(row)
    return table


def format_table(table: list, metrics=METRICS, digits: int = 3) -> str:
    """The summary as fixed-width text: ``mean ± std`` per metric."""
    headers = ["model", "runs", *metrics]
    lines = []
    for row in table:
        cells = [row["name"], str(row["runs"])]
        for m in metrics:
            if m not in row:
                cells.append("-")
                continue
            mean, std = row[m]
            if m == "params":
                cells.append(f"{mean:,.0f}")
            elif m.endswith("_mb") or m.endswith("_s"):
                cells.append(f"{mean:.2f} ± {std:.2f}")
            else:
                cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, lines)])


def training_memory_mb(model, inputs, labels=None) -> float:
    """An estimate of the memory one training step of ``model`` needs, in MB (works on any device).

    Sums the bytes of the tensors autograd saves for the backward pass during one forward pass on
    ``inputs`` (activations; storages counted once), plus parameters, gradients and Adam's two moment
    buffers (4x the parameter bytes). It measures this model alone, unlike a process's peak RSS.
    """
    import torch
    import torch.nn.functional as F

    seen, total = set(), [0]

    def pack(t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device)
            if key not in seen:
                seen.add(key)
                total[0] += t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. sparse)
            total[0] += t.numel() * t.element_size()
        return t

    was_training = model.training
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model(*inputs)
        loss = F.cross_entropy(logits, labels) if labels is not None else logits.sum()
    del loss, logits
    model.train(was_training)
    params = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return (total[0] + 4 * params) / 2**20
