"""Benchmark of the batched micro Newton (fe2.rve.batch) against the per-point path.

Run (serially; about 25 minutes for the default sizes and points on 2 cores)::

    docker/env python3 bench/micro_batch.py [--sizes 300 1000 3000 10000]
        [--points 10 100 1000] [--per-point-cap 100] [--budget 300]
        [--json build/bench/micro_batch.json]
    docker/env python3 bench/micro_batch.py --crossover   # the "auto" crossover, 2D and 3D

For each target size it meshes meshes/rve_square.geo (as bench/rve_nonlinear.py: J2 matrix,
elastic fibre, P1, plane strain, periodic) and solves ``--points`` macro points from the virgin
state, with random macro strains around a plastic one (most matrix points yield):

- per-point: ``NonlinearRVE.solve`` point after point, the Jacobian factorized by MUMPS
  (``solver="mumps"``) and by PETSc's own LU (``solver="petsc"``); both on the first
  ``--per-point-cap`` points only (a per-point solve costs the same however many points
  there are, so ms/solve is that of all points);
- batched: one ``NonlinearRVE.solve_batch`` of all points (built once per RVE; the set-up is
  reported separately and not in the times);
- bare: a numeric refactorization + one solve of one cell matrix (the reduced Jacobian of a
  plastic state) by PETSc's Cholesky with the symbolic analysis reused (what the batch uses
  per point), by MUMPS' LU (what the per-point path uses), and by scipy's ``splu`` (ordering
  + factorization + solve).

"ms/solve" is the time of a path divided by its points; "ms/it" divides by the Jacobians
factorized, Σ (Newton updates + 1) over the points (the converged Jacobian condenses the
tangent), the same for all paths. The paths must agree (stress, tangent, states: relative
difference printed; iteration counts equal). Ratios are from the same run. A (size, points)
row whose batched time, estimated from the row before, exceeds ``--budget`` seconds is
skipped with the reason printed.

``--crossover`` prints only the bare PETSc and MUMPS factor + solve times on square cells
(2D, 300 to 30k dofs) and on the cube with a sphere (3D, 1.4k to 7k dofs): where MUMPS
becomes cheaper is where "auto" stops batching (fe2.rve.nonlinear.AUTO_BATCHED_DOFS).
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
from petsc4py import PETSc
from rve_nonlinear import LAWS, STRAIN, mesh

from fe2.io.mesh import load_mesh
from fe2.io.meshing import MeshOptions, mesh_files
from fe2.rve.batch import PointLU
from fe2.rve.nonlinear import NonlinearRVE

ROOT = Path(__file__).resolve().parents[1]


def strains_for(n: int) -> np.ndarray:
    """n macro strains around the plastic STRAIN (seeded: the same points every run). Larger
    ones (1.5 × STRAIN) defeat the micro Newton of both paths on the finest meshes."""
    rng = np.random.default_rng(15)
    return STRAIN * rng.uniform(0.3, 1.0, (n, 1)) + rng.normal(0.0, 5e-4, (n, 3))


def bare(rve: NonlinearRVE, strain: np.ndarray = STRAIN, reps: int = 7,
         splu: bool = True) -> dict[str, float]:
    """Seconds of one numeric PETSc factorization + solve (Cholesky, analysis reused), one
    numeric MUMPS LU + solve (analysis reused) and one scipy splu + solve of one cell matrix
    (the Jacobian at the homogeneous ``strain``)."""
    rve.solve_batch(strain[None], rve.initial_state()[None])  # builds fe2.rve.batch
    pattern = rve._batch.pattern
    full = np.zeros((rve.n_points, rve.n_strain))
    full[:] = strain
    _, C, _ = rve._evaluate(full, rve._histories(rve.initial_state()))
    values = pattern.values(C[None])[0]
    rhs = np.random.default_rng(1).standard_normal(pattern.ndofs)
    lu = PointLU(pattern)
    A = PETSc.Mat().createAIJWithArrays((pattern.ndofs, pattern.ndofs),
                                        (pattern.indptr, pattern.indices, values.copy()),
                                        comm=MPI.COMM_SELF)
    A.assemble()
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOperators(A)
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    ksp.getPC().setFactorSolverType("mumps")
    ksp.setUp()
    x, b = A.createVecs()
    b.array[:] = rhs
    times: dict[str, list[float]] = {"bare_petsc": [], "bare_mumps": [], "bare_splu": []}
    for k in range(reps):
        scaled = C * (1 + 1e-3 * (k + 1))  # a new matrix each time: no reuse of the factor
        scaled_values = pattern.values(scaled[None])[0]
        start = time.perf_counter()
        lu.factorize(scaled, scaled_values)
        lu.solve(rhs)
        times["bare_petsc"].append(time.perf_counter() - start)
        A.setValuesCSR(pattern.indptr, pattern.indices, scaled_values)
        A.assemble()
        start = time.perf_counter()
        ksp.getPC().setUp()
        ksp.solve(b, x)
        times["bare_mumps"].append(time.perf_counter() - start)
        if splu:
            K = scipy.sparse.csc_matrix(scipy.sparse.csr_matrix(
                (scaled_values, pattern.indices, pattern.indptr),
                shape=(pattern.ndofs, pattern.ndofs)))
            start = time.perf_counter()
            scipy.sparse.linalg.splu(K).solve(rhs)
            times["bare_splu"].append(time.perf_counter() - start)
    for obj in (ksp, A, x, b):
        obj.destroy()
    lu.destroy()
    return {key: statistics.median(value) if value else float("nan")
            for key, value in times.items()} | {"nnz": pattern.nnz}


def per_point(rve: NonlinearRVE, strains: np.ndarray, states: np.ndarray):
    """Seconds of ``solve`` point after point, the results and the Newton updates."""
    start = time.perf_counter()
    results, iterations = [], []
    for strain, state in zip(strains, states, strict=True):
        results.append(rve.solve(strain, state))
        iterations.append(rve.iterations)
    return time.perf_counter() - start, results, np.array(iterations)


def run(rves: dict[str, NonlinearRVE], n: int, cap: int) -> dict[str, float | int]:
    """The per-point paths (MUMPS, PETSc LU) on min(n, cap) points and the batch on n points:
    seconds, Jacobians factorized, agreement on the common points."""
    strains = strains_for(n)
    states = np.tile(rves["batched"].initial_state(), (n, 1))
    m = min(n, cap)
    row: dict[str, float | int] = {"points": n, "per_point_points": m}
    reference = None
    agree = []

    def relative(ours, theirs):
        theirs = np.array(theirs)
        return float(np.abs(np.array(ours) - theirs).max() / np.abs(theirs).max())

    for name in ("mumps", "petsc"):
        seconds, results, iterations = per_point(rves[name], strains[:m], states[:m])
        row[name] = seconds
        row[f"{name}_jacobians"] = int(np.sum(iterations + 1))
        if reference is None:
            reference = results, iterations
        else:
            agree.append(np.array_equal(iterations, reference[1]))
            row["difference"] = max(relative([r[k] for r in results],
                                             [r[k] for r in reference[0]]) for k in range(3))
    rve = rves["batched"]
    rve.timings.clear()
    start = time.perf_counter()
    stress, tangent, new = rve.solve_batch(strains, states)
    row["batched"] = time.perf_counter() - start
    row["jacobians"] = int(np.sum(rve.batch_iterations + 1))
    row.update({f"batch_{k}": v for k, v in rve.timings.items()})
    agree.append(np.array_equal(rve.batch_iterations[:m], reference[1]))
    row["difference"] = max(row["difference"], *(
        relative(ours[:m], [r[k] for r in reference[0]])
        for k, ours in enumerate((stress, tangent, new))))
    row["its_equal"] = bool(all(agree))
    return row


def table(rows: list[dict]) -> str:
    head = ("| dofs | points | its/solve | MUMPS ms/solve | PETSc LU ms/solve | "
            "batched ms/solve | MUMPS ms/it | PETSc LU ms/it | batched ms/it | speed-up | "
            "bare PETSc ms | bare MUMPS ms | batched/bare | splu ms | max rel. diff | "
            "its equal |")
    lines = [head, "|" + "---:|" * 15 + ":---:|"]
    for r in rows:
        n, m = r["points"], r["per_point_points"]
        per_it = (r["mumps"] / r["mumps_jacobians"], r["petsc"] / r["petsc_jacobians"],
                  r["batched"] / r["jacobians"])
        lines.append(
            f"| {r['dofs']} | {n} | {r['jacobians'] / n - 1:.2f} | "
            f"{r['mumps'] / m * 1e3:.2f} | {r['petsc'] / m * 1e3:.2f} | "
            f"{r['batched'] / n * 1e3:.2f} | {per_it[0] * 1e3:.3f} | {per_it[1] * 1e3:.3f} | "
            f"{per_it[2] * 1e3:.3f} | {per_it[0] / per_it[2]:.2f} | "
            f"{r['bare_petsc'] * 1e3:.3f} | {r['bare_mumps'] * 1e3:.3f} | "
            f"{per_it[2] / r['bare_petsc']:.2f} | {r['bare_splu'] * 1e3:.3f} | "
            f"{r['difference']:.1e} | {'yes' if r['its_equal'] else 'NO'} |")
    return "\n".join(lines)


def crossover(meshes: Path) -> None:
    """Bare PETSc (Cholesky) and MUMPS (LU) factor + solve of one cell matrix, 2D and 3D."""
    warm = NonlinearRVE(mesh(1.0, meshes), LAWS)
    cells = [(f"square {target}", mesh(round(float(np.sqrt(warm.ndofs / target)), 4), meshes),
              "plane_strain", STRAIN) for target in (300, 1000, 3000, 10000, 30000)]
    strain3d = np.array([6e-3, -2e-3, 1e-3, 4e-3, 0.0, 5e-3])
    for factor in (2.0, 1.4, 1.0):
        report = mesh_files([ROOT / "meshes" / "rve_cube_sphere.geo"],
                            meshes / f"cube_{factor}", MeshOptions(size_factor=factor))[0]
        if not report.ok:
            sys.exit(report.error)
        cells.append((f"cube {factor}", load_mesh(report.output, MPI.COMM_SELF), "3d",
                      strain3d))
    print("| cell | dofs | bare PETSc Cholesky ms | bare MUMPS LU ms | PETSc / MUMPS |")
    print("|---|---:|---:|---:|---:|")
    for name, data, model, strain in cells:
        rve = NonlinearRVE(data, LAWS, model=model)
        times = bare(rve, strain, reps=5, splu=False)
        print(f"| {name} | {rve.ndofs} | {times['bare_petsc'] * 1e3:.2f} | "
              f"{times['bare_mumps'] * 1e3:.2f} | "
              f"{times['bare_petsc'] / times['bare_mumps']:.2f} |", flush=True)
        rve.destroy()
    warm.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000, 10000],
                        help="target numbers of dofs")
    parser.add_argument("--points", type=int, nargs="+", default=[10, 100, 1000],
                        help="macro points per batch")
    parser.add_argument("--per-point-cap", type=int, default=100,
                        help="points solved by each per-point path")
    parser.add_argument("--budget", type=float, default=300.0,
                        help="skip rows whose batch would take longer [s] (estimated)")
    parser.add_argument("--crossover", action="store_true",
                        help="only the bare PETSc / MUMPS factorization times, 2D and 3D")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "micro_batch.json")
    args = parser.parse_args()
    if MPI.COMM_WORLD.size > 1:
        sys.exit("micro_batch.py benchmarks one rank: run it without mpirun")
    meshes = args.json.parent / "meshes"
    if args.crossover:
        crossover(meshes)
        return
    warm = NonlinearRVE(mesh(1.0, meshes), LAWS)
    rows = []
    for target in args.sizes:
        data = mesh(round(float(np.sqrt(warm.ndofs / target)), 4), meshes)
        rves = {name: NonlinearRVE(data, LAWS, solver=name)
                for name in ("batched", "mumps", "petsc")}
        start = time.perf_counter()
        rves["batched"].solve_batch(STRAIN[None], rves["batched"].initial_state()[None])
        setup = time.perf_counter() - start  # builds fe2.rve.batch
        limits = bare(rves["batched"])
        per_point_seconds = None  # batched seconds per point of the last row of this size
        for n in args.points:
            if per_point_seconds is not None and per_point_seconds * n > args.budget:
                print(f"  {rves['batched'].ndofs} dofs, {n} points: skipped (batch estimated "
                      f"{per_point_seconds * n:.0f} s > --budget {args.budget:.0f} s)",
                      flush=True)
                continue
            row = {"dofs": rves["batched"].ndofs, "batch_setup": setup, **limits,
                   **run(rves, n, args.per_point_cap)}
            rows.append(row)
            per_point_seconds = row["batched"] / n
            print(f"  {row['dofs']} dofs, {n} points: MUMPS {row['mumps']:.2f} s and PETSc LU "
                  f"{row['petsc']:.2f} s ({row['per_point_points']} points), batched "
                  f"{row['batched']:.2f} s (set-up {setup:.2f} s)", flush=True)
        for rve in rves.values():
            rve.destroy()
        del data, rves
        gc.collect()
    warm.destroy()
    print()
    print(table(rows))
    print("its/solve = mean Newton updates per point; ms/it = time / Σ(updates + 1) "
          "(Jacobians factorized); speed-up = MUMPS per point / batched, per iteration; bare = "
          "numeric PETSc Cholesky (symbolic reused) or MUMPS LU (symbolic reused) + one solve "
          "of one cell matrix; splu = scipy ordering + LU + solve")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
