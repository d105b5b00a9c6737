"""The learner distribution: ``python -m course_utils release --out DIR [--graded --withhold-from NN]``.

Writes, under ``DIR``:

- ``<name>/``: what an instructor pushes to the learner repository (``[tool.course] learner_repository``,
  tagged ``v<version>``): the student notebooks (checked to be current with ``solutions/``, stamped with
  the course version), the learner runtime ``course_utils/`` (never ``course_utils/instructor/``), a learner
  ``pyproject.toml`` (no instructor or test extras), ``course.sh``, ``environment.yml`` and a learner README;
- ``<name>.zip``: the same folder as one archive (reproducible bytes);
- ``course_utils-<version>-py3-none-any.whl``: the learner runtime as a wheel (what Colab installs when
  ``[tool.course] wheel_url`` points at it), built with ``pip wheel --no-deps --no-build-isolation``.

Never ``solutions/``, tests, maintainer docs or caches. A **self-study** release ships every reference
(``course_utils/references/``) and hidden check, so later cells can fall back to the course's code. A
**graded** release with ``--withhold-from NN`` leaves out ``course_utils/references/nbKK.py`` and
``course_utils/checks/hidden/nbKK.py`` for every ``KK >= NN``, and refuses to write anything when a withheld
reference could still be found in what it would ship: a definition (``def``/``class``) of a withheld name
that is not a stub (stubs raise ``NotImplementedError``), or a definition, under any name, whose normalised
body equals a withheld reference's or hidden check's (except the code the student notebooks hand out around a
stub, which every learner reads anyway), or a class a withheld reference class inherits from (directly or
through other shipped classes, matched by name) that defines, not as a stub, a method other than ``__init__`` the
reference defines: a template whose parent holds the answer lets ``return super().forward(...)`` pass for one
(a parent whose ``__init__`` builds the layers is fine). Names that appear
only in stubs, calls or messages are fine.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import build

ROOT = Path(__file__).resolve().parents[2]
SETUP_FILES = ("course.sh", "environment.yml", "LICENSE")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
INSTRUCTOR_PACKAGE = Path("course_utils") / "instructor"
MIN_BODY_NODES = 12   # a withheld body smaller than this (e.g. ``return x``) is too common to call a copy

LEARNER_README = """# Multimodal Fusion from First Principles

Jupyter notebooks that build multimodal fusion up from first principles, in PyTorch, on a CPU.
Course version {version}.

## Start

- **Locally** (Python 3.11+): `./course.sh lab` creates `.venv/`, installs the course's helper
  package with its dependencies, and opens JupyterLab on `notebooks/`.
  With conda: `conda env create -f environment.yml`, `conda activate` it, then `jupyter lab notebooks/`.
  Only the helper package, without JupyterLab: `pip install "{install_spec}"`.
- **On Colab**: open a notebook through the "Open in Colab" badge at its top; its first cell installs
  the helper package of this version and nothing else (Colab already has what it needs).

Work through the notebooks in order: {notebooks}.

## Exercises and checks

Each exercise is a `# YOUR CODE HERE` / `raise NotImplementedError()` stub followed by a locked
check cell. Run the check cell: it prints what passed, or says what to fix. {fallback}

## Handing in

