"""Grading on Dask (``grade --scheduler``) against the local pool (``--workers``), on this machine.

    python benchmarks/bench_dask.py [--batch 8] [--dispatch 40] [--quick] [--out benchmarks/results/dask.json]

1. Throughput: the same batch of ``--batch`` tiny-course submissions (``benchmarks/grading_overhead.py``'s
   tiny notebook: imports torch, one check) graded with the local pool at 1 and 2 workers, and on a Dask
   cluster of 1 and 2 workers (``dask scheduler`` and ``dask worker --nthreads 1 --nworkers 1`` processes on
   localhost, started by this script, warmed up by one untimed submission each).
2. Per-submission overhead of Dask: ``--dispatch`` invalid submissions (graded without a kernel, so the time is
   the pool's alone) on the local pool and on Dask with 1 worker; and the difference of the 1-worker
   throughput runs per submission.

Wall time, CPU time (this process, its reaped children, and each Dask worker process with its reaped children
from ``/proc``) and the load average are recorded for each run: the machine may be shared, and CPU time is
what other load distorts least. Writes ``benchmarks/results/dask.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.grading_overhead import tiny_course  # noqa: E402
from course_utils.instructor.grading import batch, runner  # noqa: E402

DASK = Path(sys.executable).with_name("dask")
LIMITS = dict(cell_timeout=600, wall_timeout=1800, threads=1)
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_self() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu_of(pid: int) -> float:
    """CPU seconds of a process and of the children it has reaped (utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


class Cluster:
    """A scheduler and ``n`` workers on localhost (subprocesses), as ``tests/integration/test_dask_grading.py``."""

    def __init__(self, n: int, folder: Path):
        import distributed
        self.folder = folder
        self.file = folder / "scheduler.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.logs, self.procs, self.client = [], [], None
        try:
            self._start(env, "scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(self.file))
            for i in range(n):
                self._start(env, f"worker{i}", "worker", "--scheduler-file", str(self.file), "--nthreads", "1",
                            "--nworkers", "1", "--no-dashboard", "--memory-limit", "0", "--name", f"w{i}",
                            "--local-directory", str(folder / f"w{i}"))
            deadline = time.monotonic() + 300
            while not self.file.exists():
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    log = (folder / "scheduler.log").read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"the Dask scheduler did not start:\n{log}")
                time.sleep(0.2)
            self.client = distributed.Client(scheduler_file=str(self.file), timeout=120, set_as_default=False)
            self.client.wait_for_workers(n, timeout=300)
            self.pids = list(self.client.run(os.getpid).values())
        except BaseException:
            self.close()
            raise

    def _start(self, env, name, *args):
        log = open(self.folder / f"{name}.log", "wb")
        self.logs.append(log)
        self.procs.append(subprocess.Popen([str(DASK), *args], env=env, cwd=self.folder, stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    def worker_cpu(self) -> float:
        return sum(_cpu_of(pid) for pid in self.pids)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


def _timed(grade, cluster: Cluster | None = None) -> dict:
    load = os.getloadavg()[0]
    cpu, wcpu = _cpu_self(), cluster.worker_cpu() if cluster else 0.0
    start = time.perf_counter()
    rows = grade()
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 2), "client_cpu_s": round(_cpu_self() - cpu, 2),
            "worker_cpu_s": round(cluster.worker_cpu() - wcpu, 2) if cluster else None,
            "load_avg_1min_before": round(load, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
            "statuses": sorted({r["status"] for r in rows}), "rows": len(rows)}


def _subs(folder: Path, tiny: Path, count: int, invalid: bool = False) -> Path:
    for i in range(count):
        (folder / f"learner{i:03d}").mkdir(parents=True, exist_ok=True)
        target = folder / f"learner{i:03d}" / tiny.name
        if invalid:
            target.write_text("{not a notebook")
        else:
            shutil.copy(tiny, target)
    return folder


def run(batch_size: int, dispatch: int, work: Path, save=lambda partial: None, local: dict | None = None) -> dict:
    ref = work / "ref"
    tiny = tiny_course(ref)
    subs = _subs(work / "subs", tiny, batch_size)
    invalid = _subs(work / "invalid", tiny, dispatch, invalid=True)
    limits = lambda: runner.Limits(**LIMITS)  # noqa: E731
    quiet = lambda *a: None  # noqa: E731
    out = {"submissions": batch_size, "local": dict(local or {}), "dask": {}}
    for workers in (1, 2):
        if f"workers={workers}" not in out["local"]:
            out["local"][f"workers={workers}"] = _timed(lambda: batch.grade_batch(
                subs, work / f"local{workers}", ref, workers=workers, limits=limits(), log=quiet))
    save(out)
    if "dispatch" not in out["local"]:
        out["local"]["dispatch"] = _timed(lambda: batch.grade_batch(invalid, work / "local-invalid", ref,
                                                                    workers=1, limits=limits(), log=quiet))
    for workers in (1, 2):
        folder = work / f"cluster{workers}"
        folder.mkdir()
        started = time.perf_counter()
        cluster = Cluster(workers, folder)
        entry = {"cluster_start_s": round(time.perf_counter() - started, 2)}
        try:
            warm = _subs(folder / "warm", tiny, workers)   # one submission per worker: imports, font cache
            entry["warm_up"] = _timed(lambda: batch.grade_batch(warm, folder / "warm-out", ref, limits=limits(),
                                                                log=quiet, scheduler=str(cluster.file)), cluster)
            entry["batch"] = _timed(lambda: batch.grade_batch(subs, folder / "out", ref, limits=limits(), log=quiet,
                                                              scheduler=str(cluster.file)), cluster)
            if workers == 1:
                entry["dispatch"] = _timed(lambda: batch.grade_batch(invalid, folder / "invalid-out", ref,
                                                                     limits=limits(), log=quiet,
                                                                     scheduler=str(cluster.file)), cluster)
        finally:
            cluster.close()
        out["dask"][f"workers={workers}"] = entry
        save(out)
    local1, local2 = out["local"]["workers=1"], out["local"]["workers=2"]
    dask1, dask2 = out["dask"]["workers=1"]["batch"], out["dask"]["workers=2"]["batch"]
    per = lambda x: round(x / batch_size, 2)  # noqa: E731
    out["summary"] = {
        "submissions_per_minute": {"local_1": round(60 * batch_size / local1["wall_s"], 2),
                                   "local_2": round(60 * batch_size / local2["wall_s"], 2),
                                   "dask_1": round(60 * batch_size / dask1["wall_s"], 2),
                                   "dask_2": round(60 * batch_size / dask2["wall_s"], 2)},
        "dask_overhead_wall_per_submission_s": per(dask1["wall_s"] - local1["wall_s"]),
        "dask_overhead_cpu_per_submission_s": per(dask1["client_cpu_s"] + dask1["worker_cpu_s"]
                                                  - local1["client_cpu_s"]),
        "dispatch_wall_per_submission_s": {
            "local": round(out["local"]["dispatch"]["wall_s"] / dispatch, 3),
            "dask": round(out["dask"]["workers=1"]["dispatch"]["wall_s"] / dispatch, 3)},
    }
    return out


def machine() -> dict:
    from benchmarks.run import _cpu_model
    import torch
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    import distributed
    return {"cpu_model": _cpu_model(), "logical_cpus": os.cpu_count(), "memory_gib": round(int(mem) / 2**20, 1),
            "torch": torch.__version__, "distributed": distributed.__version__,
            "python": sys.version.split()[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8, help="tiny-course submissions per throughput run (default 8)")
    p.add_argument("--dispatch", type=int, default=40, help="kernel-less submissions for the dispatch cost")
    p.add_argument("--quick", action="store_true", help="2 submissions, 4 kernel-less: checks the harness runs")
    p.add_argument("--local-from", type=Path, default=None, metavar="JSON",
                   help="take the local-pool runs from an earlier (partial) results file of the same --batch")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dask.json")
    args = p.parse_args(argv)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("bench_dask: needs Dask distributed: pip install 'course_utils[dask]'", file=sys.stderr)
        return 2
    if args.quick:
        args.batch, args.dispatch = 2, 4
    work = Path(tempfile.mkdtemp(prefix="dask-bench-"))
    try:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        results = {"started": started, "machine": machine(), "quick": args.quick,
                   "load_avg_1_5_15_at_start": [round(x, 2) for x in os.getloadavg()]}
        def save(partial):
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({**results, **partial, "partial": True}, indent=2) + "\n")

        local = None
        if args.local_from:
            earlier = json.loads(args.local_from.read_text())
            if earlier.get("submissions") != args.batch:
                p.error(f"--local-from {args.local_from} graded {earlier.get('submissions')} submissions, not {args.batch}")
            local = earlier["local"]
            results["local_from"] = {"file": str(args.local_from), "started": earlier.get("started"),
                                     "load_avg_1_5_15_at_start": earlier.get("load_avg_1_5_15_at_start")}
        results.update(run(args.batch, args.dispatch, work, save, local))
        results["load_avg_1_5_15_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
