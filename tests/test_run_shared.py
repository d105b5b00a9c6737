"""tests/run_shared.py: a folder built once per test run, whoever asks first; a failed build is tried again."""
import threading
import time
import uuid

import pytest

import run_shared


def test_a_failed_make_is_tried_again_from_an_empty_folder(pytestconfig):
    name = f"once-{uuid.uuid4().hex}"
    calls = []

    def half_made(folder):
        calls.append("failed")
        (folder / "half").touch()
        raise RuntimeError("the build broke")

    def make(folder):
        calls.append("made")
        (folder / "whole").touch()

    with pytest.raises(RuntimeError, match="the build broke"):
        run_shared.once(pytestconfig, name, half_made)
    folder = run_shared.once(pytestconfig, name, make)
    assert (folder / "whole").exists() and not (folder / "half").exists()
    assert run_shared.once(pytestconfig, name, make) == folder
    assert calls == ["failed", "made"]
    assert folder.parent == run_shared.shared_folder(pytestconfig)


def test_two_callers_at_once_build_it_once(pytestconfig):
    name = f"once-{uuid.uuid4().hex}"
    calls = []

    def slow_make(folder):
        calls.append(folder)
        time.sleep(0.5)                       # the second caller arrives while this one builds
        (folder / "whole").touch()

    got = []
    threads = [threading.Thread(target=lambda: got.append(run_shared.once(pytestconfig, name, slow_make)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and got[0] == got[1] and (got[0] / "whole").exists()
