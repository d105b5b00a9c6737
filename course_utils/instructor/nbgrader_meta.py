"""nbgrader cell metadata (schema version 3), derived from the course's own cell metadata.

The course marks its cells once, in ``solutions/``; nbgrader's metadata is written beside it by the build,
from the same fields, so that ``solutions/`` can be an nbgrader ``source/`` folder as it is:

===========================================  ==============================================================
course cell                                  ``metadata.nbgrader``
===========================================  ==============================================================
check cell ``course = {check, points}``      autograded test cell: ``grade``, not ``solution``, ``locked``,
                                             same ``points``, ``grade_id`` from the exercise id
                                             (``02.early_fusion`` -> ``02_early_fusion``)
code cell with a solution region (TODO)      solution cell: ``solution``, not ``grade``, not ``locked``;
                                             ``grade_id`` = the exercise checked next, plus ``_code``
                                             (``02_early_fusion_code``; ``_code2`` ... for a second one)
markdown cell with a solution region         manually graded answer cell: ``solution`` and ``grade``,
(reflection answer, ``course.question``)     ``points`` from ``course.points`` (0 is allowed by nbgrader:
                                             the answer is shown in formgrader and adds nothing to the total,
                                             as in the course's grader); ``grade_id`` from the question id
                                             (``02.q1`` -> ``02_q1``), or from the cell id without one
every other cell                             none (a stray ``nbgrader`` entry is removed)
===========================================  ==============================================================

nbgrader allows only letters, digits, ``_`` and ``-`` in a ``grade_id``; every derived id is checked.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

SCHEMA_VERSION = 3
BEGIN = "### BEGIN SOLUTION"
GRADE_ID = re.compile(r"[A-Za-z0-9_-]+")


class NbgraderMetaError(ValueError):
    """A cell cannot be given valid nbgrader metadata; the message names notebook and cell."""


def grade_id(course_id: str) -> str:
    """nbgrader's ``grade_id`` for a course id: ``"02.early_fusion"`` -> ``"02_early_fusion"``."""
    derived = course_id.replace(".", "_")
    if not GRADE_ID.fullmatch(derived):
        raise NbgraderMetaError(f"{course_id!r} gives grade_id {derived!r}: only letters, digits, _ and - allowed")
    return derived


def _meta(grade_id_: str, *, grade: bool, solution: bool, locked: bool, points=None) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id_,
            "schema_version": SCHEMA_VERSION}
    if grade:
        meta["points"] = points
    return meta


def cell_metadata(cells, notebook: str = "notebook") -> dict[str, dict]:
    """``{cell id: nbgrader metadata}`` for the graded cells among the solution notebook's ``cells``.

    ``cells`` are the solved cells (solution regions still in place); cells not in the result get none.
    """
    result: dict[str, dict] = {}
    pending_code: list[str] = []          # TODO cells waiting for the check that follows them
    used: set[str] = set()

    def claim(cell, gid: str) -> str:
        if gid in used:
            raise NbgraderMetaError(f"{notebook}, cell {cell.get('id')!r}: grade_id {gid!r} is already used")
        used.add(gid)
        return gid

    for cell in cells:
        course = cell.metadata.get("course", {})
        has_region = BEGIN in cell.source
        if cell.cell_type == "code" and "check" in course:
            check = grade_id(course["check"])
            for n, cell_id in enumerate(pending_code, start=1):
                gid = claim(cell, f"{check}_code" if n == 1 else f"{check}_code{n}")
                result[cell_id] = _meta(gid, grade=False, solution=True, locked=False)
            pending_code = []
            result[cell.id] = _meta(claim(cell, check), grade=True, solution=False, locked=True,
                                    points=course["points"])
        elif cell.cell_type == "code" and has_region:
            pending_code.append(cell.id)
        elif cell.cell_type == "markdown" and (has_region or "question" in course):
            gid = grade_id(course["question"]) if "question" in course else grade_id(cell.id)
            result[cell.id] = _meta(claim(cell, gid), grade=True, solution=True, locked=False,
                                    points=course.get("points", 0))
    for cell_id in pending_code:          # a TODO cell no check follows: named by its cell id
        result[cell_id] = _meta(grade_id(cell_id), grade=False, solution=True, locked=False)
    return result


def annotate(notebook, name: str = "notebook") -> bool:
    """Set (or remove) ``metadata.nbgrader`` on every cell of a solution notebook; return whether it changed."""
    wanted = cell_metadata(notebook.cells, name)
    changed = False
    for cell in notebook.cells:
        if cell.get("id") in wanted:
            if cell.metadata.get("nbgrader") != wanted[cell.id]:
                cell.metadata["nbgrader"] = nbformat.from_dict(wanted[cell.id])
                changed = True
        elif "nbgrader" in cell.metadata:
            del cell.metadata["nbgrader"]
            changed = True
    return changed


def sync_solutions(sources: list[Path], check: bool, render) -> list[str]:
    """Bring the nbgrader metadata of the solution notebooks ``sources`` up to date (``render``: notebook ->
    text); with ``check`` only report. Returns ``solutions/<name>`` for each notebook that was (or is) stale."""
    stale = []
    for path in sources:
        notebook = nbformat.read(path, as_version=4)
        if annotate(notebook, path.name):
            stale.append(f"solutions/{path.name}")
            if not check:
                path.write_text(render(notebook))
    return stale
