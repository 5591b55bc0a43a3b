"""Benchmark of the batched micro Newton (fe2.rve.batch) against the per-point path.

Run (serially; about two minutes for the default sizes on 2 cores)::

    docker/env python3 bench/micro_batch.py [--sizes 300 1000 3000] [--points 10 100]
                                            [--json build/bench/micro_batch.json]

For each target size it meshes meshes/rve_square.geo (as bench/rve_nonlinear.py: J2 matrix,
elastic fibre, P1, plane strain, periodic) and solves ``--points`` macro points from the virgin
state, with random macro strains around a plastic one (most matrix points yield):

- per-point: ``NonlinearRVE.solve`` point after point (dolfinx_mpc assembly, MUMPS);
- batched: one ``NonlinearRVE.solve_batch`` of all points (built once per RVE; the set-up is
  reported separately and not in the times);
- bare: a numeric refactorization + one solve of one cell matrix (the reduced Jacobian of a
  plastic state) by PETSc's LU with the symbolic analysis reused (what the batch uses per
  point), and by scipy's ``splu`` (ordering + factorization + solve).

"ms/solve" is the time of a path divided by the points; "ms/it" divides by the Jacobians
factorized, Σ (Newton updates + 1) over the points (the converged Jacobian condenses the
tangent), the same for both paths. Both paths must agree (stress, tangent, states: relative
difference printed; iteration counts equal). Ratios are from the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from mpi4py import MPI
from rve_nonlinear import LAWS, STRAIN, mesh

from fe2.rve.batch import PointLU
from fe2.rve.nonlinear import NonlinearRVE

ROOT = Path(__file__).resolve().parents[1]


def strains_for(n: int) -> np.ndarray:
    """n macro strains around the plastic STRAIN (seeded: the same points every run). Larger
    ones (1.5 × STRAIN) defeat the micro Newton of both paths on the finest meshes."""
    rng = np.random.default_rng(15)
    return STRAIN * rng.uniform(0.3, 1.0, (n, 1)) + rng.normal(0.0, 5e-4, (n, 3))


def bare(rve: NonlinearRVE, reps: int = 7) -> dict[str, float]:
    """Seconds of one numeric PETSc LU + solve and one scipy splu + solve of one cell matrix."""
    pattern = rve._batch.pattern
    full = np.zeros((rve.n_points, 3))
    full[:] = STRAIN
    _, C, _ = rve._evaluate(full, rve._histories(rve.initial_state()))
    values = pattern.values(C[None])[0]
    K = scipy.sparse.csr_matrix((values, pattern.indices, pattern.indptr),
                                shape=(pattern.ndofs, pattern.ndofs)).tocsc()
    rhs = np.random.default_rng(1).standard_normal(pattern.ndofs)
    lu = PointLU(pattern)
    petsc, scipy_lu = [], []
    for k in range(reps):
        scaled = C * (1 + 1e-3 * (k + 1))  # a new matrix each time: no reuse of the factor
        start = time.perf_counter()
        lu.factorize(scaled, pattern.values(scaled[None])[0])
        lu.solve(rhs)
        petsc.append(time.perf_counter() - start)
        start = time.perf_counter()
        scipy.sparse.linalg.splu(K).solve(rhs)
        scipy_lu.append(time.perf_counter() - start)
    lu.destroy()
    return {"bare_petsc": statistics.median(petsc), "bare_splu": statistics.median(scipy_lu),
            "nnz": pattern.nnz}


def run(rve: NonlinearRVE, n: int) -> dict[str, float | int]:
    """Both paths on n points: seconds, Jacobians factorized, agreement."""
    strains = strains_for(n)
    states = np.tile(rve.initial_state(), (n, 1))
    start = time.perf_counter()
    reference, iterations = [], []
    for strain, state in zip(strains, states, strict=True):
        reference.append(rve.solve(strain, state))
        iterations.append(rve.iterations)
    per_point = time.perf_counter() - start
    rve.timings.clear()
    start = time.perf_counter()
    stress, tangent, new = rve.solve_batch(strains, states)
    batched = time.perf_counter() - start
    parts = {f"batch_{k}": v for k, v in rve.timings.items()}
    jacobians = int(np.sum(np.array(iterations) + 1))

    def relative(ours, theirs):
        theirs = np.array(theirs)
        return float(np.abs(ours - theirs).max() / np.abs(theirs).max())

    return {"points": n, "per_point": per_point, "batched": batched, "jacobians": jacobians,
            "its_equal": bool(np.array_equal(rve.batch_iterations, iterations)),
            "difference": max(relative(stress, [r[0] for r in reference]),
                              relative(tangent, [r[1] for r in reference]),
                              relative(new, [r[2] for r in reference])), **parts}


def table(rows: list[dict]) -> str:
    head = ("| dofs | points | its/solve | per-point ms/solve | batched ms/solve | "
            "per-point ms/it | batched ms/it | speed-up | bare PETSc ms | batched/bare | "
            "splu ms | max rel. diff | its equal |")
    lines = [head, "|" + "---:|" * 12 + ":---:|"]
    for r in rows:
        per_it = (r["per_point"] / r["jacobians"], r["batched"] / r["jacobians"])
        lines.append(
            f"| {r['dofs']} | {r['points']} | {r['jacobians'] / r['points'] - 1:.2f} | "
            f"{r['per_point'] / r['points'] * 1e3:.2f} | {r['batched'] / r['points'] * 1e3:.2f} | "
            f"{per_it[0] * 1e3:.3f} | {per_it[1] * 1e3:.3f} | "
            f"{r['per_point'] / r['batched']:.2f} | {r['bare_petsc'] * 1e3:.3f} | "
            f"{per_it[1] / r['bare_petsc']:.2f} | {r['bare_splu'] * 1e3:.3f} | "
            f"{r['difference']:.1e} | {'yes' if r['its_equal'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000],
                        help="target numbers of dofs")
    parser.add_argument("--points", type=int, nargs="+", default=[10, 100],
                        help="macro points per batch")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "micro_batch.json")
    args = parser.parse_args()
    if MPI.COMM_WORLD.size > 1:
        sys.exit("micro_batch.py benchmarks one rank: run it without mpirun")
    meshes = args.json.parent / "meshes"
    warm = NonlinearRVE(mesh(1.0, meshes), LAWS)
    rows = []
    for target in args.sizes:
        data = mesh(round(float(np.sqrt(warm.ndofs / target)), 4), meshes)
        rve = NonlinearRVE(data, LAWS)
        start = time.perf_counter()
        rve.solve_batch(STRAIN[None], rve.initial_state()[None])  # builds fe2.rve.batch
        setup = time.perf_counter() - start
        limits = bare(rve)
        for n in args.points:
            row = {"dofs": rve.ndofs, "batch_setup": setup, **limits, **run(rve, n)}
            rows.append(row)
            print(f"  {row['dofs']} dofs, {n} points: per-point {row['per_point']:.2f} s, "
                  f"batched {row['batched']:.2f} s (set-up {setup:.2f} s)", flush=True)
        rve.destroy()
        del data, rve
        gc.collect()
    warm.destroy()
    print()
    print(table(rows))
    print("its/solve = mean Newton updates per point; ms/it = time / Σ(updates + 1) "
          "(Jacobians factorized); bare = numeric PETSc Cholesky or LU (symbolic reused) + "
          "one solve of one cell matrix; splu = scipy ordering + LU + solve")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
