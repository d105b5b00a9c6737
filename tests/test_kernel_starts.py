"""The test suite's own nbval kernels get three starts (root ``conftest.py``), as the grader's do (test_grading.py)."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(root_conftest)


def flaky(failures, error=RuntimeError("Kernel died before replying to kernel_info")):
    calls = []

    def start(*args, **kwargs):
        calls.append((args, kwargs))
        if len(calls) <= failures:
            raise error
        return "km", "kc"
    return start, calls


@pytest.mark.parametrize("failures", [0, 1, 2])
def test_a_kernel_that_dies_at_start_is_started_again(failures):
    start, calls = flaky(failures)
    assert root_conftest.retrying_kernel_starts(start)("python3", cwd="here") == ("km", "kc")
    assert calls == [(("python3",), {"cwd": "here"})] * (failures + 1)


def test_three_failed_starts_fail_and_other_errors_are_not_retried():
    start, calls = flaky(3)
    with pytest.raises(RuntimeError, match="Kernel died"):
        root_conftest.retrying_kernel_starts(start)()
    assert len(calls) == root_conftest.KERNEL_START_ATTEMPTS == 3
    start, calls = flaky(1, FileNotFoundError("no such kernel spec"))
    with pytest.raises(FileNotFoundError):
        root_conftest.retrying_kernel_starts(start)()
    assert len(calls) == 1


def test_nbval_in_this_run_starts_kernels_through_the_retry():
    from nbval import kernel
    settings = kernel.start_new_kernel        # solutions/ kernels get the site's settings (tests/solved_executions.py)
    assert settings.__code__.co_filename == str(ROOT / "tests" / "solved_executions.py")
    retry = settings.__wrapped__
    assert retry.__code__.co_filename == str(ROOT / "conftest.py")
    assert retry.__wrapped__.__module__ == "nbval.kernel"
    assert not hasattr(retry.__wrapped__, "__wrapped__")   # wrapped once, not once per conftest load
