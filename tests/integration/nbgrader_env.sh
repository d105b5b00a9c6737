#!/usr/bin/env bash
# Make a Python with nbgrader for tests/integration/test_nbgrader.py, without touching the test
# environment: a venv at $1 (default .venv-nbgrader) that sees the current environment's packages
# (a .pth file) and adds only nbgrader (pinned in pyproject.toml's `nbgrader` extra) and what it needs. The browser test's JupyterLab
# therefore never loads nbgrader's lab and server extensions (its menus would change the screenshots).
# Prints the line to export: NBGRADER_PYTHON=<venv>/bin/python
set -euo pipefail
VENV="${1:-.venv-nbgrader}"
BASE_PYTHON="${PYTHON:-python}"
SITE=$("$BASE_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
REAL=$("$BASE_PYTHON" -c 'import sys; print(sys._base_executable)')
"$REAL" -m venv "$VENV"
VSITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$SITE" > "$VSITE/_course_test_env.pth"
HERE="$(cd "$(dirname "$0")/../.." && pwd)"
PIN=$("$BASE_PYTHON" -c 'import sys, tomllib; extra = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["nbgrader"]; print(next(r for r in extra if r.startswith("nbgrader")))' "$HERE/pyproject.toml")
"$VENV/bin/python" -m pip install --quiet "$PIN"
echo "NBGRADER_PYTHON=$VENV/bin/python"
