"""Import alias: ``course_utils._folded`` is :mod:`course_utils.training.folding` (``Folded``, ``check_folded``).

The folding of several seeds' models into one batch now lives in the training package. This module makes the
old name the new module itself, not a copy, so code that imported it keeps the same objects (``isinstance``,
monkeypatching). New code imports ``from course_utils.training.folding import Folded``.
"""
import sys

from .training import folding as _module

sys.modules[__name__] = _module
