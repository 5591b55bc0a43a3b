"""Benchmark of fe2.rve.linear.LinearRVE (periodic, plane strain) against bare PETSc/MUMPS.

Run (serially; about 30 s for the default sizes on 2 cores)::

    docker/env python3 bench/rve_linear.py [--sizes 5000 20000 80000] [--degree 2] [--reps 7]
                                           [--json build/bench/rve_linear.json]

For each target size it meshes meshes/rve_square.geo (size factor calibrated so that the
fluctuation space has about that many dofs; mesh load excluded from all timings) and measures:

- ours: setup (lattice, function space, forms, phase volumes = ``LinearRVE.setup_time``, plus
  periodic constraint and matrix assembly in ``_PeriodicSolver``), factorization (the PETSc
  ``PCSetUp`` log event inside the solver's construction), time per additional macro strain
  (one right-hand side incl. its assembly, the loop body of ``LinearRVE._condense``) and
  ``rve.stress(strain)`` after homogenization;
- bare: the same matrix re-assembled with dolfinx_mpc on the same constraint, a fresh
  preonly/LU/MUMPS KSP, its factorization and one ``KSPSolve`` on a fixed right-hand side;
- the ratios ours/bare and the bytes of the dense condensation arrays F and W.

Small timings are medians of ``--reps`` repetitions; setup and factorization of our solver are
medians of ``max(1, reps // 2)`` constructions.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from fe2.io.mesh import MeshData, load_mesh
from fe2.io.meshing import MeshOptions, mesh_files
from fe2.laws.materials import IsotropicElastic
from fe2.rve import linear as rve_module

ROOT = Path(__file__).resolve().parents[1]
GEO = ROOT / "meshes" / "rve_square.geo"
T = TypeVar("T")
MATERIALS = {"matrix": IsotropicElastic(50e3, 0.2).matrix("plane_strain"),
             "inclusion": IsotropicElastic(210e3, 0.3).matrix("plane_strain")}


def mesh(size_factor: float, out_root: Path) -> MeshData:
    """Mesh the square RVE with ``size_factor`` (cached per factor) and load it serially."""
    out = out_root / f"sf_{size_factor:.4f}"
    report = mesh_files([GEO], out, MeshOptions(size_factor=size_factor, order=1))[0]
    if not report.ok:
        sys.exit(report.error)
    return load_mesh(report.output, MPI.COMM_SELF)


def event_time(name: str) -> float:
    """Accumulated time [s] of a PETSc log event (logging is switched on in main)."""
    return PETSc.Log.Event(name).getPerfInfo()["time"]


def mumps_ksp(A: PETSc.Mat) -> PETSc.KSP:
    """A fresh preonly/LU/MUMPS KSP on ``A`` (not yet set up), no options database."""
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOptionsPrefix("bench_bare_")
    ksp.setOperators(A)
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    ksp.getPC().setFactorSolverType("mumps")
    return ksp


def bench_one(data: MeshData, degree: int, reps: int, big_reps: int) -> dict[str, float | int]:
    """All timings for one mesh (see module docstring); times in seconds.

    Ours and bare are measured alternately in the same loops so that both see the same machine
    load; every entry of the result is the median over the repetitions.
    """
    import dolfinx_mpc
    from dolfinx.fem.petsc import assemble_vector

    start = time.perf_counter()
    rve = rve_module.LinearRVE(data, MATERIALS, field="vector", degree=degree, bc="periodic")
    homogenize = time.perf_counter() - start
    times: dict[str, list[float]] = defaultdict(list)

    def clock(key: str, action: Callable[[], T]) -> T:
        begin = time.perf_counter()
        out = action()
        times[key].append(time.perf_counter() - begin)
        return out

    # Ours: the solver constructed as LinearRVE._condense does (constraint + assembly +
    # factorization; the factorization is PETSc's PCSetUp event: MUMPS analysis + numeric LU).
    # Bare: the same form and constraint re-assembled into a fresh matrix, a fresh MUMPS KSP.
    # They alternate in going first; `solver` (kept) does the per-strain solves.
    solver = rve_module._PeriodicSolver(rve)

    def ours() -> list:
        f0, s0 = event_time("PCSetUp"), event_time("MatLUFactorSym")
        new = clock("build", lambda: rve_module._PeriodicSolver(rve))
        times["factorize"].append(event_time("PCSetUp") - f0)
        times["factorize_symbolic"].append(event_time("MatLUFactorSym") - s0)
        times["constraint_assembly"].append(times["build"][-1] - times["factorize"][-1])
        return [new]

    def bare() -> list:
        A = clock("bare_assemble",
                  lambda: dolfinx_mpc.assemble_matrix(rve.a, solver.mpc, bcs=solver.bcs))
        ksp = mumps_ksp(A)
        clock("bare_factorize", ksp.setUp)
        return [ksp, A]

    live: dict[str, list] = {}
    for i in range(big_reps):
        for obj in [*live.get("ours", []), *live.get("bare", [])]:
            obj.destroy()
        order = (ours, bare) if i % 2 == 0 else (bare, ours)
        live = {run.__name__: run() for run in order}
    ksp, A = live["bare"]

    def one_strain(strain: np.ndarray) -> None:  # the loop body of LinearRVE._condense
        rve.macro.value[:] = strain
        load = assemble_vector(rve.load)
        load.array.copy()  # LinearRVE keeps F e_k
        solver.solve(load)
        load.destroy()

    x, b = A.createVecs()
    b.array[:] = np.random.default_rng(1).standard_normal(b.getLocalSize())
    strains = np.random.default_rng(0).standard_normal((reps, rve.n_strain))
    for strain in strains:
        k0 = event_time("KSPSolve")
        clock("per_strain", lambda s=strain: one_strain(s))
        times["per_strain_kspsolve"].append(event_time("KSPSolve") - k0)
        clock("bare_solve", lambda: ksp.solve(b, x))
    rve.macro.value[:] = 0.0
    calls = list(strains) * (2000 // reps)
    for _ in range(reps):
        clock("stress", lambda: [rve.stress(s) for s in calls])
    same = float(np.linalg.norm(solver.solve_vec(b) - x.array) / np.linalg.norm(x.array))
    slaves = solver.mpc.num_local_slaves
    for obj in (solver, *live["ours"], ksp, A, x, b):
        obj.destroy()

    result: dict[str, float | int] = {key: statistics.median(v) for key, v in times.items()}
    del result["build"]
    result["stress"] /= len(calls)
    setup = rve.setup_time + result["constraint_assembly"]
    result |= {
        "dofs": rve.ndofs, "periodic_slaves": slaves,
        "cells": data.mesh.topology.index_map(2).size_local, "homogenize_total": homogenize,
        "forms": rve.setup_time, "setup": setup, "solution_rel_diff": same,
        "dense_bytes": rve.F.nbytes + rve.W.nbytes,
    }
    result["constraint_estimate"] = result["constraint_assembly"] - result["bare_assemble"]
    result["ratio_per_strain"] = result["per_strain"] / result["bare_solve"]
    result["ratio_setup_factorize"] = ((setup + result["factorize"])
                                       / (result["bare_assemble"] + result["bare_factorize"]))
    return result


COLUMNS = [  # header, key, scale, format
    ("dofs", "dofs", 1, "{:>7d}"),
    ("setup s", "setup", 1, "{:>7.3f}"), ("fact s", "factorize", 1, "{:>7.3f}"),
    ("strain ms", "per_strain", 1e3, "{:>9.2f}"), ("(ksp ms)", "per_strain_kspsolve", 1e3,
                                                    "{:>8.2f}"),
    ("stress us", "stress", 1e6, "{:>9.2f}"), ("bare asm s", "bare_assemble", 1, "{:>10.3f}"),
    ("bare fact s", "bare_factorize", 1, "{:>11.3f}"), ("bare solve ms", "bare_solve", 1e3,
                                                         "{:>13.2f}"),
    ("strain/solve", "ratio_per_strain", 1, "{:>12.2f}"),
    ("setup+fact/bare", "ratio_setup_factorize", 1, "{:>15.2f}"),
    ("F+W MB", "dense_bytes", 1e-6, "{:>7.2f}"),
]


def table(rows: list[dict[str, float | int]]) -> str:
    widths = [len(fmt.format(0)) for _, _, _, fmt in COLUMNS]
    lines = ["  ".join(h.rjust(w) for (h, *_), w in zip(COLUMNS, widths, strict=True))]
    for row in rows:
        cells = []
        for _, key, scale, fmt in COLUMNS:
            value = row[key] * scale
            cells.append(fmt.format(int(value) if "d" in fmt else value))
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 80000],
                        help="target numbers of dofs")
    parser.add_argument("--degree", type=int, default=2, choices=(1, 2))
    parser.add_argument("--reps", type=int, default=7,
                        help="repetitions of the small timings (assembly, factorization: half)")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "rve_linear.json")
    args = parser.parse_args()
    if MPI.COMM_WORLD.size > 1:
        sys.exit("rve_linear.py benchmarks one RVE on one process: run it without mpirun")
    PETSc.Log.begin()
    meshes = args.json.parent / "meshes"

    # Calibrate the size factor on the default mesh; the run also JIT-compiles the forms.
    start = time.perf_counter()
    warm = rve_module.LinearRVE(mesh(1.0, meshes), MATERIALS, degree=args.degree)
    print(f"warm-up (mesh, JIT forms, {warm.ndofs} dofs): {time.perf_counter() - start:.2f} s")
    print(f"PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, MUMPS LU, serial, "
          f"P{args.degree} vector field, plane strain, periodic BC")

    rows = []
    for target in args.sizes:
        size_factor = round(float(np.sqrt(warm.ndofs / target)), 4)
        data = mesh(size_factor, meshes)
        row = {"target": target, "size_factor": size_factor, "degree": args.degree,
               **bench_one(data, args.degree, args.reps, max(1, args.reps // 2))}
        rows.append(row)
        print(f"  target {target}: size factor {size_factor}, {row['dofs']} dofs, "
              f"LinearRVE(...) {row['homogenize_total']:.2f} s; setup: forms {row['forms']:.3f} s, "
              f"constraint ≈ {row['constraint_estimate']:.3f} s, assembly ≈ "
              f"{row['bare_assemble']:.3f} s; factorization: analysis "
              f"{row['factorize_symbolic']:.3f} s of {row['factorize']:.3f} s; "
              f"|x_ours - x_bare|/|x| = {row['solution_rel_diff']:.1e}", flush=True)
        del data
        gc.collect()
    print()
    print(table(rows))
    print("setup = forms + constraint + assembly; strain = assemble RHS + mpc reduce + KSPSolve "
          "+ backsubstitution (ksp = its KSPSolve part); stress = rve.stress(strain)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"degree": args.degree, "reps": args.reps, "rows": rows,
                                     "units": "seconds, bytes"}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
