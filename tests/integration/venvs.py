"""Fresh virtual environments for the integration tests (the graded release's, Colab's), and pip in them.

torch 2.13 CPU is installed by pip once per run, into an environment of its own, and hard-linked into each fresh
environment that needs it: the same files pip writes there, without unpacking the 850 MiB wheel once per environment
(measured: 45 s wall, 22 CPU s per install on the 2-core machine). ``./course.sh test-all`` (CI) builds that
environment before pytest starts, beside the set-up of ``.venv`` (``python tests/integration/venvs.py torch-env
FOLDER``; one core each), and names it in ``COURSE_TEST_TORCH_ENV``; without it the first test that needs it builds
it (:func:`run_shared.once`) while the others wait.

Every install here skips byte-compiling (:data:`NO_COMPILE`): pip compiles each module of each package it installs
(torch's alone took 35 of its 45 s), while a test imports a fraction of them; a module is compiled on its first
import and written beside it (the root ``conftest.py`` lets every process write it), so later kernels read it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

TORCH = "torch==2.13.0"     # the CPU build on this machine's disk; a bare `torch` would fetch a CUDA build
NO_COMPILE = "--no-compile"   # pip's flag: compile on first import instead (module docstring)


def pip(python: Path, *args: str, timeout: int = 1800) -> str:
    """``python -m pip ARGS``' output; fails the test with pip's own output when pip fails."""
    proc = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"pip {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def purelib(python: Path) -> Path:
    """The site-packages folder of the environment whose interpreter is ``python``."""
    return Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())


def fresh_venv(path: Path) -> Path:
    """A new virtual environment at ``path`` with pip; its interpreter."""
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin" / "python"


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:                 # another file system
        shutil.copy2(source, target)


def install_torch(folder: Path) -> None:
    """``folder/venv``: a fresh environment with pip's install of :data:`TORCH`; ``folder/.complete`` once it is whole."""
    pip(fresh_venv(folder / "venv"), "install", "--quiet", NO_COMPILE, TORCH)
    (folder / ".complete").touch()


def torch_env(config) -> Path:
    """The run's torch environment: the one ``COURSE_TEST_TORCH_ENV`` names when it is complete, else built once."""
    prebuilt = os.environ.get("COURSE_TEST_TORCH_ENV")
    if prebuilt and (Path(prebuilt) / ".complete").exists():
        return Path(prebuilt)
    import run_shared                 # needs filelock: imported here, so that ``python venvs.py`` runs without it
    return run_shared.once(config, "torch-env", install_torch)


def add_torch(config, python: Path) -> None:
    """Put the run's pip-installed torch (and what it depends on) into the environment of ``python``: every
    entry of that environment's site-packages this one lacks (its own pip and setuptools are kept)."""
    source = purelib(torch_env(config) / "venv" / "bin" / "python")
    target = purelib(python)
    for entry in sorted(source.iterdir()):
        if (target / entry.name).exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(str(entry), str(target / entry.name))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "torch-env":
        raise SystemExit("usage: python tests/integration/venvs.py torch-env FOLDER   (FOLDER: a new, empty folder)")
    install_torch(Path(sys.argv[2]))
