"""The reference of every exercise, looked up by exercise id.

Written by hand. What the build generates from the solution notebooks (``python -m course_utils build``,
:mod:`course_utils.instructor.reference_generator`) is data and per-notebook code: ``index.py`` (:data:`INDEX`) and
``nbNN.py``, notebook NN's references. A graded release leaves out the modules of the notebooks whose references
it withholds, and then :func:`reference` raises :class:`Withheld`.
"""
from __future__ import annotations

import importlib

from .index import INDEX     # exercise id -> (module, name) of its reference


class Withheld(LookupError):
    """The reference of an exercise is not part of this release (a graded release withholds it)."""

    def __init__(self, message: str, exercise_id: str = "", name: str = ""):
        super().__init__(message)
        self.exercise_id, self.name = exercise_id, name


def module_of(exercise_id: str) -> str:
    if exercise_id not in INDEX:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(sorted(INDEX))}")
    return INDEX[exercise_id][0]


def available(exercise_id: str) -> bool:
    """Whether the reference of ``exercise_id`` is importable in this installation."""
    try:
        importlib.import_module(f"{__name__}.{module_of(exercise_id)}")
    except ModuleNotFoundError:
        return False
    return True


def reference(exercise_id: str):
    """The course's reference for ``exercise_id`` (a function or class), or :class:`Withheld`."""
    module, name = module_of(exercise_id), INDEX[exercise_id][1]
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as error:
        if error.name not in (f"{__name__}.{module}", f"{__name__}.nb{exercise_id[:2]}"):
            raise
        raise Withheld(f"the reference of exercise {exercise_id} ({name}) is not part of this release: "
                       f"finish exercise {exercise_id} and pass its check", exercise_id, name) from None


def implementation(exercise_id: str):
    """What the course's models build on for ``exercise_id``: its reference, or, where this release withholds
    it, the learner's own implementation once it has passed its check in this kernel (so a graded notebook
    that builds on an earlier withheld exercise runs on the learner's code); else :class:`Withheld`."""
    try:
        return reference(exercise_id)
    except Withheld:
        from .. import exercise_state
        if exercise_id in exercise_state.PASSED_WITH:
            return exercise_state.PASSED_WITH[exercise_id]
        raise


def complete() -> bool:
    """Whether every exercise's reference is importable (a self-study release, the instructor's package)."""
    return all(available(exercise_id) for exercise_id in INDEX)


def lazy_exports(module: str, names: dict):
    """A module-level ``__getattr__`` for ``module`` that resolves ``names`` (``{attribute: exercise id}``) to
    the references on first use (see :func:`implementation`), so the module imports even where a graded
    release withholds them."""
    def __getattr__(attribute: str):
        if attribute in names:
            return implementation(names[attribute])
        raise AttributeError(f"module {module!r} has no attribute {attribute!r}")
    return __getattr__


def exercise_of(name: str) -> list[str]:
    """The exercise ids whose reference is called ``name``."""
    return [ex for ex, (_, n) in INDEX.items() if n == name]
