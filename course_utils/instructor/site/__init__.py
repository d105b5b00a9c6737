"""The course as a static website: ``python -m course_utils site --out DIR`` (``./course.sh site``).

Sphinx with MyST-NB and sphinx-book-theme (the ``site`` extra; docs/AUTHORING.md says why) builds one page per
notebook of ``solutions/`` (in course order, so previous/next follow the course) and a home page from the README:

1. every solved notebook is executed, or taken from the cache (:mod:`.execute`);
2. each page is the student notebook as handed out, with the solved run's outputs on its non-TODO cells
   (:mod:`.pages`), written into a source folder beside the cache (only files whose text changed are rewritten,
   so Sphinx re-reads only what changed);
3. Sphinx renders it (MyST-NB reads the notebooks without executing them; MathJax is shipped with the site);
4. the no-solution scan (:mod:`.scan`) reads every file of the result; any finding fails the build.
"""
from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import build, release
from . import execute, pages, scan

ROOT = build.ROOT
TITLE = "Multimodal Fusion from First Principles"
SITE_MODULES = ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx-mathjax-offline")   # the `site` extra
DEFAULT_CACHE = Path("build") / "site-cache"   # relative to the repository; git-ignored (build/)
GRADED_NOTICE = ("> This is the site of a graded release: the TODO cells are shown as learners get them, and no "
                 "page holds the course's own code for notebooks {first} and later; figures and measured numbers "
                 "come from the course's own run.\n\n")

CONF = '''# Written by `python -m course_utils site`; do not edit (course_utils/instructor/site/__init__.py).
project = {title!r}
author = "the course's authors"
extensions = ["myst_nb", "sphinx-mathjax-offline"]   # MathJax 3 copied into _static: no CDN
exclude_patterns = ["{downloads}/**", "**.ipynb_checkpoints"]
nb_execution_mode = "off"          # outputs come from the course's own cached execution of solutions/
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
html_theme = "sphinx_book_theme"
html_title = {title!r}
html_copy_source = False           # "Download notebook" hands out the student notebook itself
html_show_sourcelink = False
html_last_updated_fmt = None
html_show_search_summary = False   # summaries fetch() each result page: refused from file://
html_context = {{"default_mode": "light"}}   # without it the theme logs a console error ("invalid theme mode")
html_theme_options = {{
    "repository_url": "https://github.com/{learner}",
    "repository_branch": {tag!r},
    "path_to_docs": "notebooks",
    "launch_buttons": {{"colab_url": "https://colab.research.google.com"}},
    "use_download_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
}}
'''


class SiteError(RuntimeError):
    """The site cannot be built (a cell raised, Sphinx failed, or a solution would be published)."""


@dataclass
class Site:
    out: Path
    pages: list = field(default_factory=list)        # page names (notebook stems), in course order
    executed: list = field(default_factory=list)     # notebooks run (not from the cache) by this build
    seconds: dict = field(default_factory=dict)      # execute / pages / sphinx / scan -> wall seconds


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def write_sources(source: Path, root: Path, executed: dict, config: build.CourseConfig,
                  graded_from: int | None) -> list[str]:
    """Write the Sphinx source folder (conf.py, index.md, one page per notebook); return the page names."""
    names = sorted(executed)
    notice = "" if graded_from is None else GRADED_NOTICE.format(first=f"{graded_from:02d}")
    _write_if_changed(source / "conf.py", CONF.format(title=TITLE, downloads=pages.DOWNLOAD_FOLDER,
                                                      learner=config.learner_repository, tag=config.tag))
    readme = (root / "README.md").read_text(encoding="utf-8")
    _write_if_changed(source / "index.md", pages.home_page(readme, names, TITLE, notice))
    for name in names:
        path = root / "solutions" / name
        _write_if_changed(source / name, build.render(pages.page_notebook(path, executed[name], config)))
        _write_if_changed(source / pages.DOWNLOAD_FOLDER / name, build.render(build.student_notebook(path, config)))
    wanted = {*names, "conf.py", "index.md", pages.DOWNLOAD_FOLDER}
    for stale in source.iterdir():   # a notebook renamed or removed from solutions/ loses its page
        if stale.name not in wanted and not stale.name.startswith("."):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    for stale in (source / pages.DOWNLOAD_FOLDER).iterdir():
        if stale.name not in names:
            stale.unlink()
    return [Path(n).stem for n in names]


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (POSIX ``flock``; where there is none, no lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            import fcntl
        except ImportError:   # Windows: two builds sharing one cache at once are not supported there
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_sphinx(source: Path, doctrees: Path, out: Path) -> None:
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(doctrees), str(source), str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SiteError(f"sphinx failed (exit {done.returncode}):\n{done.stderr.strip()[-4000:]}")
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)


