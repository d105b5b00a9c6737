"""Tests' own copies of the course's references.

A check rejects the course's reference of its own exercise (see ``course_utils.provenance``), so tests that
need a correct answer use a copy: the generated reference module executed again as a new module. Its
classes and functions are new objects, as a learner's own correct code would be.
"""
import importlib.util
from pathlib import Path

from course_utils import references

_COPIES = {}


def own(exercise_id: str):
    """A fresh copy of the reference of ``exercise_id`` (the same code, not the same object)."""
    module_name, name = references.INDEX[exercise_id]
    if module_name not in _COPIES:
        path = Path(references.__file__).with_name(f"{module_name}.py")
        spec = importlib.util.spec_from_file_location(f"tests_own_copy_{module_name}", path)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = references.__name__          # its `from .nb04 import ...` stays the real one
        spec.loader.exec_module(module)
        _COPIES[module_name] = module
    return getattr(_COPIES[module_name], name)
