"""Test-wide settings. Kernels started by nbval inherit this environment."""
import os

os.environ.setdefault("COURSE_QUIET", "1")      # no progress bars in test and grading logs
os.environ.setdefault("MPLBACKEND", "Agg")      # figures render without a display
