"""The seed-robustness table: every solved notebook under many random seed lists, each assert's failures and margin.

    python -m benchmarks.seed_robustness [--notebooks 05,08] [--lists 20] [--master 20261207] [--workers 2]
                                         [--out benchmarks/results/seed_robustness] [--markdown]

A notebook's claims run on ``course_utils.environment.seeds()``: 0, 1, 2 by default, ``COURSE_SEEDS`` when it is
set. This runs each solved notebook once per seed list, with the lists drawn from a large range by a recorded master
seed (none of them holds a seed below 1000, so never a list a notebook was written on). Every assert is rewritten
(:mod:`benchmarks.assert_margins`) to record whether it held and its *margin* (how far the compared quantity was from
its threshold) instead of raising, so one failing assert hides none after it; cells after a cell that raised still
run, and their errors are reported apart ("after an earlier error", e.g. a name the failed cell did not define).

Results: one JSON line per (notebook, seed list) in ``OUT/<torch version>-<device>/master-<M>/<notebook>.jsonl``,
appended as each run ends, so an interrupted table resumes where it stopped (``--lists`` can also grow). The summary
(per notebook the lists passed, per assert its failures, the mean, spread and smallest value of its margin) is
printed, written beside the runs as ``summary.json``, and with ``--markdown`` printed as the table BENCHMARKS.md
holds. The target (issue 27): every notebook passes at least 19 of 20 lists, no assert fails more than once, and
every assert's mean margin is at least twice its spread (standard deviation) across lists.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import assert_margins  # noqa: E402

DEFAULT_MASTER = 20261207
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "seed_robustness"
SEED_RANGE = (1000, 1_000_000)
RUN_ATTEMPTS = 3          # a kernel that does not start (jupyter's port race) is started again in a fresh run


def seed_lists(master: int, count: int, size: int = 3) -> list[list[int]]:
    """``count`` lists of ``size`` distinct seeds drawn from ``SEED_RANGE`` by ``random.Random(master)``; the first
    ``k`` lists are the same whatever ``count`` is, so a table can grow."""
    rng = random.Random(master)
    return [sorted(rng.sample(range(*SEED_RANGE), size)) for _ in range(count)]


def notebooks(selection: str | None = None, folder: Path = ROOT / "solutions") -> list[Path]:
    """The solved notebooks, all or those whose two-digit number is in ``selection`` ("05,08")."""
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        wanted = {part.strip().zfill(2) for part in selection.split(",") if part.strip()}
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise SystemExit(f"no solved notebook numbered {', '.join(sorted(unknown))} in {folder}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


# --- one run: a notebook under one seed list, in a process of its own (its kernel inherits COURSE_SEEDS) --------

def instrumented(path: Path):
    """The notebook with every assert recorded, behind a first cell that imports the recorder."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            rewritten = assert_margins.instrument(cell.source, cell.get("id", ""))
            if rewritten is not None:
                cell.source = rewritten
    setup = nbformat.v4.new_code_cell(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                                      f"from benchmarks import assert_margins as {assert_margins.NAME}")
    setup.id = "seed-robustness-setup"
    nb.cells.insert(0, setup)
    return nb


def errors_of(nb) -> list[dict]:
    """The cells that raised, in order; an error after an earlier cell's error is marked ``after_error``."""
    errors = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                errors.append({"cell": cell.get("id", ""), "ename": out["ename"], "evalue": out["evalue"][:300],
                               "after_error": bool(errors)})
                break
    return errors


