"""Skip the rest of a notebook that depends on an unfinished exercise whose reference is withheld.

In a graded release the references of the assessed notebooks are left out. When a cell asks for the
reference of an exercise that has not passed its check (:func:`course_utils.feedback.yours_or_reference`),
there is nothing to fall back on, so the exercise is *armed* here: from then on, every cell that does more
than define things is replaced, before it runs, by a line saying it was skipped. Cells that are kept:

- definition-only cells: every top-level statement is a ``def``, ``class`` or ``import`` (a TODO cell, so
  the learner can still write and re-run it);
- check cells (they import :mod:`course_utils.checks`), so the learner can still pass the exercise.

When the check of an armed exercise passes, it is disarmed (:func:`disarm`, called by the check) and the
cells below run again. The state lives in :mod:`course_utils.exercise_state`, which grading's fresh
re-import of the check modules leaves alone.
"""
from __future__ import annotations

import ast

from . import exercise_state

CHECK_IMPORT = "course_utils.checks"
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def armed() -> list[str]:
    """The exercises whose withheld reference later cells wait for, in the order they were armed."""
    return list(exercise_state.WAITING)


def arm(exercise_id: str) -> None:
    """Skip later dependent cells until ``exercise_id`` passes its check."""
    if exercise_id not in exercise_state.WAITING:
        exercise_state.WAITING.append(exercise_id)
    _install()


def disarm(exercise_id: str) -> None:
    if exercise_id in exercise_state.WAITING:
        exercise_state.WAITING.remove(exercise_id)


def runs_anyway(source: str) -> bool:
    """Whether a cell runs while exercises are armed: a check cell, or one that only defines things."""
    if CHECK_IMPORT in source:
        return True
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True                       # let Python report it as usual
    return all(isinstance(node, _DEFINITIONS)
               or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
               for node in tree.body)


def skip_message() -> str:
    waiting = ", ".join(exercise_state.WAITING)
    return f"⏭️  skipped: finish exercise {waiting} first (its reference is not part of this release)"


def transform(lines: list[str]) -> list[str]:
    """IPython input transformer: a cell's lines, or one ``print`` of the skip message."""
    if not exercise_state.WAITING or runs_anyway("".join(lines)):
        return lines
    return [f"print({skip_message()!r})\n"]


def _install() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    transformers = shell.input_transformers_post
    if not any(getattr(t, "__qualname__", "") == transform.__qualname__ and
               getattr(t, "__module__", "") == __name__ for t in transformers):
        transformers.append(transform)
