"""The learner bundle (``python -m course_utils release``): student notebooks, package, setup; no solutions."""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_utils.instructor import build, release

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    result = release.release(out)
    return result.folder, result.archive, result.wheel


def test_bundle_has_what_learners_need(bundle):
    folder, archive, wheel = bundle
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for needed in ("README.md", "pyproject.toml", "course.sh", "course_utils/__init__.py",
                   "course_utils/feedback.py", "course_utils/exercise_state.py", "course_utils/checks/__init__.py"):
        assert needed in names, f"{needed} missing from the bundle"
    student = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (folder / "notebooks").glob("*.ipynb")) == student
    version = build.CourseConfig.load(ROOT).version
    for name in student:
        assert (folder / "notebooks" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
        assert json.loads((folder / "notebooks" / name).read_text())["metadata"]["course"]["version"] == version
    assert "Handing in" in (folder / "README.md").read_text()


def test_bundle_has_no_solutions_or_maintainer_files(bundle):
    folder, archive, wheel = bundle
    rel = [p.relative_to(folder) for p in folder.rglob("*")]
    assert not [p for p in rel if "solutions" in p.parts]
    assert not [p for p in rel if p.parts[0] in ("tests", "docs", "benchmarks", ".ci", ".venv")]
    assert not [p for p in rel if "__pycache__" in p.parts or p.suffix == ".pyc"]
    assert not (folder / "course_utils" / "instructor").exists(), "instructor tools must not reach learners"
    learner_toml = (folder / "pyproject.toml").read_text()
    assert "instructor =" not in learner_toml and "nbval" not in learner_toml and "lab =" in learner_toml
    import tomllib
    extras = tomllib.loads(learner_toml)["project"]["optional-dependencies"]
    assert list(extras) == ["lab"], "learners get the lab extra only"
    for path in folder.rglob("*.ipynb"):
        text = path.read_text()
        assert build.BEGIN not in text and build.END not in text, f"solution region in {path.name}"
    assert release.solution_leaks(folder) == []


def test_zip_matches_folder(bundle):
    folder, archive, wheel = bundle
    with zipfile.ZipFile(archive) as zf:
        zipped = sorted(n for n in zf.namelist() if not n.endswith("/"))
    files = sorted(f"{folder.name}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*") if p.is_file())
    assert zipped == files
    assert not [n for n in zipped if "/solutions/" in n or n.startswith("solutions/")]


def test_leak_detection(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "x.ipynb").write_text('{"cells": [{"source": "### BEGIN SOLUTION"}]}')
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "y.txt").write_text("")
    assert release.solution_leaks(tmp_path) == ["notebooks/x.ipynb", "solutions", "solutions/y.txt"]


def test_command_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "course_utils", "release", "--out", str(tmp_path), "--name", "b",
                           "--withhold-from", "04"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "--graded" in proc.stderr, "a withhold without --graded is refused"
    assert not (tmp_path / "b").exists()


def test_wheel_is_the_learner_runtime_only(bundle):
    folder, archive, wheel = bundle
    version = build.CourseConfig.load(ROOT).version
    assert wheel.name == f"course_utils-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"course_utils-{version}.dist-info/METADATA").decode()
    packaged = sorted(n for n in names if n.startswith("course_utils/"))
    shipped = sorted(f"course_utils/{p.relative_to(folder / 'course_utils').as_posix()}"
                     for p in (folder / "course_utils").rglob("*.py"))
    assert packaged == shipped, "the wheel and the bundle's course_utils/ must be the same files"
    assert not [n for n in names if "/instructor/" in n or n.startswith(("tests/", "solutions/", "notebooks/"))]
    requires = sorted(line.split(":", 1)[1].strip().split(";")[0].strip()
                      for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line)
    assert [r.split(">")[0].split("=")[0] for r in requires] == ["ipywidgets", "matplotlib", "numpy", "torch", "tqdm"]
    assert "ipywidgets>=7.6" in requires, "Colab's ipywidgets 7.7 must satisfy the learner package"


