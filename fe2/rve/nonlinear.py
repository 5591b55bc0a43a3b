"""Nonlinear, history-dependent RVE: pointwise laws at the micro quadrature points.

The micro strain is the macro strain ``E`` plus the strain of a fluctuation ``w``; every phase
has a pointwise law (fe2.laws.pointwise.PointLaw) that maps the strain at each quadrature
point and the committed history to stress, consistent tangent and new history. Newton solves::

    r(w) = ∫ σ(E + s(w)) · s(v) dx = 0   for all admissible v,   s(u) = Mandel(sym ∇u)

and the homogenized stress and consistent tangent follow by volume averaging and static
condensation with the factorization of the converged Jacobian::

    Σ = ⟨σ⟩,   C_hom = (∫ C dx + Hᵀ P X) / |Y|,   X = -K⁻¹ Pᵀ F,   F = G(C e_k), H = G(Cᵀ e_k)

One quadrature rule (degree ``max(2(p - 1), 1)`` for Lagrange degree p) serves everything. The
operator ``G`` of ∫ τ · s(v) dx (τ a vector of n_strain values per point) and the quadrature
weights are assembled once, so the strain at all points is ``E + Gᵀw / w_q``, the internal force
is ``G σ`` and the averages are weighted sums: no form is rebuilt or re-assembled for them. The
admissible fluctuations are those of fe2.rve.linear (``bc``): "periodic" (dolfinx_mpc, one
interior dof pinned: applied to vectors by an explicit sparse matrix ``P``, constrained dofs →
all dofs; the Jacobian assembled by dolfinx_mpc), "affine" (w = 0 on the cell boundary: ``P``
is the identity and the boundary dofs are pinned) or "minimal" (∫_∂Y w ⊗ n = 0 and ∫_Y w = 0
by Lagrange multipliers: the Newton residual is r with the constraint reactions removed, the
orthogonal projection of r onto the complement of the constraint columns B; the Jacobian is
[[K, B], [Bᵀ, 0]]). The Jacobian is assembled from one compiled form into a preallocated matrix
and refactorized numerically by MUMPS (the symbolic analysis is reused).

The mesh may be distributed over a group of ranks (a large RVE solved collectively): each rank
evaluates the laws at the points of its owned cells, ``G`` holds its cells' contributions to its
local (owned and ghost) dofs, and ghost contributions are summed by the dof index map; ``P`` is a
distributed PETSc matrix and MUMPS factorizes in parallel. Averages are local sums reduced over
the group, so every rank of the group returns the same stress and tangent. ``solve`` is then
collective over the group; each rank's state holds its owned dofs of ``w`` and the histories of
its points.

On one rank, ``solve_batch`` solves many points together with the same operators
(fe2.rve.batch: no per-point dolfinx call, PETSc's own sparse factorization with the symbolic
analysis reused), for periodic and affine cells (a minimal cell's saddle-point Jacobian needs
MUMPS' pivoting: solved per point). Minimal cells are solved on one rank. ``solver`` chooses
between the batch and one ``solve`` per point factorized by MUMPS or PETSc (SOLVERS); "auto"
takes the batch up to the measured crossover size AUTO_BATCHED_DOFS and MUMPS above it, or
where the batch cannot run.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.micro import MicroSolveError, check_finite
from fe2.core.quadrature import QuadratureRule
from fe2.io.mesh import MeshData
from fe2.laws.mandel import mandel_strain, n_mandel
from fe2.laws.pointwise import PointLaw
from fe2.rve.batch import BOUNDARY_CONDITIONS as BATCHED_CONDITIONS
from fe2.rve.linear import (
    BOUNDARY_CONDITIONS,
    _active_part,
    _AffineSolver,
    _MinimalSolver,
    _PeriodicSolver,
    _phase_volumes,
    lattice_of,
    periodic_expansion,
)

__all__ = ["AUTO_BATCHED_DOFS", "MODELS", "SOLVERS", "NonlinearRVE"]

MODELS = ("plane_strain", "3d")
SOLVERS = ("auto", "batched", "mumps", "petsc")
# Largest cell (dofs, by mesh dimension) that "auto" solves batched: above it one MUMPS
# factorization of a cell matrix is cheaper than PETSc's (bench/micro_batch.py --crossover,
# docs/performance.md §7: in 2D PETSc / MUMPS is 0.78 at 27k dofs, no crossover measured; in
# 3D 0.88 at 2.9k and 2.4 at 6.9k dofs, crossover about 3.2k).
AUTO_BATCHED_DOFS = {2: 30_000, 3: 3_000}
PLANE_STRAIN_COMPONENTS = np.array([0, 1, 5])  # [e11, e22, √2e12] inside the 3D Mandel vector


@dataclass
class _LawPoints:
    """The quadrature points (rows) one law object evaluates and each phase's part of them."""

    law: PointLaw
    rows: NDArray
    phases: dict[str, slice]


