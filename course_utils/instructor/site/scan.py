"""The no-solution scan of a built site: no solution region and no exercise's solved definition on any page.

Every text file of the site is read: each HTML page (its text, tags removed, and its code blocks), the search
index (``searchindex.js``), the downloadable notebooks, every other text asset. Two things must be absent:

- every solution region's body (code or model answer), compared as the sequence of its word tokens
  :math:`w_1 \\dots w_n` (``\\w+``), so highlighting spans, markdown marks and line breaks change nothing;
  a body of fewer than ``MIN_TOKENS`` tokens is too common to call a copy and is counted apart;
- a definition (``def``/``class``) of an exercise name (a function or class that holds a solution region) that
  is not the handed-out stub, found by parsing each code block; on a graded site also every withheld reference's
  name and normalised body (:class:`course_utils.instructor.release.Withheld`), as the graded-release scan does.
"""
from __future__ import annotations

import ast
import json
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .. import build, release

MIN_TOKENS = 6
TEXT_SUFFIXES = {".html", ".js", ".json", ".txt", ".ipynb", ".md", ".css", ".svg", ".xml"}
WORD = re.compile(r"\w+")


def tokens(text: str) -> str:
    """The word tokens of ``text``, one space apart, each side padded (so a match is whole tokens)."""
    return " " + " ".join(WORD.findall(text)) + " "


@dataclass
class Secrets:
    """What the site must not contain, from ``solutions/``."""
    bodies: dict = field(default_factory=dict)      # tokens of a region's body -> where
    names: dict = field(default_factory=dict)       # exercise name -> where
    too_short: int = 0                              # regions under MIN_TOKENS tokens (not scanned)


def _regions(source: str) -> list[tuple[int, str]]:
    """(line of BEGIN, body) of every solution region of one cell."""
    found, body, start = [], None, 0
    for number, line in enumerate(source.split("\n"), start=1):
        if line.strip() == build.BEGIN:
            body, start = [], number
        elif line.strip() == build.END and body is not None:
            found.append((start, "\n".join(body)))
            body = None
        elif body is not None:
            body.append(line)
    return found


def _enclosing_names(source: str, lines: list[int]) -> list[str]:
    try:
        tree = ast.parse("\n".join("" if ln.lstrip().startswith(("!", "%")) else ln for ln in source.split("\n")))
    except SyntaxError:
        return []
    return [node.name for node in tree.body   # top level: a method name (forward) is no exercise's own
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(node.lineno <= line <= (node.end_lineno or node.lineno) for line in lines)]


def secrets(solutions: Path) -> Secrets:
    """Every solution region's body and every exercise name of the notebooks in ``solutions``."""
    found = Secrets()
    for path in sorted(Path(solutions).glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            source = "".join(cell.get("source", []))
            where = f"{path.name} cell {index} (id {cell.get('id', '?')})"
            regions = _regions(source)
            for _, body in regions:
                key = tokens(body)
                if len(key.split()) < MIN_TOKENS:
                    found.too_short += 1
                else:
                    found.bodies.setdefault(key, where)
            if cell.get("cell_type") == "code" and regions:
                for name in _enclosing_names(source, [line for line, _ in regions]):
                    found.names.setdefault(name, where)
    return found


class _Text(HTMLParser):
    """All text of a page, and the text of each ``<pre>`` block (the code cells and outputs)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.blocks, self._pre = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self._pre.append([])

    def handle_endtag(self, tag):
        if tag == "pre" and self._pre:
            self.blocks.append("".join(self._pre.pop()))

    def handle_data(self, data):
        self.parts.append(data)
        for block in self._pre:
            block.append(data)


def _pieces(site: Path) -> list[tuple[str, str, list[str]]]:
    """(file, its text, its code blocks) of every text file under ``site``."""
    out = []
    for path in sorted(Path(site).rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        rel = path.relative_to(site).as_posix()
        raw = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".html":
            parser = _Text()
            parser.feed(raw)
            out.append((rel, raw + "\n" + "".join(parser.parts), parser.blocks))
        elif path.suffix == ".ipynb":
            out.append((rel, raw, [source for _, source in release._code_of(path)]))
        else:
            out.append((rel, raw, []))
    return out


def _definitions_in(block: str) -> list:
    lines = [ln for ln in block.split("\n") if not ln.lstrip().startswith(("!", "%"))]
    try:
        with warnings.catch_warnings():   # an output block (numbers, tables) is rarely Python
            warnings.simplefilter("ignore", SyntaxWarning)
            return release._definitions(ast.parse("\n".join(lines)))
    except SyntaxError:
        return []


def leaks(site: Path, found: Secrets, withheld: release.Withheld | None = None) -> list[str]:
    """Where under ``site`` a solution can be found (empty: none)."""
    problems = []
    empty = Path(tempfile.mkdtemp(prefix="course-site-scan-"))   # reference_leaks scans a folder too
    for rel, text, blocks in _pieces(site):
        words = tokens(text)
        for body, where in found.bodies.items():
            if body in words:
                problems.append(f"{rel}: holds the solution region of {where}")
        for block in blocks:
            for node in _definitions_in(block):
                if node.name in found.names and not release._is_stub(node):
                    problems.append(f"{rel}: defines exercise {node.name!r} ({found.names[node.name]}) in full")
        if withheld is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                problems += release.reference_leaks(empty, withheld,
                                                    {f"{rel} block {i}": b for i, b in enumerate(blocks)})
    empty.rmdir()
    return problems
