"""Execute the solved notebooks for the site, cached on their code cells and on ``course_utils``.

The cache key of a notebook is

.. math:: k = \\operatorname{sha256}\\big(\\text{code cells' sources},\\ \\text{course\\_utils' files},\\ \\text{settings}\\big)

so editing a markdown cell re-executes nothing, while editing any code cell or any file of the learner package
re-executes that notebook. Each entry is one executed notebook, ``CACHE/executed/<k>.ipynb``, written to a
temporary name and renamed, so two builds sharing a cache never read half a file. Execution sets
``COURSE_QUIET=1`` (explorers draw their static fallback figures) and ``OMP_NUM_THREADS=1``, in a fresh
temporary working folder. A cell that raises fails the build with :class:`ExecutionError`, which names the
notebook and the cell and carries no traceback.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ENVIRONMENT = {"COURSE_QUIET": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
SKIPPED_PACKAGE_PARTS = {"instructor", "__pycache__"}   # instructor tools never run inside a notebook


class ExecutionError(RuntimeError):
    """A solved notebook's cell raised while executing for the site; the message names notebook and cell."""


def package_digest(package: Path) -> str:
    """sha256 over every file of the learner package (``course_utils`` without ``instructor/``), paths included."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if path.is_file() and not SKIPPED_PACKAGE_PARTS & set(rel.parts) and path.suffix != ".pyc":
            digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(notebook, package_hash: str) -> str:
    """The key of one solved notebook: its code cells (in order), the package digest and the settings."""
    digest = hashlib.sha256(package_hash.encode())
    digest.update(repr(sorted(ENVIRONMENT.items())).encode())
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(b"\0cell\0" + cell.source.encode())
    return digest.hexdigest()


def _first_error(notebook) -> tuple[int, object, dict] | None:
    for index, cell in enumerate(notebook.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                return index, cell, out
    return None


def run(notebook, name: str, timeout: int = 900, package: Path | None = None):
    """Execute ``notebook`` (an nbformat node, changed in place) in a fresh kernel; raise :class:`ExecutionError`.

    With ``package`` (a ``course_utils`` folder) the kernel imports that copy of the package, the one hashed.
    """
    from nbclient import NotebookClient
    with tempfile.TemporaryDirectory(prefix="course-site-run-") as workdir:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": workdir}})
        env = {**os.environ, **ENVIRONMENT}   # the kernel's environment, not this process's
        if package is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(package).resolve().parent),
                                                              os.environ.get("PYTHONPATH")]))
        client.execute(env=env)
    failed = _first_error(notebook)
    if failed:
        index, cell, out = failed
        raise ExecutionError(f"solutions/{name}: cell {index} (id {cell.get('id', '?')!r}) raised "
                             f"{out.get('ename')}: {out.get('evalue')} -- the site was not built")
    return notebook


class ExecutionCache:
    """Executed solved notebooks under ``folder/executed/``, keyed by :func:`cache_key`."""

    def __init__(self, folder: Path, package: Path):
        self.folder = Path(folder) / "executed"
        self.package = Path(package)
        self.package_hash = package_digest(package)
        self.executed: list[str] = []   # names run (not taken from the cache) by the last :meth:`get_all`

    def path(self, notebook) -> Path:
        return self.folder / f"{cache_key(notebook, self.package_hash)}.ipynb"

    def get(self, source: Path):
        """The executed version of the solved notebook at ``source``, from the cache or run now."""
        notebook = nbformat.read(source, as_version=4)
        cached = self.path(notebook)
        if cached.exists():
            return nbformat.read(cached, as_version=4)
        run(notebook, source.name, package=self.package)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            nbformat.write(notebook, handle)
        os.replace(tmp, cached)
        self.executed.append(source.name)
        return notebook

    def get_all(self, sources: list[Path], jobs: int = 1) -> dict:
        """name -> executed notebook for every path in ``sources``; ``jobs`` kernels at once."""
        self.executed = []
        if jobs <= 1:
            return {p.name: self.get(p) for p in sources}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return dict(zip([p.name for p in sources], pool.map(self.get, sources)))
