"""The tracker's default runs folder is the running process's own, never a shared fixed path."""
from __future__ import annotations

import tempfile

from course_utils import tracking
from course_utils.tracking import Tracker


def test_default_root_is_per_process_under_its_temp_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "_RUNS_DIR", {})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "first"))
    (tmp_path / "first").mkdir()
    first = Tracker(experiment="07_rgb_lidar", fresh=True)
    first.log("late fusion", seed=0, val_acc=0.9)
    again = Tracker(experiment="07_rgb_lidar")               # later cells of the same notebook see its runs
    assert again.path == first.path and len(again.runs()) == 1
    assert first.path.parent.parent == tmp_path / "first"
    # another process (another notebook or submission running at the same time) gets a folder of its own
    monkeypatch.setattr(tracking.os, "getpid", lambda: -1)
    other = Tracker(experiment="07_rgb_lidar", fresh=True)
    assert other.path != first.path and not other.path.exists()
    assert len(first.runs()) == 1                             # its fresh=True deleted nothing of the first


def test_explicit_root_is_kept(tmp_path):
    assert Tracker(tmp_path / "runs", "x").path == tmp_path / "runs" / "x.jsonl"


def test_default_root_is_removed_when_the_process_exits(tmp_path):
    """A kernel that logged runs leaves no folder behind in the temporary folder it shares with every other."""
    import os
    import subprocess
    import sys
    code = ("from course_utils.tracking import Tracker\n"
            "t = Tracker(experiment='x'); t.log('late fusion', seed=0, val_acc=0.9); print(t.path)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith(str(tmp_path)) and not list(tmp_path.iterdir())
