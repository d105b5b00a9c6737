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

from . import nbgrader_meta, reference_generator

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
    """Where the learner distribution lives, from ``[project].version`` and ``[tool.course]``.

    ``learner_repository`` is the public repository an instructor pushes a release to (never the one that
    holds ``solutions/``); every release is a tag ``v<version>`` there. ``wheel_url`` (optional, ``{version}``
    filled in) is where the learner wheel is published; without it Colab installs from the tag.
    """
    learner_repository: str
    version: str
    wheel_url: str = ""
    repository: str = ""   # the instructor's repository; only named in maintainers' docs

    def __post_init__(self):
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", self.learner_repository or ""):
            raise BuildError(f"[tool.course] learner_repository must be 'owner/name', got {self.learner_repository!r}")
        if not re.fullmatch(r"\d+(\.\d+)*([ab]|rc)?\d*", self.version or ""):
            raise BuildError(f"[project] version must be a release number such as '1.2.0', got {self.version!r}")
        if self.repository and self.repository == self.learner_repository:
            raise BuildError("[tool.course] learner_repository must not be the instructor's repository "
                             f"{self.repository!r}: it would hand learners solutions/")

    @classmethod
    def load(cls, root: Path = ROOT) -> "CourseConfig":
        import tomllib  # Python >= 3.11; building notebooks is a maintainer's task
        data = tomllib.loads((root / "pyproject.toml").read_text())
        course = data.get("tool", {}).get("course", {})
        if "learner_repository" not in course:
            raise BuildError(f"{root / 'pyproject.toml'}: [tool.course] needs learner_repository = 'owner/name'")
        return cls(course["learner_repository"], str(data.get("project", {}).get("version", "")),
                   course.get("wheel_url", ""), course.get("repository", ""))

    @property
    def tag(self) -> str:
        """The learner repository's tag of this release."""
        return f"v{self.version}"

    def colab_url(self, notebook: str) -> str:
        """The notebook in the learner repository at this release's tag (never a moving branch)."""
        return (f"https://colab.research.google.com/github/{self.learner_repository}/blob/"
                f"{self.tag}/notebooks/{notebook}")

    def install_spec(self) -> str:
        """What pip installs on Colab: the learner wheel of this version, or the learner repository at its tag."""
        if self.wheel_url:
            return f"course_utils @ {self.wheel_url.format(version=self.version)}"
        return f"course_utils @ git+https://github.com/{self.learner_repository}@{self.tag}"

    def install_command(self, spec: str | None = None) -> str:
        """The setup cell's pip arguments: only the course package, pinned, never its dependencies.

        Colab already has every runtime dependency (torch, numpy, matplotlib, ipywidgets, tqdm); ``--no-deps``
        keeps pip from upgrading any of them (ipywidgets 7.7 stays 7.7).
        """
        return f'pip install --quiet --no-deps "{spec or self.install_spec()}"'


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
        f"# Colab only: install the course's helper package, version {config.version}, and nothing else\n"
        "# (Colab has its dependencies; --no-deps leaves Colab's own packages as they are).\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    !{config.install_command()}")
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
    try:  # nbgrader's metadata, beside the course's, from the same fields (see nbgrader_meta)
        graded = nbgrader_meta.cell_metadata(solution.cells, path.name)
    except nbgrader_meta.NbgraderMetaError as error:
        raise BuildError(str(error)) from error
    for new in cells:
        if new.id in graded:
            new.metadata["nbgrader"] = graded[new.id]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"},
                         "course": {"version": config.version}}
    nbformat.validate(notebook)
    return notebook


def render(notebook) -> str:
    text = nbformat.writes(notebook, version=4)
    return text if text.endswith("\n") else text + "\n"


def build(root: Path = ROOT, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) every student notebook and the reference package derived from
    the solutions (:mod:`course_utils.instructor.reference_generator`); return the stale or written names."""
    try:
        generated = reference_generator.write(root, check=check)
    except reference_generator.ReferenceBuildError as error:
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
    stale_solutions = nbgrader_meta.sync_solutions(sources, check, render)  # solutions/ is nbgrader's source/
    existing = {p.name for p in target.glob("*.ipynb")} if target.exists() else set()
    changed = sorted(name for name, text in expected.items()
                     if name not in existing or (target / name).read_text() != text)
    extra = sorted(existing - set(expected))
    if check:
        return changed + [f"{name} (no solution notebook)" for name in extra] + stale_solutions
    target.mkdir(exist_ok=True)
    for name in changed:
        (target / name).write_text(expected[name])
    for name in extra:
        (target / name).unlink()
    return changed + extra + stale_solutions


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
