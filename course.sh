#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./course.sh lab    set up (once) and open the course in JupyterLab
#   ./course.sh test   set up (once) and run the tests: unit tests and every solved notebook under nbval
#   ./course.sh test-integration [FILE...]   the second tier, tests/integration/ (or only the test files named):
#                      whole-course grading, every student notebook run as handed out, the real-browser test
#   ./course.sh test-all [pytest args]   both tiers in one run, what CI runs (.ci/run; about 12 minutes on 2 cores, BENCHMARKS.md 9);
#                      as root it first installs Debian's Chromium for the browser tests (.ci/install-browser.sh)
#   ./course.sh site [--out DIR]   build the course as a static website (default site/; open site/index.html):
#                      every notebook's page with the solved run's outputs, TODO cells as handed out
# Set-up creates .venv/ with Python 3.11+ and installs the course with its dependencies.
# PIP_CONSTRAINT (e.g. .ci/constraints.txt) pins packages; CI uses it for the CPU build of PyTorch.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

# setup TARGET [PIP FLAGS]: ".[lab]" for the course and JupyterLab, ".[test]" for that plus the instructor and test
# tools; the flags go to pip's install of TARGET.
setup() {
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  local stamp=".venv/.installed-$(echo "$1" | tr -c 'a-z' '_')"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e "$1" "${@:2}"
    touch "$stamp"
  fi
}

case "${1:-}" in
  lab)
    setup ".[lab]"
    root_flag=()
    if [ "$(id -u)" = 0 ]; then root_flag=(--allow-root); fi   # containers often run as root
    exec .venv/bin/jupyter lab "${root_flag[@]}" notebooks/ "${@:2}"
    ;;
  test)
    if [ ! -d tests ]; then
      echo "no tests/ here: the learner bundle ships notebooks only; run the tests from the course repository" >&2
      exit 2
    fi
    setup ".[test]"
    exec .venv/bin/python -m pytest tests solutions --ignore=tests/integration --nbval-lax --nbval-current-env \
      -n "${WORKERS:-2}" --dist loadfile "${@:2}"
    ;;
  test-integration)
    if [ ! -d tests/integration ]; then
      echo "no tests/integration/ here: run the tests from the course repository" >&2
      exit 2
    fi
    setup ".[test]"
    shift
    files=()      # test files named first run alone (e.g. tests/integration/test_nbgrader.py); default: the whole tier
    while [ $# -gt 0 ] && [ -f "$1" ]; do files+=("$1"); shift; done
    exec .venv/bin/python -m pytest "${files[@]:-tests/integration}" -n "${WORKERS:-2}" --dist loadfile "$@"
    ;;
  test-all)
    if [ ! -d tests/integration ]; then
      echo "no tests/integration/ here: run the tests from the course repository" >&2
      exit 2
    fi
    if [ "$(id -u)" = 0 ]; then
      .ci/install-browser.sh
    elif [ ! -x /usr/bin/chromium ]; then
      echo "test-all: not root, so Chromium is not installed for the browser tests (they skip, or fail under CI);" \
           "install it with: sudo .ci/install-browser.sh" >&2
    fi
    # Installs skip byte-compiling (--no-compile: half of the set-up's time, most of it for modules no test imports);
    # a module is compiled when it is first imported and written beside it, so later processes read it.
    unset PYTHONDONTWRITEBYTECODE
    # the second tier's torch environment (tests/integration/venvs.py), built beside .venv's set-up: one core each
    torch_env=$(mktemp -d -t course-torch-env-XXXXXX)
    trap 'rm -rf "$torch_env"' EXIT
    "$PY" tests/integration/venvs.py torch-env "$torch_env" > "$torch_env.log" 2>&1 &
    building=$!
    setup ".[test]" --no-compile
    if wait "$building"; then
      export COURSE_TEST_TORCH_ENV="$torch_env"
    else
      echo "test-all: building the torch environment beside the set-up failed (the tests build it again):" >&2
      tail -5 "$torch_env.log" >&2
    fi
    rm -f "$torch_env.log"
    status=0
    .venv/bin/python -m pytest tests solutions --nbval-lax --nbval-current-env \
      -n "${WORKERS:-2}" --dist loadfile --no-loadscope-reorder "${@:2}" || status=$?
    exit "$status"
    ;;
  site)
    if [ ! -d solutions ]; then
      echo "no solutions/ here: the learner bundle ships notebooks only; build the site from the course repository" >&2
      exit 2
    fi
    setup ".[site]"
    shift
    out=()
    case " $* " in *" --out "*|*" --out="*) ;; *) out=(--out site) ;; esac
    exec .venv/bin/python -m course_utils site "${out[@]}" "$@"
    ;;
  *)
    echo "usage: ./course.sh lab | test [pytest args] | test-all [pytest args] | test-integration [FILE...] [pytest args] | site [--out DIR]" >&2
    exit 2
    ;;
esac
