"""Tier 2: the whole course site, built once per run from the repository (``python -m course_utils site``).

One session fixture builds the self-study site from a fresh clone (every solved notebook executed once: by nbval
when the run includes ``solutions/``, kept in the run's cache by ``tests/solved_executions.py``, else by the site;
``COURSE_SITE_CACHE`` names a cache to reuse) and, from the same executions, a graded site.
Checked here: every page exists, every internal link and image resolves (images are real PNG/SVG), notebook 06's page shows its gate
figures, launch links, the no-solution scan on both sites, and in headless Chromium (Debian's, as the JupyterLab
browser test uses): no console errors, no request outside ``file://``, math rendered, search finds notebook 04.
Screenshots go to ``test-artifacts/``; ``COURSE_UPDATE_SCREENSHOT=1`` refreshes the README's docs/img/site.png
(notebook 04's page).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import solved_executions
from course_utils.instructor import build
from course_utils.instructor.site import build_site, scan

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
README_SCREENSHOT = ROOT / "docs" / "img" / "site.png"
CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
NAMES = [p.stem for p in sorted((ROOT / "solutions").glob("*.ipynb"))]
def _page(number: str) -> str:
    """The page name of notebook ``number`` ("04"), whatever it is called."""
    return next(name for name in NAMES if name.startswith(f"{number}_"))


GATE_CELLS = ("gate_explorer(", "gating.gate_values(")   # notebook 06's explorer and its gate histogram


def _fresh_clone(base: Path) -> Path:
    """A fresh clone of this checkout when its work tree is clean (CI's case), else the checkout itself.

    Building from the clone shows the site needs nothing that is not committed (no notebooks/ or build/ left
    behind); with uncommitted changes the checkout is built, so a developer tests what they have.
    """
    clone = base / "clone"
    if clone.exists():
        return clone
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True)
    if status.returncode != 0 or status.stdout.strip():
        return ROOT
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    return clone


@pytest.fixture(scope="session")
def sites(request, tmp_path_factory):
    """(self-study site, graded site) folders, built from the repository with one execution of each notebook:
    nbval's, when this run has nbval execute ``solutions/`` (tests/solved_executions.py), else the site's own."""
    base = tmp_path_factory.mktemp("site")
    cache = solved_executions.shared_cache(request.config)
    recorded = solved_executions.wait_for(cache, solved_executions.recorded_notebooks(request.session))
    root = _fresh_clone(base)
    study = build_site(base / "self-study", root, cache=cache)
    assert not set(study.executed) & set(recorded), "the site executed again what nbval had executed"
    graded_cache = base / "cache-graded"
    shutil.copytree(cache / "executed", graded_cache / "executed")   # the same executions, its own sources
    graded = build_site(base / "graded", root, cache=graded_cache, graded=True)
    assert graded.executed == [], "the graded site must reuse the self-study site's executions"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "site-build.json").write_text(json.dumps({"self-study": study.seconds, "graded": graded.seconds,
                                                           "executed": study.executed, "from_nbval": recorded,
                                                           "built_from": str(root)}, indent=2))
    return study.out, graded.out


@pytest.fixture(scope="session")
def site(sites):
    return sites[0]


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.images, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append((tag, attrs[key]))
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


def _parse(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_notebook_has_a_page_in_course_order(site):
    assert NAMES and all((site / f"{name}.html").is_file() for name in NAMES)
    for page in ("index.html", "search.html", "searchindex.js", "genindex.html"):
        assert (site / page).is_file(), page
    for before, after in zip(["index", *NAMES], NAMES):   # next/previous follow the course's order
        html = (site / f"{before}.html").read_text(encoding="utf-8")
        assert re.search(rf'class="right-next"\s+href="{after}.html"', html), f"{before}: next is not {after}"
        assert re.search(rf'class="left-prev"\s+href="{before}.html"', (site / f"{after}.html").read_text()), after


def test_home_page_has_the_readme_table_with_links_to_the_pages(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    table = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| 0")]
    assert table and "<table" in html
    for name in re.findall(r"\(notebooks/([^)]+)\.ipynb\)", "\n".join(table)):
        if name in NAMES:
            assert f'href="{name}.html"' in html, name


def test_every_internal_link_and_image_resolves(site):
    problems = []
    for page in sorted(p for p in site.rglob("*.html") if "_static" not in p.parts):   # _static: theme templates
        refs = _parse(page)
        for tag, ref in refs.refs:
            parts = urlsplit(ref)
            if parts.scheme in ("http", "https", "mailto") or ref.startswith(("#", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.exists():
                problems.append(f"{page.relative_to(site)}: <{tag}> {ref} does not exist")
            elif parts.fragment and target.suffix == ".html" and target.stem in NAMES \
                    and parts.fragment not in _parse(target).ids:
                problems.append(f"{page.relative_to(site)}: {ref}: no anchor #{parts.fragment}")
        for src in refs.images:
            if src.startswith(("http", "data:")):
                continue
            head = (page.parent / unquote(urlsplit(src).path)).read_bytes()[:512]
            if not (head.startswith(b"\x89PNG\r\n\x1a\n") or b"<svg" in head):
                problems.append(f"{page.relative_to(site)}: {src} is not a PNG or SVG file")
    assert not problems, "\n".join(problems[:30])


def test_no_page_requests_anything_from_outside(site):
    for page in sorted(site.glob("*.html")):
        for tag, ref in _parse(page).refs:
            if tag in ("script", "img", "link", "iframe", "source") and urlsplit(ref).scheme in ("http", "https"):
                pytest.fail(f"{page.name}: <{tag}> loads {ref} from outside the site")


def _cells(html: str) -> list[str]:
    return html.split('<div class="cell docutils container')[1:]


def test_gated_fusion_page_shows_its_gate_figures(site):
    page = _page("06")
    cells = _cells((site / f"{page}.html").read_text(encoding="utf-8"))
    for call in GATE_CELLS:
        calling = [c for c in cells if call in re.sub(r"<[^>]+>", "", c)]
        assert calling, f"no cell calls {call}"
        assert any(re.search(r'<img [^>]*src="_images/[^"]+\.png"', c) for c in calling), \
            f"the cell of {call} shows no figure"
    assert "live version" in (site / f"{page}.html").read_text(), "the explorer's note is missing"


def test_todo_cells_show_the_stub_and_no_outputs(site):
    html = (site / f"{_page('02')}.html").read_text(encoding="utf-8")   # 02: exercises with TODO cells
    todo = [c for c in _cells(html) if "NotImplementedError" in c]
    assert todo and all("cell_output" not in c for c in todo)
    assert any("cell_output" in c for c in _cells(html)), "the other cells keep the solved run's outputs"


def test_launch_links_open_colab_at_the_release_and_download_the_handed_out_notebook(site):
    config = build.CourseConfig.load(ROOT)
    for name in NAMES:
        html = (site / f"{name}.html").read_text(encoding="utf-8")
        assert f'href="{config.colab_url(name + ".ipynb")}"' in html, name
        download = re.search(rf'href="(_downloads/[^"]+/{name}\.ipynb)"', html)
        assert download, f"{name}: no Download notebook link"
        handed_out = build.render(build.student_notebook(ROOT / "solutions" / f"{name}.ipynb", config))
        assert (site / download.group(1)).read_text(encoding="utf-8") == handed_out


def test_math_assets_are_shipped(site):
    html = (site / f"{_page('04')}.html").read_text(encoding="utf-8")
    local = re.search(r'<script[^>]+src="(_static/mathjax/[^"]+)"', html)
    assert local and (site / local.group(1).split("?")[0]).is_file()
    assert "\\(" in html or "\\[" in html or 'class="math' in html


@pytest.mark.parametrize("which", ["self-study", "graded"])
def test_no_solution_on_any_page_or_in_the_search_index(sites, which):
    folder = sites[0] if which == "self-study" else sites[1]
    found = scan.secrets(ROOT / "solutions")
    assert len(found.bodies) > 20 and len(found.names) > 10, "the scan must look for something"
    assert (folder / "searchindex.js").is_file()
    assert scan.leaks(folder, found) == []
    if which == "graded":
        assert "graded release" in (folder / "index.html").read_text()


def test_the_scan_would_catch_a_published_solution(site, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    solved = json.loads((ROOT / "solutions" / f"{_page('02')}.ipynb").read_text())
    code = next("".join(c["source"]) for c in solved["cells"] if build.BEGIN in "".join(c["source"]))
    page = copy / f"{_page('02')}.html"
    page.write_text(page.read_text() + f"<pre>{code}</pre>")
    assert scan.leaks(copy, scan.secrets(ROOT / "solutions"))


# -- in the browser ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")   # not session: Playwright's sync API refuses a second driver in the same
def browser():                    # process while one is open, and the JupyterLab test may run in this worker next
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (run .ci/install-browser.sh)"
        pytest.fail(reason, pytrace=False) if os.environ.get("CI") else pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as driver:
        engine = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield engine
        engine.close()


def _open(browser, url: str):
    """A page at ``url``, with the console errors and the requests outside file:// it made."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    seen = {"errors": [], "outside": []}
    page.on("console", lambda msg: msg.type == "error" and seen["errors"].append(msg.text))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("request", lambda req: not req.url.startswith(("file://", "data:", "blob:", "about:"))
            and seen["outside"].append(req.url))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, seen


@pytest.mark.parametrize("name", ["index", _page("04"), _page("06")])   # home, 04 cross-attention, 06 gated fusion
def test_page_in_chromium(site, browser, name):
    page, seen = _open(browser, (site / f"{name}.html").as_uri())
    if name != "index":
        page.wait_for_selector("mjx-container", state="attached", timeout=30_000)   # MathJax rendered the page's math
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"site-{name}.png"
    page.screenshot(path=str(shot))
    if name == _page("06"):   # the gate explorer's static figure, with its note
        page.locator("text=live version").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"site-{name}-gate-figure.png"))
    if name == _page("04") and os.environ.get("COURSE_UPDATE_SCREENSHOT"):   # the README shows 04's page
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, README_SCREENSHOT)
    page.close()
    assert seen["errors"] == [], f"{name}: console errors {seen['errors']}"
    assert seen["outside"] == [], f"{name}: requests outside file:// {seen['outside']}"


def test_search_finds_cross_attention(site, browser):
    page, seen = _open(browser, (site / "search.html").as_uri() + "?q=cross-attention")
    page.wait_for_selector("#search-results li a", timeout=30_000)
    hrefs = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    page.screenshot(path=str(ARTIFACTS / "site-search.png"))
    page.close()
    assert any(_page("04") in href for href in hrefs), f"search for cross-attention found {hrefs}"
    assert seen["errors"] == [], f"console errors {seen['errors']}"
    assert seen["outside"] == [], f"requests outside file:// {seen['outside']}"
