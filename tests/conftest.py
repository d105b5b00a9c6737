import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest


@pytest.fixture(autouse=True)
def fresh_exercise_state(monkeypatch):
    """Each test starts as a fresh kernel: no exercise passed (a check passed by an earlier test in the same
    process would otherwise lend its object to ``references.implementation``), none waited for."""
    from course_utils import exercise_state
    monkeypatch.setattr(exercise_state, "PASSED", set())
    monkeypatch.setattr(exercise_state, "PASSED_WITH", {})
    monkeypatch.setattr(exercise_state, "WAITING", [])
