"""The FE² macro problem: Newton with the homogenized consistent tangent at quadrature points.

Data flow of one Newton iteration (this is the FE² loop):

1. the generalized strain of the current field at the owned quadrature points (one compiled
   dolfinx Expression; ghost cells are never evaluated);
2. the dispatcher solves one micro problem per point from its committed state and returns the
   homogenized stress, consistent tangent and trial state (fe2.dispatch);
3. stress and tangent go into quadrature Functions; the residual and Jacobian forms, compiled
   once, are assembled; Dirichlet values enter by lifting, so the first iteration of a step
   already applies the new boundary values consistently;
4. convergence is checked on the residual norm (relative to the step's first residual) and on
   the increment norm; otherwise the linear system is solved (MUMPS) and the field updated.

Trial micro states become committed only when the step converges (:meth:`commit`); a failed
step restores the field and keeps the committed states (:meth:`rollback`). Every decision is
taken on global quantities, so all ranks always take the same branch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.dispatch import Dispatcher
from fe2.quadrature import QuadratureRule

__all__ = ["Dirichlet", "Neumann", "Reaction", "NewtonSettings", "StepResult", "MacroProblem",
           "owned_dof_values"]


@dataclass(frozen=True)
class Dirichlet:
    """Prescribed value of one field component on facets, at load factor 1 (scaled by λ)."""

    facets: NDArray
    component: int | None  # None for a scalar field
    value: float


@dataclass(frozen=True)
class Neumann:
    """Prescribed traction (vector) or normal flux (scalar) on facets at load factor 1."""

    facets: NDArray
    value: tuple[float, ...] | float


@dataclass(frozen=True)
class Reaction:
    """Where the reported reaction is measured: the internal force of ``component`` summed
    over the dofs of ``facets`` (the force a testing machine would read)."""

    facets: NDArray
    component: int | None


LINEAR_SOLVERS = ("lu", "iterative")


@dataclass(frozen=True)
class NewtonSettings:
    """Macro Newton: converged when ‖R‖ ≤ max(atol, rtol·‖R₀‖) (R₀: first residual of the
    step, with the lifted new boundary values; Dirichlet rows are not counted) or when the
    increment ‖du‖ ≤ stol·‖u‖; at most ``max_iterations`` solves.

    ``linear_solver``: "lu" (MUMPS, parallel direct) or "iterative" (GMRES preconditioned by
    PETSc's algebraic multigrid GAMG with the physics' near-nullspace, e.g. the rigid-body
    modes, to the relative tolerance ``linear_rtol``): linear cost in the number of macro dofs,
    for macro problems too large for a direct solver (docs/performance.md)."""

    rtol: float = 1e-8
    atol: float = 0.0
    stol: float = 1e-13
    max_iterations: int = 15
    linear_solver: str = "lu"
    linear_rtol: float = 1e-10

    def __post_init__(self) -> None:
        if self.linear_solver not in LINEAR_SOLVERS:
            raise ValueError(f"linear_solver = {self.linear_solver!r}: use one of "
                             f"{', '.join(LINEAR_SOLVERS)}")


@dataclass
class StepResult:
    """Outcome of one load step (global numbers, the same on every rank)."""

    load_factor: float
    converged: bool = False
    message: str = ""
    residuals: list[float] = field(default_factory=list)
    increments: list[float] = field(default_factory=list)
    rve_solves: list[int] = field(default_factory=list)  # per iteration, all ranks
    micro_iterations: int = 0  # all ranks
    times: dict[str, float] = field(default_factory=dict)  # this rank, seconds
    local_solves: int = 0  # this rank (with balancing: solved here, whoever owns the point)
    local_micro_iterations: int = 0  # this rank
    local_solve_time: float = 0.0  # this rank, seconds inside micro solves (no waiting)

    @property
    def iterations(self) -> int:
        return len(self.increments)


class MacroProblem:
    """A macro problem of ``physics`` on ``mesh`` whose constitutive law is a micro model.

    Args:
        mesh: the macro mesh (its communicator is the macro communicator).
        physics: a definition from fe2.physics.
        dispatcher: solves the micro problems of the owned quadrature points.
        degree: polynomial degree of the macro field.
        quadrature_degree: degree of the one quadrature rule for strain, stress and forms.
        dirichlet, neumann: boundary conditions at load factor 1.
        reaction: where the reported reaction force is measured (None: not reported).
        newton: Newton settings.
    """

    def __init__(self, mesh, physics, dispatcher: Dispatcher, degree: int,
                 quadrature_degree: int, dirichlet: Sequence[Dirichlet],
                 neumann: Sequence[Neumann] = (), reaction: Reaction | None = None,
                 newton: NewtonSettings = NewtonSettings()) -> None:
        import ufl
        from dolfinx import fem

        self.mesh, self.physics, self.dispatcher, self.newton = mesh, physics, dispatcher, newton
        self.comm: MPI.Comm = mesh.comm
        gdim = mesh.geometry.dim
        self.V = fem.functionspace(mesh, ("Lagrange", degree, physics.value_shape(gdim)))
        self.u = fem.Function(self.V, name="u")
        self.rule = QuadratureRule(mesh, quadrature_degree)
        model = dispatcher.model
        self.n_strain, self.n_stress = model.n_strain, model.n_stress
        expected = (physics.n_strain(gdim), physics.n_stress(gdim))
        if (self.n_strain, self.n_stress) != expected:
            raise ValueError(f"micro model (strain, stress) sizes {(self.n_strain, self.n_stress)}"
                             f" do not match the {physics.kind} problem's {expected}")
        self.stress = fem.Function(self.rule.space((self.n_stress,)), name="stress")
        self.tangent = fem.Function(self.rule.space((self.n_stress, self.n_strain)))
        self.load_factor = fem.Constant(mesh, 0.0)
        self._strain = self.rule.expression(physics.strain(self.u))
        self._bcs, self._bc_values = self._dirichlet(dirichlet)
        v, du = ufl.TestFunction(self.V), ufl.TrialFunction(self.V)
        dx = self.rule.dx
        residual = ufl.dot(self.stress, physics.test_strain(v)) * dx
        residual -= self._external_work(neumann, v)
        self._residual = fem.form(residual)
        self._jacobian = fem.form(
            ufl.dot(ufl.dot(self.tangent, physics.strain(du)), physics.test_strain(v)) * dx)
        self._reaction = self._reaction_forms(reaction)
        n_points = self.rule.n_owned_points
        self.committed = np.tile(model.initial_state(), (n_points, 1))
        self.trial = self.committed.copy()
        self._committed_u = self.u.x.array.copy()
        self._create_solver()

    # ------------------------------------------------------------------ set-up
    def _dirichlet(self, specs: Sequence[Dirichlet]):
        from dolfinx import fem

        fdim = self.mesh.topology.dim - 1
        bcs, values = [], []
        for spec in specs:
            space = self.V if spec.component is None else self.V.sub(spec.component)
            dofs = fem.locate_dofs_topological(space, fdim, spec.facets)
            value = fem.Constant(self.mesh, 0.0)
            bcs.append(fem.dirichletbc(value, dofs, space))
            values.append((value, spec.value))
        return bcs, values

    def _external_work(self, specs: Sequence[Neumann], v):
        import ufl
        from dolfinx import mesh as dmesh

        if not specs:
            return 0
        fdim = self.mesh.topology.dim - 1
        facets = np.concatenate([s.facets for s in specs]).astype(np.int32)
        tags = np.concatenate([np.full(len(s.facets), i + 1, np.int32)
                               for i, s in enumerate(specs)])
        order = np.argsort(facets)
        marker = dmesh.meshtags(self.mesh, fdim, facets[order], tags[order])
        ds = ufl.Measure("ds", domain=self.mesh, subdomain_data=marker)
        work = 0
        for i, spec in enumerate(specs):
            value = ufl.as_vector(spec.value) if np.ndim(spec.value) else spec.value
            work += self.load_factor * ufl.inner(value, v) * ds(i + 1)
        return work

    def _reaction_forms(self, reaction: Reaction | None):
        import ufl
        from dolfinx import fem

        if reaction is None:
            return None
        fdim = self.mesh.topology.dim - 1
        space = self.V if reaction.component is None else self.V.sub(reaction.component)
        dofs = fem.locate_dofs_topological(space, fdim, reaction.facets)
        probe = fem.Function(self.V)  # 1 on the measured component of the boundary dofs
        fem.dirichletbc(fem.Constant(self.mesh, 1.0), dofs, space).set(probe.x.array)
        force = fem.form(ufl.dot(self.stress, self.physics.test_strain(probe)) * self.rule.dx)
        from dolfinx import mesh as dmesh

        marker = dmesh.meshtags(self.mesh, fdim, np.sort(reaction.facets).astype(np.int32),
                                np.ones(len(reaction.facets), np.int32))
        ds = ufl.Measure("ds", domain=self.mesh, subdomain_data=marker)
        component = self.u if reaction.component is None else self.u[reaction.component]
        mean = (fem.form(component * ds(1)), fem.form(fem.Constant(self.mesh, 1.0) * ds(1)))
        return force, mean

    def _create_solver(self) -> None:
        from dolfinx.fem.petsc import create_matrix, create_vector, set_bc
        from petsc4py import PETSc

        self._A = create_matrix(self._jacobian)
        self._b = create_vector(self._residual)
        # 1 on free dofs, 0 on Dirichlet dofs: the residual norm ignores the rows that only
        # carry prescribed values (their scale is that of the field, not of the forces).
        mask = self._b.duplicate()
        mask.set(1.0)
        set_bc(mask, self._bcs, alpha=0.0)
        self._free = mask.array.copy()
        mask.destroy()
        self._du = self._b.duplicate()
        self._ksp = PETSc.KSP().create(self.comm)
        self._ksp.setOptionsPrefix("fe2_macro_")
        self._ksp.setOperators(self._A)
        if self.newton.linear_solver == "lu":
            self._ksp.setType("preonly")
            self._ksp.getPC().setType("lu")
            self._ksp.getPC().setFactorSolverType("mumps")
        else:
            nullspace = self.physics.near_nullspace(self.V)
            if nullspace is not None:
                self._A.setNearNullSpace(nullspace)
            self._ksp.setType("gmres")
            self._ksp.setTolerances(rtol=self.newton.linear_rtol, atol=0.0, max_it=1000)
            self._ksp.getPC().setType("gamg")
        self._ksp.setFromOptions()

    # ------------------------------------------------------------------ Newton
    def solve_step(self, load_factor: float) -> StepResult:
        """Newton for one load factor from the committed state; the field is restored and
        the result says why when it fails."""
        result = StepResult(load_factor)
        times = result.times = dict.fromkeys(("strain", "micro", "assembly", "solve"), 0.0)
        self.load_factor.value = load_factor
        for value, target in self._bc_values:
            value.value = load_factor * target
        reference = None
        for iteration in range(self.newton.max_iterations + 1):
            start = time.perf_counter()
            strains = self.rule.evaluate(self._strain, self.n_strain)
            times["strain"] += time.perf_counter() - start
            start = time.perf_counter()
            evaluation = self.dispatcher.evaluate(strains, self.committed)
            times["micro"] += time.perf_counter() - start
            stats = evaluation.stats
            result.local_solves += stats.solves
            result.local_micro_iterations += stats.micro_iterations
            result.local_solve_time += stats.micro_time
            result.rve_solves.append(self.comm.allreduce(stats.solves))
            result.micro_iterations += self.comm.allreduce(stats.micro_iterations)
            if not evaluation.ok:
                return self._failed(result, evaluation.message)
            start = time.perf_counter()
            self.rule.set_values(self.stress, evaluation.stress)
            self.rule.set_values(self.tangent, evaluation.tangent)
            norm = self._assemble_residual()
            times["assembly"] += time.perf_counter() - start
            result.residuals.append(norm)
            if not np.isfinite(norm):
                return self._failed(result, "the macro residual is not finite")
            reference = norm if reference is None else reference
            if self._converged(norm, reference, result.increments):
                self.trial = evaluation.states
                result.converged = True
                return result
            if iteration == self.newton.max_iterations:
                break
            start = time.perf_counter()
            self._assemble_jacobian()
            times["assembly"] += time.perf_counter() - start
            start = time.perf_counter()
            increment = self._solve_increment()
            times["solve"] += time.perf_counter() - start
            if not np.isfinite(increment):
                return self._failed(result, "the macro linear solve failed (PETSc reason "
                                            f"{self._ksp.getConvergedReason()})")
            result.increments.append(increment)
        return self._failed(result, f"Newton did not converge in {self.newton.max_iterations} "
                                    f"iterations (residuals {_short(result.residuals)})")

    def _converged(self, norm: float, reference: float, increments: list[float]) -> bool:
        settings = self.newton
        if norm <= max(settings.atol, settings.rtol * reference):
            return True
        u_norm = self.u.x.petsc_vec.norm()
        return bool(increments) and increments[-1] <= settings.stol * u_norm

    def _assemble_residual(self) -> float:
        from dolfinx.fem.petsc import apply_lifting, assemble_vector, set_bc
        from petsc4py import PETSc

        b, x = self._b, self.u.x.petsc_vec
        with b.localForm() as local:
            local.set(0.0)
        assemble_vector(b, self._residual)
        apply_lifting(b, [self._jacobian], bcs=[self._bcs], x0=[x], alpha=-1.0)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        set_bc(b, self._bcs, x, -1.0)
        local = float(np.sum((b.array * self._free) ** 2))
        return float(np.sqrt(self.comm.allreduce(local, op=MPI.SUM)))

    def _assemble_jacobian(self) -> None:
        from dolfinx.fem.petsc import assemble_matrix

        self._A.zeroEntries()
        assemble_matrix(self._A, self._jacobian, bcs=self._bcs)
        self._A.assemble()

    def _solve_increment(self) -> float:
        """Solve for the increment and update the field; inf if the solver failed (the
        converged reason is the same on every rank)."""
        self._ksp.solve(self._b, self._du)
        if self._ksp.getConvergedReason() < 0:
            return float("inf")
        self.u.x.petsc_vec.axpy(-1.0, self._du)
        self.u.x.scatter_forward()
        return self._du.norm()

    def _failed(self, result: StepResult, message: str) -> StepResult:
        self.rollback()
        result.message = message
        return result

    # ------------------------------------------------------------------ state
    def commit(self) -> None:
        """Accept the converged step: field and micro states become the committed ones."""
        self._committed_u[:] = self.u.x.array
        self.committed = self.trial

    def rollback(self) -> None:
        """Return to the last committed field (micro states were never overwritten)."""
        self.u.x.array[:] = self._committed_u
        self.trial = self.committed

    def restore(self, dof_values: NDArray, states: NDArray) -> None:
        """Set and commit the field (owned dof values, as from owned_dof_values) and the
        per-point micro states: a restart continues exactly where the run stopped."""
        n = dof_values.size
        self.u.x.array[:n] = dof_values.reshape(-1)
        self.u.x.scatter_forward()
        self._committed_u[:] = self.u.x.array
        self.committed = self.trial = np.array(states, dtype=float).reshape(self.committed.shape)

    def reaction(self) -> tuple[float, float]:
        """(reaction force, mean boundary value of the measured component) at the current
        field and stress; NaN if no reaction boundary was given."""
        from dolfinx import fem

        if self._reaction is None:
            return float("nan"), float("nan")
        force, (integral, length) = self._reaction
        total = [self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM)
                 for f in (force, integral, length)]
        return total[0], total[1] / total[2]

    def cell_average(self, values: NDArray) -> NDArray:
        """Mean over each owned cell's quadrature points of per-point values (n_points, ...)."""
        shaped = values.reshape(self.rule.n_cells, self.rule.n_points, *values.shape[1:])
        return shaped.mean(axis=1)


def _short(values: list[float]) -> str:
    return ", ".join(f"{v:.2e}" for v in values[-4:])


def owned_dof_values(u) -> tuple[NDArray, NDArray]:
    """(coordinates (n, gdim), values (n, block size)) of the owned dofs of Function ``u``."""
    space = u.function_space
    n = space.dofmap.index_map.size_local
    bs = space.dofmap.index_map_bs
    gdim = space.mesh.geometry.dim
    coords = space.tabulate_dof_coordinates()[:n, :gdim]
    return coords, u.x.array[: n * bs].reshape(n, bs)
