"""Read submissions, match them to course notebooks, and restore their check cells by id.

A course (reference) notebook is a student notebook from ``notebooks/``: its check cells carry
``metadata.course = {"check": "NN.name", "points": P}`` and a stable id ``check-NN-name``; its reflection
answer cells ``metadata.course = {"question": "NN.qK", "points": P}``. A notebook with reflection questions
but no check cell (the capstone) is graded too: it must run, and its answers go to marking.
"""
from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

PURGE_LINE = ("import sys as _gs, course_utils as _gc; [_gs.modules.pop(_m, None) for _m in list(_gs.modules) "
              "if _m == 'course_utils.feedback' or _m.startswith('course_utils.checks')]; "
              "[_gc.__dict__.pop(_a, None) for _a in ('feedback', 'checks')]  # grader: fresh check code\n")


class InvalidNotebook(ValueError):
    """The file is not a readable Jupyter notebook."""


@dataclass
class Reference:
    """One course notebook with its check cells in order."""

    path: Path
    cells: list                                     # nbformat cells
    checks: dict = field(default_factory=dict)      # check id -> points, in notebook order
    check_cells: dict = field(default_factory=dict)  # check id -> cell

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def cell_ids(self) -> set:
        return {c.get("id") for c in self.cells if c.get("id")}

    @property
    def max_points(self) -> float:
        return sum(self.checks.values())

    @property
    def questions(self) -> list:
        """The ids of its reflection questions (``metadata.course.question``), in notebook order."""
        return [meta["question"] for meta in map(question_meta, self.cells) if meta is not None]

    @classmethod
    def load(cls, path: Path) -> "Reference":
        nb = read_notebook(Path(path).read_bytes(), str(path))
        ref = cls(Path(path), nb.cells)
        for cell in nb.cells:
            check = _check_of(cell)
            if check:
                ref.checks[check] = cell.metadata["course"].get("points", 1)
                ref.check_cells[check] = cell
        return ref


def load_references(folder: Path) -> dict:
    """Every course notebook in ``folder`` with at least one check cell or reflection question, by file name."""
    refs = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        ref = Reference.load(path)
        if ref.checks or ref.questions:
            refs[ref.name] = ref
    if not refs:
        raise FileNotFoundError(f"no course notebooks with check cells or reflection questions in {folder}")
    return refs


def _check_of(cell) -> str | None:
    course = cell.get("metadata", {}).get("course")
    if isinstance(course, dict) and isinstance(course.get("check"), str):
        return course["check"]
    return None


def question_meta(cell) -> dict | None:
    """``metadata.course`` of a reflection answer cell (``{"question": "NN.qK", "points": P}``), else None."""
    course = cell.get("metadata", {}).get("course")
    if isinstance(course, dict) and isinstance(course.get("question"), str):
        return course
    return None


def read_notebook(data: bytes, where: str = "notebook"):
    """Parse notebook bytes; raise :class:`InvalidNotebook` with a short reason."""
    if not data.strip():
        raise InvalidNotebook("the file is empty")
    try:
        raw = json.loads(data.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise InvalidNotebook("JSON, but not a notebook (no 'cells' list)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as error:  # nbformat raises many kinds
        raise InvalidNotebook(f"not a valid notebook: {type(error).__name__}: {str(error)[:200]}") from None
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str):
            raise InvalidNotebook("a cell's source is not text")
    return nb


def fingerprint(nb) -> tuple[set, set]:
    """(cell ids, check ids) found in a notebook: the evidence used to match it to a course notebook."""
    ids = {c.get("id") for c in nb.cells if c.get("id")}
    checks = {_check_of(c) for c in nb.cells} - {None}
    return ids, checks


def score(nb, ref: Reference) -> int:
    ids, checks = fingerprint(nb)
    return len(ids & ref.cell_ids) + len(checks & set(ref.checks))


@dataclass
class Match:
    reference: Reference | None   # the course notebook to grade against (None: wrong notebook)
    notebook: str                 # name for the grade sheet
    problem: str = ""             # why it is the wrong notebook


def match(nb, file_name: str, refs: dict, assignment: str | None = None) -> Match:
    """Pick the course notebook a submission belongs to: by file name, else by its cell and check ids."""
    scores = {name: score(nb, ref) for name, ref in refs.items()}
    best = max(scores, key=lambda n: (scores[n], n == file_name))
    expected = assignment or (file_name if file_name in refs else None)
    if expected is not None:
        if scores[expected] > 0 or scores[best] == 0:
            return Match(refs[expected], expected)
        return Match(None, expected, f"this is notebook {best}, expected {expected}")
    if scores[best] > 0:
        return Match(refs[best], best)
    return Match(None, file_name, "matches no course notebook (no known cell or check ids)")


def restore(nb, ref: Reference):
    """The notebook to grade: the learner's cells with every check cell replaced by the reference's.

    - an edited check cell is replaced (source and metadata) by the reference cell with the same id,
      or else by the one whose ``metadata.course.check`` it carries;
    - copies of a check cell (same id or same check metadata) are dropped, so points cannot double;
    - a deleted check cell is put back after the nearest cell that precedes it in the reference;
    - ``course`` metadata on any other cell is removed (a learner cannot mint a check);
    - each restored check cell first drops ``course_utils.checks*`` and ``course_utils.feedback``
      from ``sys.modules`` so the check code is imported fresh (rebinding a check function in a
      learner cell earns nothing);
    - outputs are cleared (nbval-lax compares none anyway).
    """
    nb = copy.deepcopy(nb)
    ref_ids = {cell.get("id"): check for check, cell in ref.check_cells.items()}
    kept, claimed = [], set()
    # 1. exact id matches win over metadata matches
    by_id = {}
    for index, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if cid in ref_ids and ref_ids[cid] not in by_id:
            by_id[ref_ids[cid]] = index
    for index, cell in enumerate(nb.cells):
        check = ref_ids.get(cell.get("id")) or _check_of(cell)
        if check in ref.checks:
            anchor = by_id.get(check)
            if anchor is None and check not in claimed:
                anchor = index
                by_id[check] = index
            if anchor == index:
                claimed.add(check)
                kept.append(_restored(ref.check_cells[check]))
            continue  # a copy of a check cell, or a check of this notebook claimed already
        cell = copy.deepcopy(cell)
        if isinstance(cell.get("metadata", {}).get("course"), dict):
            del cell.metadata["course"]
        if cell.get("id") in ref_ids:  # the id of a check cell on a non-check cell: give it a fresh one
            cell["id"] = f"learner-{index}"
        kept.append(cell)
    # 2. put back deleted check cells
    order = [c.get("id") for c in ref.cells]
    for check, ref_cell in ref.check_cells.items():
        if check in claimed:
            continue
        position = len(kept)
        ref_pos = order.index(ref_cell.get("id"))
        present = {c.get("id"): i for i, c in enumerate(kept)}
        for previous in reversed(order[:ref_pos]):
            if previous in present:
                position = present[previous] + 1
                break
        kept.insert(position, _restored(ref_cell))
        claimed.add(check)
    for cell in kept:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb.cells = kept
    return nb


def _restored(ref_cell):
    cell = copy.deepcopy(ref_cell)
    cell["source"] = PURGE_LINE + cell["source"]
    cell["outputs"], cell["execution_count"] = [], None
    return cell


def write(nb, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Path(path).write_text(nbformat.writes(nb, version=4), encoding="utf-8")