# -- graded releases: what is withheld, and the leak scan ------------------------------------------------
def course_copy(tmp_path: Path) -> Path:
    """A copy of the course (solutions, notebooks, package, setup files) to plant references in."""
    root = tmp_path / "course"
    for name in ("solutions", "notebooks", "course_utils"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "course.sh"):
        shutil.copy2(ROOT / name, root / name)
    return root


REFERENCE_04 = '''
import torch


class ScaledMixer(torch.nn.Module):
    """A reference: mixes two inputs with learned weights."""

    def __init__(self, dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, a, b):
        w = torch.sigmoid(self.weight)
        return w * a + (1 - w) * b


def weighted_pool(x, scores):
    """Softmax-weighted average of x over its first axis."""
    weights = torch.softmax(scores, dim=0)
    total = (weights[:, None] * x).sum(dim=0)
    return total / weights.sum()
'''


def test_graded_release_leaves_out_withheld_references_and_hidden_checks(tmp_path):
    package_src = ROOT / "course_utils"
    result = release.release(tmp_path / "out", graded=True, withhold_from=5, wheel=False)
    package = result.folder / "course_utils"
    expected = sorted(p.relative_to(package_src).as_posix()
                      for folder in ("references", "checks/hidden") for p in (package_src / folder).glob("nb*.py")
                      if int(p.stem[2:]) >= 5)
    assert "references/nb05.py" in expected and sorted(result.withheld) == expected
    for rel in expected:
        assert not (package / rel).exists(), f"{rel} must be withheld"
    for src in (package_src / "references").glob("nb0[0-4].py"):
        assert (package / "references" / src.name).read_bytes() == src.read_bytes(), "earlier references ship"
    meta = json.loads(next((result.folder / "notebooks").glob("05_*.ipynb")).read_text())["metadata"]["course"]
    assert meta["withheld_from"] == "05"
    assert "visible checks passed; grading also runs hidden checks" in (result.folder / "README.md").read_text()


def reference_source(rel: str, name: str) -> str:
    tree = ast.parse((ROOT / "course_utils" / rel).read_text())
    return ast.unparse(next(n for n in tree.body if getattr(n, "name", None) == name))


def renamed(source: str) -> str:
    """The same function under another name, with its arguments and locals renamed and no docstring."""
    node = ast.parse(source).body[0]
    node.name = "my_attention"
    node.body = release._strip_docstring(node.body)
    names = {a.arg: f"a{i}" for i, a in enumerate(node.args.args)}
    names |= {n.id: f"t{i}" for i, n in enumerate(ast.walk(node)) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Store)}
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            sub.arg = names.get(sub.arg, sub.arg)
        elif isinstance(sub, ast.Name):
            sub.id = names.get(sub.id, sub.id)
    return ast.unparse(node)


SDPA = ("references/nb04.py", "scaled_dot_product_attention")


@pytest.mark.parametrize("where, make, why", [
    ("models/extra.py", lambda src: src, "defines 'scaled_dot_product_attention'"),
    ("checks/nb07.py", renamed, "'my_attention' is a copy of references/nb04.py: scaled_dot_product_attention"),
])
def test_graded_release_refuses_a_reference_found_elsewhere(tmp_path, where, make, why):
    root = course_copy(tmp_path)
    target = root / "course_utils" / where
    planted = "import math\n\n" + make(reference_source(*SDPA)) + "\n"
    target.write_text((target.read_text() + "\n\n" if target.exists() else "") + planted)
    with pytest.raises(release.ReleaseError, match="nothing was written") as error:
        release.release(tmp_path / "out", root=root, graded=True, withhold_from=4, wheel=False)
    assert why in str(error.value) and where in str(error.value)
    assert not (tmp_path / "out" / root.name).exists() and not list((tmp_path / "out").glob("*.zip"))
    # the same tree is fine where notebook 04's references are not withheld
    release.release(tmp_path / "out", root=root, graded=True, withhold_from=5, wheel=False)


