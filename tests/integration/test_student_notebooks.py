"""Each student notebook, run as handed out, fails only in its exercise check cells, each saying
"not implemented yet" (an integration test: it executes every notebook, ``./course.sh test-integration``).
"""
from pathlib import Path

import pytest

from notebook_runner import ROOT, check_ids, run_notebook

STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_unsolved_notebook_fails_only_at_its_checks(path: Path):
    nb, errors = run_notebook(path)
    not_checks = [e for e in errors if e.check_id is None]
    assert not not_checks, "cells other than checks raised:\n" + "\n".join(
        f"  cell {e.index} ({e.cell_id}): {e.ename}: {e.evalue[:300]}" for e in not_checks)
    failed = {e.check_id for e in errors}
    expected = set(check_ids(nb))
    assert failed == expected, f"checks that did not fail on the unsolved notebook: {sorted(expected - failed)}"
    for e in errors:
        assert "not implemented yet" in e.evalue and e.check_id in e.evalue, (
            f"check {e.check_id} should say 'Exercise {e.check_id} ... not implemented yet', said: {e.evalue[:300]}")
