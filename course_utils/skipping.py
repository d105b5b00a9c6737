"""Let a notebook run on when it needs the reference of an unfinished exercise that this release withholds.

A graded release leaves out the references of the assessed notebooks (``course_utils/references/nbNN.py``).
A cell that needs one (through :func:`course_utils.feedback.yours_or_reference` before the exercise has
passed, or through a model whose default building block is that reference) then raises
:class:`course_utils.references.Withheld`. Where references are missing, two IPython hooks are installed
by :func:`course_utils.setup` (the first code cell of each notebook calls it; a check or ``yours_or_reference``
installs them too, for notebooks handed out before ``setup`` existed):

1. an AST transformer (:class:`GuardWithheld`) runs every cell except check cells under a guard: a
   ``Withheld`` stops the cell, prints which exercise to finish first and *arms* that exercise;
2. an input transformer (:func:`transform`): while an exercise is armed, a cell is replaced by one line
   saying it was skipped, unless it is a check cell (it imports :mod:`course_utils.checks`) or only
   defines things (every top-level statement is a ``def``, ``class`` or ``import``, such as a TODO cell).

When the check of an armed exercise passes, the check disarms it (see :func:`course_utils.feedback.exercise`)
and the cells below run again. So an unsolved notebook of a graded release runs top to bottom with only
its check cells failing. The state lives in :mod:`course_utils.exercise_state`, which grading's fresh
re-import of the check modules leaves alone. With every reference present (self-study release, the
instructor's package) nothing is installed and cells run unchanged.
"""
from __future__ import annotations

import ast

from . import exercise_state

CHECK_IMPORT = "course_utils.checks"
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def armed() -> list[str]:
    """The exercises that later cells wait for, in the order they were armed."""
    return list(exercise_state.WAITING)


def arm(exercise_id: str) -> None:
    """Skip later dependent cells until ``exercise_id`` passes its check."""
    if exercise_id not in exercise_state.WAITING:
        exercise_state.WAITING.append(exercise_id)


def disarm(exercise_id: str) -> None:
    if exercise_id in exercise_state.WAITING:
        exercise_state.WAITING.remove(exercise_id)


def is_check_cell(source: str) -> bool:
    return CHECK_IMPORT in source


def runs_anyway(source: str) -> bool:
    """Whether a cell runs while exercises are armed: a check cell, or one that only defines things."""
    if is_check_cell(source):
        return True
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True                       # let Python report it as usual
    return all(isinstance(node, _DEFINITIONS)
               or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
               for node in tree.body)


def skip_message() -> str:
    return f"⏭️  skipped: finish exercise {', '.join(exercise_state.WAITING)} first"


def finish_first_message(exercise_id: str, name: str) -> str:
    return (f"⏸️  Finish exercise {exercise_id} first: this cell needs {name}, and this release does not include "
            f"the course's reference for it. Make its check pass in this kernel; in a later notebook, paste your "
            f"passing {name} from notebook {exercise_id[:2]} into a cell here and run that notebook's check on it "
            f"(`from course_utils.checks import nb{exercise_id[:2]}`). Later cells are skipped until then.")


def withheld(error) -> None:
    """What a guarded cell does when it meets a withheld reference: say what to finish, arm the exercise."""
    exercise_id = getattr(error, "exercise_id", None) or "?"
    print(finish_first_message(exercise_id, getattr(error, "name", "its reference")))
    arm(exercise_id)


def guard(thunk):
    """Evaluate a cell's last expression; a withheld reference is reported instead of raised."""
    from .references import Withheld
    try:
        return thunk()
    except Withheld as error:
        withheld(error)
        return None


def transform(lines: list[str]) -> list[str]:
    """IPython input transformer: a cell's lines, or one ``print`` of the skip message."""
    if not exercise_state.WAITING or runs_anyway("".join(lines)):
        return lines
    return [f"print({skip_message()!r})\n"]


_GUARD = '''
try:
    pass
except __import__("course_utils.references", fromlist=["Withheld"]).Withheld as _course_withheld:
    __import__("course_utils.skipping", fromlist=["withheld"]).withheld(_course_withheld)
    _course_cell_ok = False
else:
    _course_cell_ok = True
'''


class GuardWithheld(ast.NodeTransformer):
    """Wrap a cell in ``try/except Withheld`` and keep its last expression displayed when it ran."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        if not node.body or is_check_cell(ast.unparse(node)):
            return node
        body = list(node.body)
        last = body.pop() if isinstance(body[-1], ast.Expr) else None
        if last is not None and any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr))
                                    for n in ast.walk(last)):
            body.append(last)             # cannot go into a lambda: leave it unguarded inside the try
            last = None
        wrapped = ast.parse(_GUARD).body
        if body:
            wrapped[0].body = body
        if last is not None:
            call = ast.parse('__import__("course_utils.skipping", fromlist=["guard"]).guard(lambda: None) '
                             'if _course_cell_ok else None', mode="eval").body
            call.body.args[0].body = last.value
            wrapped.append(ast.Expr(call))
        node.body = wrapped
        return ast.fix_missing_locations(node)


def running_shell():
    """The running IPython shell, or ``None`` (plain Python, or IPython not installed)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def install(shell=None) -> bool:
    """Install both hooks into the running IPython shell if some reference is withheld; return whether."""
    from . import references
    if references.complete():
        return False
    shell = shell or running_shell()
    if shell is None:
        return False
    if not any(getattr(t, "__qualname__", "") == transform.__qualname__ for t in shell.input_transformers_post):
        shell.input_transformers_post.append(transform)
    if not any(type(t).__name__ == GuardWithheld.__name__ for t in shell.ast_transformers):
        shell.ast_transformers.append(GuardWithheld())
    return True
