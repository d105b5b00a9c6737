"""The benchmark harness still runs (tiny sizes). Asserts that results were produced, never a time:
speed is measured by ``python -m benchmarks`` and written up in BENCHMARKS.md."""
import json
import sys

import nbformat
import pytest
import torch

from benchmarks import bench_extras, bench_gpu, bench_notebooks, run
from benchmarks.report import summary


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread, and the test machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_quick_harness_writes_results(tmp_path, one_thread):
    out = tmp_path / "results.json"
    rc = run.main(["--quick", "--only", "data,training,gpu", "--threads", "1", "--out", str(out)])
    results = json.loads(out.read_text())
    assert rc == 0 and results["errors"] == {}
    assert results["quick"] is True and results["machine"]["torch"] and results["machine"]["cpu_model"]
    data = results["benchmarks"]["data"]["threads=1"]
    assert data["cases"] and all(c["speedup"] > 0 and c["same_distribution"]["ok"] for c in data["cases"])
    for setting in results["benchmarks"]["training"].values():
        assert setting["same_recipe"]["runs"][0]["fit_s"] > 0
        assert setting["time_to_accuracy"]["runs"][0]["target_acc"] > 0
    assert "gpu" in results["benchmarks"]  # measured on CUDA, "skipped" with its reason elsewhere
    assert "Data generation" in summary(results) and "Time to accuracy" in summary(results)


@pytest.mark.parametrize("argv", [["--only", "data,nonsense"], ["--threads", "0"], ["--threads", "two"]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        run.parse_args(argv)


def test_notebook_timer_on_a_tiny_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1 + 1\nassert x == 2")])
    nbformat.write(nb, tmp_path / "99_tiny.ipynb")
    old = tmp_path / "old"          # the same notebook as an older version, timed side by side
    old.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert False")]), old / "99_tiny.ipynb")
    result = bench_notebooks.run("*", folder=tmp_path, timeout_s=300, before=old)
    (row,) = result["notebooks"]
    assert row["notebook"] == "99_tiny.ipynb" and row["passed"], row["summary"]
    assert row["wall_s"] > 0 and row["cpu_s"] > 0 and "within_budget" in row
    assert not row["before"]["passed"] and row["before"]["cpu_s"] > 0     # the old one fails, and was timed
    assert result["before_total_cpu_s"] == row["before"]["cpu_s"]
    assert result["before_course_utils"] == str(bench_notebooks.ROOT)   # a bare folder: this checkout's code


def test_one_process_timer_reports_each_notebook(tmp_path):
    cell = nbformat.v4.new_code_cell
    nbformat.write(nbformat.v4.new_notebook(cells=[cell("x = 1"), cell("assert x == 1")]), tmp_path / "98_ok.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[cell("assert False, 'wrong'")]), tmp_path / "99_bad.ipynb")
    old = tmp_path / "old"
    old.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[cell("y = 2")]), old / "98_ok.ipynb")
    result = bench_notebooks.run_one_process("*", folder=tmp_path, timeout_s=300, before=old)
    ok, bad = result["notebooks"]
    assert (ok["notebook"], ok["cells"], ok["passed"]) == ("98_ok.ipynb", 2, True)
    assert (bad["notebook"], bad["cells"], bad["passed"]) == ("99_bad.ipynb", 1, False)
    assert not result["passed"] and result["wall_s"] >= ok["wall_s"] + bad["wall_s"] > 0
    assert ok["before_wall_s"] > 0 and "before_wall_s" not in bad and result["before"]["passed"]
    assert "98_ok.ipynb" in summary({"benchmarks": {"notebooks": result}})
    with pytest.raises(ValueError, match="no notebook"):     # never a pytest run without targets
        bench_notebooks.run_one_process("nothing*", folder=tmp_path)


def test_notebooks_of_an_older_checkout_run_against_its_own_course_utils(tmp_path):
    checkout = tmp_path / "old_checkout"
    (checkout / "course_utils").mkdir(parents=True)
    (checkout / "course_utils" / "__init__.py").write_text("WHICH = 'old'\n")
    (checkout / "solutions").mkdir()
    cell = "import course_utils\nassert course_utils.WHICH == 'old', course_utils.__file__"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)]), checkout / "solutions" / "99_t.ipynb")
    current = tmp_path / "current"
    current.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), current / "99_t.ipynb")
    result = bench_notebooks.run("*", folder=current, timeout_s=300, before=checkout / "solutions")
    (row,) = result["notebooks"]
    assert row["passed"] and row["before"]["passed"], row["before"]["summary"]
    assert result["before_course_utils"] == str(checkout)


def test_extras_runs_scripts_and_collects_their_json(tmp_path):
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    (tmp_path / "fake_bench.py").write_text(  # knows --quick, writes to its own place
        "import argparse, json, pathlib\n"
        "p = argparse.ArgumentParser(); p.add_argument('--quick', action='store_true'); a = p.parse_args()\n"
        f"pathlib.Path({str(results_dir)!r}, 'fake.json').write_text(json.dumps({{'quick': a.quick}}))\n")
    (tmp_path / "with_out.py").write_text(  # no --quick, but --out: quick results go elsewhere
        "import argparse, json, pathlib\n"
        "p = argparse.ArgumentParser(); p.add_argument('--repeats', type=int, default=9)\n"
        "p.add_argument('--out', type=pathlib.Path, default='never.json'); a = p.parse_args()\n"
        "a.out.write_text(json.dumps({'repeats': a.repeats}))\n")
    out = bench_extras.run(quick=True, scripts_dir=tmp_path, results_dir=results_dir, quick_dir=tmp_path / "quick",
                           scripts={"fake_bench.py": [], "with_out.py": ["--repeats", "1"], "absent.py": []})
    assert out["fake_bench.py"]["ok"] and out["fake_bench.py"]["args"] == ["--quick"]
    assert out["fake_bench.py"]["results"] == {"fake.json": {"quick": True}}
    assert out["with_out.py"]["ok"], out["with_out.py"]["output_tail"]
    assert out["with_out.py"]["results"] == {"with_out.json": {"repeats": 1}}
    assert out["absent.py"] == {"script": "absent.py", "skipped": "not present"}


def test_gpu_benchmark_code_runs_on_cpu(tmp_path, one_thread):
    """The CUDA benchmark cannot be timed here; its code path runs on the CPU at a tiny size."""
    result = bench_gpu.run(device="cpu", quick=True, results_dir=tmp_path)
    assert set(result["models"]) and all(r["fit_samples_per_s"] > 0 and r["reference_samples_per_s"] > 0
                                         and r["train_flops_per_sample"] > 0 for r in result["models"].values())
    assert (tmp_path / "gpu_profile_cpu_dryrun.txt").read_text().strip()


def test_seeds_benchmark_runs_both_sides(tmp_path, one_thread):
    from benchmarks import bench_seeds

    out = tmp_path / "seeds.json"
    assert bench_seeds.main(["--quick", "--reps", "1", "--only", "early fusion", "--out", str(out)]) == 0
    (entry,) = json.loads(out.read_text())["workloads"]
    assert entry["trained_batched"] and entry["batched"]["wall_s"] > 0
    assert entry["sequential"]["cpu_s"] > 0 and entry["ratio_cpu"] > 0
    assert entry["max_acc_difference"] < 0.02          # both sides train the same seeds
