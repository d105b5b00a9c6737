"""Check for notebook 13 (the capstone): a row of the learner's own in the guide (exercise 13.own_row).

The learner adds one strategy on one of the table's data sets and writes the claim of its guide row. The check
runs that row as the table's rows were run (``run_row``: every seed, the same data, budget and ER reference),
adds it to the measured summary and requires two things of the claim: it holds on the measured numbers, and it
is a real comparison, one whose verdict changes when the row's own numbers change (``True``, or a claim that reads
only other rows, gives the same verdict whatever the row measured). Nothing here computes an answer, so the
check has no hidden part.
"""
from __future__ import annotations

from ..feedback import exercise

ENTRIES = ("data", "strategy", "make", "situation", "use", "claim")
WORST = {"acc": 0.0, "acc_min": 0.0, "acc_max": 0.0, "acc_std": 0.5, "missing": 0.0, "missing_min": 0.0,
         "missing_max": 0.0, "RR": 0.0, "ER": -1.0, "params": 10 ** 9, "time": 10.0 ** 6}
BEST = {"acc": 1.0, "acc_min": 1.0, "acc_max": 1.0, "acc_std": 0.0, "missing": 1.0, "missing_min": 1.0,
        "missing_max": 1.0, "RR": 1.0, "ER": 1.0, "params": 1, "time": 0.0}
SHIFT = 0.3             # a rate moved this far, or a count ten times larger or smaller, is another result


def _variants(entry: dict) -> list[dict]:
    """The row's numbers as they might have come out: worst and best, and each kind moved up and down."""
    rates = [k for k in entry if k in WORST and k not in ("params", "time")]
    moved = []
    for sign in (-1, 1):
        moved.append({**entry, **{k: min(1.0, max(0.0 if k != "ER" else -1.0, entry[k] + sign * SHIFT))
                                  for k in rates}})
        moved.append({**entry, **{k: entry[k] * 10.0 ** sign for k in ("params", "time") if k in entry}})
    return [{**entry, **{k: v for k, v in WORST.items() if k in entry}},
            {**entry, **{k: v for k, v in BEST.items() if k in entry}}] + moved


def _verdict(check, claim, summary: dict) -> bool:
    __tracebackhide__ = True
    got = check.call(claim, lambda data, strategy: summary[(data, strategy)], what="your row's claim(S)")
    check.expect(isinstance(got, bool) or type(got).__name__ in ("bool_", "bool"), "the claim is a yes or no",
                 f"claim(S) should return True or False (a comparison such as S(data, strategy)['acc'] > ...), "
                 f"got {type(got).__name__}")
    return bool(got)


@exercise("13.own_row", "own_row")
def check_own_row(check, own_row, run_row, summary: dict, datasets, seeds):
    """``own_row()`` -> dict with ``ENTRIES``; ``run_row(row)`` -> (per-seed results, summary entry) of that row;
    ``summary``: (data set, strategy) -> the table's aggregated numbers; ``seeds``: the seeds every row ran on."""
    __tracebackhide__ = True
    row = check.call(own_row, what="own_row()")
    check.expect(isinstance(row, dict) and all(k in row for k in ENTRIES), "own_row() returns the row's entries",
                 f"own_row() should return a dict with the entries {', '.join(ENTRIES)}; got "
                 f"{sorted(row) if isinstance(row, dict) else type(row).__name__}")
    check.expect(row["data"] in datasets, f"the data set {row['data']!r} is one of the table's",
                 f"'data' should name one of the table's data sets, {', '.join(map(repr, datasets))}; "
                 f"got {row['data']!r}")
    check.expect(isinstance(row["strategy"], str) and (row["data"], row["strategy"]) not in summary,
                 f"{row['strategy']!r} on {row['data']} is a new row",
                 f"the table already has {row['strategy']!r} on {row['data']!r}: add a strategy it does not have "
                 "(a model of an earlier notebook, a variant of one, another size), under a name of your own")
    check.expect(callable(row["make"]) and callable(row["claim"]), "'make' and 'claim' are functions",
                 "'make' should be a function of the training set returning a fresh model, and 'claim' a function "
                 "of S (S(data, strategy) -> that row's numbers) returning True or False")
    check.expect(all(isinstance(row[k], str) and row[k].strip() for k in ("situation", "use")),
                 "the guide row says when and what to use",
                 "'situation' and 'use' should be the two sentences of your guide row (non-empty strings)")
    runs, entry = run_row(row)
    check.expect(sorted(r["seed"] for r in runs) == sorted(seeds), f"the row was run on every seed {list(seeds)}",
                 f"the row should be trained and measured on every seed {list(seeds)}, as the table's rows are; "
                 f"ran on {sorted(r['seed'] for r in runs)}")
    key = (row["data"], row["strategy"])
    numbers = ", ".join(f"{k} {entry[k]:.3g}" for k in ("acc", "missing", "RR", "ER", "params", "time") if k in entry)
    check.expect(_verdict(check, row["claim"], {**summary, key: entry}), "your claim holds on the measured row",
                 f"your claim does not hold on what the row measured ({numbers}): write the claim these numbers "
                 "support (your prediction, question 13.q1, stays as you wrote it: say there how it differed)")
    verdicts = [_verdict(check, row["claim"], {**summary, key: variant}) for variant in _variants(entry)]
    check.expect(not all(verdicts), "the claim depends on the row's own numbers",
                 "your claim gives the same verdict whatever your row measured (it is True for a worst and a best "
                 "result alike): compare a number of your row, S(data, strategy)['acc'], 'missing', 'RR', 'ER', "
                 "'params' or 'time', with another row's or with a threshold")
