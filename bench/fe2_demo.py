"""Benchmark of a whole FE² run: where the time goes and how it scales from 1 to 2 ranks.

Run (inside the software stack; mpirun is on PATH there)::

    docker/env python3 bench/fe2_demo.py [--case problems/mechanics/plate_hole_fe2.toml | --quick]
                                         [--ranks 1 2] [--json build/bench/fe2_demo.json]

It runs the case once per rank count, each in its own ``mpirun -n N`` subprocess that does what
``fe2 run CASE --out DIR --quiet`` does (fe2.app.run.run without progress bar or figures) with one
addition: every call of ``Dispatcher.evaluate`` is timed on every rank and the dispatcher's own
per-rank statistics (micro solve seconds, solves, points sent/received) are written to
``DIR/dispatch_calls.json``. That is needed because the ``micro`` phase that summary.json records
per rank ends with the dispatcher's allgather of failure messages: a fast rank waits there for
the slowest, so the recorded per-rank micro times are equal by construction and cannot show an
imbalance. From summary.json and those records it prints:

- RVE solves per second per rank (solves / seconds inside ``MicroModel.solve`` on that rank);
- the share of the summed step wall time in each phase (strain, micro, assembly, solve, output;
  each phase is the maximum over the ranks per step, as in summary.json);
- the imbalance of the micro work: max/mean over ranks of the summed solve seconds, and
  Σ_calls max_r / Σ_calls mean_r (the factor by which waiting for the slowest rank stretches the
  micro phase, since every call ends in a synchronization), next to the recorded max/mean;
- the speed-up and parallel efficiency of the summed step wall time (set-up excluded: it is
  meshing, JIT compilation and RVE construction, cached or constant per rank) from the first
  to each further rank count;
- the largest difference of the reaction curves between the runs, relative to the largest
  reaction of the first run.

``--quick`` uses bench/cases/plate_hole_quick.toml (coarser macro mesh, load steps of 0.2).
On a shared machine other processes compete for the cores: ``--wait-idle S`` waits (up to S
seconds) for an idle machine before each run, and the table shows how many cores other
processes kept busy during each run (from /proc/stat minus the run's own CPU time). With
more busy cores than free ones the 2-rank numbers measure the machine, not fe2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "problems" / "mechanics" / "plate_hole_fe2.toml"
QUICK = ROOT / "bench" / "cases" / "plate_hole_quick.toml"
SCRATCH = ROOT / ".scratch" / "bench"
PHASES = ("micro", "assembly", "solve", "output")  # as fe2.app.recorder.PHASES
CALL_FIELDS = ("solve_s", "evaluate_s", "solves", "micro_iterations", "sent", "received")


@dataclass
class RunRecord:
    """One finished run: its summary.json, the per-rank dispatcher records and wall seconds."""

    ranks: int
    summary: dict
    calls: np.ndarray  # (ranks, calls, len(CALL_FIELDS)), see CALL_FIELDS
    elapsed: float  # whole subprocess, including start-up and set-up [s]
    other_load: float  # mean busy cores of the machine not used by this run, during it


def busy_cpu_seconds() -> float:
    """CPU seconds (all cores, all processes of the machine) spent busy since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_until_idle(timeout: float, busy_cores: float = 0.3, window: float = 5.0) -> None:
    """Wait (at most ``timeout`` seconds) until the machine's processes keep fewer than
    ``busy_cores`` cores busy over ``window`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        start = busy_cpu_seconds()
        time.sleep(window)
        load = (busy_cpu_seconds() - start) / window
        if load < busy_cores or time.monotonic() > deadline:
            return
        print(f"  machine busy ({load:.1f} cores), waiting", flush=True)


def run_case(case: Path, ranks: int, out: Path, balance: bool | None = None,
             wait_idle: float = 0.0) -> RunRecord:
    """Run ``case`` on ``ranks`` processes into ``out`` (``balance`` overrides the case's
    ``[parallel] balance``) after waiting up to ``wait_idle`` seconds for an idle machine;
    exits with the run's output if it fails."""
    command = ["mpirun", "-n", str(ranks), sys.executable, str(Path(__file__).resolve()),
               "worker", str(case), str(out)]
    if balance is not None:
        command += ["--balance", "on" if balance else "off"]
    if wait_idle > 0:
        wait_until_idle(wait_idle)
    busy, own = busy_cpu_seconds(), children_cpu_seconds()
    start = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    other = (busy_cpu_seconds() - busy - (children_cpu_seconds() - own)) / elapsed
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{process.stdout}\n"
                 f"{process.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    if summary["status"] != "completed":
        sys.exit(f"{case} on {ranks} rank(s) did not complete: {summary['message']}")
    calls = np.array(json.loads((out / "dispatch_calls.json").read_text()), dtype=float)
    return RunRecord(ranks, summary, calls.reshape(ranks, -1, len(CALL_FIELDS)), elapsed,
                     other)


