"""One folder per test run that every pytest-xdist worker sees, and things built in it once per run.

pytest-xdist's pattern for sharing: each worker's base temp (``.../pytest-N/popen-gwK``) sits in the run's base temp,
so that parent is the run's own folder (without xdist, the base temp itself). Nothing here is shared between runs.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from filelock import FileLock     # a dependency of torch, so always installed


def shared_folder(config) -> Path:
    """The run's folder that the controller and every xdist worker share."""
    base = config._tmp_path_factory.getbasetemp()    # the folder the tmp_path fixtures use
    return base.parent if hasattr(config, "workerinput") else base


def once(config, name: str, make: Callable[[Path], None]) -> Path:
    """``shared_folder/name``, made by ``make(folder)`` the first time any worker asks (the others wait for it);
    a ``make`` that raised is tried again by the next caller (its half-made folder removed)."""
    folder = shared_folder(config) / name
    with FileLock(str(folder) + ".lock"):
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            (folder / ".complete").touch()
    return folder
