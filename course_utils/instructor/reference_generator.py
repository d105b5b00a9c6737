"""Derive ``course_utils/references/nbNN.py`` and ``index.py`` from the solution regions of ``solutions/NN_*.ipynb``.

``index.py`` is data: ``INDEX``, exercise id -> (module, name). The code that reads it,
``course_utils/references/__init__.py``, is written by hand.

Every exercise's reference exists once: as the solved TODO cell of its notebook. A TODO cell is a
code cell holding a solution region; it defines exactly one top-level function or class. The
exercises it answers are the check cells that follow it, up to the next TODO cell (notebook 05's
``BidirectionalCrossAttention`` answers ``05.bidirectional`` and ``05.shared``).

The generated module holds each TODO cell's code, solved, in notebook order, under a header that says
it is generated and from which cells. Names a cell uses come from a fixed preamble (``math``,
``torch``, ``nn``, ``F``), from earlier TODO cells of the same notebook, or from the references of an
earlier notebook (``from .nb04 import CrossAttentionLayer``); any other free name is a build error,
so a reference cannot silently depend on a notebook global.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
PREAMBLE = ("import math", "", "import torch", "import torch.nn.functional as F", "from torch import nn")
PREAMBLE_NAMES = {"math", "torch", "F", "nn"}
PACKAGE = Path("course_utils") / "references"


class ReferenceBuildError(ValueError):
    """A TODO cell cannot become a reference; the message names notebook and cell."""


@dataclass
class Reference:
    """One solved TODO cell: the name it defines and the exercises whose checks follow it."""
    notebook: str
    cell_id: str
    name: str
    code: str
    exercises: list = field(default_factory=list)
    uses: set = field(default_factory=set)


def solved(source: str) -> str:
    """The cell's code with the solution markers removed (the solution kept)."""
    return "\n".join(line for line in source.split("\n") if line.strip() not in (BEGIN, END))


def _defined_and_free(tree: ast.Module) -> tuple[list[str], set]:
    """Top-level def/class names, and the names the code loads without binding them anywhere."""
    top = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    bound, loaded = set(top), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return top, loaded - bound - set(dir(builtins))


def notebook_number(path: Path) -> str:
    match = re.match(r"(\d\d)_", path.name)
    if not match:
        raise ReferenceBuildError(f"{path.name}: a solution notebook's name starts with its number, e.g. 04_...")
    return match.group(1)


def collect(path: Path) -> list[Reference]:
    """The references of one solution notebook, in cell order."""
    nb = nbformat.read(path, as_version=4)
    refs: list[Reference] = []
    for index, cell in enumerate(nb.cells):
        where = f"{path.name}, cell {index} (id {cell.get('id', '?')!r})"
        course = cell.metadata.get("course", {})
        if cell.cell_type == "code" and "check" in course:
            if not refs:
                raise ReferenceBuildError(f"{where}: check {course['check']!r} has no TODO cell before it")
            refs[-1].exercises.append(course["check"])
            continue
        if cell.cell_type != "code" or BEGIN not in cell.source:
            continue
        code = solved(cell.source)
        try:
            tree = ast.parse(code)
        except SyntaxError as error:
            raise ReferenceBuildError(f"{where}: the solved TODO cell is not valid Python: {error}") from error
        stray = [type(n).__name__ for n in tree.body
                 if not isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))
                 and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        top, free = _defined_and_free(tree)
        if stray or len(top) != 1:
            raise ReferenceBuildError(f"{where}: a TODO cell defines exactly one function or class and runs nothing "
                                  f"else (found definitions {top}, other statements {stray})")
        refs.append(Reference(path.name, cell.id, top[0], code.rstrip() + "\n", uses=free))
    for ref in refs:
        if not ref.exercises:
            raise ReferenceBuildError(f"{path.name}: TODO cell {ref.cell_id!r} ({ref.name}) has no check cell after it")
    return refs


