"""Command line: ``python -m course_utils build [--check] [--clean-solutions]``."""
from __future__ import annotations

import argparse
import sys

from . import build


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate notebooks/ from solutions/")
    b.add_argument("--check", action="store_true", help="exit 1 and name the stale notebooks instead of writing")
    b.add_argument("--clean-solutions", action="store_true", help="first strip outputs from solutions/")
    b.set_defaults(run=build.main)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