Hand in the notebook file itself (`notebooks/NN_name.ipynb`), after *Kernel > Restart & Run All*.
Your instructor grades it by running it fresh, with the check cells restored from the course's copy:
edits to check cells do not count, only your code does. Warnings printed by your code never cost points.
"""
SELF_STUDY_FALLBACK = ("Until an exercise passes, later cells use the course's reference implementation, "
                       "so you can always run a notebook top to bottom.")
GRADED_FALLBACK = ("This is a graded release: the course's own implementations of notebooks {first} and later "
                   "are not included. A check that passes here says \"visible checks passed; grading also runs "
                   "hidden checks\": your grade comes from the full checks your instructor runs. A cell that "
                   "needs an exercise you have not finished yet says which one to finish first.")


class ReleaseError(RuntimeError):
    """The bundle cannot be written safely; the message says why."""


@dataclass
class Release:
    folder: Path
    archive: Path
    wheel: Path | None
    withheld: list = field(default_factory=list)   # package files left out (relative paths)


# -- what is withheld ------------------------------------------------------------------------------------
def _notebook_number(path: Path) -> int | None:
    m = re.fullmatch(r"nb(\d\d)", path.stem)
    return int(m.group(1)) if m else None


def withheld_files(package: Path, withhold_from: int | None) -> list[Path]:
    """``references/nbKK.py`` and ``checks/hidden/nbKK.py`` (relative to ``package``) for every ``KK >= withhold_from``."""
    if withhold_from is None:
        return []
    out = []
    for folder in (Path("references"), Path("checks") / "hidden"):
        for path in sorted((package / folder).glob("nb*.py")):
            number = _notebook_number(path)
            if number is not None and number >= withhold_from:
                out.append(folder / path.name)
    return out


def _strip_docstring(body: list) -> list:
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def normalised_body(node) -> str:
    """``ast.dump`` of a function or class with its name, every docstring, and the names of its arguments and
    local variables removed (numbered in order of first use), so a renamed copy still matches."""
    clone = ast.parse(ast.unparse(node)).body[0]
    for sub in ast.walk(clone):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            sub.body = _strip_docstring(sub.body) or [ast.Pass()]
    clone.name = "_"
    local = {}
    for sub in ast.walk(clone):
        if isinstance(sub, ast.arg):
            local.setdefault(sub.arg, f"v{len(local)}")
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            local.setdefault(sub.id, f"v{len(local)}")
    for sub in ast.walk(clone):
        if isinstance(sub, ast.arg):
            sub.arg = local[sub.arg]
        elif isinstance(sub, ast.Name) and sub.id in local:
            sub.id = local[sub.id]
    return ast.dump(clone, annotate_fields=False)


def _definitions(tree) -> list:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _base_names(node: ast.ClassDef) -> list[str]:
    """The bare names of a class's bases: ``cnn.IntermediateFusionCNN`` -> ``IntermediateFusionCNN``."""
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _method_names(node: ast.ClassDef) -> set[str]:
    return {sub.name for sub in node.body if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef))}


def parent_leaks(pieces: list, withheld: "Withheld") -> list[str]:
    """Where a shipped ancestor of a withheld reference class defines one of the reference's methods (not as a
    stub): the answer a subclass would inherit. ``pieces`` are ``(where, parsed tree)``; classes are matched by
    name, through as many shipped generations as there are."""
    shipped = {}
    for where, tree in pieces:
        for node in _definitions(tree):
            if isinstance(node, ast.ClassDef):
                shipped.setdefault(node.name, []).append((where, node))
    leaks = []
    for name, (origin, bases, methods) in sorted(withheld.classes.items()):
        seen, todo = set(), list(bases)
        while todo:
            parent = todo.pop(0)
            if parent in seen or parent == name:
                continue
            seen.add(parent)
            for where, node in shipped.get(parent, []):
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name in methods \
                            and sub.name != "__init__" and not _is_stub(sub):
                        leaks.append(f"{where}: class {parent!r} defines {sub.name!r}, which the withheld "
                                     f"{name!r} ({origin}) writes; a subclass inherits the answer "
                                     f"(super().{sub.name}(...))")
                todo += _base_names(node)
    return leaks


