"""Generate the student notebooks in ``notebooks/`` from the solved ones in ``solutions/``.

A solution region is marked the way nbgrader marks it::

    ### BEGIN SOLUTION
    ...model code or model answer...
    ### END SOLUTION

In a code cell it becomes ``# YOUR CODE HERE`` plus ``raise NotImplementedError()`` at the same
indentation; in a markdown cell (a model answer to a reflection question) it becomes a prompt.
A check cell is a code cell with ``metadata.course = {"check": "<exercise id>", "points": <n>}``;
it is copied as is and locked (``editable``/``deletable`` false). Outputs and execution counts are
cleared and metadata is reduced to a stable set, so building twice gives identical bytes.
Every student notebook starts with an "Open in Colab" badge and a setup cell that installs the
course only on Colab, stamped from ``[tool.course]`` in ``pyproject.toml``.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import references

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_PROMPT = "✏️ *Your answer here.*"
KEPT_CELL_METADATA = ("course", "editable", "deletable", "tags")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class BuildError(ValueError):
    """A solution notebook cannot be turned into a student notebook; the message names notebook and cell."""


@dataclass(frozen=True)
class CourseConfig:
    repository: str
    branch: str

    @classmethod
    def load(cls, root: Path = ROOT) -> "CourseConfig":
        import tomllib  # Python >= 3.11; building notebooks is a maintainer's task
        data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["course"]
        return cls(data["repository"], data["branch"])

    def colab_url(self, notebook: str) -> str:
        return (f"https://colab.research.google.com/github/{self.repository}/blob/"
                f"{self.branch}/notebooks/{notebook}")

    def install_spec(self) -> str:
        return f"git+https://github.com/{self.repository}@{self.branch}"


def _where(path: Path, index: int, cell) -> str:
    return f"{path.name}, cell {index} (id {cell.get('id', '?')!r})"


def strip_solutions(source: str, markdown: bool, where: str) -> str:
    """Replace every marked solution region of one cell's source; raise :class:`BuildError` on bad markers."""
    out, inside, indent = [], False, ""
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise BuildError(f"{where}: line {number}: '{BEGIN}' inside a region that is still open")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.extend([ANSWER_PROMPT] if markdown else [indent + s for s in CODE_STUB])
        elif marker == END:
            if not inside:
                raise BuildError(f"{where}: line {number}: '{END}' without a '{BEGIN}' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise BuildError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out)


def _clean_metadata(cell) -> dict:
    meta = {k: cell.metadata[k] for k in KEPT_CELL_METADATA if k in cell.metadata}
    if "check" in meta.get("course", {}):
        meta["editable"] = False
        meta["deletable"] = False
    return meta


def _validate_check(cell, where: str, seen: dict) -> None:
    course = cell.metadata.get("course", {})
    if "check" not in course:
        return
    if cell.cell_type != "code":
        raise BuildError(f"{where}: only code cells can be check cells")
    exercise_id, points = course.get("check"), course.get("points")
    if not isinstance(exercise_id, str) or not re.fullmatch(r"\d\d\.[a-z0-9_]+", exercise_id):
        raise BuildError(f"{where}: check id must look like '02.early_fusion', got {exercise_id!r}")
    if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
        raise BuildError(f"{where}: check {exercise_id!r} needs positive 'points', got {points!r}")
    if BEGIN in cell.source:
        raise BuildError(f"{where}: a check cell must not contain a solution region")
    if exercise_id in seen:
        raise BuildError(f"{where}: check id {exercise_id!r} is already used by {seen[exercise_id]}")
    seen[exercise_id] = where


def colab_cells(config: CourseConfig, notebook_name: str) -> list:
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({config.colab_url(notebook_name)})")
    badge.id = "colab-badge"
    setup = nbformat.v4.new_code_cell(
        "# Colab only: install the course's helper package (a no-op everywhere else).\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    !pip install --quiet \"{config.install_spec()}\"")
    setup.id = "colab-setup"
    return [badge, setup]


def student_notebook(path: Path, config: CourseConfig, seen_checks: dict | None = None):
    """The student version of the solution notebook at ``path`` (an ``nbformat`` node)."""
    try:
        solution = nbformat.read(path, as_version=4)
    except Exception as error:  # malformed JSON or schema
        raise BuildError(f"{path.name}: not a readable notebook: {error}") from error
    seen = {} if seen_checks is None else seen_checks
    cells = colab_cells(config, path.name)
    ids = set()
    for index, cell in enumerate(solution.cells):
        where = _where(path, index, cell)
        if not cell.get("id"):
            raise BuildError(f"{where}: cell has no id; save it with nbformat >= 5.1 (ids are how grading finds cells)")
        if cell.id in ids or cell.id.startswith("colab-"):
            raise BuildError(f"{where}: duplicate or reserved cell id {cell.id!r}")
        ids.add(cell.id)
        _validate_check(cell, where, seen)
        if cell.cell_type == "raw":
            continue
        source = strip_solutions(cell.source, cell.cell_type == "markdown", where)
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(source)
        else:
            new = nbformat.v4.new_markdown_cell(source)
        new.id = cell.id
        new.metadata = _clean_metadata(cell)
        cells.append(new)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    nbformat.validate(notebook)
    return notebook


def render(notebook) -> str:
    text = nbformat.writes(notebook, version=4)
    return text if text.endswith("\n") else text + "\n"


def build(root: Path = ROOT, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) every student notebook and the reference package derived from
    the solutions (:mod:`course_utils.instructor.references`); return the stale or written names."""
    try:
        generated = references.write(root, check=check)
    except references.ReferenceBuildError as error:
        raise BuildError(str(error)) from error
    return _build_notebooks(root, check) + generated


def _build_notebooks(root: Path, check: bool) -> list[str]:
    solutions, target = root / "solutions", root / "notebooks"
    config = CourseConfig.load(root)
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        raise BuildError(f"no solution notebooks in {solutions}")
    seen: dict = {}
    expected = {p.name: render(student_notebook(p, config, seen)) for p in sources}
    existing = {p.name for p in target.glob("*.ipynb")} if target.exists() else set()
    changed = sorted(name for name, text in expected.items()
                     if name not in existing or (target / name).read_text() != text)
    extra = sorted(existing - set(expected))
    if check:
        return changed + [f"{name} (no solution notebook)" for name in extra]
    target.mkdir(exist_ok=True)
    for name in changed:
        (target / name).write_text(expected[name])
    for name in extra:
        (target / name).unlink()
    return changed + extra


def clean_solutions(root: Path = ROOT) -> list[str]:
    """Strip outputs and execution counts from ``solutions/`` in place (for maintainers)."""
    cleaned = []
    for path in sorted((root / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
        text = render(nb)
        if path.read_text() != text:
            path.write_text(text)
            cleaned.append(path.name)
    return cleaned


def main(args) -> int:
    try:
        if getattr(args, "clean_solutions", False):
            for name in clean_solutions():
                print(f"cleaned solutions/{name}")
        names = build(check=args.check)
    except BuildError as error:
        print(f"build error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if names:
            print("notebooks/ or course_utils/references/ is stale; run `python -m course_utils build`. Differs: " + ", ".join(names),
                  file=sys.stderr)
            return 1
        print("notebooks/ and course_utils/references/ are up to date")
        return 0
    print(f"wrote {len(names)} file(s)" + (": " + ", ".join(names) if names else " (all up to date)"))
    return 0
