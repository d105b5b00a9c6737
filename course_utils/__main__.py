"""Command line of the course: ``python -m course_utils build|grade|release``.

The commands belong to the instructor and maintainer tools (:mod:`course_utils.instructor`), which
the learner distribution leaves out. Where they are missing, this says what to install.
"""
from __future__ import annotations

import sys

INSTALL_HINT = ('the instructor tools are not installed here: from the course repository run '
                '`pip install -e ".[instructor]"` (they bring nbval, pytest, nbclient and nbformat)')


def main(argv=None) -> int:
    try:
        from .instructor.grading._entry import without_slow_optional_imports
        without_slow_optional_imports()            # before nbformat (imported by the commands) loads jsonschema
        from .instructor import cli
    except ImportError as error:  # the learner wheel, or the instructor extra not installed
        print(f"python -m course_utils: {INSTALL_HINT} ({error})", file=sys.stderr)
        return 2
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
