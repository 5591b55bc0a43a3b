"""Cost per quadrature point of the FE² micro work from 10² to 10⁴ points, and the state memory.

Run (serially, or under mpirun to split the points over the ranks)::

    docker/env python3 bench/qp_scaling.py [--sizes 100 1000 10000] [--budget 120]
    docker/env mpirun -n 2 python3 bench/qp_scaling.py

A static fe2.core.dispatch.Dispatcher on MPI.COMM_WORLD with the demo's micro model (periodic square
cell meshes/rve_square.geo with h = 0.12, about 300 dofs; J2 matrix E = 70e3, ν = 0.33,
σ_y = 150, H = 2e3; elastic fibre E = 400e3, ν = 0.2; as problems/mechanics/plate_hole_fe2.toml)
solves N random plastic macro strains from the virgin state (N split evenly over the ranks). It
prints
the wall time of the call and the rank-seconds per point (wall × ranks / N): flat in N means the
dispatcher adds nothing that grows with the number of points. A size whose predicted time (from
the previous size) exceeds ``--budget`` seconds is not run but extrapolated, and marked so.

Then, for RVEs of about 300, 1000 and 3000 dofs, the per-point state size (fluctuation plus the
history of every micro quadrature point) and the memory of the committed and trial states of
10⁵ macro points against the machine's memory; and the time of ``balance_plan`` (run by every
rank on the allgathered costs when balancing) for 10⁴ to 10⁶ points.

Last, what the macro side of one Newton iteration costs at the same numbers of quadrature
points (``--macro-sizes``): a P1 plane-strain problem on a unit square with one quadrature point
per triangle, as the demo (about one dof per point), clamped on one side, with a constant
tangent. Timed on MPI.COMM_WORLD (max over ranks): the Jacobian assembly, MUMPS LU as in
fe2.core.solvers (first factorization with the analysis, then the numeric refactorization every
later Newton iteration does, and one solve), and CG with GAMG (rigid-body near-nullspace, relative
tolerance 1e-8) as the iterative alternative (set-up and solve).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fe2.core.dispatch import Dispatcher, balance_plan
from fe2.io.mesh import load_mesh
from fe2.io.meshing import MeshOptions, mesh_files
from fe2.laws.pointwise import Elastic, J2Plasticity
from fe2.physics.mechanics import Mechanics
from fe2.rve.nonlinear import NonlinearRVE

ROOT = Path(__file__).resolve().parents[1]
GEO = ROOT / "meshes" / "rve_square.geo"
MESHES = ROOT / "build" / "bench" / "meshes"
LAWS = {"matrix": J2Plasticity(70e3, 0.33, yield_stress=150.0, hardening=2e3),
        "inclusion": Elastic(400e3, 0.2)}  # problems/mechanics/plate_hole_fe2.toml
DEMO_H = 0.12  # RVE mesh size of the demo (cell units)
GIB = 2**30


def rve(h: float) -> NonlinearRVE:
    """The demo RVE meshed with size ``h`` (meshed on rank 0, cached), on MPI.COMM_SELF."""
    comm = MPI.COMM_WORLD
    out = MESHES / f"rve_square_h{h:.4f}"
    report = None
    if comm.rank == 0:
        report = mesh_files([GEO], out, MeshOptions(parameters=(("h", h),)))[0]
    report = comm.bcast(report, root=0)
    if not report.ok:
        sys.exit(report.error)
    return NonlinearRVE(load_mesh(report.output, MPI.COMM_SELF), LAWS, rtol=1e-10)


def plastic_strains(n: int, rng: np.random.Generator) -> np.ndarray:
    """n Mandel strains [e11, e22, √2 e12]: a random deviatoric direction of amplitude 3e-3 to
    6e-3 (1.5 to 3 times the matrix's uniaxial yield strain) plus a small volumetric part."""
    angle = rng.uniform(0.0, 2 * np.pi, n)
    amplitude = rng.uniform(3e-3, 6e-3, n)
    volumetric = rng.uniform(-1e-3, 1e-3, n)
    return np.column_stack([volumetric + amplitude * np.cos(angle),
                            volumetric - amplitude * np.cos(angle),
                            np.sqrt(2) * amplitude * np.sin(angle)])


def timed_call(dispatcher: Dispatcher, n_global: int, seed: int) -> dict[str, float]:
    """One evaluate of n_global virgin points split over the ranks; wall time (max over
    ranks) and global micro iterations."""
    comm, model = dispatcher.comm, dispatcher.model
    n = n_global // comm.size + (comm.rank < n_global % comm.size)
    strains = plastic_strains(n, np.random.default_rng([seed, comm.rank]))
    states = np.tile(model.initial_state(), (n, 1))
    comm.barrier()
    start = time.perf_counter()
    result = dispatcher.evaluate(strains, states)
    wall = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    if not result.ok:
        sys.exit(result.message)
    return {"points": n_global, "wall_s": wall,
            "rank_s_per_point": wall * comm.size / n_global,
            "micro_iterations_per_point":
                comm.allreduce(result.stats.micro_iterations) / n_global}


def plan_time(n_points: int, ranks: int, repeats: int = 3) -> float:
    """Seconds (best of ``repeats``) of one balance_plan over n_points lognormal costs on
    ``ranks`` ranks, rank 0's costs scaled by ``ranks``: it holds half the total cost and gives
    most of its points to the others."""
    rng = np.random.default_rng(0)
    costs = np.array_split(rng.lognormal(0.0, 1.0, n_points), ranks)
    costs[0] = costs[0] * ranks
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        balance_plan(costs)
        best = min(best, time.perf_counter() - start)
    return best


def macro_solve(n_qp: int, comm: MPI.Comm) -> dict[str, float]:
    """Seconds of the macro linear algebra of one Newton iteration with about n_qp points."""
    import ufl
    from dolfinx import fem
    from dolfinx import mesh as dmesh
    from dolfinx.fem.petsc import assemble_matrix, assemble_vector, create_matrix
    from petsc4py import PETSc

    n = max(1, round(np.sqrt(n_qp / 2)))
    domain = dmesh.create_unit_square(comm, n, n)
    V = fem.functionspace(domain, ("Lagrange", 1, (2,)))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    lam, mu = 57.7e3, 38.5e3  # a homogenized-like isotropic tangent [MPa]
    C = fem.Constant(domain, np.array([[lam + 2 * mu, lam, 0], [lam, lam + 2 * mu, 0],
                                       [0, 0, 2 * mu]]))

    def strain(w):
        e = ufl.sym(ufl.grad(w))
        return ufl.as_vector([e[0, 0], e[1, 1], np.sqrt(2) * e[0, 1]])

    dx = ufl.dx(metadata={"quadrature_degree": 1})
    a = fem.form(ufl.dot(ufl.dot(C, strain(u)), strain(v)) * dx)
    L = fem.form(ufl.dot(fem.Constant(domain, np.array([0.0, -1.0])), v) * dx)
    facets = dmesh.locate_entities_boundary(domain, 1, lambda x: np.isclose(x[0], 0.0))
    bc = fem.dirichletbc(np.zeros(2), fem.locate_dofs_topological(V, 1, facets), V)
    A = create_matrix(a)
    b = assemble_vector(L)
    fem.petsc.apply_lifting(b, [a], [[bc]])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    fem.petsc.set_bc(b, [bc])
    x = b.duplicate()
    times = {"dofs": V.dofmap.index_map.size_global * 2,
             "points": comm.allreduce(domain.topology.index_map(2).size_local)}

    def clock(key, action):
        comm.barrier()
        start = time.perf_counter()
        action()
        times[key] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def assemble():
        A.zeroEntries()
        assemble_matrix(A, a, bcs=[bc])
        A.assemble()

    clock("assembly", assemble)
    options = PETSc.Options()
    lu = PETSc.KSP().create(comm)
    lu.setOptionsPrefix("qp_macro_lu_")
    options["qp_macro_lu_ksp_type"] = "preonly"
    options["qp_macro_lu_pc_type"] = "lu"
    options["qp_macro_lu_pc_factor_mat_solver_type"] = "mumps"
    lu.setFromOptions()
    lu.setOperators(A)
    clock("lu_first", lambda: lu.getPC().setUp())
    assemble()  # the next Newton iteration: same pattern, new values
    clock("lu_refactor", lambda: lu.getPC().setUp())
    clock("lu_solve", lambda: lu.solve(b, x))
    reference = x.copy()

    cg = PETSc.KSP().create(comm)
    cg.setOptionsPrefix("qp_macro_cg_")
    options["qp_macro_cg_ksp_type"] = "cg"
    options["qp_macro_cg_ksp_rtol"] = 1e-8
    options["qp_macro_cg_pc_type"] = "gamg"
    cg.setFromOptions()
    A.setNearNullSpace(Mechanics().near_nullspace(V))  # as fe2.core.problem's iterative solver
    cg.setOperators(A)
    x.set(0.0)
    clock("cg_setup", lambda: cg.getPC().setUp())
    clock("cg_solve", lambda: cg.solve(b, x))
    times["cg_iterations"] = cg.getIterationNumber()
    x.axpy(-1.0, reference)
    times["cg_error"] = x.norm() / reference.norm()
    for obj in (lu, cg, A, b, x, reference):
        obj.destroy()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--budget", type=float, default=120.0,
                        help="run a size only if its predicted time is below this [s]")
    parser.add_argument("--macro-sizes", type=int, nargs="*", default=[10**4, 10**5, 10**6],
                        help="numbers of macro quadrature points for the macro solve timings")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "qp_scaling.json")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    root = comm.rank == 0
    model = rve(DEMO_H)
    dispatcher = Dispatcher(comm, model)
    timed_call(dispatcher, 2 * comm.size, seed=0)  # warm-up (first factorizations, caches)
    if root:
        print(f"RVE: {model.ndofs} dofs, {model.n_points} micro points, state "
              f"{8 * model.state_size} bytes; {comm.size} rank(s); random plastic strains "
              "from the virgin state")
        print(f"{'points':>8}{'wall s':>10}{'rank-ms/point':>15}{'micro its/point':>17}")
    rows, per_point = [], None
    for n_global in args.sizes:
        predicted = None if per_point is None else per_point * n_global / comm.size
        if predicted is not None and predicted > args.budget:
            row = {"points": n_global, "wall_s": predicted, "rank_s_per_point": per_point,
                   "micro_iterations_per_point": float("nan"), "extrapolated": True}
        else:
            row = {**timed_call(dispatcher, n_global, seed=n_global), "extrapolated": False}
            per_point = row["rank_s_per_point"]
        rows.append(row)
        if root:
            print(f"{n_global:>8d}{row['wall_s']:>10.2f}{1e3 * row['rank_s_per_point']:>15.2f}"
                  f"{row['micro_iterations_per_point']:>17.2f}"
                  + ("   extrapolated (over the budget), not run" if row["extrapolated"]
                     else ""), flush=True)
    model.destroy()

    memory = []
    for target in (300, 1000, 3000):
        h = round(DEMO_H * np.sqrt(model.ndofs / target), 4)
        other = rve(h)
        if abs(other.ndofs - target) > 0.1 * target:  # one correction: dofs ~ 1/h² roughly
            h = round(h * np.sqrt(other.ndofs / target), 4)
            other.destroy()
            other = rve(h)
        state = 8 * other.state_size
        memory.append({"h": h, "dofs": other.ndofs, "micro_points": other.n_points,
                       "state_bytes": state, "states_1e5_GiB": 2 * state * 1e5 / GIB})
        other.destroy()
    plans = [] if not root else [{"points": n, "ranks": r, "seconds": plan_time(n, r)}
                                 for n in (10**4, 10**5, 10**6) for r in (64, 1024)]
    macro = [macro_solve(n, comm) for n in args.macro_sizes]
    if root:
        total = next(int(line.split()[1]) for line in Path("/proc/meminfo").open()
                     if line.startswith("MemTotal")) * 1024 / GIB
        print(f"\nper-point state and the committed + trial states of 10⁵ points "
              f"(this machine: {total:.1f} GiB; the brief's reference: 24 GiB)")
        print(f"{'dofs':>7}{'micro pts':>11}{'state kB':>10}{'10⁵ pts GiB':>13}{'of 24 GiB':>11}")
        for m in memory:
            print(f"{m['dofs']:>7d}{m['micro_points']:>11d}{m['state_bytes'] / 1e3:>10.1f}"
                  f"{m['states_1e5_GiB']:>13.2f}{m['states_1e5_GiB'] / 24:>11.1%}")
        print("\nbalance_plan (every rank, every balanced call):")
        for p in plans:
            print(f"  {p['points']:>8d} points on {p['ranks']:>5d} ranks: "
                  f"{1e3 * p['seconds']:8.1f} ms")
        print(f"\nmacro linear algebra of one Newton iteration (P1 plane strain, {comm.size} "
              "rank(s), seconds, max over ranks):")
        print(f"{'points':>9}{'dofs':>9}{'assembly':>10}{'LU first':>10}{'LU refact':>10}"
              f"{'LU solve':>10}{'CG setup':>10}{'CG solve':>10}{'CG its':>8}")
        for m in macro:
            print(f"{m['points']:>9d}{m['dofs']:>9d}{m['assembly']:>10.3f}{m['lu_first']:>10.3f}"
                  f"{m['lu_refactor']:>10.3f}{m['lu_solve']:>10.3f}{m['cg_setup']:>10.3f}"
                  f"{m['cg_solve']:>10.3f}{m['cg_iterations']:>8d}")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"ranks": comm.size, "rows": rows, "memory": memory,
                                         "balance_plan": plans, "macro": macro}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
