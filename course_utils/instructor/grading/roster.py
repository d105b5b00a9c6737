"""The class list: submission folder names -> the LMS's learner ids and names (``grade --roster roster.csv``).

A roster is a CSV with a header row. Required columns:

- ``learner``: the name of the learner's submission folder (what ``grades.csv`` calls ``learner``);
- ``id``: the learner's id in the LMS (Canvas's numeric user id, a Gradescope email, ...);
- ``name``: the learner's name as the LMS shows it.

Optional columns: ``sis_user_id``, ``sis_login_id``, ``section``, ``email`` (Canvas's gradebook has the first
three). Other columns are kept and ignored. Learners are matched by ``learner`` exactly, after trimming
spaces. Folders the roster does not name are *unknown*, roster learners without any submission are
*missing*: both are listed (``roster-problems.csv`` and the printed summary), never dropped silently.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED = ("learner", "id", "name")
OPTIONAL = ("sis_user_id", "sis_login_id", "section", "email")


class RosterError(ValueError):
    """The roster file is missing, malformed or ambiguous."""


@dataclass
class Learner:
    learner: str                 # submission folder name
    id: str                      # LMS id
    name: str
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""


@dataclass
class Roster:
    learners: dict = field(default_factory=dict)   # folder name -> Learner, in file order

    def get(self, learner: str) -> Learner | None:
        return self.learners.get(learner)

    def __len__(self) -> int:
        return len(self.learners)


def expected_columns() -> str:
    return (f"required columns {', '.join(REQUIRED)} (learner = the submission folder name, id = the LMS's "
            f"learner id); optional {', '.join(OPTIONAL)}")


def load(path: Path) -> Roster:
    """Read a roster CSV; raise :class:`RosterError` naming the expected columns when it is malformed."""
    path = Path(path)
    if not path.is_file():
        raise RosterError(f"roster {path} does not exist; expected a CSV with {expected_columns()}")
    with open(path, newline="", encoding="utf-8-sig") as f:   # -sig: Excel's byte-order mark
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise RosterError(f"roster {path}: no column(s) {', '.join(missing)} in the header "
                              f"{', '.join(reader.fieldnames or []) or '(empty file)'}; expected {expected_columns()}")
        roster = Roster()
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            if None in raw:
                raise RosterError(f"roster {path} line {line}: more fields than header columns")
            if not any(row.values()):
                continue                                   # a blank line
            empty = [c for c in ("learner", "id") if not row.get(c)]
            if empty:
                raise RosterError(f"roster {path} line {line}: empty {', '.join(empty)}; every row needs "
                                  "the learner's submission folder name and LMS id")
            if row["learner"] in roster.learners:
                raise RosterError(f"roster {path} line {line}: learner {row['learner']!r} appears twice")
            roster.learners[row["learner"]] = Learner(**{k: row.get(k, "") for k in REQUIRED + OPTIONAL})
    ids = {}
    for entry in roster.learners.values():
        if entry.id in ids:
            raise RosterError(f"roster {path}: LMS id {entry.id!r} belongs to both {ids[entry.id]!r} and "
                              f"{entry.learner!r}")
        ids[entry.id] = entry.learner
    return roster


def reconcile(roster: Roster, learners) -> tuple[list, list]:
    """(unknown folders, missing roster learners): graded folders the roster lacks, roster rows never graded."""
    seen = sorted(set(learners))
    unknown = [name for name in seen if name not in roster.learners]
    missing = [entry for name, entry in roster.learners.items() if name not in set(seen)]
    return unknown, missing


def write_problems(path: Path, unknown: list, missing: list) -> Path:
    """``roster-problems.csv``: one row per unknown folder or missing learner (header only when none)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["problem", "learner", "id", "name", "what to do"])
        for name in unknown:
            writer.writerow(["unknown", name, "", "", "a submission folder the roster does not name: add it to "
                             "the roster (or rename the folder) so its grades reach the LMS"])
        for entry in missing:
            writer.writerow(["missing", entry.learner, entry.id, entry.name,
                             "on the roster but no submission was graded"])
    return Path(path)


def describe(unknown: list, missing: list) -> str:
    """One or two lines for the printed summary."""
    lines = []
    if unknown:
        lines.append(f"roster: {len(unknown)} unknown submission folder(s), not in the roster: {', '.join(unknown)}")
    if missing:
        lines.append(f"roster: {len(missing)} learner(s) without a graded submission: "
                     + ", ".join(f"{e.learner} ({e.name})" if e.name else e.learner for e in missing))
    return "\n".join(lines) or "roster: every submission folder is on the roster and every learner handed in"
