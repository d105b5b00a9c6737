"""Test-wide settings. Kernels started by nbval inherit this environment."""
import functools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
import solved_executions  # noqa: E402  (tests/solved_executions.py: nbval's solved runs kept for the site test)

os.environ.setdefault("COURSE_QUIET", "1")      # no progress bars in test and grading logs
os.environ.setdefault("MPLBACKEND", "Agg")      # figures render without a display
# The course's models are tiny: one thread per kernel is faster than several competing for the
# cores that pytest-xdist's workers already share (measured: 6.5 s vs 129 s for three small fits
# on a loaded 2-core machine).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The test environments are installed without byte-compiling (tests/integration/venvs.py, `./course.sh test-all`):
# each module is compiled on its first import and must be written then, or every kernel compiles torch again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# A kernel can die before it answers when another kernel, started at the same moment (the other xdist
# worker's), takes one of the ports jupyter_client picked for it ("Address already in use"; see
# course_utils.instructor.grading.runner.START_ATTEMPTS, where the grader does the same). nbval starts each
# notebook's kernel once; here it gets three tries, each with fresh ports.
KERNEL_START_ATTEMPTS = 3


def retrying_kernel_starts(start, attempts=KERNEL_START_ATTEMPTS):
    """``start`` (nbval's ``start_new_kernel``) called again, up to ``attempts`` calls, while it raises RuntimeError
    (jupyter_client's "Kernel died before replying to kernel_info" and "Kernel didn't respond")."""
    @functools.wraps(start)
    def start_new_kernel(*args, **kwargs):
        for attempt in range(1, attempts + 1):
            try:
                return start(*args, **kwargs)
            except RuntimeError:
                if attempt == attempts:
                    raise
    return start_new_kernel


def pytest_configure(config):
    config.pluginmanager.register(solved_executions, "solved_executions")
    try:
        from nbval import kernel
    except ImportError:      # nbval is the test extra's; without it there are no notebook tests to protect
        return
    if not hasattr(kernel.start_new_kernel, "__wrapped__"):
        kernel.start_new_kernel = solved_executions.site_kernel_environment(
            retrying_kernel_starts(kernel.start_new_kernel))


# The files that take longest, first (seconds summed over their tests on the 2-core machine, BENCHMARKS.md section
# 9): with ``--dist loadfile --no-loadscope-reorder`` (``./course.sh test-all``) pytest-xdist hands out whole files
# in this order, so the two workers end together instead of one waiting while the other runs a long file it
# was given last (xdist's own order, most tests first, put the heaviest files, which have few tests, at the end).
# Files not named keep their collection order after these.
LONGEST_FIRST = (
    "solutions/07_",       # the solved notebooks first, not by length: the course site test reuses nbval's
    "solutions/",          # executions of them (tests/solved_executions.py) and waits for those not yet done
    "tests/integration/test_graded_release.py",
    "tests/integration/test_nbgrader.py",
    "tests/integration/test_course_site.py",
    "tests/integration/test_grading_course.py",
    "tests/test_grading.py",
    "tests/integration/test_dask_grading.py",
    "tests/integration/test_gradescope.py",
    "tests/test_prairielearn.py",
    "tests/integration/test_colab_install.py",
    "tests/integration/browser/",
)


def schedule_rank(nodeid: str) -> int:
    """Where a test's file comes in ``LONGEST_FIRST`` (its length when it is not named)."""
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix)), len(LONGEST_FIRST))


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: schedule_rank(item.nodeid))     # stable: each file's tests keep their order
