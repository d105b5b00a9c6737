"""Import alias: ``course_utils.instructor.references`` is :mod:`course_utils.instructor.reference_generator`.

The module generates ``course_utils/references/`` from the solution notebooks; its name now says it is the
generator, not the references. This module makes the old name the new module itself, not a copy, so scripts
that imported it keep the same objects (monkeypatching included).
"""
import sys

from . import reference_generator as _module

sys.modules[__name__] = _module
