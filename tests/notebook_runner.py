"""Run a notebook in a fresh kernel, cell by cell, and report which cells raised."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CellError:
    index: int
    cell_id: str
    check_id: str | None
    ename: str
    evalue: str


def run_notebook(path_or_nb, timeout: int = 600) -> tuple[object, list[CellError]]:
    """Execute every cell (errors do not stop the run); return the executed notebook and the errors."""
    nb = nbformat.read(path_or_nb, as_version=4) if isinstance(path_or_nb, (str, Path)) else path_or_nb
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()
    errors = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(CellError(index, cell.id, cell.metadata.get("course", {}).get("check"),
                                        out["ename"], out["evalue"]))
    return nb, errors


def check_ids(nb) -> list[str]:
    return [c.metadata["course"]["check"] for c in nb.cells if "check" in c.metadata.get("course", {})]