def collect_all(solutions: Path) -> dict[str, list[Reference]]:
    """``{"04": [Reference, ...], ...}`` for every solution notebook with at least one TODO cell."""
    out = {}
    for path in sorted(solutions.glob("*.ipynb")):
        refs = collect(path)
        if refs:
            out[notebook_number(path)] = refs
    return out


def render_module(number: str, refs: list[Reference], earlier: dict[str, str]) -> str:
    """The text of ``references/nb<number>.py``; ``earlier`` maps names of earlier notebooks' references to
    their module (``{"CrossAttentionLayer": "nb04"}``)."""
    imports: dict[str, set] = {}
    own: set = set()
    for ref in refs:
        for name in sorted(ref.uses - PREAMBLE_NAMES - own):
            if name not in earlier:
                raise ReferenceBuildError(
                    f"{ref.notebook}, TODO cell {ref.cell_id!r}: uses {name!r}, which is neither in the reference "
                    f"preamble ({', '.join(sorted(PREAMBLE_NAMES))}) nor an earlier exercise's reference")
            imports.setdefault(earlier[name], set()).add(name)
        own.add(ref.name)
    cells = ", ".join(f"{r.cell_id} ({r.name})" for r in refs)
    lines = [f'"""References of notebook {number} ({refs[0].notebook}).',
             "",
             "GENERATED by `python -m course_utils build` from the solution regions of the notebook's TODO cells",
             f"{cells}. Do not edit: edit the solution notebook and rebuild.",
             '"""', *PREAMBLE]
    lines += [f"from .{module} import {', '.join(sorted(names))}" for module, names in sorted(imports.items())]
    exercises = {ex: r.name for r in refs for ex in r.exercises}
    lines += ["", "EXERCISES = {" + ", ".join(f"{ex!r}: {name!r}" for ex, name in exercises.items()) + "}",
              '"""Exercise id -> the name of its reference in this module."""']
    for ref in refs:
        lines += ["", "", f"# --- {', '.join(ref.exercises)}: cell {ref.cell_id} of {ref.notebook} ---",
                  ref.code.rstrip()]
    return "\n".join(lines) + "\n"


INDEX_HEADER = ('"""Exercise id -> (module, name) of its reference, for :mod:`course_utils.references`.\n\n'
                'GENERATED by `python -m course_utils build` from the solution notebooks; do not edit.\n"""\n')


def render_index(all_refs: dict[str, list[Reference]]) -> str:
    index = {ex: (f"nb{number}", r.name) for number, refs in all_refs.items() for r in refs for ex in r.exercises}
    return INDEX_HEADER + "INDEX = {\n" + "".join(f"    {ex!r}: {entry!r},\n" for ex, entry in index.items()) + "}\n"


def expected_files(root: Path) -> dict[str, str]:
    """``{relative path: text}`` of every generated reference file."""
    all_refs = collect_all(root / "solutions")
    files, earlier = {str(PACKAGE / "index.py"): render_index(all_refs)}, {}
    for number, refs in all_refs.items():
        files[str(PACKAGE / f"nb{number}.py")] = render_module(number, refs, earlier)
        earlier.update({r.name: f"nb{number}" for r in refs})
    return files


def write(root: Path, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) the reference package; return the stale or written paths."""
    files = expected_files(root)
    target = root / PACKAGE
    generated = [*target.glob("nb*.py"), target / "index.py"] if target.exists() else []
    existing = {str(PACKAGE / p.name) for p in generated if p.is_file()}     # __init__.py is written by hand
    changed = sorted(p for p, text in files.items() if p not in existing or (root / p).read_text() != text)
    extra = sorted(existing - set(files))
    if check:
        return changed + [f"{p} (no solution notebook)" for p in extra]
    target.mkdir(parents=True, exist_ok=True)
    for p in changed:
        (root / p).write_text(files[p])
    for p in extra:
        (root / p).unlink()
    return changed + extra
