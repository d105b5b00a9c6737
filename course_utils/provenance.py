"""Is an answer the course's own reference of that same exercise?

A self-study release ships every reference. An exercise answered with
its own reference (imported or aliased, subclassed, or wrapped: an object holding a reference submodule, a
function or method that calls the reference through its globals, closure or defaults) must not score, so
:func:`course_utils.feedback.exercise` asks :func:`reference_route` before running a check, and
:meth:`course_utils.feedback.Check.build` asks :func:`holds_reference` of every model it builds. Building on the
references of *other* (earlier) exercises, as the notebooks do (05 on 04's ``CrossAttentionLayer``), is fine.

Where a release withholds the reference there is nothing to find, and nothing is checked; grading's kernel is
such a release for the notebook it grades (``course_utils/instructor/grading/runtime.py``). What this does not
see: a copy of the reference's source text (``inspect.getsource`` plus ``exec``) is new code, not the
reference; a graded release, and grading's kernel, contain no such source (docs/AUTHORING.md).
"""
from __future__ import annotations

import dis
import functools
import types

from torch import nn

_MAX_DEPTH = 4


def _reference(exercise_id: str):
    """The reference of ``exercise_id``; ``None`` where this release withholds it, or where the id belongs to no
    notebook of the course (a course of one's own, such as the tests' tiny ones). An id the course's notebook does
    not have (a mistyped ``07.fsue``) is an error: it would silently switch the reference-use test off."""
    from . import references
    notebook = exercise_id.split(".")[0]
    if exercise_id not in references.INDEX:
        known = sorted(ex for ex in references.INDEX if ex.split(".")[0] == notebook)
        if known:
            raise KeyError(f"notebook {notebook} has no exercise {exercise_id!r}; its exercises: {', '.join(known)}")
        return None
    try:
        return references.reference(exercise_id)
    except references.Withheld:
        return None


def _is_ref(obj, ref) -> bool:
    if obj is ref:
        return True
    if isinstance(ref, type) and isinstance(obj, type):
        try:
            return issubclass(obj, ref)
        except TypeError:
            return False
    return False


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _global_paths(code: types.CodeType):
    """``(name, attribute, ...)`` chains the code loads from its globals: ``fusion.product_of_experts`` gives
    ``("fusion", "product_of_experts")``, a plain global ``("name",)``."""
    chain: list = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            if chain:
                yield tuple(chain)
            chain = [ins.argval]
        elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and chain:
            chain.append(ins.argval)
        elif chain:
            yield tuple(chain)
            chain = []
    if chain:
        yield tuple(chain)


def _referenced(fn) -> list:
    """The objects a function can reach by name: the globals it loads (with the attributes it reads of them),
    its closure cells and defaults."""
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    namespace = getattr(fn, "__globals__", {})
    found = []
    for path in {p for c in _code_objects(code) for p in _global_paths(c)}:
        if path[0] not in namespace:
            continue
        value = namespace[path[0]]
        found.append(value)
        for attribute in path[1:]:                            # module.attribute, e.g. fusion.product_of_experts
            if not isinstance(value, (types.ModuleType, type)):
                break
            try:
                value = getattr(value, attribute)
            except Exception:  # noqa: BLE001 - a withheld or missing attribute is simply not there
                break
            found.append(value)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            found.append(cell.cell_contents)
        except ValueError:                                   # an empty cell
            pass
    found += list(getattr(fn, "__defaults__", None) or ()) + list((getattr(fn, "__kwdefaults__", None) or {}).values())
    return found


def _route(obj, ref, depth: int, seen: set) -> str:
    if id(obj) in seen or depth > _MAX_DEPTH:
        return ""
    seen.add(id(obj))
    name = getattr(ref, "__name__", "the reference")
    if obj is ref:
        return f"is the course's reference {name} itself (imported or aliased)"
    if isinstance(obj, type):
        if isinstance(ref, type) and _is_ref(obj, ref):
            return f"subclasses the course's reference {name}"
        for klass in obj.__mro__:
            if klass.__module__ in ("builtins", "torch.nn.modules.module") or klass.__module__.startswith("torch."):
                continue
            for attribute in vars(klass).values():
                if _is_ref(attribute, ref):
                    return f"keeps the course's reference {name} as an attribute of {klass.__name__}"
                reason = _route_callable(attribute, ref, depth, seen)
                if reason:
                    return reason
        return ""
    if isinstance(obj, functools.partial):
        return _route(obj.func, ref, depth + 1, seen) or \
            next((r for r in (_route(a, ref, depth + 1, seen) for a in obj.args) if r), "")
    if not isinstance(obj, (types.FunctionType, types.MethodType)) and callable(obj):
        return _route(type(obj), ref, depth + 1, seen)        # an object with __call__
    return _route_callable(obj, ref, depth, seen)


def _route_callable(fn, ref, depth: int, seen: set) -> str:
    target = getattr(fn, "__func__", fn)
    if isinstance(target, (staticmethod, classmethod)):
        target = target.__func__
    if not isinstance(target, types.FunctionType):
        return ""
    for value in _referenced(target):
        if _is_ref(value, ref):
            return (f"calls the course's reference {getattr(ref, '__name__', '')} "
                    f"(from {getattr(target, '__qualname__', 'a function')})")
        if isinstance(value, (types.FunctionType, type, functools.partial)) and id(value) not in seen:
            reason = _route(value, ref, depth + 1, seen)
            if reason:
                return reason
    return ""


def reference_route(exercise_id: str, answers) -> str:
    """Why one of ``answers`` is the reference of ``exercise_id`` (``""`` when none is, or it is withheld)."""
    ref = _reference(exercise_id)
    if ref is None:
        return ""
    for answer in answers:
        reason = _route(answer, ref, 0, set())
        if reason:
            return reason
    return ""


def holds_reference(exercise_id: str, obj) -> str:
    """Why the built object ``obj`` is or contains an instance of the reference of ``exercise_id`` (or ``""``)."""
    ref = _reference(exercise_id)
    if not isinstance(ref, type):
        return ""
    parts = obj.modules() if isinstance(obj, nn.Module) else [obj]
    for part in parts:
        if isinstance(part, ref):
            where = "is" if part is obj else f"holds ({type(part).__name__})"
            return f"{where} an instance of the course's reference {ref.__name__}"
    return ""
