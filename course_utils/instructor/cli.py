"""Command line of the instructor tools (run as ``python -m course_utils``).

- ``python -m course_utils build [--check] [--clean-solutions]``: generate notebooks/ from solutions/
- ``python -m course_utils grade SUBMISSIONS --out DIR [--workers N] [--timeout S] [--memory-limit SIZE] [--resume]``
- ``python -m course_utils release --out DIR [--graded [--withhold-from NN]]``: the learner bundle (folder,
  zip) and the learner wheel; a graded one without the references of notebooks NN and later
- ``python -m course_utils site --out DIR [--graded [--withhold-from NN]]``: the course as a static website
- ``python -m course_utils gradescope --out autograder.zip [--notebook NN]``: Gradescope's autograder zip
- ``python -m course_utils prairielearn --out DIR [--notebook NN ...]``: PrairieLearn questions and grader
"""
from __future__ import annotations

import argparse
import sys

from . import build


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate notebooks/ from solutions/")
    b.add_argument("--check", action="store_true", help="exit 1 and name the stale notebooks instead of writing")
    b.add_argument("--clean-solutions", action="store_true", help="first strip outputs from solutions/")
    b.set_defaults(run=build.main)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks (see docs/INSTRUCTORS.md)")
    from .grading import batch
    batch.add_arguments(g)
    g.set_defaults(run=batch.main)
    gs = sub.add_parser("gradescope", help="build the Gradescope autograder zip (setup.sh, run_autograder)")
    from .grading import gradescope
    gradescope.add_arguments(gs)
    gs.set_defaults(run=gradescope.main)
    pl = sub.add_parser("prairielearn", help="write PrairieLearn questions, their grader and images (external grading)")
    from .grading import prairielearn
    prairielearn.add_arguments(pl)
    pl.set_defaults(run=prairielearn.main)
    r = sub.add_parser("release", help="write the learner bundle (student notebooks, package, setup), its zip and the learner wheel")
    from . import release
    release.add_arguments(r)
    r.set_defaults(run=release.main)
    s = sub.add_parser("site", help="build the course as a static website (needs the `site` extra)")
    from . import site
    site.add_arguments(s)
    s.set_defaults(run=site.main)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
