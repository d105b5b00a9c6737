"""Colab as Colab is, as far as it can be rebuilt here: the setup cell installs the learner wheel and nothing else.

A fresh virtual environment is seeded with Colab's versions where they install on Python 3.11 (ipywidgets
7.7.1, ipykernel 6.17, IPython 7.34; torch 2.13 CPU stands in for Colab's 2.11), the setup cell's own install
command is run against the locally built learner wheel, and ``pip freeze`` before and after must differ by the
course package alone (nothing upgraded, downgraded or removed). Then every explorer is built under ipywidgets
7.7.1 with a stand-in ``google.colab.output``. Heavy (minutes: the seed installs a notebook stack).
"""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import venvs
from course_utils.instructor import build, release
from venvs import pip

ROOT = Path(__file__).resolve().parents[2]
COLAB_SEED = [venvs.TORCH, "ipywidgets==7.7.1", "ipykernel==6.17.1", "ipython==7.34.0",
              "numpy", "matplotlib", "tqdm"]


def freeze(python: Path) -> dict:
    lines = pip(python, "freeze", "--all").splitlines()
    return dict(re.split(r"==| @ ", ln, maxsplit=1) for ln in lines if ln and not ln.startswith("#"))


@pytest.fixture(scope="module")
def colab(tmp_path_factory, pytestconfig):
    tmp = tmp_path_factory.mktemp("colab")
    wheel = release.release(tmp / "out").wheel
    python = venvs.fresh_venv(tmp / "venv")
    venvs.add_torch(pytestconfig, python)     # the run's pip install of torch, linked in (tests/integration/venvs.py)
    pip(python, "install", "--quiet", venvs.NO_COMPILE, *COLAB_SEED)
    before = freeze(python)
    # the setup cell of a student notebook, with the published address replaced by the local wheel
    setup = next(c for c in json.loads((ROOT / "notebooks" / "00_setup_and_tour.ipynb").read_text())["cells"]
                 if c["id"] == "colab-setup")
    config = build.CourseConfig.load(ROOT)
    assert f"!{config.install_command()}" in "".join(setup["source"])
    command = shlex.split(config.install_command(spec=f"course_utils @ {wheel.as_uri()}"))
    assert command[:2] == ["pip", "install"] and "--no-deps" in command
    pip(python, *command[1:])
    return python, before, freeze(python)


def test_setup_cell_adds_the_course_and_changes_nothing_else(colab):
    python, before, after = colab
    assert before["ipywidgets"] == "7.7.1" and before["torch"].startswith("2.13.0")
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(name for name in before if name in after and before[name] != after[name])
    assert (added, removed, changed) == (["course_utils"], [], [])
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    assert "course" not in (check.stdout + check.stderr).lower(), check.stdout


def test_explorers_build_under_ipywidgets_7_on_colab(colab):
    python = colab[0]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_QUIET", "CI")}
    proc = subprocess.run([str(python), str(ROOT / "tests" / "colab_standin.py")], capture_output=True, text=True,
                          cwd=python.parent, env=env | {"OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ipywidgets"] == "7.7.1"
    assert report["built"] == {"explore": "interactive", "attention_explorer": "interactive",
                               "gate_explorer": "VBox", "explore_shapes": "interactive"}
    # Colab renders ipywidgets 7 without its custom widget manager: nothing to enable there
    assert report["manager_enabled"] == 0


def test_the_installed_course_is_the_wheel_not_this_checkout(colab):
    python = colab[0]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-c", "import course_utils, importlib.util as u; print(course_utils.__file__);"
                           " print(u.find_spec('course_utils.instructor'))"],
                          capture_output=True, text=True, cwd=python.parent, env=env)
    assert proc.returncode == 0, proc.stderr
    where, instructor = proc.stdout.split()
    assert "site-packages" in where and instructor == "None"
