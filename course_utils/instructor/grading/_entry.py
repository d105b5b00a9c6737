"""Entry point of one grading process: ``python _entry.py [pytest args]`` (started by the runner).

Run by file path, not with ``-m``, so that importing it does not import ``course_utils`` (and with
it torch) into the pytest process: the learner's code runs in the kernel, which is a child of this
process and imports what the notebook imports. Applies the memory limit first, so the kernel
inherits it.
"""
import importlib.util
import os
import resource
import sys


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        sys.path.pop(0)  # do not shadow top-level modules with this folder's files
    limit = int(os.environ.get("COURSE_GRADING_MEMORY_BYTES", "0") or 0)
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    spec = importlib.util.spec_from_file_location("course_grading_plugin", os.path.join(here, "plugin.py"))
    plugin = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = plugin
    spec.loader.exec_module(plugin)
    import pytest
    return int(pytest.main(sys.argv[1:], plugins=[plugin]))


if __name__ == "__main__":
    sys.exit(main())
