"""docs/AUTHORING.md's layout table matches the tree: every path it names exists, and every module of
``course_utils/`` is named by it or sits in a folder it names (issue 30: the maintainers' map of the house). A
package's ``__init__.py`` counts as named where the table names another module of that package."""
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE_HEADING = "## Where things are"


def table_paths(text: str) -> list[str]:
    """The paths in the file column of the table under ``TABLE_HEADING``: every backticked token with a ``/``."""
    section = text[text.index(TABLE_HEADING):]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    rows = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")][1:]
    assert rows, "the layout table has no rows"
    paths = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 2, f"a row of the layout table has {len(cells)} columns: {row}"
        paths += [token for token in re.findall(r"`([^`]+)`", cells[1]) if "/" in token and " " not in token]
    return paths


def pattern(path: str) -> str:
    """A table path as a glob: ``NN`` is two digits, ``<idea>`` any name."""
    return re.sub(r"<[^>]+>", "*", path).replace("NN", "[0-9][0-9]")


def matches(path: str) -> list[Path]:
    return sorted(ROOT.glob(pattern(path).rstrip("/")))


def test_the_table_parses_into_paths():
    paths = table_paths("## Where things are\n| what | file |\n|---|---|\n| a | `x/y.py` (`z`), `w/` |\n\n## Next\n"
                        "| b | `not/this.py` |\n")
    assert paths == ["x/y.py", "w/"]
    assert pattern("course_utils/checks/nbNN.py") == "course_utils/checks/nb[0-9][0-9].py"
    assert fnmatch.fnmatch("course_utils/data/binding.py", pattern("course_utils/data/<idea>.py"))


def test_every_path_the_table_names_exists():
    paths = table_paths((ROOT / "docs" / "AUTHORING.md").read_text(encoding="utf-8"))
    assert len(paths) > 20
    missing = [p for p in paths if not matches(p) or (p.endswith("/") and not all(m.is_dir() for m in matches(p)))]
    assert missing == [], f"docs/AUTHORING.md's layout table names paths that do not exist: {missing}"


def test_every_module_of_the_package_is_in_the_table():
    paths = table_paths((ROOT / "docs" / "AUTHORING.md").read_text(encoding="utf-8"))
    folders = [p for p in paths if p.endswith("/")]
    assert "course_utils/" not in folders, "naming the whole package would cover every module"
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "course_utils").rglob("*.py")
                     if "__pycache__" not in p.parts)
    assert len(modules) > 80
    files = [p for p in paths if not p.endswith("/")]

    def named(module: str) -> bool:
        return any(fnmatch.fnmatch(module, pattern(p)) for p in files) or any(module.startswith(f) for f in folders)

    unnamed = [m for m in modules if not named(m)
               and not (m.endswith("/__init__.py") and any(named(o) for o in modules
                                                           if o != m and o.rsplit("/", 1)[0] == m.rsplit("/", 1)[0]))]
    assert unnamed == [], f"modules docs/AUTHORING.md's layout table does not name (add a row or a path): {unnamed}"
