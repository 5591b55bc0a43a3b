"""FE² against direct numerical simulation (DNS) of a fibre composite specimen.

Run (serially or under mpirun; about 30 s for the defaults, and n = 16 adds about one minute
per loading: its DNS has 1.04 M dofs)::

    docker/env python3 bench/fe2_vs_dns.py [--n 2 4 8 16] [--h 0.05] [--loading clamped]
                                           [--macro-cells 64] [--grading 0.6]

The specimen [0,1]² is made of n×n square cells of side 1/n, each a matrix with a central
circular fibre (meshes/dns_fibre_grid.geo; the cell is meshes/rve_square.geo scaled by 1/n).
Plane strain, linear elastic: matrix E = 1e3, ν = 0.3; fibre E = 1e4, ν = 0.2. Loadings
(right edge pulled by ux = 0.01, the others as named):

- ``clamped``: left u = 0, right uy = 0 (clamped grips); top, bottom free. The grips restrain
  the Poisson contraction: the macro strain is not uniform, singular at the four corners.
- ``sliding``: left ux = 0, bottom uy = 0; top free. The cell is mirror symmetric, so every
  cell line is a symmetry plane of the periodic solution: the only boundary layer is the one
  at the free top edge, and the macro strain is uniform.

Solutions:

- DNS: P2 elasticity on the fully meshed specimen (macro communicator, MUMPS LU).
- FE²: LinearRVE (periodic, P2, COMM_SELF) → HomogenizedModel → Problem (P2, one load
  step) on a macro mesh that is the same for every n: squares of two triangles graded towards
  every edge, where the clamped-free corners are singular.

Both reactions are the x-force on the right edge by virtual work (a probe Function equal to 1
in x on the right-edge dofs). Their relative difference is the scale-separation error: the
boundary layers at the grips and free edges are one cell wide, so it is O(1/n) (plus O(1/n²)).
The functions here are the one implementation; tests/test_fe2_dns.py imports them.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fe2.laws.materials import IsotropicElastic

__all__ = ["LOADINGS", "MATERIALS", "Solution", "dns", "fe2", "macro_mesh", "mesh_specimens"]

ROOT = Path(__file__).resolve().parents[1]
DNS_GEO = ROOT / "meshes" / "dns_fibre_grid.geo"
RVE_GEO = ROOT / "meshes" / "rve_square.geo"
MATERIALS = {"matrix": IsotropicElastic(1e3, 0.3).matrix("plane_strain"),
             "inclusion": IsotropicElastic(1e4, 0.2).matrix("plane_strain")}
PULL = 0.01  # ux on the right edge (specimen length 1)
# loading -> (side, component, value) of the Dirichlet conditions
LOADINGS = {
    "clamped": (("left", 0, 0.0), ("left", 1, 0.0), ("right", 0, PULL), ("right", 1, 0.0)),
    "sliding": (("left", 0, 0.0), ("bottom", 1, 0.0), ("right", 0, PULL)),
}
SIDES = {"left": (0, 0.0), "right": (0, 1.0), "bottom": (1, 0.0), "top": (1, 1.0)}
MACRO_CELLS = 64  # macro mesh: MACRO_CELLS² squares of two triangles
MACRO_GRADING = 0.6  # 0: uniform; towards 1: ever smaller edge cells (see macro_mesh)
MUMPS = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}


@dataclass(frozen=True)
class Solution:
    """Right-edge x-reaction [force per unit thickness], global dofs, wall-clock seconds."""

    reaction: float
    dofs: int
    seconds: float


def dns(path: Path, comm: MPI.Comm, loading: str = "clamped") -> Solution:
    """Linear elasticity on the fully meshed specimen ``path`` (P2, MUMPS)."""
    import ufl
    from dolfinx import fem
    from dolfinx.fem.petsc import LinearProblem

    from fe2.io.mesh import load_mesh
    from fe2.laws.mandel import ufl_mandel

    start = time.perf_counter()
    data = load_mesh(path, comm)
    mesh = data.mesh
    V = fem.functionspace(mesh, ("Lagrange", 2, (2,)))
    fdim = mesh.topology.dim - 1
    bcs = []
    for side, component, value in LOADINGS[loading]:
        dofs = fem.locate_dofs_topological(V.sub(component), fdim, data.facets(side))
        bcs.append(fem.dirichletbc(value, dofs, V.sub(component)))
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=data.cell_tags)

    def strain(w):
        return ufl_mandel(ufl.sym(ufl.grad(w)))

    def work(w, z):  # ∫ σ(w) : ε(z) over all phases
        return sum(ufl.dot(ufl.dot(fem.Constant(mesh, C), strain(w)), strain(z))
                   * dx(data.group(name, mesh.topology.dim).tag)
                   for name, C in MATERIALS.items())

    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    no_load = ufl.dot(fem.Constant(mesh, np.zeros(2)), v) * dx
    uh = LinearProblem(work(u, v), no_load, bcs=bcs, petsc_options=MUMPS).solve()
    probe = fem.Function(V)  # 1 in x on the right-edge dofs: its virtual work is the reaction
    right = fem.locate_dofs_topological(V.sub(0), fdim, data.facets("right"))
    fem.dirichletbc(1.0, right, V.sub(0)).set(probe.x.array)
    reaction = comm.allreduce(fem.assemble_scalar(fem.form(work(uh, probe))), op=MPI.SUM)
    dofs = V.dofmap.index_map.size_global * V.dofmap.index_map_bs
    return Solution(reaction, dofs, time.perf_counter() - start)


def macro_mesh(comm: MPI.Comm, cells: int = MACRO_CELLS, grading: float = MACRO_GRADING):
    """The unit square: cells² squares of two triangles, graded towards every edge.

    Each coordinate s ∈ [0, 1] maps to (1 − g)·s + g·(1 − cos πs)/2, so the edge cells are
    about (1 − g) times the uniform size (g = ``grading``), the smallest at the corners.
    """
    from dolfinx import mesh as dmesh

    square = dmesh.create_rectangle(comm, [np.zeros(2), np.ones(2)], [cells, cells],
                                    dmesh.CellType.triangle)
    x = square.geometry.x[:, :2]
    x[:] = (1 - grading) * x + grading * (1 - np.cos(np.pi * x)) / 2
    return square


def fe2(rve_path: Path, comm: MPI.Comm, loading: str = "clamped", cells: int = MACRO_CELLS,
        grading: float = MACRO_GRADING) -> Solution:
    """FE² with the periodic P2 RVE ``rve_path`` (COMM_SELF) on the macro mesh (``comm``)."""
    from types import SimpleNamespace

    from dolfinx import mesh as dmesh

    from fe2.core.definition import MicroCoupling, StepContext
    from fe2.core.micro import HomogenizedModel
    from fe2.core.problem import Dirichlet, Problem, Reaction
    from fe2.core.solvers import SolverSettings, make_solver
    from fe2.io.mesh import load_mesh
    from fe2.physics.mechanics import Mechanics, strain
    from fe2.rve.linear import LinearRVE

    start = time.perf_counter()
    rve = LinearRVE(load_mesh(rve_path, MPI.COMM_SELF), MATERIALS, "vector", 2, "periodic")
    mesh = macro_mesh(comm, cells, grading)
    fdim = mesh.topology.dim - 1

    def side(name: str):
        axis, position = SIDES[name]
        return dmesh.locate_entities_boundary(mesh, fdim,
                                              lambda x: np.isclose(x[axis], position))

    dirichlet = [Dirichlet("u", c, side(name), value) for name, c, value in LOADINGS[loading]]
    definition = Mechanics(SimpleNamespace(degree=2), "plane_strain", [], None)
    coupling = MicroCoupling("rve", lambda fields: {"strain": strain(fields["u"])},
                             {"stress": (3,)}, {None: HomogenizedModel(rve.tangent)})
    problem = Problem(SimpleNamespace(mesh=mesh, cells=None), definition, [coupling],
                      quadrature_degree=2, dirichlet=dirichlet,
                      reaction=Reaction("u", 0, side("right")))
    solver = make_solver(problem, SolverSettings())
    result = solver.solve_step(StepContext(1.0, 1.0, 1.0))
    solver.destroy()
    if not result.converged:
        raise RuntimeError(f"FE² step did not converge: {result.message}")
    problem.commit()
    reaction, _ = problem.reaction()
    dofs = problem.V.dofmap.index_map.size_global * problem.V.dofmap.index_map_bs
    return Solution(reaction, dofs, time.perf_counter() - start)


def mesh_specimens(ns, h: float, out: Path, comm: MPI.Comm) -> tuple[Path, dict[int, Path]]:
    """Mesh the RVE and the n×n specimens (mesh size ``h`` in cell units) on rank 0.

    Returns the RVE .msh and n → specimen .msh; meshes already up to date are reused.
    """
    from fe2.io.meshing import MeshOptions, mesh_files

    jobs = [(RVE_GEO, out / f"rve_h{h:g}", (("h", h),))]
    jobs += [(DNS_GEO, out / f"n{n}_h{h:g}", (("n", float(n)), ("h", h))) for n in ns]
    reports = None
    if comm.rank == 0:
        reports = [mesh_files([geo], folder, MeshOptions(parameters=parameters))[0]
                   for geo, folder, parameters in jobs]
    reports = comm.bcast(reports, root=0)
    failed = [r.line() for r in reports if not r.ok]
    if failed:
        raise RuntimeError("\n".join(failed))
    paths = [Path(r.output) for r in reports]
    return paths[0], dict(zip(ns, paths[1:], strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4, 8],
                        help="cells per side of the specimens")
    parser.add_argument("--h", type=float, default=0.05, help="mesh size (cell units)")
    parser.add_argument("--loading", choices=sorted(LOADINGS), nargs="+",
                        default=["clamped", "sliding"])
    parser.add_argument("--macro-cells", type=int, default=MACRO_CELLS)
    parser.add_argument("--grading", type=float, default=MACRO_GRADING)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "fe2_vs_dns",
                        help="folder of the meshes")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD

    def say(text: str) -> None:
        if comm.rank == 0:
            print(text, flush=True)

    start = time.perf_counter()
    rve_path, specimens = mesh_specimens(args.n, args.h, args.out, comm)
    say(f"meshes ready in {time.perf_counter() - start:.1f} s (h = {args.h:g} cell units, "
        f"{comm.size} rank(s)); difference = (R_FE2 − R_DNS) / R_DNS")
    for loading in args.loading:
        macro = fe2(rve_path, comm, loading, args.macro_cells, args.grading)
        say(f"\n{loading}: FE² macro mesh {args.macro_cells}² squares (grading "
            f"{args.grading:g}), {macro.dofs} dofs, R_FE2 = {macro.reaction:.6f}, "
            f"{macro.seconds:.2f} s (RVE + macro)")
        say(f"{'n':>3} {'DNS dofs':>10} {'R_DNS':>11} {'R_FE2':>11} {'difference':>11} "
            f"{'n·diff.':>9} {'t_DNS [s]':>9} {'t_FE2 [s]':>9}")
        for n, path in specimens.items():
            ref = dns(path, comm, loading)
            difference = (macro.reaction - ref.reaction) / ref.reaction
            say(f"{n:>3} {ref.dofs:>10} {ref.reaction:>11.6f} {macro.reaction:>11.6f} "
                f"{difference:>11.3e} {n * difference:>9.2e} {ref.seconds:>9.2f} "
                f"{macro.seconds:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
