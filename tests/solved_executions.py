"""nbval's executions of the solved notebooks, kept for the course site test (one execution per run, issue 32).

nbval runs every ``solutions/*.ipynb`` cell by cell; this plugin starts those kernels with the site's execution
settings (:data:`course_utils.instructor.site.execute.ENVIRONMENT`: figures are captured inline) and, when every
cell of a notebook has passed, writes the executed notebook into an execution cache the site reads
(``<run's shared temp>/site-cache/executed/<key>.ipynb``, the same key :class:`~course_utils.instructor.site.
execute.ExecutionCache` computes, so a changed cell or package executes again). A notebook with a failing cell
leaves a ``<key>.failed`` marker instead: the site does not wait for it and executes it itself (and reports the
failure). Without nbval items in the run, nothing is recorded and the site executes everything, as before.

Every xdist worker sees the same folder (:func:`run_shared.shared_folder`).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import nbformat

import run_shared

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
WAIT_SECONDS = 900          # the longest the site waits for nbval, in the other worker, to finish the solved notebooks
FAILED: set[str] = set()    # the solved notebooks (node ids) with a failed cell in this process


def shared_cache(config) -> Path:
    """The run's site cache, one folder for the controller and every xdist worker (``COURSE_SITE_CACHE`` when set:
    a developer's cache kept between runs)."""
    return Path(os.environ.get("COURSE_SITE_CACHE") or run_shared.shared_folder(config) / "site-cache")


def _package_hash() -> str:
    from course_utils.instructor.site import execute
    return execute.package_digest(ROOT / "course_utils")


def entry(cache: Path, source: Path, package_hash: str) -> Path:
    """Where the executed ``source`` (a solved notebook) lives in ``cache`` (``.failed`` beside it)."""
    from course_utils.instructor.site import execute
    return cache / "executed" / f"{execute.cache_key(nbformat.read(source, as_version=4), package_hash)}.ipynb"


def _is_solved_cell(item) -> bool:
    path = Path(str(getattr(item, "fspath", "")))
    return type(item).__name__ == "IPyNbCell" and path.parent == SOLUTIONS


def recorded_notebooks(session) -> list[str]:
    """Names of the solved notebooks nbval runs in this session (every xdist worker collects every item)."""
    return sorted({Path(str(item.fspath)).name for item in session.items if _is_solved_cell(item)})


def site_kernel_environment(start_new_kernel):
    """nbval's ``start_new_kernel``, giving kernels started in ``solutions/`` the site's execution settings."""
    def start(*args, **kwargs):
        if Path(str(kwargs.get("cwd", ""))).resolve() == SOLUTIONS:
            from course_utils.instructor.site import execute
            kwargs["env"] = {**os.environ, **execute.ENVIRONMENT}
        return start_new_kernel(*args, **kwargs)
    start.__wrapped__ = start_new_kernel
    return start


def pytest_runtest_logreport(report):
    """Remember a failed phase of a solved notebook's cell (its notebook is then not recorded)."""
    if report.failed and report.nodeid.startswith("solutions/"):
        FAILED.add(report.nodeid.split("::")[0])


def pytest_runtest_teardown(item, nextitem):
    """After a solved notebook's last cell: write its executed version, or its ``.failed`` marker."""
    if not _is_solved_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
    notebook = item.parent
    source = Path(str(notebook.fspath))
    path = entry(shared_cache(item.config), source, _package_hash())
    path.parent.mkdir(parents=True, exist_ok=True)
    if item.nodeid.split("::")[0] in FAILED:
        path.with_suffix(".failed").touch()
        return
    executed = nbformat.read(source, as_version=4)
    ran = {cell.cell_num: cell for cell in notebook.session.items if cell.parent is notebook}
    count = 0
    for cell in (c for c in executed.cells if c.cell_type == "code"):
        got = ran.get(count)
        count += 1
        cell.outputs = [nbformat.from_dict(dict(o)) for o in (got.test_outputs or [])] if got else []
        cell.execution_count = count
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        nbformat.write(executed, handle)
    os.replace(tmp, path)


def wait_for(cache: Path, names: list[str], timeout: float = WAIT_SECONDS) -> list[str]:
    """Wait until nbval has recorded (or failed) each of ``names``; return those it recorded."""
    package_hash = _package_hash()
    pending = {name: entry(cache, SOLUTIONS / name, package_hash) for name in names}
    deadline = time.monotonic() + timeout
    while any(not (p.exists() or p.with_suffix(".failed").exists()) for p in pending.values()):
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    return [name for name, p in pending.items() if p.exists()]