def _is_stub(node) -> bool:
    """A definition that raises ``NotImplementedError`` somewhere: what a student notebook hands out."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Raise) and sub.exc is not None:
            target = sub.exc.func if isinstance(sub.exc, ast.Call) else sub.exc
            if isinstance(target, ast.Name) and target.id == "NotImplementedError":
                return True
    return False


@dataclass
class Withheld:
    """Names and normalised bodies of everything a graded release must not contain."""
    names: dict = field(default_factory=dict)    # top-level reference name -> file it comes from
    bodies: dict = field(default_factory=dict)   # normalised body -> "file: name"
    #: reference class -> (file, the names of its bases, the methods it defines): a shipped parent must not
    #: define those methods itself (the answer would be inherited)
    classes: dict = field(default_factory=dict)

    @classmethod
    def from_files(cls, package: Path, files: list[Path]) -> "Withheld":
        found = cls()
        for rel in files:
            tree = ast.parse((package / rel).read_text(encoding="utf-8"), filename=str(rel))
            is_reference = rel.parts[0] == "references"
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and is_reference \
                        and not node.name.startswith("_"):
                    found.names[node.name] = rel.as_posix()
                if isinstance(node, ast.ClassDef) and is_reference:
                    found.classes[node.name] = (rel.as_posix(), _base_names(node), _method_names(node))
            for node in _definitions(tree):
                if sum(1 for _ in ast.walk(node)) >= MIN_BODY_NODES and not _is_stub(node):
                    found.bodies.setdefault(normalised_body(node), f"{rel.as_posix()}: {node.name}")
        return found

    def forget_given(self, notebooks: list[Path]) -> "Withheld":
        """Drop the bodies the student notebooks hand out themselves (e.g. a given ``__init__`` around the stub):
        what every learner reads in the exercise cell is no secret, wherever else it appears."""
        for path in notebooks:
            for _, source in _code_of(path):
                try:
                    tree = ast.parse(source)
                except SyntaxError:
                    continue
                for node in _definitions(tree):
                    if sum(1 for _ in ast.walk(node)) >= MIN_BODY_NODES:
                        self.bodies.pop(normalised_body(node), None)
        return self


def _code_of(path: Path) -> list[tuple[str, str]]:
    """(where, Python source) pieces of a file: the file itself, or each code cell of a notebook."""
    if path.suffix == ".py":
        return [(path.as_posix(), path.read_text(encoding="utf-8", errors="replace"))]
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        out = []
        for i, cell in enumerate(cells):
            if cell.get("cell_type") == "code":
                source = "".join(cell.get("source", []))
                # IPython magics and shell lines are not Python; blank them out, keeping line numbers
                source = "\n".join("" if ln.lstrip().startswith(("!", "%")) else ln for ln in source.split("\n"))
                out.append((f"{path.as_posix()} cell {i} (id {cell.get('id', '?')})", source))
        return out
    return []


def reference_leaks(folder: Path, withheld: Withheld, extra: dict | None = None) -> list[str]:
    """Where under ``folder`` (and in ``extra``: where -> source) a withheld reference can still be found."""
    pieces = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not SKIP_PARTS & set(path.parts):
            pieces += [(f"{path.relative_to(folder).as_posix()}{where[len(path.as_posix()):]}", src)
                       for where, src in _code_of(path)]
    pieces += list((extra or {}).items())
    leaks, parsed = [], []
    for where, source in pieces:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            if where.endswith(".py"):
                leaks.append(f"{where}: cannot be parsed, so it cannot be shown to be free of references")
            continue
        parsed.append((where, tree))
        for node in _definitions(tree):
            if node.name in withheld.names and not _is_stub(node):
                leaks.append(f"{where}: defines {node.name!r} (withheld: {withheld.names[node.name]})")
                continue
            if sum(1 for _ in ast.walk(node)) >= MIN_BODY_NODES:
                origin = withheld.bodies.get(normalised_body(node))
                if origin:
                    leaks.append(f"{where}: {node.name!r} is a copy of {origin}")
    return leaks + parent_leaks(parsed, withheld)


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


# -- writing ---------------------------------------------------------------------------------------------
def copy_tree(src: Path, dst: Path, leave_out: set) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if SKIP_PARTS & set(rel.parts) or path.suffix in SKIP_SUFFIXES or path.is_dir():
            continue
        if any(rel == p or p in rel.parents for p in leave_out):
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def learner_pyproject(text: str) -> str:
    """The instructor's ``pyproject.toml`` without the extras that only instructors and maintainers use."""
    out, lines = [], text.split("\n")
    for line in lines:
        if re.match(r"\s*(instructor|nbgrader|dask|site|test)\s*=", line):
            while out and out[-1].lstrip().startswith("#"):
                out.pop()       # its comment goes with it
            continue
        out.append(line)
    return "\n".join(out)


