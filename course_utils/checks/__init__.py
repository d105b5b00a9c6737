"""Exercise checks, one module per notebook (``nb01`` checks notebook 01, and so on).

Check cells import the module they need, e.g. ``from course_utils.checks import nb01``.
The machinery they share lives in :mod:`course_utils.feedback`.
"""