def test_stubs_and_mentions_of_a_withheld_name_are_fine(tmp_path):
    package = tmp_path / "pkg"
    (package / "references").mkdir(parents=True)
    (package / "references" / "nb04.py").write_text(REFERENCE_04)
    withheld = release.Withheld.from_files(package, [Path("references/nb04.py")])
    assert set(withheld.names) == {"ScaledMixer", "weighted_pool"}
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "ok.py").write_text("def weighted_pool(x, scores):\n    \"\"\"Stub.\"\"\"\n"
                                   "    raise NotImplementedError()\n\nMESSAGE = 'write weighted_pool first'\n"
                                   "def use(x):\n    return weighted_pool(x, x)\n")
    nb = {"cells": [{"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "!pip install x\nclass ScaledMixer:\n    def forward(self, a, b):\n"
                               "        # YOUR CODE HERE\n        raise NotImplementedError()\n"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (shipped / "nb.ipynb").write_text(json.dumps(nb))
    assert release.reference_leaks(shipped, withheld) == []
    (shipped / "bad.py").write_text("import torch\n" + REFERENCE_04.split("def weighted_pool")[0])
    assert release.reference_leaks(shipped, withheld) == [
        "bad.py: defines 'ScaledMixer' (withheld: references/nb04.py)",
        "bad.py: '__init__' is a copy of references/nb04.py: __init__",
        "bad.py: 'forward' is a copy of references/nb04.py: forward"]


REFERENCE_07 = '''
from course_utils.models import cnn


class FusionForward(cnn.FusionLayers):
    """A reference whose template builds on a shipped class that makes the layers."""

    def forward(self, a, b):
        return self.head(self.fuse(a, b))
'''


@pytest.mark.parametrize("shipped_source, leaks", [
    # the parent builds the layers only: fine
    ("class FusionLayers(Base):\n    def __init__(self):\n        self.head = 1\n", []),
    # the parent's forward is a stub: fine
    ("class FusionLayers(Base):\n    def forward(self, a, b):\n        raise NotImplementedError()\n", []),
    # the parent holds the answer (issue 28's 07 template): a learner's super().forward(...) passes
    ("class FusionLayers(Base):\n    def forward(self, a, b):\n        return a + b\n",
     ["cnn.py: class 'FusionLayers' defines 'forward', which the withheld 'FusionForward' (references/nb07.py) "
      "writes; a subclass inherits the answer (super().forward(...))"]),
    # ... or a grandparent does
    ("class FusionLayers(Working):\n    pass\n\n\nclass Working(Base):\n    def forward(self, a, b):\n"
     "        return a * b\n",
     ["cnn.py: class 'Working' defines 'forward', which the withheld 'FusionForward' (references/nb07.py) "
      "writes; a subclass inherits the answer (super().forward(...))"]),
], ids=["layers-only", "stub-forward", "parent-forward", "grandparent-forward"])
def test_the_scan_catches_an_answer_held_by_a_parent_class(tmp_path, shipped_source, leaks):
    package = tmp_path / "pkg"
    (package / "references").mkdir(parents=True)
    (package / "references" / "nb07.py").write_text(REFERENCE_07)
    withheld = release.Withheld.from_files(package, [Path("references/nb07.py")])
    assert withheld.classes["FusionForward"][1:] == (["FusionLayers"], {"forward"})
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "cnn.py").write_text(shipped_source)
    assert release.reference_leaks(shipped, withheld) == leaks


def test_the_course_ships_no_parent_that_holds_an_answer():
    package = ROOT / "course_utils"
    withheld = release.Withheld.from_files(package, release.withheld_files(package, 0))
    assert "FeatureMapFusionCNN" in withheld.classes
    pieces = [(p.as_posix(), ast.parse(p.read_text())) for p in sorted(package.rglob("*.py"))
              if "references" not in p.parts and "hidden" not in p.parts and "instructor" not in p.parts]
    assert release.parent_leaks(pieces, withheld) == []
    # the 07 template's former parent, with its forward, is what the scan exists to refuse
    old = ast.parse("class FeatureMapFusionLayers:\n    def forward(self, rgb, lidar):\n"
                    "        return self.head(self.trunk(self.fuse_fn(rgb, lidar, self.mode)).mean((2, 3)))\n")
    assert release.parent_leaks([("models/cnn.py", old)], withheld) == [
        "models/cnn.py: class 'FeatureMapFusionLayers' defines 'forward', which the withheld 'FeatureMapFusionCNN' "
        "(references/nb07.py) writes; a subclass inherits the answer (super().forward(...))"]
