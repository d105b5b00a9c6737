"""The seed-robustness table (benchmarks/seed_robustness.py): assert margins, seed lists, summaries, one real run."""
import json
import os

import nbformat
import pytest

from benchmarks import assert_margins, seed_robustness


def recorded(source: str, tmp_path, **names) -> list[dict]:
    """Run ``source`` instrumented and return what its asserts recorded."""
    log = tmp_path / "margins.jsonl"
    os.environ["COURSE_MARGINS_FILE"] = str(log)
    try:
        exec(assert_margins.instrument(source, "cell"), {assert_margins.NAME: assert_margins, **names})
    finally:
        del os.environ["COURSE_MARGINS_FILE"]
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("test, held, margin", [
    ("x > 1", True, 2.0), ("x < 1", False, -2.0), ("x >= 3", True, 0.0),
    ("0.5 < x / 4 < 0.7", False, -0.05),                      # a chain: its tightest link
    ("x > 1 and x < 3.5", True, 0.5), ("x > 5 or x < 4", True, 1.0),
    ("not x < 2", True, 1.0), ("all(v < x for v in [1, 2.5])", True, 0.5),
    ("any(v > x for v in [1, 4])", True, 1.0),
    ("x == 3", True, None), ("x in (3, 4)", True, None), ("abs(x - 3.1) < 0.2", True, 0.1),
    ("y is not None and y > 1", False, None),                 # as `and` does, the second part is not evaluated
])
def test_each_assert_records_whether_it_held_and_its_margin(tmp_path, test, held, margin):
    (record,) = recorded(f"assert {test}, 'message'\n", tmp_path, x=3, y=None)
    assert record["held"] is held and record["text"] == f"assert {test}, 'message'"
    assert record["margin"] == pytest.approx(margin, abs=1e-9) if margin is not None else record["margin"] is None


def test_a_failing_assert_does_not_stop_the_cell_and_a_loop_records_every_pass(tmp_path):
    records = recorded("for i in range(3):\n    assert i < 2\nafter = True\nassert after\n", tmp_path)
    assert [(r["line"], r["held"], r["margin"]) for r in records] == [(2, True, 2), (2, True, 1), (2, False, 0),
                                                                      (4, True, None)]


def test_tensor_margins_and_errors_of_the_test_itself(tmp_path):
    import torch
    (record,) = recorded("assert t.max() < 1\n", tmp_path, t=torch.tensor([0.25, 0.5]))
    assert record["held"] and record["margin"] == pytest.approx(0.5)
    with pytest.raises(NameError):                            # the cell's error, as the plain assert raised it
        recorded("assert missing > 1\n", tmp_path)


def test_cells_without_asserts_or_with_magics_are_left_as_they_are():
    assert assert_margins.instrument("x = 1\n", "c") is None
    assert assert_margins.instrument("%time assert x\n", "c") is None
    assert assert_margins.instrument("s = 'assert'\n", "c") is None


def test_seed_lists_are_reproducible_grow_by_appending_and_avoid_the_seeds_notebooks_were_written_on():
    twenty = seed_robustness.seed_lists(7, 20)
    assert twenty == seed_robustness.seed_lists(7, 20) and twenty[:5] == seed_robustness.seed_lists(7, 5)
    assert twenty != seed_robustness.seed_lists(8, 20)
    assert all(len(set(s)) == 3 and min(s) >= 1000 for s in twenty)


def run(seeds, held, margin, errors=()):
    return {"seeds": seeds, "passed": held and not errors, "wall_s": 1.0, "errors": list(errors),
            "asserts": [{"cell": "c", "line": 1, "text": "assert a > b", "held": held, "margin": margin}]}


def test_the_summary_counts_failures_and_flags_thin_margins():
    steady = seed_robustness.summarise([run([i], True, 1.0 + 0.01 * i) for i in range(20)])
    assert steady["passed"] == 20 and seed_robustness.meets_target(steady)
    thin = seed_robustness.summarise([run([i], True, 0.1 + 0.2 * (i % 2)) for i in range(20)])
    assert thin["asserts"][0]["margin ok"] is False and not seed_robustness.meets_target(thin)
    twice = seed_robustness.summarise([run([i], i > 1, 1.0 if i > 1 else -0.1) for i in range(20)])
    assert twice["asserts"][0]["failures"] == 2 and not seed_robustness.meets_target(twice)
    later = {"cell": "d", "ename": "NameError", "evalue": "x", "after_error": True}
    first = {"cell": "c", "ename": "ValueError", "evalue": "y", "after_error": False}
    split = seed_robustness.summarise([run([0], True, 1.0, [first, later])])
    assert split["errors"][0]["cell"] == "c" and split["errors after an earlier error"][0]["cell"] == "d"
    assert "| 00 | 20/20 | 1 | yes | yes |" in seed_robustness.markdown({"00_x": steady})


def test_a_real_run_records_every_assert_after_a_failure_and_resumes(tmp_path):
    """A notebook whose assert depends on the seed list, a cell that raises and one that fails because of it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from course_utils.environment import seeds\nfirst = seeds()[0]"),
                nbformat.v4.new_code_cell("assert first % 2 == 0\nassert first > 500_000"),
                nbformat.v4.new_code_cell("raise ValueError('boom')\ndefined = 1"),
                nbformat.v4.new_code_cell("defined"),
                nbformat.v4.new_code_cell("assert first >= 1000")]
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    lists = [[1001, 2000, 3000], [600_000, 700_001, 800_000]]
    runs = seed_robustness.run_table([path], lists, tmp_path / "out", workers=1, log=lambda *_: None)["99_tiny"]
    odd, even = runs
    assert [a["held"] for a in odd["asserts"]] == [False, False, True]
    assert [a["held"] for a in even["asserts"]] == [True, True, True]
    assert odd["asserts"][1]["margin"] == pytest.approx(1001 - 500_000)
    assert [(e["ename"], e["after_error"]) for e in even["errors"]] == [("ValueError", False), ("NameError", True)]
    assert not odd["passed"] and not even["passed"]
    again = seed_robustness.run_table([path], lists, tmp_path / "out", workers=1, log=lambda *_: None)
    assert again["99_tiny"] == runs and len((tmp_path / "out" / "99_tiny.jsonl").read_text().splitlines()) == 2
