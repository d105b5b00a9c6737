"""Which exercises have passed their check in this kernel, and which ones later cells wait for.

Kept apart from the check code on purpose: grading re-imports ``course_utils.feedback`` and
``course_utils.checks`` fresh before every check cell, and this record must survive that.
"""

PASSED: set = set()
"""Exercise ids whose check passed in this kernel."""

PASSED_WITH: dict = {}
"""Exercise id -> the learner's object (function or class) that passed its check in this kernel. Where a graded
release withholds an exercise's reference, later cells and models build on this one instead
(:func:`course_utils.references.implementation`)."""

WAITING: list = []
"""Exercise ids that are unfinished while their reference is withheld; see :mod:`course_utils.skipping`."""
