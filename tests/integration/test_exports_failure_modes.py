"""The batch of every failure mode (``test_grading.make_submissions``) graded with a roster and Canvas export.

Every row of ``canvas.csv`` and ``grades-long.csv`` agrees with ``grades.csv`` and with the expected points,
the folder missing from the roster is listed, and the roster learner without a submission is listed.
"""
from __future__ import annotations

import csv

from course_utils.instructor import cli
from test_grading import EXPECTED, LIMITS, make_submissions, tiny_course


def test_failure_mode_batch_exports(tmp_path, capsys):
    course = tiny_course(tmp_path / "ref")
    subs, out = tmp_path / "subs", tmp_path / "out"
    make_submissions(subs, course)
    learners = sorted(EXPECTED)
    # a per-cell limit of 30 s (not the fast tier's 8 s): on a loaded machine a check cell's first imports can
    # take longer than 8 s, and this test is about the exports, not the limits
    on_roster = [name for name in learners if name != "renamed"] + ["absent"]
    with open(tmp_path / "roster.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["learner", "id", "name", "section"])
        for i, name in enumerate(on_roster):
            writer.writerow([name, 1000 + i, name.title(), "S"])
    code = cli.main(["grade", str(subs), "--out", str(out), "--reference", str(tmp_path / "ref"), "--workers", "2",
                     "--timeout", "30", "--wall-timeout", str(LIMITS["wall_timeout"]),
                     "--memory-limit", str(LIMITS["memory_bytes"]), "--roster", str(tmp_path / "roster.csv"),
                     "--canvas", "total"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "not in the roster: renamed" in printed and "absent (Absent)" in printed
    grades = {r["learner"]: r for r in csv.DictReader(open(out / "grades.csv", newline=""))}
    canvas = list(csv.reader(open(out / "canvas.csv", newline="")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Notebooks total"]
    assert canvas[1][0] == "Points Possible" and canvas[1][5] == "6"        # 90_tiny (5) + 91_other (1)
    by_id = {row[1]: row for row in canvas[2:]}
    for i, name in enumerate(on_roster):
        row = by_id[str(1000 + i)]
        if name == "absent":
            assert row[5] == ""
            continue
        expected_total = EXPECTED[name][2]
        assert row[5] == str(expected_total) == grades[name]["total"], (name, row, grades[name]["detail"])
    long = list(csv.DictReader(open(out / "grades-long.csv", newline="")))
    for name, (add, mul, _, status) in EXPECTED.items():
        if name == "wrong_notebook" or grades[name]["notebook"] != "90_tiny.ipynb":
            continue
        mine = {r["item"]: r for r in long if r["learner"] == name}
        assert (mine["90.add"]["points"], mine["90.mul"]["points"], mine["90.add"]["status"]) == \
            (str(add), str(mul), status) == (grades[name]["90.add"], grades[name]["90.mul"], grades[name]["status"]), name
    problems = list(csv.DictReader(open(out / "roster-problems.csv", newline="")))
    assert sorted((p["problem"], p["learner"]) for p in problems) == [("missing", "absent"), ("unknown", "renamed")]
