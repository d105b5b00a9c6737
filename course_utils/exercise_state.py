"""Which exercises have passed their check in this kernel.

Kept apart from the check code on purpose: grading re-imports ``course_utils.feedback`` and
``course_utils.checks`` fresh before every check cell, and this record must survive that.
"""

PASSED: set = set()
