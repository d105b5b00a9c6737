"""``python -m benchmarks [--quick] [--out PATH]``: see :mod:`benchmarks.run`."""
import sys

from benchmarks.run import main

sys.exit(main())
