"""Every ``assert`` of a notebook cell, rewritten to record whether it held and by how much.

The seed-robustness table (:mod:`benchmarks.seed_robustness`) runs each solved notebook under many seed lists.
A pass/fail count alone cannot show a failure rate below one in the number of lists run; the *margin* can: how far
the compared quantity was from its threshold, positive when the assert held. :func:`instrument` rewrites a cell's
source so that each ``assert TEST, MESSAGE`` becomes ``_margins.record(CELL, LINE, lambda: MARGIN(TEST))``, where
``MARGIN`` is built from the test's shape:

- ``a < b`` and ``a <= b``: ``b - a``; ``a > b`` and ``a >= b``: ``a - b``; a chain ``a < b < c``: the smallest of
  its links; ``==``, ``!=``, ``in``, ``is``: held or not, no margin;
- ``p and q``: the smallest margin of the parts; ``p or q``: the largest; ``not p``: minus the margin of ``p``;
- ``all(... for ...)``: the smallest margin over the items; ``any(...)``: the largest;
- anything else: held or not, no margin.

The recorded assert does not raise, so every assert of the notebook is measured on every list (a failing one does
not hide those after it). An assert reached several times (inside a loop) keeps its smallest margin and fails if
any pass failed. This module runs inside the notebook's kernel and needs only the standard library.
"""
from __future__ import annotations

import ast
import json
import math
import os

NAME = "_margins"          # the name the rewritten cells call this module by
ORDERING = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


# --- kernel side: evaluate a test and its margin ---------------------------------------------------------------

def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):     # tensors of several elements, strings, None
        return None
    return number if math.isfinite(number) else None


def _smallest(margins):
    present = [m for m in margins if m is not None]
    return min(present) if present else None


def _largest(margins):
    present = [m for m in margins if m is not None]
    return max(present) if present else None


def compare(operands: list, operators: list[str]) -> tuple[bool, float | None]:
    """``operands[0] operators[0] operands[1] ...`` as Python chains it; the margin is the smallest link's."""
    held, margins = True, []
    for left, op, right in zip(operands, operators, operands[1:]):
        link = {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right,
                "==": left == right, "!=": left != right}.get(op)
        if link is None:                                   # in, not in, is, is not: evaluated by plain()
            raise ValueError(f"compare() takes ordering and equality operators, got {op!r}")
        held = held and bool(link)
        if op in ("<", "<="):
            margins.append(_difference(right, left))
        elif op in (">", ">="):
            margins.append(_difference(left, right))
    return held, _smallest(margins)


def _difference(big, small) -> float | None:
    a, b = _number(big), _number(small)
    return None if a is None or b is None else a - b


def both(*parts) -> tuple[bool, float | None]:
    """``p and q and ...``, each part a function returning (held, margin). As ``and`` does, a part is not needed
    once an earlier one failed, so an error there (``x is not None and x > 1``) ends the test as failed."""
    results = []
    for part in parts:
        try:
            results.append(part())
        except Exception:
            if all(held for held, _ in results):
                raise
            break
    held = len(results) == len(parts) and all(held for held, _ in results)
    return held, _smallest(m for _, m in results)


def either(*parts) -> tuple[bool, float | None]:
    """``p or q or ...``: held when one part holds; the margin is the largest part's. A part after a holding one is
    not needed, so an error there ends the test as held."""
    results = []
    for part in parts:
        try:
            results.append(part())
        except Exception:
            if not any(held for held, _ in results):
                raise
            break
    return any(held for held, _ in results), _largest(m for _, m in results)


def negated(result) -> tuple[bool, float | None]:
    held, margin = result
    return (not held), (None if margin is None else -margin)


def every(results) -> tuple[bool, float | None]:
    """``all(...)``: held when every item holds; the margin is the smallest item's."""
    results = list(results)
    return all(held for held, _ in results), _smallest(m for _, m in results)


def some(results) -> tuple[bool, float | None]:
    """``any(...)``: held when one item holds; the margin is the largest item's."""
    results = list(results)
    return any(held for held, _ in results), _largest(m for _, m in results)


def plain(value) -> tuple[bool, None]:
    return bool(value), None


def record(cell_id: str, line: int, text: str, evaluate) -> None:
    """Evaluate one assert's test (``evaluate()`` returns (held, margin)) and append it to ``COURSE_MARGINS_FILE``.
    An exception while evaluating is the cell's error, raised as the plain assert would have raised it."""
    held, margin = evaluate()
    path = os.environ.get("COURSE_MARGINS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"cell": cell_id, "line": line, "text": text, "held": bool(held),
                                  "margin": margin}) + "\n")


# --- maintainer side: rewrite a cell's source ------------------------------------------------------------------

def _call(function: str, *args) -> ast.Call:
    return ast.Call(func=ast.Attribute(value=ast.Name(NAME, ast.Load()), attr=function, ctx=ast.Load()),
                    args=list(args), keywords=[])


def _thunk(expression: ast.expr) -> ast.Lambda:
    return ast.Lambda(args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
                      body=expression)


def margin_expression(test: ast.expr) -> ast.expr:
    """An expression that evaluates ``test`` to (held, margin), built from the functions above."""
    if isinstance(test, ast.Compare) and all(type(op) in ORDERING or isinstance(op, (ast.Eq, ast.NotEq))
                                             for op in test.ops):
        names = [ORDERING.get(type(op)) or ("==" if isinstance(op, ast.Eq) else "!=") for op in test.ops]
        return _call("compare", ast.List([test.left, *test.comparators], ast.Load()),
                     ast.List([ast.Constant(n) for n in names], ast.Load()))
    if isinstance(test, ast.BoolOp):
        function = "both" if isinstance(test.op, ast.And) else "either"
        return _call(function, *[_thunk(margin_expression(value)) for value in test.values])
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _call("negated", margin_expression(test.operand))
    if (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id in ("all", "any")
            and len(test.args) == 1 and not test.keywords
            and isinstance(test.args[0], (ast.GeneratorExp, ast.ListComp))):
        items = test.args[0]
        generator = ast.GeneratorExp(elt=margin_expression(items.elt), generators=items.generators)
        return _call("every" if test.func.id == "all" else "some", generator)
    return _call("plain", test)


class _Rewriter(ast.NodeTransformer):
    def __init__(self, cell_id: str, lines: list[str]):
        self.cell_id, self.lines = cell_id, lines

    def visit_Assert(self, node: ast.Assert):
        text = self.lines[node.lineno - 1].strip()
        call = _call("record", ast.Constant(self.cell_id), ast.Constant(node.lineno), ast.Constant(text),
                     _thunk(margin_expression(node.test)))
        return ast.copy_location(ast.Expr(call), node)


def instrument(source: str, cell_id: str) -> str | None:
    """``source`` with every assert recorded instead of raised, or None when it has no assert or is not plain Python
    (a cell with IPython magics is left as it is)."""
    if "assert" not in source:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
        return None
    tree = ast.fix_missing_locations(_Rewriter(cell_id, source.splitlines()).visit(tree))
    return ast.unparse(tree)