def run_one(path: Path, seeds: list[int], timeout_s: float) -> dict:
    """Execute the instrumented notebook with ``COURSE_SEEDS`` set (this process's environment is the kernel's)."""
    from nbclient import NotebookClient
    with tempfile.TemporaryDirectory(prefix="seed-robustness-") as tmp:
        margins_file = Path(tmp) / "margins.jsonl"
        os.environ.update(COURSE_SEEDS=",".join(map(str, seeds)), COURSE_MARGINS_FILE=str(margins_file),
                          COURSE_QUIET="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
        nb = instrumented(path)
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout_s, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": tmp}}).execute()
        wall_s = time.perf_counter() - start
        records = [json.loads(line) for line in margins_file.read_text().splitlines()] if margins_file.exists() else []
    asserts = {}
    for r in records:                      # an assert run in a loop: failed if any pass failed, its smallest margin
        key = (r["cell"], r["line"])
        seen = asserts.setdefault(key, {"cell": r["cell"], "line": r["line"], "text": r["text"], "held": True,
                                        "margin": None})
        seen["held"] = seen["held"] and r["held"]
        if r["margin"] is not None:
            seen["margin"] = r["margin"] if seen["margin"] is None else min(seen["margin"], r["margin"])
    errors = errors_of(nb)
    return {"seeds": seeds, "passed": all(a["held"] for a in asserts.values()) and not errors,
            "asserts": list(asserts.values()), "errors": errors, "wall_s": round(wall_s, 2)}


def _child(args) -> int:
    result = run_one(Path(args.one), [int(s) for s in args.seeds.split(",")], args.timeout)
    Path(args.result).write_text(json.dumps(result))
    return 0


# --- the table: many runs in parallel, resumable ----------------------------------------------------------------

def environment_label() -> str:
    """Which numerics produced the runs: torch's version and the device the notebooks train on."""
    import torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return f"torch-{torch.__version__}-{device}"


def done_runs(path: Path) -> dict[tuple, dict]:
    """The runs already in a results file, by seed list (a last line cut off by an interruption is ignored)."""
    runs = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                continue
            runs[tuple(run["seeds"])] = run
    return runs


def run_table(paths: list[Path], lists: list[list[int]], folder: Path, workers: int = 2,
              timeout_s: float = 600.0, log=print) -> dict[str, list[dict]]:
    """Run every (notebook, list) not yet in ``folder``; return every notebook's runs in list order."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    todo = [(p, seeds) for p in paths for seeds in lists if tuple(seeds) not in done_runs(folder / f"{p.stem}.jsonl")]
    log(f"{len(todo)} runs to do ({len(paths)} notebooks x {len(lists)} lists, the rest done) in {folder}")

    def one(job):
        path, seeds = job
        for attempt in range(1, RUN_ATTEMPTS + 1):
            with tempfile.TemporaryDirectory(prefix="seed-robustness-run-") as tmp:
                result_file = Path(tmp) / "result.json"
                child = subprocess.run([sys.executable, "-m", "benchmarks.seed_robustness", "--one", str(path),
                                        "--seeds", ",".join(map(str, seeds)), "--result", str(result_file),
                                        "--timeout", str(timeout_s)], cwd=ROOT, capture_output=True, text=True)
                if result_file.exists():
                    result = json.loads(result_file.read_text())
                    break
        else:
            result = {"seeds": seeds, "passed": False, "asserts": [], "wall_s": None,
                      "errors": [{"cell": "", "ename": "RunFailed", "after_error": False,
                                  "evalue": f"no result in {RUN_ATTEMPTS} runs: {child.stderr[-300:]}"}]}
        with lock:
            with open(folder / f"{path.stem}.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(result) + "\n")
            log(f"{path.stem} {seeds}: {'passed' if result['passed'] else 'FAILED'} ({result['wall_s']} s)")

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, todo))
    wanted = [tuple(s) for s in lists]
    return {p.stem: [done_runs(folder / f"{p.stem}.jsonl")[s] for s in wanted] for p in paths}


def summarise(runs: list[dict]) -> dict:
    """One notebook's runs -> lists passed, and per assert (cell id and line) failures, not reached, margin stats."""
    rows: dict[tuple, dict] = {}
    for run in runs:
        for a in run["asserts"]:
            row = rows.setdefault((a["cell"], a["line"]), {"cell": a["cell"], "line": a["line"], "text": a["text"],
                                                           "failures": 0, "reached": 0, "margins": []})
            row["reached"] += 1
            row["failures"] += not a["held"]
            if a["margin"] is not None:
                row["margins"].append(a["margin"])
    for row in rows.values():
        m = row.pop("margins")
        row["not reached"] = len(runs) - row["reached"]
        row["margin mean"] = statistics.fmean(m) if m else None
        row["margin spread"] = statistics.stdev(m) if len(m) > 1 else None
        row["margin min"] = min(m) if m else None
        row["margin ok"] = (None if row["margin spread"] is None
                            else row["margin mean"] >= 2 * row["margin spread"])
    errors = [e | {"seeds": run["seeds"]} for run in runs for e in run["errors"]]
    return {"lists": len(runs), "passed": sum(run["passed"] for run in runs),
            "asserts": sorted(rows.values(), key=lambda r: (r["cell"], r["line"])),
            "errors": [e for e in errors if not e["after_error"]],
            "errors after an earlier error": [e for e in errors if e["after_error"]],
            "wall_s mean": statistics.fmean([r["wall_s"] for r in runs if r["wall_s"]] or [0.0])}


def meets_target(summary: dict) -> bool:
    """Issue 27's target for one notebook: >= 19/20 lists (the same share of any count), no assert failing more
    than once, every margin's mean at least twice its spread."""
    return (summary["passed"] >= 0.95 * summary["lists"]
            and all(a["failures"] <= 1 and a["margin ok"] is not False for a in summary["asserts"]))


def _number(x) -> str:
    return "" if x is None else f"{x:.3g}"


def markdown(summaries: dict[str, dict]) -> str:
    """The table for BENCHMARKS.md: one row per notebook, then one per assert that failed or whose margin is thin."""
    lines = ["| notebook | lists passed | asserts | fail at most once | mean margin >= 2 x spread | mean run (s) |",
             "|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        thin = sum(a["margin ok"] is False for a in s["asserts"])
        lines.append(f"| {name[:2]} | {s['passed']}/{s['lists']} | {len(s['asserts'])} | "
                     f"{'yes' if all(a['failures'] <= 1 for a in s['asserts']) else 'no'} | "
                     f"{'yes' if not thin else f'no ({thin})'} | {s['wall_s mean']:.1f} |")
    flagged = [(name, a) for name, s in summaries.items() for a in s["asserts"]
               if a["failures"] or a["margin ok"] is False]
    if flagged:
        lines += ["", "| notebook | cell | line | assert | failures | margin mean | spread | min |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, a in flagged:
            text = a["text"].replace("|", "\\|")[:90]
            lines.append(f"| {name[:2]} | `{a['cell']}` | {a['line']} | `{text}` | {a['failures']}/{a['reached']} | "
                         f"{_number(a['margin mean'])} | {_number(a['margin spread'])} | {_number(a['margin min'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seed_robustness", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", help="two-digit numbers, comma-separated (default: every solved notebook)")
    parser.add_argument("--lists", type=int, default=20, help="how many random seed lists (default 20)")
    parser.add_argument("--master", type=int, default=DEFAULT_MASTER, help="the seed that draws the lists")
    parser.add_argument("--workers", type=int, default=2, help="notebooks run at once (one thread each)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a cell may run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--markdown", action="store_true", help="also print the summary as BENCHMARKS.md's table")
    parser.add_argument("--one", help=argparse.SUPPRESS)          # a child process: one notebook, one list
    parser.add_argument("--seeds", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        return _child(args)
    if args.lists < 1 or args.workers < 1:
        parser.error("--lists and --workers must be at least 1")
    paths = notebooks(args.notebooks)
    folder = args.out / environment_label() / f"master-{args.master}"
    runs = run_table(paths, seed_lists(args.master, args.lists), folder, args.workers, args.timeout)
    summaries = {name: summarise(r) for name, r in runs.items()}
    (folder / "summary.json").write_text(json.dumps({"master": args.master, "lists": args.lists,
                                                     "environment": environment_label(),
                                                     "notebooks": summaries}, indent=1))
    for name, s in summaries.items():
        print(f"{name}: {s['passed']}/{s['lists']} lists passed, target {'met' if meets_target(s) else 'NOT met'}")
        for a in s["asserts"]:
            if a["failures"] or a["margin ok"] is False:
                print(f"  {a['cell']}:{a['line']} {a['text'][:80]}  failures {a['failures']}/{a['reached']}, "
                      f"margin {_number(a['margin mean'])} +- {_number(a['margin spread'])} "
                      f"(min {_number(a['margin min'])})")
        for e in s["errors"]:
            print(f"  error in {e['cell']} on {e['seeds']}: {e['ename']}: {e['evalue'][:120]}")
        if s["errors after an earlier error"]:
            print(f"  ({len(s['errors after an earlier error'])} errors after an earlier error)")
    if args.markdown:
        print(markdown(summaries))
    return 0 if all(meets_target(s) for s in summaries.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
