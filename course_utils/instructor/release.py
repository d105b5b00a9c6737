"""The learner bundle: ``python -m course_utils release --out DIR``.

Writes ``DIR/<name>/`` and ``DIR/<name>.zip`` with what learners get: the student notebooks
(``notebooks/``, checked to be current with ``solutions/``), the helper package ``course_utils``
(its exercise checks included: learners run them), the setup files (``pyproject.toml``,
``course.sh``, ``environment.yml`` where present) and a short learner ``README.md``. Never
``solutions/``, tests, docs for maintainers, or caches. Refuses to write a bundle in which a
notebook still contains a solution region.
"""
from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

from . import build

ROOT = Path(__file__).resolve().parents[2]
SETUP_FILES = ("pyproject.toml", "course.sh", "environment.yml", "LICENSE")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")

LEARNER_README = """# Multimodal Fusion from First Principles

Jupyter notebooks that build multimodal fusion up from first principles, in PyTorch, on a CPU.

## Start

- **Locally** (Python 3.11+): `./course.sh lab` creates `.venv/`, installs the course's helper
  package with its dependencies, and opens JupyterLab on `notebooks/`.
  With conda: `conda env create -f environment.yml`, `conda activate` it, then `jupyter lab notebooks/`.
- **On Colab**: open a notebook through the "Open in Colab" badge at its top; its first cell installs
  what it needs.

Work through the notebooks in order: {notebooks}.

## Exercises and checks

Each exercise is a `# YOUR CODE HERE` / `raise NotImplementedError()` stub followed by a locked
check cell. Run the check cell: it prints what passed, or says what to fix. Until an exercise passes,
later cells use the course's reference implementation, so you can always run a notebook top to bottom.

## Handing in

Hand in the notebook file itself (`notebooks/NN_name.ipynb`), after *Kernel > Restart & Run All*.
Your instructor grades it by running it fresh, with the check cells restored from the course's copy:
edits to check cells do not count, only your code does. Warnings printed by your code never cost points.
"""


class ReleaseError(RuntimeError):
    """The bundle cannot be written safely; the message says why."""


def _copy_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if SKIP_PARTS & set(rel.parts) or path.suffix in SKIP_SUFFIXES or path.is_dir():
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def solution_leaks(folder: Path) -> list[str]:
    """Files under ``folder`` that carry a solution: a ``solutions`` folder, or a marker line in a notebook."""
    leaks = []
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        if "solutions" in rel.parts:
            leaks.append(rel.as_posix())
        elif path.suffix == ".ipynb":
            text = path.read_text(encoding="utf-8", errors="replace")
            if build.BEGIN in text or build.END in text:
                leaks.append(rel.as_posix())
    return leaks


def release(out: Path, root: Path = ROOT, name: str | None = None) -> tuple[Path, Path]:
    """Write the bundle folder and its zip under ``out``; return both paths."""
    root, out = Path(root), Path(out)
    stale = build.build(root, check=True)
    if stale:
        raise ReleaseError("notebooks/ is not current with solutions/ (run `python -m course_utils build`): "
                           + ", ".join(stale))
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    name = name or build.CourseConfig.load(root).repository.rsplit("/", 1)[-1]
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "notebooks").mkdir()
    for path in notebooks:
        shutil.copy2(path, folder / "notebooks" / path.name)
    _copy_tree(root / "course_utils", folder / "course_utils")
    for file_name in SETUP_FILES:
        if (root / file_name).exists():
            shutil.copy2(root / file_name, folder / file_name)
    listing = ", ".join(f"`{p.name}`" for p in notebooks) or "(none yet)"
    (folder / "README.md").write_text(LEARNER_README.format(notebooks=listing), encoding="utf-8")
    leaks = solution_leaks(folder)
    if leaks:
        shutil.rmtree(folder)
        raise ReleaseError("solution content would be released: " + ", ".join(leaks))
    archive = out / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, Path(name) / path.relative_to(folder))
                info.date_time = (2024, 1, 1, 0, 0, 0)  # reproducible archive
                with open(path, "rb") as f:
                    zf.writestr(info, f.read(), zipfile.ZIP_DEFLATED)
    return folder, archive


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder to write the bundle and its zip into")
    p.add_argument("--name", default=None, help="bundle name (default: the repository's name)")


def main(args) -> int:
    try:
        folder, archive = release(args.out, name=args.name)
    except (ReleaseError, build.BuildError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 2
    print(f"wrote {folder} and {archive}")
    return 0