def worker(case: Path, out: Path, balance: str | None) -> None:
    """The body of one mpirun process: ``fe2 run`` with every dispatcher call recorded."""
    import dataclasses

    from mpi4py import MPI

    from fe2.app.run import run
    from fe2.app.run_case import load_run_config
    from fe2.core import dispatch

    comm = MPI.COMM_WORLD
    calls: list[tuple[float, ...]] = []
    evaluate = dispatch.Dispatcher.evaluate

    def recorded(self, strains, states, step=None):
        start = time.perf_counter()
        result = evaluate(self, strains, states, step)
        stats = result.stats
        calls.append((stats.micro_time, time.perf_counter() - start, stats.solves,
                      stats.micro_iterations, stats.sent, stats.received))
        return result

    dispatch.Dispatcher.evaluate = recorded
    config = load_run_config(case)
    if balance is not None:
        config = dataclasses.replace(config, balance=balance == "on")
    run(config, out, comm, overwrite=True, progress=False, figures=False)
    everything = comm.gather(calls, root=0)
    if comm.rank == 0:
        (out / "dispatch_calls.json").write_text(json.dumps(everything))


def profile(record: RunRecord) -> dict[str, float]:
    """The numbers printed for one run (seconds, shares, ratios); see the module docstring."""
    steps, calls = record.summary["steps"], record.calls
    wall = sum(s["wall_time_s"] for s in steps)
    phases = {k: sum(s["time_s"][k] for s in steps) for k in PHASES}
    solve_s = calls[:, :, 0].sum(axis=1)  # per rank
    solves = calls[:, :, 2].sum(axis=1)
    recorded = np.sum([s["micro_time_per_rank_s"] for s in steps], axis=0)
    per_call = calls[:, :, 0]
    return {
        "ranks": record.ranks, "quadrature_points": record.summary["quadrature_points"],
        "steps": len(steps), "macro_iterations": sum(s["newton_iterations"] for s in steps),
        "evaluations": calls.shape[1], "rve_solves": int(solves.sum()),
        "micro_iterations": int(calls[:, :, 3].sum()),
        "setup_s": record.summary["setup_time_s"], "elapsed_s": record.elapsed,
        "other_load": record.other_load, "wall_s": wall,
        **{f"{k}_s": v for k, v in phases.items()},
        **{f"{k}_share": v / wall for k, v in phases.items()},
        "solve_s_per_rank_max": float(solve_s.max()),
        "solves_per_s_per_rank": float(np.mean(solves / solve_s)),
        "ms_per_rve_solve": 1e3 * float(solve_s.sum() / solves.sum()),
        "imbalance_total": float(solve_s.max() / solve_s.mean()),
        "imbalance_calls": float(per_call.max(axis=0).sum() / per_call.mean(axis=0).sum()),
        "imbalance_recorded": float(recorded.max() / recorded.mean()),
        "points_moved": int(calls[:, :, 4].sum()),
    }


def reaction_difference(a: dict, b: dict) -> float:
    """max_i |R_a,i - R_b,i| / max_i |R_a,i| over the converged steps of two summaries
    (inf if they did not take the same load steps)."""
    lambdas = [[s["load_factor"] for s in x["steps"]] for x in (a, b)]
    if len(lambdas[0]) != len(lambdas[1]) or not np.allclose(*lambdas, rtol=1e-12, atol=0):
        return float("inf")
    ra, rb = (np.array([s["reaction"] for s in x["steps"]]) for x in (a, b))
    return float(np.abs(ra - rb).max() / np.abs(ra).max())


