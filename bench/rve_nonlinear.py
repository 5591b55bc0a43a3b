"""Benchmark of fe2.rve.nonlinear.NonlinearRVE (J2 matrix, elastic fibre) against bare PETSc.

Run (serially; about a minute for the default sizes on 2 cores)::

    docker/env python3 bench/rve_nonlinear.py [--sizes 300 1000 3000 10000 50000] [--degree 1]
                                              [--reps 3] [--json build/bench/rve_nonlinear.json]

For each target size it meshes meshes/rve_square.geo (size factor calibrated so that the
fluctuation space has about that many dofs; mesh load excluded from all timings), builds a
periodic plane-strain NonlinearRVE with a J2 matrix (E = 50e3, ν = 0.2, σ_y = 100, H = 1000) and
an elastic fibre (E = 210e3, ν = 0.3), and solves one plastic macro strain from the virgin state:

- ours: the whole ``solve`` (Newton iterations, the Jacobian at the converged iterate, the
  homogenized stress and the consistent tangent) divided by the number of Jacobian
  factorizations in it, i.e. the cost of one micro Newton iteration, and its breakdown from
  ``rve.timings``: laws (all points), residual (strain at the points, G σ, Pᵀ r), Jacobian
  assembly (dolfinx_mpc into the preallocated matrix), factorization (MUMPS numeric LU),
  linear solves (KSPSolve + back-substitution) and averaging (Σ and C_hom by condensation);
- bare (see ``Bare``): one Newton iteration of bare PETSc on the same system: the Jacobian form
  (converged tangent) assembled by dolfinx.fem.petsc into a preallocated matrix without any
  constraint, then numeric MUMPS refactorization of the same periodic matrix in a plain
  preonly/LU KSP (symbolic analysis reused, as ours) and one KSPSolve; "affine" is the same with
  w = 0 on the cell boundary instead of the periodic constraint (no dolfinx_mpc at all, but less
  fill-in: it shows what the periodic coupling itself costs the factorization);
- the ratios ours/bare per iteration and the per-point state bytes.

Every timing is the median of ``--reps`` repetitions (at least 20000 / dofs); the first solve
after construction is a warm-up (it reuses the elastic factorization of the setup) and is not
counted.
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
from mpi4py import MPI
from petsc4py import PETSc

from fe2.io.mesh import MeshData, load_mesh
from fe2.io.meshing import MeshOptions, mesh_files
from fe2.laws.pointwise import Elastic, J2Plasticity
from fe2.rve.nonlinear import NonlinearRVE

ROOT = Path(__file__).resolve().parents[1]
GEO = ROOT / "meshes" / "rve_square.geo"
LAWS = {"matrix": J2Plasticity(50e3, 0.2, yield_stress=100.0, hardening=1000.0),
        "inclusion": Elastic(210e3, 0.3)}
STRAIN = np.array([4e-3, -1e-3, 6e-3])  # plastic: most of the matrix yields
PARTS = ("laws", "residual", "assembly", "factorization", "linear_solves", "averaging")


def mesh(size_factor: float, out_root: Path) -> MeshData:
    """Mesh the square RVE with ``size_factor`` (cached per factor) and load it serially."""
    out = out_root / f"sf_{size_factor:.4f}"
    report = mesh_files([GEO], out, MeshOptions(size_factor=size_factor, order=1))[0]
    if not report.ok:
        sys.exit(report.error)
    return load_mesh(report.output, MPI.COMM_SELF)


def mumps_ksp(A: PETSc.Mat, prefix: str) -> PETSc.KSP:
    """A plain preonly/LU/MUMPS KSP on ``A``."""
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOptionsPrefix(prefix)
    ksp.setOperators(A)
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    ksp.getPC().setFactorSolverType("mumps")
    return ksp


class Bare:
    """Bare PETSc on the RVE's Jacobian form: plain dolfinx assembly, MUMPS refactorization.

    "periodic": the assembly of the form without any constraint into a preallocated matrix,
    then the numeric LU and one solve of a copy of our constrained (periodic) matrix: the same
    system, without dolfinx_mpc and without our Newton machinery. "affine": the form assembled
    with w = 0 on the cell boundary (same size, no periodic coupling: less fill-in), numeric LU
    and one solve of that matrix. The symbolic analysis is done once, in the constructor.
    """

    def __init__(self, rve: NonlinearRVE) -> None:
        from dolfinx import fem
        from dolfinx.fem.petsc import create_matrix

        dofs = fem.locate_dofs_geometrical(rve.V, rve.lattice.on_boundary)
        self.rve = rve
        self.bcs = [fem.dirichletbc(np.zeros(2), dofs, rve.V)]
        self.A_plain, self.A_affine = create_matrix(rve.a), create_matrix(rve.a)
        self.A_periodic = rve.solver.A.duplicate(copy=True)
        self.ksp = {"periodic": mumps_ksp(self.A_periodic, "bench_periodic_"),
                    "affine": mumps_ksp(self.A_affine, "bench_affine_")}
        self.x, self.b = self.A_plain.createVecs()
        self.b.array[:] = np.random.default_rng(1).standard_normal(self.b.getLocalSize())
        self.step()

    def _assemble(self, A: PETSc.Mat, bcs: list) -> float:
        from dolfinx.fem.petsc import assemble_matrix

        start = time.perf_counter()
        A.zeroEntries()
        assemble_matrix(A, self.rve.a, bcs=bcs)
        A.assemble()
        return time.perf_counter() - start

    def _factor_solve(self, name: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        self.ksp[name].getPC().setUp()
        t1 = time.perf_counter()
        self.ksp[name].solve(self.b, self.x)
        return t1 - t0, time.perf_counter() - t1

    def step(self) -> dict[str, float]:
        """One bare Newton iteration of each kind; seconds of every part."""
        times = {"bare_assembly": self._assemble(self.A_plain, [])}
        self.rve.solver.A.copy(self.A_periodic, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        times["bare_factorization"], times["bare_solve"] = self._factor_solve("periodic")
        times["affine_assembly"] = self._assemble(self.A_affine, self.bcs)
        times["affine_factorization"], times["affine_solve"] = self._factor_solve("affine")
        return times

    def destroy(self) -> None:
        for obj in (*self.ksp.values(), self.A_plain, self.A_affine, self.A_periodic, self.x,
                    self.b):
            obj.destroy()


def bench_one(data: MeshData, degree: int, reps: int) -> dict[str, float | int]:
    """All timings for one mesh (see module docstring), seconds; medians over ``reps`` (at
    least 20000 / dofs repetitions: small RVEs take a few ms and are noisy)."""
    start = time.perf_counter()
    rve = NonlinearRVE(data, LAWS, degree=degree)
    reps = max(reps, 20000 // rve.ndofs)
    setup = time.perf_counter() - start
    state = rve.initial_state()
    rve.solve(STRAIN, state)  # warm-up
    bare = Bare(rve)
    samples: dict[str, list[float]] = {}
    for _ in range(reps):
        rve.timings.clear()
        rve.counts.clear()
        begin = time.perf_counter()
        rve.solve(STRAIN, state)
        total = time.perf_counter() - begin
        factorizations = rve.counts["factorizations"]
        row = {"solve": total, "per_iteration": total / factorizations,
               "factorizations": factorizations, "iterations": rve.iterations,
               **{part: rve.timings[part] for part in PARTS},
               "other": total - sum(rve.timings[part] for part in PARTS)}
        row |= bare.step()
        for key, value in row.items():
            samples.setdefault(key, []).append(value)
    bare.destroy()
    result: dict[str, float | int] = {k: statistics.median(v) for k, v in samples.items()}
    for kind in ("bare", "affine"):
        result[kind] = sum(result[f"{kind}_{part}"]
                           for part in ("assembly", "factorization", "solve"))
        result[f"ratio_{kind}"] = result["per_iteration"] / result[kind]
    result |= {"dofs": rve.ndofs, "points": rve.n_points, "setup": setup,
               "state_bytes_per_qp": rve.state_size * 8}
    rve.destroy()
    return result


COLUMNS = [  # header, key, scale, format
    ("dofs", "dofs", 1, "{:>6d}"), ("QPs", "points", 1, "{:>6d}"),
    ("its", "iterations", 1, "{:>3d}"), ("LUs", "factorizations", 1, "{:>3d}"),
    ("bare ms", "bare", 1e3, "{:>8.2f}"), ("ours ms/it", "per_iteration", 1e3, "{:>10.2f}"),
    ("ratio", "ratio_bare", 1, "{:>5.2f}"), ("affine ms", "affine", 1e3, "{:>9.2f}"),
    ("ratio aff", "ratio_affine", 1, "{:>9.2f}"),
    ("laws", "laws", 1e3, "{:>7.2f}"), ("resid", "residual", 1e3, "{:>7.2f}"),
    ("asm", "assembly", 1e3, "{:>7.2f}"), ("fact", "factorization", 1e3, "{:>7.2f}"),
    ("solves", "linear_solves", 1e3, "{:>7.2f}"), ("avg", "averaging", 1e3, "{:>7.2f}"),
    ("other", "other", 1e3, "{:>7.2f}"),
    ("b.asm", "bare_assembly", 1e3, "{:>7.2f}"), ("b.fact", "bare_factorization", 1e3,
                                                  "{:>7.2f}"),
    ("b.solve", "bare_solve", 1e3, "{:>7.2f}"), ("setup s", "setup", 1, "{:>7.2f}"),
    ("state kB", "state_bytes_per_qp", 1e-3, "{:>8.1f}"),
]


def table(rows: list[dict[str, float | int]]) -> str:
    widths = [max(len(h), len(fmt.format(0))) for h, _, _, fmt in COLUMNS]
    lines = ["  ".join(h.rjust(w) for (h, *_), w in zip(COLUMNS, widths, strict=True))]
    for row in rows:
        cells = []
        for (_, key, scale, fmt), width in zip(COLUMNS, widths, strict=True):
            value = row[key] * scale
            cells.append(fmt.format(int(value) if "d" in fmt else value).rjust(width))
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000, 10000, 50000],
                        help="target numbers of dofs")
    parser.add_argument("--degree", type=int, default=1, choices=(1, 2))
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each solve")
    parser.add_argument("--json", type=Path,
                        default=ROOT / "build" / "bench" / "rve_nonlinear.json")
    args = parser.parse_args()
    if MPI.COMM_WORLD.size > 1:
        sys.exit("rve_nonlinear.py benchmarks one RVE on one process: run it without mpirun")
    meshes = args.json.parent / "meshes"

    start = time.perf_counter()  # calibrates the size factor and JIT-compiles the forms
    warm = NonlinearRVE(mesh(1.0, meshes), LAWS, degree=args.degree)
    print(f"warm-up (mesh, JIT forms, {warm.ndofs} dofs): {time.perf_counter() - start:.2f} s")
    print(f"PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, MUMPS LU, serial, "
          f"P{args.degree} vector field, plane strain, periodic BC, J2 matrix + elastic fibre, "
          f"macro strain {STRAIN.tolist()}")
    rows = []
    for target in args.sizes:
        size_factor = round(float(np.sqrt(warm.ndofs / target)), 4)
        data = mesh(size_factor, meshes)
        row = {"target": target, "size_factor": size_factor, "degree": args.degree,
               **bench_one(data, args.degree, args.reps)}
        rows.append(row)
        print(f"  target {target}: size factor {size_factor}, {row['dofs']} dofs, "
              f"solve {row['solve'] * 1e3:.1f} ms, ratio {row['ratio_bare']:.2f}", flush=True)
        del data
        gc.collect()
    warm.destroy()
    print()
    print(table(rows))
    print("bare = plain assembly + numeric LU + solve of the same periodic matrix; affine = the "
          "same with w = 0 on the boundary instead (less fill-in); ours = solve time / LUs; "
          "its = Newton updates, LUs = factorizations per solve; laws..other: ms per solve "
          "(medians, so they need not add up); "
          "b.*: ms of one bare iteration; state = per-QP state (fluctuation + histories)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"degree": args.degree, "reps": args.reps, "rows": rows,
                                     "units": "seconds, bytes"}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
