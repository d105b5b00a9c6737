"""Test-wide settings. Kernels started by nbval inherit this environment."""
import os

os.environ.setdefault("COURSE_QUIET", "1")      # no progress bars in test and grading logs
os.environ.setdefault("MPLBACKEND", "Agg")      # figures render without a display
# The course's models are tiny: one thread per kernel is faster than several competing for the
# cores that pytest-xdist's workers already share (measured: 6.5 s vs 129 s for three small fits
# on a loaded 2-core machine).
os.environ.setdefault("OMP_NUM_THREADS", "1")
