"""``grade --scheduler``: bad input gets a clear error naming what was expected, before anything is graded.

No cluster and no kernel: the real cluster tests are ``tests/integration/test_dask_grading.py``.
"""
from __future__ import annotations

import sys

import pytest

from course_utils.instructor import cli
from course_utils.instructor.grading import distributed as dask_pool

from submissions import write_submission
from test_grading import tiny_course


@pytest.mark.parametrize("text, address", [
    ("tcp://10.0.0.5:8786", {"address": "tcp://10.0.0.5:8786"}),
    ("tls://scheduler.example.org:8786", {"address": "tls://scheduler.example.org:8786"}),
    ("localhost:8786", {"address": "tcp://localhost:8786"}),
])
def test_scheduler_addresses(text, address):
    assert dask_pool.scheduler_arguments(text) == address


def test_a_scheduler_file(tmp_path):
    path = tmp_path / "scheduler.json"
    path.write_text("{}")
    assert dask_pool.scheduler_arguments(str(path)) == {"scheduler_file": str(path)}


@pytest.mark.parametrize("text, says", [
    ("http://host:8786", "is not a scheduler address"),
    ("tcp://host", "is not a scheduler address"),
    ("nowhere/scheduler.json", "no such scheduler file"),
    ("my-cluster", "neither a scheduler address nor a file"),
])
def test_bad_scheduler_addresses_name_what_was_expected(text, says):
    with pytest.raises(dask_pool.DaskError) as error:
        dask_pool.scheduler_arguments(text)
    assert says in str(error.value)
    assert "tcp://host:8786" in str(error.value) and "scheduler file" in str(error.value)


def _grade(tmp_path, *extra):
    tiny_course(tmp_path / "ref")
    write_submission(tmp_path / "subs", "ann", "90_tiny.ipynb", "")
    args = cli.parser().parse_args(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                                    "--reference", str(tmp_path / "ref"), *extra])
    return args.run(args)


def test_the_command_line_refuses_a_bad_address_before_writing(tmp_path, capsys):
    assert _grade(tmp_path, "--scheduler", "http://host:8786") == 2
    err = capsys.readouterr().err
    assert "grade: --scheduler 'http://host:8786' is not a scheduler address: expected" in err
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_workers_and_scheduler_together_are_refused(tmp_path, capsys):
    assert _grade(tmp_path, "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2") == 2
    assert "leave --workers out" in capsys.readouterr().err


def test_without_dask_the_error_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)   # `import distributed` now raises ImportError
    assert _grade(tmp_path, "--scheduler", "tcp://127.0.0.1:8786") == 2
    err = capsys.readouterr().err
    assert "needs Dask distributed" in err and "pip install 'course_utils[dask]'" in err
