"""Course-wide speed measurements. Run them all with ``python -m benchmarks`` (see ``run.py``);
results go to ``benchmarks/results/`` and are written up in ``BENCHMARKS.md``.

Speed is measured here, never in timed tests: the tests only check that the harness still runs.
"""
