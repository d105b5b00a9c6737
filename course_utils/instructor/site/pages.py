"""The site's pages: each student notebook as handed out, with the outputs of the solved notebook's execution.

For every cell of the student notebook (:func:`course_utils.instructor.build.student_notebook`):

- a code cell whose source is the solved cell's source (same id) gets that cell's outputs;
- a TODO cell (its solution region replaced by the stub) gets none, so no output of the answer is shown;
- the Colab badge cell becomes the launch line, placed under the notebook's title: "Open in Colab" (the badge's address: the learner repository
  at the release tag) and "Download notebook" (the student notebook as handed out, without outputs);
- an explorer's cell (its static fallback figure, drawn under ``COURSE_QUIET=1``) is followed by a note that the
  live version runs in the notebook.

The home page is the README's opening paragraph and its table of notebooks, links pointing at the pages.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .. import build

EXPLORER_CALL = re.compile(r"^\s*\w*\s*=?\s*(explore\w*|\w+_explorer)\(", re.MULTILINE)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
EXPLORER_NOTE = ("> **Static figure.** This is the explorer's figure at its default settings; the live version, "
                 "with sliders, runs in the notebook ({launch}).")
DOWNLOAD_FOLDER = "_notebooks"   # the handed-out notebooks, under the site's source folder


def launch_line(config: build.CourseConfig, name: str) -> str:
    """Markdown (MyST) of the two launch links of notebook ``name``."""
    return (f"[Open in Colab]({config.colab_url(name)}) · "
            f"{{download}}`Download notebook <{DOWNLOAD_FOLDER}/{name}>`")


def _clean_outputs(outputs: list) -> list:
    """Outputs without widget views (a static site has no kernel to draw them)."""
    kept = []
    for out in outputs:
        out = nbformat.from_dict(dict(out))
        if "data" in out and WIDGET_MIME in out["data"]:
            out["data"] = {k: v for k, v in out["data"].items() if k != WIDGET_MIME}
            if not out["data"]:
                continue
        kept.append(out)
    return kept


def page_notebook(source: Path, executed, config: build.CourseConfig):
    """The page of the solved notebook at ``source``, given its executed version ``executed`` (nbformat nodes)."""
    student = build.student_notebook(source, config)
    solved = {cell.get("id"): cell for cell in executed.cells}
    cells = []
    for cell in student.cells:
        if cell.id == "colab-badge":
            cell.source = launch_line(config, source.name)
        elif cell.cell_type == "code":
            twin = solved.get(cell.id)
            if twin is not None and twin.source == cell.source:
                cell.outputs, cell.execution_count = _clean_outputs(twin.get("outputs", [])), twin.get("execution_count")
        cells.append(cell)
        if cell.cell_type == "code" and cell.outputs and EXPLORER_CALL.search(cell.source):
            note = nbformat.v4.new_markdown_cell(EXPLORER_NOTE.format(launch=launch_line(config, source.name)))
            note.id = f"site-note-{cell.id}"[:64]
            cells.append(note)
    first_text = next((i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.id != "colab-badge"), None)
    if first_text is not None:   # the page opens with the notebook's title, then the launch line and Colab's setup
        cells = [cells[first_text]] + [c for i, c in enumerate(cells) if i != first_text]
    student.cells = cells
    student.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}   # `!pip` highlights
    return student


def home_page(readme: str, names: list[str], title: str, notice: str = "") -> str:
    """MyST markdown of the home page: the README's first paragraph and table, and the course's toctree."""
    paragraphs = readme.split("\n\n")
    intro = next((p for p in paragraphs[1:] if p.strip() and not p.lstrip().startswith(("#", "!", "|"))), "")
    table = next((block.splitlines() for block in paragraphs if block.startswith("|") and "notebook" in
                  block.splitlines()[0]), [])   # the README's table of notebooks (the first with that column)
    table = [re.sub(r"\]\(notebooks/([^)]+)\.ipynb\)", r"](\1.ipynb)", line) for line in table]
    toctree = "\n".join(Path(n).stem for n in names)
    return (f"# {title}\n\n{notice}{intro.strip()}\n\n" + "\n".join(table) + "\n\n"
            f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: Notebooks\n\n{toctree}\n```\n")
