"""Markdown tables from a results file: ``python -m benchmarks.report [benchmarks/results/results.json]``."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(x, digits: int = 2, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}{unit}"
    return f"{x}{unit}"


def _table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def summary(results: dict) -> str:
    m = results.get("machine", {})
    out = [f"Machine: {m.get('cpu_model')} ({m.get('logical_cpus')} logical CPUs), torch {m.get('torch')}, "
           f"Python {m.get('python')}, CUDA: {m.get('cuda') or 'none'}; started {results.get('started')}"
           f"{' (QUICK: tiny sizes)' if results.get('quick') else ''}",
           f"Load at start: {results.get('load_at_start')}; at end: {results.get('load_at_end')}", ""]
    b = results.get("benchmarks", {})
    for setting, d in b.get("data", {}).items():
        out += [f"Data generation, vectorised vs per-sample loop ({setting}):", ""]
        out += _table(["dataset", "n", "vectorised", "per-sample loop", "speed-up (medians)", "(fastest runs)",
                       "same distribution"],
                      [[c["dataset"], c["n"], _f(c["vectorised_s"] * 1e3, 2, " ms"),
                        _f(c["per_sample_loop_s"] * 1e3, 1, " ms"), _f(c["speedup"], 0, "x"),
                        _f(c.get("speedup_of_fastest_runs"), 0, "x"),
                        "yes" if c["same_distribution"]["ok"] else "NO"] for c in d["cases"]])
        out.append("")
    for setting, t in b.get("training", {}).items():
        sr, tta = t["same_recipe"], t["time_to_accuracy"]
        out += [f"fit vs DataLoader loop, same recipe ({setting}, {sr['epochs']} epochs):", ""]
        out += _table(["seed", "DataLoader loop", "fit", "ratio (wall)", "ratio (CPU time)", "final acc DL / fit"],
                      [[r["seed"], _f(r["dataloader_s"], 2, " s"), _f(r["fit_s"], 2, " s"), _f(r["ratio"], 1, "x"),
                        _f(r["cpu_ratio"], 1, "x"),
                        f"{r['dataloader_final_acc']:.3f} / {r['fit_final_acc']:.3f}"] for r in sr["runs"]])
        out += ["", f"Time to accuracy ({setting}):", ""]
        out += _table(["seed", "target acc", "reference total", "reference first reach", "course reach (epoch)",
                       "speed-up vs total", "vs first reach"],
                      [[r["seed"], f"{r['target_acc']:.4f}", _f(r["reference_total_s"], 2, " s"),
                        _f(r["reference_first_reach_s"], 2, " s"),
                        f"{_f(r['course_reach_s'], 2, ' s')} ({r['course_reach_epoch']})",
                        _f(r["speedup_vs_reference_total"], 1, "x"),
                        _f(r["speedup_vs_reference_first_reach"], 1, "x")] for r in tta["runs"]])
        out.append("")
    nb = b.get("notebooks", {})
    if nb.get("one_process"):
        out += [f"Solved notebooks in one pytest + nbval process (threads: {nb.get('threads')}):", ""]
        out += _table(["notebook", "before", "now", "passed"],
                      [[r["notebook"], _f(r.get("before_wall_s"), 1, " s") if "before_wall_s" in r else "",
                        _f(r["wall_s"], 1, " s"), "yes" if r["passed"] else "NO"] for r in nb["notebooks"]])
        total = f"The run: {nb['wall_s']:.1f} s wall, {nb['cpu_s']:.1f} s CPU, load {nb['load_avg_1min_before']}"
        if "before" in nb:
            total += f" (before: {nb['before']['wall_s']:.1f} s wall, {nb['before']['cpu_s']:.1f} s CPU)"
        out += ["", total, ""]
    elif "notebooks" in nb:
        out += [f"Solved notebooks under nbval (budget {nb['budget_s']:.0f} s, threads: {nb.get('threads')}):", ""]
        rows = []
        for r in nb["notebooks"]:
            b4 = r.get("before")
            rows.append([r["notebook"], _f(b4["wall_s"], 1, " s") if b4 else "", _f(b4.get("cpu_s"), 1, " s") if b4 else "",
                         _f(r["wall_s"], 1, " s"), _f(r.get("cpu_s"), 1, " s"), "yes" if r["passed"] else "NO",
                         "yes" if r.get("cpu_within_budget", r["within_budget"]) else "NO",
                         f"{r['load_avg_1min_before']} / {r['load_avg_1min_after']}"])
        out += _table(["notebook", "before: wall", "before: CPU", "wall", "CPU (user+sys)", "passed",
                       "CPU within budget", "load before/after"], rows)
        total = f"Total: {nb['total_s']:.1f} s wall, {nb.get('total_cpu_s', float('nan')):.1f} s CPU"
        if "before_total_s" in nb:
            total += f" (before: {nb['before_total_s']:.1f} s wall, {nb['before_total_cpu_s']:.1f} s CPU)"
        out += ["", total, ""]
    elif nb:
        out += [f"Notebooks: {nb}", ""]
    for name, e in b.get("extras", {}).items():
        if "skipped" in e:
            out.append(f"{name}: skipped ({e['skipped']})")
        else:
            out.append(f"{name}: {'ok' if e['ok'] else 'FAILED rc=' + str(e['returncode'])} in "
                       f"{e['wall_s']:.1f} s; wrote {', '.join(e['results']) or 'nothing'}")
    g = b.get("gpu")
    if g:
        out += ["", f"GPU: {g.get('skipped') or json.dumps(g.get('models'), indent=1)}"]
    if results.get("errors"):
        out += ["", "ERRORS:"] + [f"- {k}: {v[-1]}" for k, v in results["errors"].items()]
    return "\n".join(out)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "results.json"
    print(summary(json.loads(path.read_text())))