def build_site(out: Path, root: Path = ROOT, cache: Path | None = None, jobs: int = 1,
               graded: bool = False, withhold_from: int | None = None) -> Site:
    """Build the site into ``out``; raise :class:`SiteError` (or execute.ExecutionError) naming what failed."""
    if withhold_from is not None and not graded:
        raise SiteError("--withhold-from only applies to a graded site (add --graded)")
    if withhold_from is not None and not 0 <= withhold_from <= 99:
        raise SiteError(f"--withhold-from must be a notebook number 00-99, got {withhold_from}")
    missing = [m for m in SITE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise SiteError(f"the site's tools are not installed ({', '.join(missing)} missing): run "
                        '`pip install -e ".[site]"` (./course.sh site does it)')
    graded_from = (withhold_from or 0) if graded else None
    root, out = Path(root).resolve(), Path(out).resolve()
    cache = Path(cache).resolve() if cache else root / DEFAULT_CACHE
    sources = sorted((root / "solutions").glob("*.ipynb"))
    if not sources:
        raise SiteError(f"no solution notebooks in {root / 'solutions'}")
    config = build.CourseConfig.load(root)
    site, clock = Site(out), time.perf_counter()
    runs = execute.ExecutionCache(cache, root / "course_utils")
    executed = runs.get_all(sources, jobs)
    site.executed, site.seconds["execute"] = runs.executed, time.perf_counter() - clock
    with _locked(cache / "site.lock"):   # one build at a time writes the cache's sources and Sphinx state
        clock = time.perf_counter()
        site.pages = write_sources(cache / "source", root, executed, config, graded_from)
        site.seconds["pages"], clock = time.perf_counter() - clock, time.perf_counter()
        run_sphinx(cache / "source", cache / "doctrees", out)
        site.seconds["sphinx"], clock = time.perf_counter() - clock, time.perf_counter()
    withheld = None
    if graded_from is not None:
        package = root / "course_utils"
        withheld = release.Withheld.from_files(package, release.withheld_files(package, graded_from)).forget_given(
            sorted((cache / "source" / pages.DOWNLOAD_FOLDER).glob("*.ipynb")))
    found = scan.leaks(out, scan.secrets(root / "solutions"), withheld)
    site.seconds["scan"] = time.perf_counter() - clock
    if found:
        shutil.rmtree(out, ignore_errors=True)
        raise SiteError("a solution would be published; the site was removed:\n  " + "\n  ".join(found[:40]))
    return site


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, type=Path, help="folder of the HTML site (open DIR/index.html)")
    p.add_argument("--cache", type=Path, default=None,
                   help=f"executed notebooks and Sphinx's state (default: {DEFAULT_CACHE}/ in the repository)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks executed at once (default 1)")
    p.add_argument("--graded", action="store_true", help="the site of a graded release (scanned as one)")
    p.add_argument("--withhold-from", type=int, default=None, metavar="NN",
                   help="with --graded: notebooks NN and later are withheld (default: all)")


def main(args) -> int:
    try:
        site = build_site(args.out, cache=args.cache, jobs=args.jobs, graded=args.graded,
                          withhold_from=args.withhold_from)
    except (SiteError, execute.ExecutionError, build.BuildError) as error:
        print(f"site error: {error}", file=sys.stderr)
        return 2
    times = ", ".join(f"{k} {v:.1f} s" for k, v in site.seconds.items())
    print(f"site: {len(site.pages)} notebook pages in {site.out} (open {site.out / 'index.html'}); "
          f"executed {len(site.executed)} notebook(s), the rest from the cache; {times}")
    return 0
