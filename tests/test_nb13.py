"""Notebook 13 (the capstone): the check of exercise 13.own_row, a guide row of the learner's own.

No model is trained here: ``run_row`` is replaced by one that returns fixed per-seed results, so each test judges
the check's logic alone (the notebook itself runs the real ``run_row`` under nbval).
"""
import numpy as np
import pytest

from course_utils.checks import nb13
from course_utils.feedback import CheckFailed, NotImplementedYet, ReferenceUsed
from course_utils.references import nb13 as reference

from copies import own

SEEDS = [0, 1, 2]
DATASETS = ["redundant", "binding"]


def _entry(acc, params=5_000, missing=0.5):
    return {"acc": acc, "acc_std": 0.01, "acc_min": acc - 0.01, "acc_max": acc + 0.01, "missing": missing,
            "missing_min": missing, "missing_max": missing, "RR": acc - 0.1, "ER": 0.0, "params": params,
            "time": 1.5, "curve": None}


SUMMARY = {("binding", "cross-attention"): _entry(0.82, 9_000), ("binding", "early fusion"): _entry(0.36, 4_000),
           ("redundant", "late fusion (joint)"): _entry(0.95, 3_000, missing=0.93)}


def run_row_giving(entry, seeds=SEEDS):
    """A ``run_row`` whose row measured ``entry`` on ``seeds``."""
    return lambda row: ([{"seed": s, "accuracy": entry["acc"]} for s in seeds], entry)


def row_with(**changes):
    """``own_row`` returning the course's row with ``changes``."""
    row = {"data": "binding", "strategy": "deep sets", "make": lambda train: None,
           "situation": "binding at a small budget", "use": "cross-attention",
           "claim": lambda S: S("binding", "deep sets")["acc"] < S("binding", "cross-attention")["acc"] - 0.2}
    row.update(changes)
    return lambda: row


def context(entry=_entry(0.38), seeds=SEEDS):
    """What the notebook passes the check beside ``own_row``: (run_row, summary, data sets, seeds)."""
    return run_row_giving(entry, seeds), SUMMARY, DATASETS, SEEDS


def judge(own_row, entry=_entry(0.38), seeds=SEEDS):
    return nb13.check_own_row(own_row, *context(entry, seeds))


# -- correct rows, several forms ---------------------------------------------------------------------------------
@pytest.mark.parametrize("own_row, entry", [
    (own("13.own_row"), _entry(0.38)),                                           # the course's row, as learners copy it
    (row_with(claim=lambda S: S("binding", "deep sets")["acc"] > 0.9), _entry(0.97)),     # a threshold
    (row_with(data="redundant", strategy="tiny concat",
              claim=lambda S: S("redundant", "tiny concat")["missing"] < S("redundant", "late fusion (joint)")["missing"]),
     _entry(0.9, missing=0.6)),                                                 # another number, another data set
    (row_with(claim=lambda S: np.float64(S("binding", "deep sets")["acc"]) < 0.5), _entry(0.4)),   # numpy's bool
    (row_with(claim=lambda S: S("binding", "deep sets")["params"] < S("binding", "cross-attention")["params"]),
     _entry(0.5, params=6_000)),                                                # a cost
], ids=["course-row", "threshold", "missing-vs-other-row", "numpy-bool", "fewer-parameters"])
def test_own_row_check_accepts(own_row, entry):
    assert judge(own_row, entry) is True


# -- typical mistakes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("own_row, message", [
    (row_with(claim=lambda S: True), "same verdict whatever your row measured"),
    (row_with(claim=lambda S: S("binding", "cross-attention")["acc"] > S("binding", "early fusion")["acc"]),
     "same verdict whatever your row measured"),
    (row_with(claim=lambda S: S("binding", "deep sets")["acc"] > S("binding", "cross-attention")["acc"]),
     "does not hold on what the row measured"),
    (row_with(strategy="cross-attention"), "already has 'cross-attention'"),
    (row_with(data="xor"), "one of the table's data sets"),
    (lambda: {"data": "binding", "strategy": "deep sets"}, "should return a dict with the entries"),
    (row_with(claim=lambda S: S("binding", "deep sets")["acc"] - 0.5), "should return True or False"),
    (row_with(situation=""), "two sentences of your guide row"),
    (row_with(make="DeepSetsFusion"), "'make' should be a function"),
], ids=["always-true", "reads-other-rows-only", "false-on-the-numbers", "existing-strategy", "unknown-data",
        "missing-entries", "not-a-bool", "empty-guide-text", "make-not-callable"])
def test_own_row_check_rejects(own_row, message):
    with pytest.raises(CheckFailed, match=message) as info:
        judge(own_row)
    assert not isinstance(info.value, NotImplementedYet)
    assert "13.own_row" in str(info.value)


def test_a_row_run_on_fewer_seeds_is_rejected():
    with pytest.raises(CheckFailed, match="every seed"):
        judge(own("13.own_row"), seeds=SEEDS[:1])


def test_own_row_unfinished():
    def own_row():
        raise NotImplementedError()
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        judge(own_row)


def test_the_course_reference_scores_nothing():
    with pytest.raises(ReferenceUsed):
        judge(reference.own_row)