def build_wheel(package_root: Path, out: Path) -> Path:
    """Build the wheel of the learner runtime staged at ``package_root`` (pyproject + course_utils) into ``out``."""
    with tempfile.TemporaryDirectory(prefix="course-wheel-") as tmp:
        stage = Path(tmp) / "src"
        shutil.copytree(package_root, stage, ignore=shutil.ignore_patterns("notebooks", "*.ipynb", "__pycache__"))
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--quiet", "--wheel-dir", str(out), str(stage)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ReleaseError("building the learner wheel failed (the instructor extra brings setuptools): "
                               + (proc.stderr or proc.stdout).strip()[-2000:])
    wheels = sorted(out.glob("course_utils-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise ReleaseError(f"pip wheel wrote no course_utils wheel into {out}")
    return wheels[-1]


def _stamp(notebook: Path, target: Path, version: str, withhold_from: int | None) -> None:
    """Copy a student notebook; in a graded release also record ``metadata.course.withheld_from``.

    ``metadata.course.version`` is stamped by the build already; it is set again here so a release never
    ships a notebook without it.
    """
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    if withhold_from is None and nb.get("metadata", {}).get("course", {}).get("version") == version:
        shutil.copy2(notebook, target)
        return
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    course = nb.setdefault("metadata", {}).setdefault("course", {})
    course["version"] = version
    if withhold_from is not None:
        course["withheld_from"] = f"{withhold_from:02d}"
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _wheel_sources(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        return {f"{wheel.name}!{n}": zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".py")}


def release(out: Path, root: Path = ROOT, name: str | None = None, graded: bool = False,
            withhold_from: int | None = None, wheel: bool = True) -> Release:
    """Write the bundle folder, its zip and (unless ``wheel`` is false) the learner wheel under ``out``."""
    root, out = Path(root), Path(out)
    if withhold_from is not None and not graded:
        raise ReleaseError("--withhold-from only applies to a graded release (add --graded)")
    if graded and withhold_from is None:
        withhold_from = 0
    if withhold_from is not None and not 0 <= withhold_from <= 99:
        raise ReleaseError(f"--withhold-from must be a notebook number 00-99, got {withhold_from}")
    stale = build.build(root, check=True)
    if stale:
        raise ReleaseError("notebooks/ is not current with solutions/ (run `python -m course_utils build`): "
                           + ", ".join(stale))
    config = build.CourseConfig.load(root)
    package = root / "course_utils"
    withheld_rel = withheld_files(package, withhold_from)
    withheld = Withheld.from_files(package, withheld_rel).forget_given(sorted((root / "notebooks").glob("*.ipynb")))
    name = name or config.learner_repository.rsplit("/", 1)[-1]
    out.mkdir(parents=True, exist_ok=True)
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    with tempfile.TemporaryDirectory(prefix="course-release-", dir=out) as tmp:
        stage = Path(tmp) / name
        _write_bundle(stage, root, config, withheld_rel, withhold_from)
        leaks = solution_leaks(stage) + reference_leaks(stage, withheld)
        if leaks:
            raise ReleaseError("a withheld reference or a solution would be released; nothing was written:\n  "
                               + "\n  ".join(leaks))
        for old in out.glob("course_utils-*.whl"):
            old.unlink()
        wheel_path = None
        if wheel:
            wheel_path = build_wheel(stage, out)
            leaks = reference_leaks(Path(tmp) / "empty", withheld, _wheel_sources(wheel_path))
            if leaks:
                wheel_path.unlink()
                raise ReleaseError("the learner wheel would carry a withheld reference:\n  " + "\n  ".join(leaks))
        shutil.move(str(stage), folder)
    archive = out / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, Path(name) / path.relative_to(folder))
                info.date_time = (2024, 1, 1, 0, 0, 0)  # reproducible archive
                with open(path, "rb") as f:
                    zf.writestr(info, f.read(), zipfile.ZIP_DEFLATED)
    return Release(folder, archive, wheel_path, [p.as_posix() for p in withheld_rel])


def _write_bundle(folder: Path, root: Path, config, withheld_rel: list, withhold_from: int | None) -> None:
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    (folder / "notebooks").mkdir(parents=True)
    for path in notebooks:
        _stamp(path, folder / "notebooks" / path.name, config.version, withhold_from)
    leave_out = {Path("instructor")} | set(withheld_rel)
    copy_tree(root / "course_utils", folder / "course_utils", leave_out)
    (folder / "pyproject.toml").write_text(learner_pyproject((root / "pyproject.toml").read_text()), encoding="utf-8")
    for file_name in SETUP_FILES:
        if (root / file_name).exists():
            shutil.copy2(root / file_name, folder / file_name)
    listing = ", ".join(f"`{p.name}`" for p in notebooks) or "(none yet)"
    fallback = SELF_STUDY_FALLBACK if withhold_from is None else GRADED_FALLBACK.format(first=f"{withhold_from:02d}")
    (folder / "README.md").write_text(LEARNER_README.format(notebooks=listing, version=config.version,
                                                            install_spec=config.install_spec(), fallback=fallback),
                                      encoding="utf-8")


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder to write the bundle, its zip and the wheel into")
    p.add_argument("--name", default=None, help="bundle name (default: the learner repository's name)")
    p.add_argument("--graded", action="store_true",
                   help="a graded release: leave out the references and hidden checks of withheld notebooks")
    p.add_argument("--withhold-from", type=int, default=None, metavar="NN",
                   help="with --graded: first notebook whose references are withheld (default 00: all of them)")


def main(args) -> int:
    try:
        result = release(args.out, name=args.name, graded=args.graded, withhold_from=args.withhold_from)
    except (ReleaseError, build.BuildError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 2
    print(f"wrote {result.folder}, {result.archive} and {result.wheel}")
    if result.withheld:
        print("withheld: " + ", ".join(f"course_utils/{p}" for p in result.withheld))
    return 0
