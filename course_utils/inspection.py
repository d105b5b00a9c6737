"""Import alias: ``course_utils.inspection`` is :mod:`course_utils.attention_inspection`.

The module only ever looked inside attention layers (their projections, ``attend``, the query/key gradients);
its name now says so. This module makes the old name the new module itself, not a copy, so code that imported
it keeps the same objects (``isinstance``, monkeypatching). New code imports
``from course_utils.attention_inspection import find_projections``.
"""
import sys

from . import attention_inspection as _module

sys.modules[__name__] = _module
