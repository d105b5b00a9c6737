"""A graded release of the whole course (every reference withheld), installed where learners install it.

The learner wheel goes into a fresh virtual environment with only its runtime dependencies (torch 2.13 CPU from
this machine's disk, installed by pip once per run and linked in, ``venvs.add_torch``; then the wheel, which brings
numpy, matplotlib, ipywidgets and tqdm); ipykernel is added
afterwards, only so that notebooks can run there. Then:

(a) every student notebook of the bundle runs top to bottom in that environment with only its check cells failing;
(b) nothing installed defines a withheld reference or a copy of one, and the withheld modules cannot be imported;
(c) the same bundle with correct solutions (the solved notebooks) passes every check, visibly only where hidden
    checks are withheld.

Heavy: minutes per notebook on two cores. Prints the runtime dependencies and installed size.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import venvs
from course_utils.instructor import release
from venvs import pip

ROOT = Path(__file__).resolve().parents[2]
WITHHOLD_FROM = 0          # the whole course for credit: no reference of any exercise is installed
STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLVED = sorted((ROOT / "solutions").glob("*.ipynb"))
# the notebooks that have a references module: those with an exercise (a check cell)
WITH_EXERCISES = [int(p.name[:2]) for p in SOLVED
                  if any("check" in c.metadata.get("course", {}) for c in nbformat.read(p, as_version=4).cells)]


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


@pytest.fixture(scope="module")
def installed(tmp_path_factory, pytestconfig):
    tmp = tmp_path_factory.mktemp("graded")
    bundle = release.release(tmp / "out", graded=True, withhold_from=WITHHOLD_FROM)
    python = venvs.fresh_venv(tmp / "venv")
    empty = {ln.split("==")[0] for ln in pip(python, "freeze", "--all").splitlines()}
    venvs.add_torch(pytestconfig, python)      # torch 2.13 CPU as pip installs it (once per run, tests/integration/venvs.py)
    pip(python, "install", "--quiet", venvs.NO_COMPILE, str(bundle.wheel))
    site = venvs.purelib(python)
    runtime = sorted(ln.split(" @ ")[0] for ln in pip(python, "freeze", "--all").splitlines()
                     if ln.split("==")[0] not in empty)
    print(f"\nruntime packages ({len(runtime)}): {', '.join(runtime)}\n"
          f"installed size: {size_mb(site):.0f} MiB in site-packages "
          f"(course_utils {size_mb(site / 'course_utils'):.2f} MiB)")
    (tmp / "runtime.txt").write_text("\n".join(runtime) + f"\nsize_mib {size_mb(site):.1f}\n")
    pip(python, "install", "--quiet", venvs.NO_COMPILE, "ipykernel")        # to run notebooks here; not a runtime dependency
    kernels = tmp / "jupyter" / "kernels" / "graded"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "graded release", "language": "python",
        "env": {"PYTHONPATH": "", "COURSE_QUIET": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}}))
    return bundle, python, site, tmp


def run(nb, folder: Path, jupyter_path: Path, monkeypatch):
    """Execute ``nb`` in the graded environment's kernel, in ``folder``; return (executed nb, errors by cell)."""
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    # first, before any cell can be skipped (a withheld, unfinished exercise skips the later cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import course_utils; print('COURSE_UTILS_FROM', course_utils.__file__)"))
    NotebookClient(nb, timeout=900, kernel_name="graded", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    where = "".join(o.get("text", "") for o in nb.cells[0].get("outputs", []))
    assert "site-packages" in where, f"the notebook did not use the installed package: {where}"
    errors = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                errors[cell.id] = (cell.metadata.get("course", {}).get("check"), out["ename"], out["evalue"])
    return nb, errors


def test_installed_package_holds_no_withheld_reference(installed):
    bundle, python, site, tmp = installed
    package = ROOT / "course_utils"
    withheld_rel = release.withheld_files(package, WITHHOLD_FROM)
    assert [p.as_posix() for p in withheld_rel if p.parts[0] == "references"] == \
        [f"references/nb{n:02d}.py" for n in WITH_EXERCISES if n >= WITHHOLD_FROM]
    withheld = release.Withheld.from_files(package, withheld_rel).forget_given(STUDENT)
    assert withheld.names, "the scan must know what is withheld"
    assert release.reference_leaks(site / "course_utils", withheld) == []
    assert not (site / "course_utils" / "instructor").exists()
    probe = ("import importlib.util as u\n"
             f"print([n for n in range(100) if u.find_spec(f'course_utils.references.nb{{n:02d}}')])")
    proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=tmp,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.stdout.strip() == str([n for n in WITH_EXERCISES if n < WITHHOLD_FROM]), proc.stderr


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_student_notebook_runs_with_only_checks_failing(installed, path, tmp_path, monkeypatch):
    bundle, python, site, tmp = installed
    shipped = bundle.folder / "notebooks" / path.name
    shutil.copy2(shipped, tmp_path / path.name)
    nb, errors = run(nbformat.read(shipped, as_version=4), tmp_path, tmp / "jupyter", monkeypatch)
    checks = {c.id: c.metadata["course"]["check"] for c in nb.cells if "check" in c.metadata.get("course", {})}
    not_checks = {cid: e for cid, e in errors.items() if cid not in checks}
    assert not not_checks, "cells other than checks raised:\n" + "\n".join(
        f"  {cid}: {e[1]}: {e[2][:300]}" for cid, e in not_checks.items())
    assert set(errors) == set(checks), f"checks that did not fail: {sorted(set(checks) - set(errors))}"


PASTE_PRELUDE = "import math\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"


def paste_own_earlier_exercises(nb, number: int) -> None:
    """What a learner does in an assignment spanning withheld notebooks (docs/AUTHORING.md): paste their own
    passing TODO cells of the earlier withheld notebooks, with those notebooks' check cells, below the setup cell
    (the first code cell); the notebook then builds on their code (``references.implementation``)."""
    pasted = []
    for earlier in SOLVED:
        if WITHHOLD_FROM <= int(earlier.name[:2]) < number:
            for cell in nbformat.read(earlier, as_version=4).cells:
                if cell.cell_type == "code" and ("### BEGIN SOLUTION" in cell.source
                                                 or "check" in cell.metadata.get("course", {})):
                    pasted.append(nbformat.v4.new_code_cell(PASTE_PRELUDE + cell.source))
    setup = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    nb.cells[setup + 1:setup + 1] = pasted


@pytest.mark.parametrize("path", SOLVED, ids=[p.stem for p in SOLVED])
def test_correct_solutions_pass_every_check_of_the_graded_bundle(installed, path, tmp_path, monkeypatch):
    bundle, python, site, tmp = installed
    shutil.copy2(path, tmp_path / path.name)
    solved = nbformat.read(path, as_version=4)
    paste_own_earlier_exercises(solved, int(path.name[:2]))
    nb, errors = run(solved, tmp_path, tmp / "jupyter", monkeypatch)
    skipped = [c.id for c in nb.cells for o in c.get("outputs", []) if "skipped: finish exercise" in o.get("text", "")]
    assert not skipped, f"cells skipped although every exercise is solved: {skipped}"
    assert not errors, "\n".join(f"  {cid}: {e[1]}: {e[2][:300]}" for cid, e in errors.items())
    number = int(path.name[:2])
    outputs = "".join(o.get("text", "") for c in nb.cells if "check" in c.metadata.get("course", {})
                      for o in c.get("outputs", []))
    if number >= WITHHOLD_FROM and (ROOT / "course_utils" / "checks" / "hidden" / f"nb{number:02d}.py").exists():
        assert "visible checks passed; grading also runs hidden checks" in outputs