ROWS = [  # label, key, format
    ("quadrature points", "quadrature_points", "{:.0f}"), ("load steps", "steps", "{:.0f}"),
    ("macro Newton iterations", "macro_iterations", "{:.0f}"),
    ("dispatcher calls", "evaluations", "{:.0f}"), ("RVE solves", "rve_solves", "{:.0f}"),
    ("micro Newton iterations", "micro_iterations", "{:.0f}"),
    ("other load [busy cores]", "other_load", "{:.2f}"),
    ("process time [s]", "elapsed_s", "{:.1f}"), ("set-up [s]", "setup_s", "{:.1f}"),
    ("step wall time [s]", "wall_s", "{:.1f}"),
    *[(f"  {k} [s]", f"{k}_s", "{:.2f}") for k in PHASES],
    *[(f"  {k} share", f"{k}_share", "{:.1%}") for k in PHASES],
    ("ms per RVE solve", "ms_per_rve_solve", "{:.2f}"),
    ("RVE solves / s / rank", "solves_per_s_per_rank", "{:.1f}"),
    ("imbalance max/mean (solve s)", "imbalance_total", "{:.3f}"),
    ("imbalance Σmax/Σmean (calls)", "imbalance_calls", "{:.3f}"),
    ("recorded micro max/mean", "imbalance_recorded", "{:.3f}"),
    ("points moved (balance)", "points_moved", "{:.0f}"),
]


def table(profiles: list[dict], headers: list[str]) -> str:
    """The rows of ROWS for each profile, one column per profile."""
    width = max(len(label) for label, *_ in ROWS) + 2
    lines = ["".ljust(width) + "".join(h.rjust(12) for h in headers)]
    for label, key, fmt in ROWS:
        lines.append(label.ljust(width) + "".join(fmt.format(p[key]).rjust(12)
                                                  for p in profiles))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    work = commands.add_parser("worker", help="(internal) one mpirun process")
    work.add_argument("case", type=Path)
    work.add_argument("out", type=Path)
    work.add_argument("--balance", choices=("on", "off"))
    parser.add_argument("--case", type=Path, default=DEMO, help="the FE² case (TOML)")
    parser.add_argument("--quick", action="store_true", help=f"use {QUICK.relative_to(ROOT)}")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                        help="before each run wait up to S seconds for an idle machine")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "fe2_demo.json")
    args = parser.parse_args()
    if args.command == "worker":
        worker(args.case, args.out, args.balance)
        return
    case = (QUICK if args.quick else args.case).resolve()
    print(f"case {case.relative_to(ROOT) if case.is_relative_to(ROOT) else case}, "
          f"{os.cpu_count()} cores, ranks {args.ranks}")
    records = []
    for ranks in args.ranks:
        record = run_case(case, ranks, SCRATCH / f"{case.stem}_n{ranks}",
                          wait_idle=args.wait_idle)
        records.append(record)
        print(f"  {ranks} rank(s): {record.elapsed:.1f} s", flush=True)
    profiles = [profile(r) for r in records]
    first = profiles[0]
    for p, record in zip(profiles, records, strict=True):
        p["speedup"] = first["wall_s"] / p["wall_s"]
        p["efficiency"] = p["speedup"] * first["ranks"] / p["ranks"]
        p["reaction_difference"] = reaction_difference(records[0].summary, record.summary)
    print()
    print(table(profiles, [f"{p['ranks']} rank(s)" for p in profiles]))
    print(f"micro state per point {records[0].summary['micro']['state_bytes_per_point']} bytes, "
          f"RVE {records[0].summary['micro']['rve_dofs']} dofs")
    for p in profiles[1:]:
        print(f"{first['ranks']} → {p['ranks']} ranks: speed-up {p['speedup']:.2f}, "
              f"efficiency {p['efficiency']:.1%} (target ≥ 90 %); micro phase speed-up "
              f"{first['micro_s'] / p['micro_s']:.2f}; reaction curves differ by at most "
              f"{p['reaction_difference']:.2e} (relative to the largest reaction)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"case": str(case), "profiles": profiles}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