class NonlinearRVE:
    """An RVE with pointwise (possibly inelastic) laws; a fe2.core.micro.MicroModel.

    Args:
        data: the RVE mesh, on ``MPI.COMM_SELF`` or distributed over a group of ranks.
        laws: phase name → pointwise law (3D Mandel). Phases left out are voids: they are not
            part of the problem but count in |Y| and ``volume_fractions``.
        model: "plane_strain" (2D mesh; the laws see ε33 = ε13 = ε23 = 0) or "3d".
        degree: Lagrange degree of the fluctuation.
        rtol: Newton stops when ‖Pᵀr‖ ≤ rtol · ‖r‖, with r = G σ the unconstrained internal
            force at the same iterate: at equilibrium r holds only the boundary tractions of the
            stress field (O(|σ| h^(d-1)) per node), which cancel in the periodic reduction Pᵀr.
        max_iterations: Newton updates allowed per solve before MicroSolveError.
        solver: one of SOLVERS. "batched": the dispatcher solves many points at once with
            ``solve_batch`` (fe2.rve.batch; one rank, periodic or affine); "mumps" or
            "petsc": one ``solve`` per point, the Jacobian factorized by MUMPS or by PETSc's
            own LU (one rank; not "minimal"); "auto": "batched" where it runs and the cell
            has at most AUTO_BATCHED_DOFS dofs, else "mumps". ``solver_choice`` holds the
            choice and its reason.
        bc: the admissible fluctuations, one of fe2.rve.linear.BOUNDARY_CONDITIONS
            ("minimal": on one rank only).

    The state is ``[w (ndofs) | one history block per law object | E (n_strain)]``: the blocks
    follow the first appearance of each law in ``laws``, and a law object given to several
    phases is bound and evaluated once for all their points (phase after phase, cells in
    order); E is the macro strain of the last converged solve (on the group's first rank
    only). A point solved again at its committed macro strain (the first macro iteration of a
    step: the same fields, bit for bit) starts from, and returns the homogenization of, the
    last converged tangent: laws with ``committed_tangent`` (J2) rebuild it from their history,
    so a point on its yield surface does not take the elastic or plastic branch by round-off.
    A solve at any other strain starts from the laws' tangents at the trial strain (starting
    it from the committed tangent too made degree-2 cells loaded from the virgin state
    diverge). After
    ``solve``, ``iterations`` is the number of Newton updates and ``residuals`` the norms ‖Pᵀr‖
    of every iterate. ``timings`` [s] (laws, residual, assembly, factorization, linear_solves,
    averaging) and ``counts`` (factorizations, solves) accumulate over all solves; the Jacobian
    is reassembled and refactorized only when the tangent at the points has changed since the
    last factorization (an elastic point after an elastic point reuses it).
    """

    def __init__(self, data: MeshData, laws: dict[str, PointLaw], model: str = "plane_strain",
                 degree: int = 1, rtol: float = 1e-10, max_iterations: int = 25,
                 solver: str = "auto", bc: str = "periodic"):
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; use one of {MODELS}")
        if bc not in BOUNDARY_CONDITIONS:
            raise ValueError(f"unknown boundary condition {bc!r}; use one of "
                             f"{BOUNDARY_CONDITIONS}")
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; use one of {SOLVERS}")
        if bc == "minimal" and data.mesh.comm.size > 1:
            raise ValueError("a nonlinear RVE with the minimal boundary condition is solved on "
                             "one rank (use rve_ranks = 1)")
        gdim = data.mesh.geometry.dim
        if (gdim == 2) != (model == "plane_strain"):
            raise ValueError(f"model {model!r} does not fit a mesh of dimension {gdim}")
        start = time.perf_counter()
        self.model, self.degree, self.bc = model, degree, bc
        self.rtol, self.max_iterations = rtol, max_iterations
        self.laws = dict(laws)
        self.lattice = lattice_of(data, periodic=bc == "periodic")
        self.volume = self.lattice.volume
        self.volume_fractions = {name: volume / self.volume
                                 for name, volume in _phase_volumes(data).items()}
        self.n_strain = n_mandel(gdim)
        self.is_linear = all(law.is_linear for law in self.laws.values())
        self.strain_size = self.n_strain if data.mesh.comm.rank == 0 else 0  # E in the state
        self.iterations = 0
        self.residuals: list[float] = []
        self.timings: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self._build(data)
        self.solver_choice = self._choose_solver(solver)
        self.batched = self.solver_choice[0] == "batched"
        if self.solver_choice[0] == "petsc":
            self._use_petsc_lu()
        self.batch_iterations = np.zeros(0, dtype=int)
        self._batch = None  # fe2.rve.batch.BatchNewton, built at the first solve_batch
        self.setup_time = time.perf_counter() - start

    # ------------------------------------------------------------------ setup
    def _build(self, data: MeshData) -> None:
        import ufl
        from dolfinx import fem, la

        mesh, cell_tags = _active_part(data, list(self.laws))
        self.mesh, self.cell_tags, self.comm = mesh, cell_tags, mesh.comm
        self.field = "vector"  # for the constraint helpers of fe2.rve.linear
        n, gdim = self.n_strain, mesh.geometry.dim
        self.V = fem.functionspace(mesh, ("Lagrange", self.degree, (gdim,)))
        self.rule = QuadratureRule(mesh, max(2 * (self.degree - 1), 1))
        self.quadrature_degree, self.dx = self.rule.degree, self.rule.dx
        self.Q, Qv, Qt = self.rule.space(()), self.rule.space((n,)), self.rule.space((n, n))
        n_cells = self.rule.n_cells
        self.points_per_cell, self.n_points = self.rule.n_points, self.rule.n_owned_points

        # The points of each law (a law shared by phases is bound and evaluated once): rows of
        # PointLaw.update are the points of its cells in order, phase after phase.
        by_law: dict[int, tuple[PointLaw, list[str]]] = {}
        for name, law in self.laws.items():
            by_law.setdefault(id(law), (law, []))[1].append(name)
        self.groups: list[_LawPoints] = []
        covered = np.zeros(self.n_points, dtype=int)
        for law, names in by_law.values():
            cells = [cell_tags.find(data.group(name, data.tdim).tag) for name in names]
            cells = [c[c < n_cells] for c in cells]  # owned cells only
            bounds = np.cumsum([0] + [len(c) * self.points_per_cell for c in cells])
            cells = np.concatenate(cells).astype(np.int32)
            law.bind(self.Q, cells)
            rows = (cells[:, None] * self.points_per_cell
                    + np.arange(self.points_per_cell)).ravel()
            covered[rows] += 1
            self.groups.append(_LawPoints(law, rows, {
                name: slice(start, stop)
                for name, start, stop in zip(names, bounds[:-1], bounds[1:], strict=True)}))
        if not np.all(covered == 1):
            raise RuntimeError("the phases do not partition the cells of the RVE")

        strain = self.strain = mandel_strain
        v, dw = ufl.TestFunction(self.V), ufl.TrialFunction(self.V)
        weights = fem.assemble_vector(fem.form(ufl.TestFunction(self.Q) * self.dx))
        self.weights = weights.array[: self.n_points].copy()
        index_map, bs = self.V.dofmap.index_map, self.V.dofmap.index_map_bs
        self.ndofs = index_map.size_local * bs  # owned dofs (all dofs on one rank)
        self._ghosted = la.vector(index_map, bs)
        self.G = self._local_operator(
            fem.form(ufl.inner(ufl.TrialFunction(Qv), strain(v)) * self.dx))

        # The Jacobian form; its tangent coefficient starts at the virgin tangent at zero strain
        # (the solver factorizes it once, so an elastic first solve reuses it).
        self.C_function = fem.Function(Qt)
        zero_strain = np.zeros((self.n_points, n))
        self.C_function.x.array[:] = self._evaluate(zero_strain, self._histories(
            self.initial_state()))[1].ravel()
        self.a = fem.form(ufl.inner(ufl.dot(self.C_function, strain(dw)), strain(v)) * self.dx)
        self.solver = {"periodic": _PeriodicSolver, "affine": _AffineSolver,
                       "minimal": _MinimalSolver}[self.bc](self)
        self._factored = self.C_function.x.array.copy()
        # Owned copies only; the reduced residual is zero there. (dolfinx 0.9 counts a ghost
        # as owned in dof_indices() when the condition was given block indices, so compare.)
        pinned = self.solver.bcs[0].dof_indices()[0] if self.bc != "minimal" else []
        self.pin = np.asarray(pinned, dtype=np.int32)[np.asarray(pinned) < self.ndofs]
        self.expansion = self._expansion()
        self.P = self._constraint_matrix()
        self._x, self._y = self.P.createVecs()
        # Minimal: an orthonormal basis of the constraint columns B, and the matrix K that
        # the Jacobian block of [[K, B], [Bᵀ, 0]] is assembled into.
        self._constraints = (np.linalg.qr(self.solver.constraints.toarray())[0]
                             if self.bc == "minimal" else None)
        self._K = self._stiffness_matrix() if self.bc == "minimal" else None

    def _choose_solver(self, solver: str) -> tuple[str, str]:
        """(solver, reason) for the requested ``solver`` (the same on every rank of the RVE).

        Raises:
            ValueError: "batched" or "petsc" where they cannot run.
        """
        one_rank = self.comm.size == 1
        if solver == "batched" and not (one_rank and self.bc in BATCHED_CONDITIONS):
            raise ValueError(f"solver 'batched' needs an RVE on one rank with bc in "
                             f"{BATCHED_CONDITIONS} (use 'auto' or 'mumps')")
        if solver == "petsc" and not (one_rank and self.bc != "minimal"):
            raise ValueError("solver 'petsc' (PETSc's LU: sequential, no pivoting) needs an "
                             "RVE on one rank and bc 'periodic' or 'affine' (use 'mumps')")
        if solver != "auto":
            return solver, "requested"
        limit = AUTO_BATCHED_DOFS[self.mesh.geometry.dim]
        if not one_rank:
            return "mumps", f"auto: the RVE is shared by {self.comm.size} ranks (parallel LU)"
        if self.bc not in BATCHED_CONDITIONS:
            return "mumps", f"auto: bc '{self.bc}' (a saddle-point Jacobian needs pivoting)"
        if self.ndofs > limit:
            return "mumps", (f"auto: {self.ndofs} dofs > {limit} ({self.mesh.geometry.dim}D "
                             "crossover: MUMPS factorizes faster)")
        return "batched", (f"auto: {self.ndofs} dofs <= {limit} ({self.mesh.geometry.dim}D "
                           "crossover) on one rank")

    def _use_petsc_lu(self) -> None:
        """Factorize the per-point Jacobian by PETSc's own LU (nested dissection) instead of
        MUMPS; the symbolic analysis is reused as before."""
        ksp = self.solver.ksp
        ksp.reset()
        ksp.setOperators(self.solver.A)
        pc = ksp.getPC()
        pc.setType("lu")
        pc.setFactorSolverType("petsc")
        pc.setFactorOrdering("nd")
        ksp.setUp()

    def _local_operator(self, form) -> scipy.sparse.csr_matrix:
        """G (local dofs × n_points·n_strain): the rows of ∫ τ · s(v) dx for this rank's points.

        Each entry comes from the one cell of its point, so the assembled (row-distributed)
        matrix is transposed to get this rank's points as rows, and the columns are mapped from
        global to local (owned or ghost) dofs.
        """
        from dolfinx.fem.petsc import assemble_matrix

        G = assemble_matrix(form)
        G.assemble()
        G.transpose()  # in place
        indptr, columns, values = G.getValuesCSR()
        G.destroy()
        index_map, bs = self.V.dofmap.index_map, self.V.dofmap.index_map_bs
        every = index_map.local_to_global(
            np.arange(index_map.size_local + index_map.num_ghosts, dtype=np.int32))
        order = np.argsort(every)
        blocks = order[np.searchsorted(every, columns // bs, sorter=order)]
        n_local = len(every) * bs
        return scipy.sparse.csr_matrix((values, blocks * bs + columns % bs, indptr),
                                       shape=(len(indptr) - 1, n_local)).T.tocsr()

    def _expansion(self) -> scipy.sparse.csr_matrix:
        """P (scipy, owned dofs × global dofs): w = P x for x on the master dofs (periodic;
        slave entries ignored), the identity for the affine and minimal conditions."""
        if self.bc == "periodic":
            return periodic_expansion(self.solver.mpc, self.V)
        index_map, bs = self.V.dofmap.index_map, self.V.dofmap.index_map_bs
        first = index_map.local_range[0] * bs
        return scipy.sparse.csr_matrix(
            (np.ones(self.ndofs), (np.arange(self.ndofs), first + np.arange(self.ndofs))),
            shape=(self.ndofs, index_map.size_global * bs))

    def _stiffness_matrix(self):
        """A matrix with the pattern of K (minimal: the Jacobian block refilled per update)."""
        from dolfinx.fem.petsc import assemble_matrix

        K = assemble_matrix(self.a)
        K.assemble()
        return K

    def _constraint_matrix(self):
        """P (PETSc, owned rows): w = P x for x on the master dofs (slave entries ignored)."""
        from petsc4py import PETSc

        P = self.expansion
        n, size = P.shape
        matrix = PETSc.Mat().createAIJ(((n, size), (n, size)), comm=self.comm, csr=(
            P.indptr.astype(PETSc.IntType), P.indices.astype(PETSc.IntType), P.data))
        matrix.assemble()
        return matrix

    def reduce(self, owned: NDArray) -> NDArray:
        """Pᵀ r for r on the owned dofs, the pinned dofs zeroed, the minimal constraints'
        reactions removed (collective)."""
        self._y.array[:] = owned
        self.P.multTranspose(self._y, self._x)
        reduced = self._x.array.copy()
        reduced[self.pin] = 0.0
        if self._constraints is not None:
            reduced -= self._constraints @ (self._constraints.T @ reduced)
        return reduced

    def expand(self, x: NDArray) -> NDArray:
        """P x on the owned dofs for x on the owned master dofs (collective)."""
        self._x.array[:] = x
        self.P.mult(self._x, self._y)
        return self._y.array.copy()

    def _forward(self, owned: NDArray) -> NDArray:
        """Owned dof values → local (owned and ghost) values (collective)."""
        self._ghosted.array[: self.ndofs] = owned
        self._ghosted.scatter_forward()
        return self._ghosted.array.copy()

    def _accumulate(self, local: NDArray) -> NDArray:
        """Every rank's local (owned and ghost) contributions summed on the owned dofs."""
        from dolfinx import la

        self._ghosted.array[:] = local
        self._ghosted.scatter_reverse(la.InsertMode.add)
        return self._ghosted.array[: self.ndofs].copy()

    def _sum(self, value):
        """The sum over the group of ranks (the same array on every rank)."""
        if self.comm.size == 1:
            return value
        return self.comm.bcast(self.comm.allreduce(value, op=MPI.SUM), root=0)

    # ------------------------------------------------------------------ state
    @property
    def n_stress(self) -> int:
        return self.n_strain

    @property
    def state_size(self) -> int:
        return (self.ndofs + sum(len(g.rows) * g.law.n_history for g in self.groups)
                + self.strain_size)

    def initial_state(self) -> NDArray:
        """Zero fluctuation, every law's virgin history and zero strain, flat (state_size,)."""
        parts = [np.zeros(self.ndofs)]
        parts += [np.asarray(g.law.initial_history(len(g.rows)), dtype=float).ravel()
                  for g in self.groups]
        return np.concatenate([*parts, np.zeros(self.strain_size)])

    def committed_strains(self, states: NDArray) -> NDArray:
        """The macro strains (m, n_strain) of the last converged solves of states (m,
        state_size), the same on every rank of the group (collective)."""
        strains = states[:, states.shape[1] - self.strain_size:]
        return strains if self.comm.size == 1 else self.comm.bcast(strains, root=0)

    def _histories(self, state: NDArray) -> list[NDArray]:
        """Read-only views (n_points_of_law, n_history) of each law's history in ``state``."""
        views, offset = [], self.ndofs
        for group in self.groups:
            size = len(group.rows) * group.law.n_history
            view = state[offset:offset + size].reshape(len(group.rows), group.law.n_history)
            view.flags.writeable = False
            views.append(view)
            offset += size
        return views

    def histories(self, state: NDArray) -> dict[str, NDArray]:
        """Phase → history (n_points_of_phase, n_history) in ``state`` (read-only views)."""
        views = self._histories(np.asarray(state, dtype=float))
        return {name: view[part] for group, view in zip(self.groups, views, strict=True)
                for name, part in group.phases.items()}

    def average_history(self, state: NDArray, phase: str, column: int,
                        over: str = "cell") -> float:
        """Volume average of history ``column`` of ``phase``'s law.

        ``over="cell"`` divides by |Y| (other phases count as zero; e.g. the mean equivalent
        plastic strain of the cell), ``over="phase"`` by the phase's volume. Collective.
        """
        if over not in ("cell", "phase"):
            raise ValueError(f"over must be 'cell' or 'phase', got {over!r}")
        group = next(g for g in self.groups if phase in g.phases)
        weights = self.weights[group.rows[group.phases[phase]]]
        total, volume = self._sum(np.array([weights @ self.histories(state)[phase][:, column],
                                            weights.sum()]))
        return float(total / (self.volume if over == "cell" else volume))

    def point_outputs(self, states: NDArray) -> dict[str, NDArray]:
        """Per macro point (rows of ``states``): the cell-averaged equivalent plastic strain
        [-] of the phases whose law has one (what the FE² fields show). Collective."""
        plastic = [(group.law, self.weights[group.rows[part]], phase)
                   for group in self.groups for phase, part in group.phases.items()
                   if hasattr(group.law, "equivalent_plastic_strain")]
        if not plastic:
            return {}
        values = [sum(weights @ law.equivalent_plastic_strain(self.histories(state)[phase])
                      for law, weights, phase in plastic) / self.volume for state in states]
        return {"equivalent_plastic_strain": self._sum(np.array(values))}

    # ------------------------------------------------------------------ the micro solve
    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        """Homogenized stress (n_strain,), consistent tangent (n_strain²) and new state.

        Collective over the RVE's communicator; stress and tangent are the same on every rank.

        Raises:
            MicroSolveError: Newton did not converge in ``max_iterations`` updates, the
                linear solve failed, or a result is not finite.
        """
        macro = np.asarray(strain, dtype=float)
        state = np.asarray(state, dtype=float)
        if macro.shape != (self.n_strain,) or state.shape != (self.state_size,):
            raise ValueError(f"expected strain ({self.n_strain},) and state "
                             f"({self.state_size},), got {macro.shape} and {state.shape}")
        histories = self._histories(state)
        w = state[: self.ndofs].copy()
        committed = self.committed_strains(state[None])[0]
        unmoved = np.array_equal(macro, committed)
        self.residuals = []
        for iteration in range(self.max_iterations + 1):
            strains = self._point_strains(macro, w)
            sigma, C, new_histories = self._evaluate(strains, histories)
            if iteration == 0:
                first = C
                if unmoved:  # the committed tangent at the committed strains
                    first = C.copy()
                    self._first_tangents(first[None], strains[None],
                                         [h[None] for h in histories])
            reduced, scale = self._residual(sigma)
            norm = float(np.sqrt(self._sum(reduced @ reduced)))
            self.residuals.append(norm)
            if not np.isfinite(norm):
                raise MicroSolveError("micro Newton residual is not finite")
            if norm <= self.rtol * max(scale, np.finfo(float).tiny):
                break
            if iteration == self.max_iterations:
                raise MicroSolveError(
                    f"micro Newton did not converge in {self.max_iterations} iterations "
                    f"(residual {norm:.3e}, tolerance {self.rtol * scale:.3e})")
            self._factorize(first if iteration == 0 else C)
            w += self._clock("linear_solves", lambda r=reduced: self.expand(self._solve(-r)))
        self.iterations = iteration
        if unmoved:
            C = first
        self._factorize(C)
        stress, tangent = self._clock("averaging", lambda: self._averages(sigma, C, w))
        check_finite(stress, tangent)
        new_state = np.concatenate([w, *(np.ravel(h) for h in new_histories),
                                    macro[: self.strain_size]])
        self.counts["solves"] += 1
        return stress, tangent, new_state

    def solve_batch(self, strains: NDArray, states: NDArray,
                    step=None) -> tuple[NDArray, NDArray, NDArray]:
        """Stress (m, n), tangent (m, n, n) and new states (m, state_size) of m points, solved
        together (fe2.rve.batch); the same numbers as m calls of ``solve``.
        ``batch_iterations`` holds each point's Newton updates.

        Raises:
            fe2.core.micro.BatchSolveError: at the first failing point in order, with the
                message ``solve`` would give.
        """
        from fe2.rve.batch import BatchNewton

        strains = np.asarray(strains, dtype=float)
        states = np.asarray(states, dtype=float)
        if strains.shape[1:] != (self.n_strain,) or states.shape != (len(strains),
                                                                      self.state_size):
            raise ValueError(f"expected strains (m, {self.n_strain}) and states "
                             f"(m, {self.state_size}), got {strains.shape} and {states.shape}")
        if self._batch is None:
            self._batch = BatchNewton(self)
        result = self._batch.solve(strains, states)
        self.batch_iterations = result.iterations
        return result.stress, result.tangent, result.states

    def _clock(self, key: str, action):
        start = time.perf_counter()
        out = action()
        self.timings[key] += time.perf_counter() - start
        return out

    def _point_strains(self, macro: NDArray, w: NDArray) -> NDArray:
        """Strain (n_points, n_strain) at every quadrature point: E + s(w)."""
        start = time.perf_counter()
        strains = (self.G.T @ self._forward(w)).reshape(self.n_points, self.n_strain)
        strains /= self.weights[:, None]
        strains += macro
        self.timings["residual"] += time.perf_counter() - start
        return strains

    def _evaluate(self, strains: NDArray, histories: list[NDArray]):
        """Every law at its points: stress (n_points, n), tangent (n_points, n, n), histories."""
        start = time.perf_counter()
        n = self.n_strain
        sigma, C = np.empty((self.n_points, n)), np.empty((self.n_points, n, n))
        new_histories = []
        plane = self.model == "plane_strain"
        for group, history in zip(self.groups, histories, strict=True):
            rows = group.rows
            local = strains[rows]
            if plane:
                local = np.zeros((len(rows), 6))
                local[:, PLANE_STRAIN_COMPONENTS] = strains[rows]
            s, c, new_history = group.law.update(local, history)
            new_histories.append(new_history)
            if plane:
                s = s[:, PLANE_STRAIN_COMPONENTS]
                c = c[:, PLANE_STRAIN_COMPONENTS][:, :, PLANE_STRAIN_COMPONENTS]
            sigma[rows], C[rows] = s, c
        check_finite(sigma, C, comm=self.comm)  # on every rank of the group
        self.timings["laws"] += time.perf_counter() - start
        return sigma, C, new_histories

    def _evaluate_batch(self, strains: NDArray, histories: list[NDArray]):
        """``_evaluate`` for m points at once: strains (m, n_points, n), histories per law
        (m, n_points_of_law, n_history) → stress, tangent, new histories (same layouts) and
        which points are finite (m,). Laws with ``fixed_rows`` (bound to the cells' points,
        e.g. UFLEnergyLaw) are called point after point, the others once for all points."""
        start = time.perf_counter()
        m, n = len(strains), self.n_strain
        sigma = np.empty((m, self.n_points, n))
        C = np.empty((m, self.n_points, n, n))
        new_histories = []
        plane = self.model == "plane_strain"
        for group, history in zip(self.groups, histories, strict=True):
            rows, nh = group.rows, group.law.n_history
            local = strains[:, rows].reshape(-1, n)
            if plane:
                embedded = np.zeros((len(local), 6))
                embedded[:, PLANE_STRAIN_COMPONENTS] = local
                local = embedded
            flat_history = history.reshape(m * len(rows), nh)
            # Laws with reduced_tangent build only the in-plane rows and columns.
            reduced = plane and getattr(group.law, "reduced_tangent", False)
            if reduced:
                s, c, new = group.law.update(local, flat_history, PLANE_STRAIN_COMPONENTS)
            elif getattr(group.law, "fixed_rows", False):
                parts = [group.law.update(local[k * len(rows):(k + 1) * len(rows)],
                                          flat_history[k * len(rows):(k + 1) * len(rows)])
                         for k in range(m)]
                s, c, new = (np.concatenate(p) for p in zip(*parts, strict=True))
            else:
                s, c, new = group.law.update(local, flat_history)
            new_histories.append(np.asarray(new).reshape(m, len(rows), nh))
            if plane:
                s = s[:, PLANE_STRAIN_COMPONENTS]
            if plane and not reduced:
                c = c[:, PLANE_STRAIN_COMPONENTS[:, None], PLANE_STRAIN_COMPONENTS]
            sigma[:, rows] = s.reshape(m, len(rows), n)
            C[:, rows] = c.reshape(m, len(rows), n, n)
        finite = (np.isfinite(sigma).all(axis=(1, 2)) & np.isfinite(C).all(axis=(1, 2, 3)))
        self.timings["laws"] += time.perf_counter() - start
        return sigma, C, new_histories, finite

    def _first_tangents(self, C: NDArray, strains: NDArray, histories: list[NDArray]) -> None:
        """Replace, in C (m, n_points, n, n), the tangents of the laws with
        ``committed_tangent`` by their last converged ones at the committed micro strains (m,
        n_points, n) with the committed histories (per law (m, n_points_of_law, n_history))."""
        start = time.perf_counter()
        m, n = len(C), self.n_strain
        plane = self.model == "plane_strain"
        for group, history in zip(self.groups, histories, strict=True):
            committed_tangent = getattr(group.law, "committed_tangent", None)
            if committed_tangent is None:
                continue
            rows = group.rows
            local = strains[:, rows].reshape(-1, n)
            if plane:
                local = np.zeros((len(local), 6))
                local[:, PLANE_STRAIN_COMPONENTS] = strains[:, rows].reshape(-1, n)
            history = history.reshape(m * len(rows), group.law.n_history)
            if plane and getattr(group.law, "reduced_tangent", False):
                c = committed_tangent(local, history, PLANE_STRAIN_COMPONENTS)
            else:
                c = committed_tangent(local, history)
                if plane:
                    c = c[:, PLANE_STRAIN_COMPONENTS[:, None], PLANE_STRAIN_COMPONENTS]
            C[:, rows] = c.reshape(m, len(rows), n, n)
        self.timings["laws"] += time.perf_counter() - start

    def _residual(self, sigma: NDArray) -> tuple[NDArray, float]:
        """The reduced residual Pᵀ G σ (pinned dof zeroed) and ‖G σ‖ (convergence scale)."""
        start = time.perf_counter()
        full = self._accumulate(self.G @ sigma.ravel())
        scale = float(np.sqrt(self._sum(full @ full)))
        reduced = self.reduce(full)
        self.timings["residual"] += time.perf_counter() - start
        return reduced, scale

    def _factorize(self, C: NDArray) -> None:
        """Assemble the Jacobian for tangent C and factorize it, unless already factorized."""
        import dolfinx_mpc
        from petsc4py import PETSc

        flat = C.ravel()
        if not self.comm.allreduce(not np.array_equal(flat, self._factored), op=MPI.LOR):
            return
        start = time.perf_counter()
        self.C_function.x.array[:] = flat
        if self.bc == "periodic":
            dolfinx_mpc.assemble_matrix(self.a, self.solver.mpc, bcs=self.solver.bcs,
                                        A=self.solver.A)
        else:
            self._assemble_jacobian()
        middle = time.perf_counter()
        self._factored = None  # not factorized if the next call fails
        try:
            self.solver.ksp.getPC().setUp()  # numeric LU; same nonzero pattern: analysis reused
        except PETSc.Error as error:
            raise MicroSolveError(f"micro Jacobian factorization failed: {error}") from error
        self._factored = flat.copy()
        self.timings["assembly"] += middle - start
        self.timings["factorization"] += time.perf_counter() - middle
        self.counts["factorizations"] += 1

    def _assemble_jacobian(self) -> None:
        """The affine Jacobian (identity rows and columns on the boundary), or the K block of
        the minimal [[K, B], [Bᵀ, 0]] (B untouched), into the solver's matrix."""
        from dolfinx.fem.petsc import assemble_matrix

        if self.bc == "affine":
            self.solver.A.zeroEntries()
            assemble_matrix(self.solver.A, self.a, bcs=self.solver.bcs)
        else:
            self._K.zeroEntries()
            assemble_matrix(self._K, self.a)
            self._K.assemble()
            indptr, indices, values = self._K.getValuesCSR()  # rows of B's multipliers: none
            indptr = np.concatenate([indptr, np.full(self.solver.m, indptr[-1])])
            self.solver.A.setValuesCSR(indptr, indices, values)
        self.solver.A.assemble()

    def _solve(self, rhs: NDArray) -> NDArray:
        """K⁻¹ rhs on the constrained dofs (slave and pinned entries of rhs are zero; minimal:
        the fluctuation part of the saddle-point solve with zero constraint values)."""
        b = self.solver.b
        b.array[: self.ndofs] = rhs
        b.array[self.ndofs:] = 0.0
        try:
            return self.solver.solve_vec(b)[: self.ndofs]
        except RuntimeError as error:
            raise MicroSolveError(str(error)) from error

    def _averages(self, sigma: NDArray, C: NDArray, w: NDArray) -> tuple[NDArray, NDArray]:
        """Σ = ⟨σ⟩ and C_hom by static condensation with the factorized converged Jacobian."""
        n = self.n_strain
        F = self.G @ C.reshape(-1, n)  # column k: G (C e_k), this rank's cells
        H = self.G @ C.transpose(0, 2, 1).reshape(-1, n)  # column i: G (Cᵀ e_i)
        W = np.column_stack([  # P X on the local dofs, X = -K⁻¹ Pᵀ F
            self._forward(self.expand(-self._solve(self.reduce(self._accumulate(F[:, k])))))
            for k in range(n)])
        local = np.zeros((n + 1, n))
        local[0] = self.weights @ sigma
        local[1:] = np.einsum("p,pij->ij", self.weights, C) + H.T @ W
        total = self._sum(local) / self.volume
        return total[0], total[1:]

    def destroy(self) -> None:
        """Free the PETSc objects (matrices, vectors, solver)."""
        self.solver.destroy()
        if self._batch is not None:
            self._batch.destroy()
        for obj in (self.P, self._x, self._y, self._K):
            if obj is not None:
                obj.destroy()

