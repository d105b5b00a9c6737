"""Tier 1: the pieces of the course site (course_utils/instructor/site/) on one small notebook, no Sphinx run.

The whole site is built and checked in tests/integration/test_course_site.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import build
from course_utils.instructor.site import execute, pages, scan

CONFIG = build.CourseConfig("owner/learners", "1.2.0")
EXERCISE = ("def fuse(a, b):\n"
            "    \"\"\"Concatenate two feature tensors (B, D_a), (B, D_b) -> (B, D_a + D_b).\"\"\"\n"
            "    ### BEGIN SOLUTION\n"
            "    joined = torch.cat([a, b], dim=-1)\n"
            "    return joined * scale_factor_for_fusion\n"
            "    ### END SOLUTION")
ANSWER = ("The gate opens toward the reliable modality because its noise level\n"
          "### BEGIN SOLUTION\nis visible in the features, so the gate learns to weigh it by sample.\n"
          "### END SOLUTION")


def _cell(kind, source, cell_id, **metadata):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    cell.id, cell.metadata = cell_id, metadata
    return cell


@pytest.fixture
def solved(tmp_path):
    """A solved notebook in tmp_path/solutions and its 'executed' twin (outputs put in by hand)."""
    nb = nbformat.v4.new_notebook(cells=[
        _cell("markdown", "# 99 tiny\nThe math: $y = [a; b]$.", "intro"),
        _cell("code", EXERCISE, "todo-fuse"),
        _cell("code", "check_fuse(fuse)", "check-99-fuse", course={"check": "99.fuse", "points": 1}),
        _cell("code", "explorer = gate_explorer(model)", "explore"),
        _cell("markdown", ANSWER, "answer"),
    ])
    folder = tmp_path / "solutions"
    folder.mkdir()
    path = folder / "99_tiny.ipynb"
    nbformat.write(nb, path)
    executed = nbformat.read(path, as_version=4)
    png = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "VBox()"}
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", text="fused!\n")]
    executed.cells[2].outputs = [nbformat.v4.new_output("stream", text="99.fuse: all checks passed\n")]
    executed.cells[3].outputs = [nbformat.v4.new_output("display_data", data=png),
                                 nbformat.v4.new_output("display_data", data=widget)]
    return path, executed


def test_page_shows_todo_cells_as_handed_out_with_outputs_of_the_other_cells(solved):
    path, executed = solved
    page = pages.page_notebook(path, executed, CONFIG)
    by_id = {cell.id: cell for cell in page.cells}
    assert "NotImplementedError" in by_id["todo-fuse"].source and by_id["todo-fuse"].outputs == []
    assert "torch.cat" not in build.render(page)
    assert by_id["check-99-fuse"].outputs[0]["text"] == "99.fuse: all checks passed\n"
    assert [o["data"] for o in by_id["explore"].outputs] == [{"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
                                                            {"text/plain": "VBox()"}]
    assert "visible in the features" not in by_id["answer"].source
    launch = by_id["colab-badge"].source
    assert CONFIG.colab_url("99_tiny.ipynb") in launch and "colab-badge.svg" not in launch
    assert "{download}`Download notebook <_notebooks/99_tiny.ipynb>`" in launch
    ids = [cell.id for cell in page.cells]
    assert ids[:3] == ["intro", "colab-badge", "colab-setup"], "the title first, then the launch line"
    assert ids[ids.index("explore") + 1] == "site-note-explore"
    assert "live version" in by_id["site-note-explore"].source


def test_a_cell_changed_since_the_execution_gets_no_stale_outputs(solved):
    path, executed = solved
    executed.cells[2].source = "check_fuse(fuse, old=True)"
    page = pages.page_notebook(path, executed, CONFIG)
    assert {c.id: c for c in page.cells}["check-99-fuse"].outputs == []


def test_home_page_links_pages_and_lists_every_notebook_in_order():
    readme = ("# Course\n\nA course about fusion.\n\n![shot](docs/img/x.png)\n\n"
              "| # | notebook |\n|---|---|\n| 00 | [setup](notebooks/00_setup.ipynb) |\n\n## Start\n\n"
              "| command | what |\n|---|---|\n| x | y |\n")
    text = pages.home_page(readme, ["00_setup.ipynb", "13_capstone.ipynb"], "Title", "> graded\n\n")
    assert text.startswith("# Title\n\n> graded\n\nA course about fusion.")
    assert "| 00 | [setup](00_setup.ipynb) |" in text and "notebooks/" not in text
    assert "\n00_setup\n13_capstone\n```" in text and "docs/img" not in text
    assert "| command |" not in text, "only the table of notebooks"


def test_cache_key_ignores_markdown_and_follows_code_and_package(solved):
    path, _ = solved
    nb = nbformat.read(path, as_version=4)
    key = execute.cache_key(nb, "pkg")
    nb.cells[0].source += "\nAnother sentence."
    assert execute.cache_key(nb, "pkg") == key
    assert execute.cache_key(nb, "pkg2") != key
    nb.cells[2].source += "\nprint(1)"
    assert execute.cache_key(nb, "pkg") != key


def test_package_digest_changes_with_a_learner_file_only(tmp_path):
    (tmp_path / "instructor").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "instructor" / "b.py").write_text("y = 1\n")
    first = execute.package_digest(tmp_path)
    (tmp_path / "instructor" / "b.py").write_text("y = 2\n")
    assert execute.package_digest(tmp_path) == first
    (tmp_path / "a.py").write_text("x = 2\n")
    assert execute.package_digest(tmp_path) != first


def test_cache_reuses_an_execution(solved, tmp_path, monkeypatch):
    path, executed = solved
    calls = []
    monkeypatch.setattr(execute, "run", lambda nb, name, timeout=900, package=None: calls.append(name) or nb)
    cache = execute.ExecutionCache(tmp_path / "cache", tmp_path / "solutions")
    cache.get_all([path])
    assert calls == ["99_tiny.ipynb"] and cache.executed == ["99_tiny.ipynb"]
    cache.get_all([path])
    assert calls == ["99_tiny.ipynb"] and cache.executed == []
    assert not list((tmp_path / "cache" / "executed").glob("*.tmp"))


def test_a_failing_cell_is_named_without_a_traceback():
    nb = nbformat.v4.new_notebook(cells=[_cell("code", "x = 1", "fine"), _cell("code", "1 / 0", "breaks")])
    nb.metadata["kernelspec"] = dict(build.KERNELSPEC)
    with pytest.raises(execute.ExecutionError) as error:
        execute.run(nb, "99_tiny.ipynb", timeout=60)
    message = str(error.value)
    assert "solutions/99_tiny.ipynb: cell 1 (id 'breaks') raised ZeroDivisionError" in message
    assert "Traceback" not in message and "----" not in message


def test_execution_is_quiet_single_threaded_and_imports_the_hashed_package(tmp_path):
    package = tmp_path / "copy" / "course_utils"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("WHERE = 'the copy'\n")
    nb = nbformat.v4.new_notebook(cells=[_cell("code", "import os, course_utils; print(os.environ['COURSE_QUIET'], "
                                                        "os.environ['OMP_NUM_THREADS'], course_utils.WHERE)", "env")])
    nb.metadata["kernelspec"] = dict(build.KERNELSPEC)
    execute.run(nb, "99_env.ipynb", timeout=60, package=package)
    assert nb.cells[0].outputs[0]["text"] == "1 1 the copy\n"


# -- the no-solution scan ---------------------------------------------------------------------------------
def _site(tmp_path, page_html: str, index: str = "Search.setIndex({})") -> object:
    site = tmp_path / "site"
    site.mkdir()
    (site / "99_tiny.html").write_text(f"<html><body>{page_html}</body></html>")
    (site / "searchindex.js").write_text(index)
    return site


HANDED_OUT = ('<div class="highlight"><pre><span class="k">def</span> <span class="nf">fuse</span>(a, b):\n'
              '    <span class="c1"># YOUR CODE HERE</span>\n    <span class="k">raise</span> NotImplementedError()\n</pre></div>')


def test_scan_passes_the_handed_out_page(solved, tmp_path):
    found = scan.secrets(tmp_path / "solutions")
    assert set(found.names) == {"fuse"} and len(found.bodies) == 2
    assert scan.leaks(_site(tmp_path, HANDED_OUT), found) == []


@pytest.mark.parametrize("html, index", [
    # the region's body, split by highlighting spans
    ('<pre><span class="n">joined</span> = torch.<span>cat</span>([a, b], dim=-1)\n'
     'return joined * scale_factor_for_fusion</pre>', ""),
    # the full definition under another body (a renamed copy: a non-stub definition of the exercise name)
    ("<pre>def fuse(a, b):\n    return a + b\n</pre>", ""),
    # the model answer, rendered as HTML paragraphs
    ("<p><em>is visible</em> in the features, so the gate learns to weigh it by sample.</p>", ""),
    # only in the search index
    (HANDED_OUT, 'Search.setIndex({"x": "joined = torch.cat([a, b], dim=-1) return joined * scale_factor_for_fusion"})'),
])
def test_scan_finds_a_solution_anywhere(solved, tmp_path, html, index):
    found = scan.leaks(_site(tmp_path, html, index), scan.secrets(tmp_path / "solutions"))
    assert found and all(line.startswith(("99_tiny.html", "searchindex.js")) for line in found)


def test_scan_reads_downloadable_notebooks(solved, tmp_path):
    path, executed = solved
    site = _site(tmp_path, HANDED_OUT)
    (site / "_downloads").mkdir()
    (site / "_downloads" / "99_tiny.ipynb").write_text(json.dumps(nbformat.from_dict(executed)))
    found = scan.leaks(site, scan.secrets(tmp_path / "solutions"))
    assert any(line.startswith("_downloads/99_tiny.ipynb") for line in found)


def test_build_names_what_is_missing_or_wrong(tmp_path, monkeypatch):
    from course_utils.instructor import site
    with pytest.raises(site.SiteError, match="only applies to a graded site"):
        site.build_site(tmp_path / "out", withhold_from=3)
    with pytest.raises(site.SiteError, match="notebook number 00-99"):
        site.build_site(tmp_path / "out", graded=True, withhold_from=100)
    monkeypatch.setattr(site, "SITE_MODULES", ("sphinx", "no_such_site_tool"))
    with pytest.raises(site.SiteError, match=r"no_such_site_tool missing.*\.\[site\]"):
        site.build_site(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_command_line_reports_a_failure_without_a_traceback(tmp_path, capsys):
    from course_utils.instructor import cli
    assert cli.main(["site", "--out", str(tmp_path / "out"), "--withhold-from", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("site error: --withhold-from only applies") and "Traceback" not in err


def _tiny_course(root, cells):
    """A course of one notebook: pyproject ([tool.course]), README with its table, an empty learner package."""
    (root / "solutions").mkdir(parents=True)
    (root / "course_utils").mkdir()
    (root / "course_utils" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text('[project]\nversion = "1.2.0"\n[tool.course]\n'
                                         'learner_repository = "owner/learners"\n')
    (root / "README.md").write_text("# Tiny\n\nA tiny course.\n\n| # | notebook |\n|---|---|\n"
                                    "| 99 | [tiny](notebooks/99_tiny.ipynb) |\n")
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(build.KERNELSPEC)
    nbformat.write(nb, root / "solutions" / "99_tiny.ipynb")


def test_a_failing_cell_fails_the_build_before_anything_is_written(tmp_path):
    from course_utils.instructor import site
    _tiny_course(tmp_path / "course", [_cell("markdown", "# 99 tiny", "title"),
                                      _cell("code", "raise ValueError('bad data')", "breaks")])
    with pytest.raises(execute.ExecutionError, match=r"99_tiny.ipynb: cell 1 \(id 'breaks'\) raised ValueError: bad"):
        site.build_site(tmp_path / "out", tmp_path / "course", cache=tmp_path / "cache")
    assert not (tmp_path / "out").exists()


def test_a_tiny_course_builds_with_pages_outputs_math_and_no_solution(tmp_path):
    from course_utils.instructor import site
    _tiny_course(tmp_path / "course", [
        _cell("markdown", "# 99 tiny\n\nThe fusion: $y = [a; b]$.", "title"),
        _cell("code", EXERCISE.replace("scale_factor_for_fusion", "2"), "todo-fuse"),
        _cell("code", "print('measured:', 6 * 7)", "measure"),
    ])
    built = site.build_site(tmp_path / "out", tmp_path / "course", cache=tmp_path / "cache")
    assert built.pages == ["99_tiny"] and built.executed == ["99_tiny.ipynb"]
    page = (tmp_path / "out" / "99_tiny.html").read_text()
    assert "measured: 42" in page and "NotImplementedError" in page and "torch.cat" not in page
    assert '_static/mathjax/' in page and "colab.research.google.com/github/owner/learners/blob/v1.2.0" in page
    assert 'href="99_tiny.html"' in (tmp_path / "out" / "index.html").read_text()
    from concurrent.futures import ThreadPoolExecutor   # two builds sharing the cache at once, as one alone
    with ThreadPoolExecutor(max_workers=2) as pool:
        again = list(pool.map(lambda name: site.build_site(tmp_path / name, tmp_path / "course",
                                                            cache=tmp_path / "cache"), ["a", "b"]))
    assert [b.executed for b in again] == [[], []], "nothing changed: nothing executes again"
    assert (tmp_path / "a" / "99_tiny.html").read_text() == (tmp_path / "b" / "99_tiny.html").read_text() == page


def test_notebooks_execute_two_at_once(tmp_path):
    (tmp_path / "pkg").mkdir()
    paths = []
    for k in range(2):
        nb = nbformat.v4.new_notebook(cells=[_cell("code", f"print({k} + 40)", "only")])
        nb.metadata["kernelspec"] = dict(build.KERNELSPEC)
        paths.append(tmp_path / f"9{k}_n.ipynb")
        nbformat.write(nb, paths[-1])
    runs = execute.ExecutionCache(tmp_path / "cache", tmp_path / "pkg").get_all(paths, jobs=2)
    assert [runs[p.name].cells[0].outputs[0]["text"] for p in paths] == ["40\n", "41\n"]



def test_graded_scan_finds_a_renamed_copy_of_a_withheld_reference(solved, tmp_path):
    from course_utils.instructor import release
    package = tmp_path / "pkg"
    (package / "references").mkdir(parents=True)
    (package / "references" / "nb99.py").write_text(
        "def late_vote(p, q):\n    total = p.softmax(-1) + q.softmax(-1)\n    return (total / 2).argmax(-1)\n")
    withheld = release.Withheld.from_files(package, [Path("references/nb99.py")])
    copy = ("<pre>def my_vote(a, b):\n    s = a.softmax(-1) + b.softmax(-1)\n    return (s / 2).argmax(-1)\n</pre>")
    found = scan.leaks(_site(tmp_path, HANDED_OUT + copy), scan.secrets(tmp_path / "solutions"), withheld)
    assert any("copy of references/nb99.py: late_vote" in line for line in found)
    (tmp_path / "clean").mkdir()
    assert scan.leaks(_site(tmp_path / "clean", HANDED_OUT), scan.secrets(tmp_path / "solutions"), withheld) == []
