"""Solvers of one step of a Problem: Newton, PETSc SNES, and staggered field groups.

All three evaluate the micro models inside every residual evaluation (the FE² loop) and return
a :class:`StepResult` with global numbers (the same on every rank). PETSc options prefixes,
for ``petsc_options`` in the case's ``[solver]`` table or the PETSC_OPTIONS environment
variable:

- ``fe2_newton_``: the linear solver (KSP/PC) of the Newton corrections (also per field group
  of the staggered scheme);
- ``fe2_snes_``: the SNES of ``type = "snes"`` (its line search, its KSP/PC:
  ``fe2_snes_ksp_type``, ``fe2_snes_pc_type``, ...).

Convergence: ‖R‖ ≤ max(atol, rtol·‖R₀‖) over the free dofs (R₀: first residual of the step or
of the field group, with the lifted new boundary values), or the increment ‖δw‖ ≤ stol·‖w‖.
With several fields (different units), every field must pass the test on its own residual,
scaled by its own first non-zero residual of the step; the per-field norms are recorded. A
field's residual below ROUNDOFF × the forces its individual terms exert (‖J_fg w_g‖) is
round-off and passes (a field at rest in a step starts there, with no scale to reduce from).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fe2.core.problem import Problem

# A residual below this fraction of the forces of the individual terms on its rows is round-off.
ROUNDOFF = 1e-10

__all__ = ["SOLVER_TYPES", "SolverSettings", "StepResult", "make_solver"]

SOLVER_TYPES = ("newton", "snes", "staggered")
LINEAR_SOLVERS = ("lu", "iterative")
NEWTON_PREFIX, SNES_PREFIX = "fe2_newton_", "fe2_snes_"


@dataclass(frozen=True)
class SolverSettings:
    """The ``[solver]`` table.

    ``linear_solver``: "lu" (MUMPS, parallel direct) or "iterative" (GMRES preconditioned by
    PETSc's algebraic multigrid GAMG with the physics' near-nullspace, to ``linear_rtol``).
    ``groups``: the staggered scheme's field groups, solved in turn until a sweep changes no
    field by more than ``stagger_rtol`` of its size (at most ``max_sweeps`` sweeps).
    ``petsc_options``: passed to PETSc under the solver's prefix.
    """

    type: str = "newton"
    rtol: float = 1e-8
    atol: float = 0.0
    stol: float = 1e-13
    max_iterations: int = 15
    linear_solver: str = "lu"
    linear_rtol: float = 1e-10
    groups: tuple[tuple[str, ...], ...] = ()
    stagger_rtol: float = 1e-6
    max_sweeps: int = 100
    petsc_options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.type not in SOLVER_TYPES:
            raise ValueError(f"type = {self.type!r}: use one of {', '.join(SOLVER_TYPES)}")
        if self.linear_solver not in LINEAR_SOLVERS:
            raise ValueError(f"linear_solver = {self.linear_solver!r}: use one of "
                             f"{', '.join(LINEAR_SOLVERS)}")
        if self.type == "staggered" and len(self.groups) < 2:
            raise ValueError("type = 'staggered' needs groups with at least two field groups, "
                             "e.g. groups = [['u'], ['d']]")


@dataclass
class StepResult:
    """Outcome of one step (global numbers, the same on every rank)."""

    load_factor: float
    t: float = 0.0
    converged: bool = False
    message: str = ""
    residuals: list[float] = field(default_factory=list)
    field_residuals: dict[str, list[float]] = field(default_factory=dict)  # several fields
    increments: list[float] = field(default_factory=list)
    rve_solves: list[int] = field(default_factory=list)  # per residual evaluation, all ranks
    micro_iterations: int = 0  # all ranks
    sweeps: int = 0  # staggered sweeps
    times: dict[str, float] = field(default_factory=dict)  # this rank, seconds
    local_solves: int = 0  # this rank (with balancing: solved here, whoever owns the point)
    local_micro_iterations: int = 0  # this rank
    local_solve_time: float = 0.0  # this rank, seconds inside micro solves (no waiting)

    @property
    def iterations(self) -> int:
        return len(self.increments)

    @property
    def effort(self) -> int:
        """How hard the step was: staggered sweeps, else Newton iterations."""
        return self.sweeps or self.iterations


class _Timer:
    def __init__(self, times: dict[str, float], key: str) -> None:
        self.times, self.key = times, key

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.times[self.key] += time.perf_counter() - self.start


def _linear_solver(problem: Problem, settings: SolverSettings, A, prefix: str,
                   near_nullspace: bool = True):
    from petsc4py import PETSc

    ksp = PETSc.KSP().create(problem.comm)
    ksp.setOptionsPrefix(prefix)
    ksp.setOperators(A)
    _choose_ksp(ksp, settings.linear_solver)
    if settings.linear_solver != "lu":
        nullspace = getattr(problem.definition, "near_nullspace", None)
        if near_nullspace and nullspace is not None:
            space = nullspace(problem.V)
            if space is not None:
                A.setNearNullSpace(space)
        ksp.setTolerances(rtol=settings.linear_rtol, atol=0.0, max_it=1000)
    # Fields of different units (m, mol/m³, Pa) give entries decades apart; the symmetric
    # diagonal scaling D^-½ A D^-½ keeps MUMPS's pivoting from mistaking them for zeros.
    scale = "true" if len(problem.fields) > 1 else "false"
    _set_options(prefix, (("ksp_diagonal_scale", scale), ("ksp_diagonal_scale_fix", scale),
                          *settings.petsc_options))
    ksp.setFromOptions()
    return ksp


def _choose_ksp(ksp, linear_solver: str) -> None:
    """"lu": MUMPS LU (preonly); "iterative": GMRES preconditioned by GAMG."""
    if linear_solver == "lu":
        ksp.setType("preonly")
        ksp.getPC().setType("lu")
        ksp.getPC().setFactorSolverType("mumps")
    else:
        ksp.setType("gmres")
        ksp.getPC().setType("gamg")


def _index_set(problem: Problem, fields: Sequence[str]):
    """(owned local indices, PETSc index set of their global numbers) of the fields' dofs."""
    from petsc4py import PETSc

    local = problem.field_dofs(fields)
    start = problem.b.getOwnershipRange()[0]
    return local, PETSc.IS().createGeneral(local + start, comm=problem.comm)


def _set_options(prefix: str, options: Sequence[tuple[str, str]]) -> None:
    from petsc4py import PETSc

    database = PETSc.Options()
    for key, value in options:
        database[f"{prefix}{key}"] = value


class _Evaluator:
    """Micro evaluation + residual assembly with the step's bookkeeping."""

    def __init__(self, problem: Problem, result: StepResult) -> None:
        self.problem, self.result = problem, result
        result.times = dict.fromkeys(("micro", "assembly", "solve"), 0.0)

    def residual(self, b=None, x=None) -> tuple[str, float]:
        """("" or the failure message, free-dof residual norm); collective."""
        problem, result = self.problem, self.result
        with _Timer(result.times, "micro"):
            message, stats = problem.evaluate_micro()
        result.local_solves += stats.solves
        result.local_micro_iterations += stats.micro_iterations
        result.local_solve_time += stats.micro_time
        result.rve_solves.append(problem.comm.allreduce(stats.solves))
        result.micro_iterations += problem.comm.allreduce(stats.micro_iterations)
        if message:
            return message, float("nan")
        with _Timer(result.times, "assembly"):
            norm = problem.assemble_residual(b, x)
        if not np.isfinite(norm):
            return "the macro residual is not finite", norm
        return "", norm

    def jacobian(self, A=None) -> None:
        with _Timer(self.result.times, "assembly"):
            self.problem.assemble_jacobian(A)


class NewtonSolver:
    """Newton with the consistent tangent; the dofs of ``fields`` only (all by default)."""

    def __init__(self, problem: Problem, settings: SolverSettings,
                 fields: Sequence[str] | None = None) -> None:
        self.problem, self.settings = problem, settings
        self.everything = fields is None or len(fields) == len(problem.fields)
        self.A = self.dofs = None  # a group's sub-matrix and index set
        if not self.everything:
            self.local, self.dofs = _index_set(problem, fields)
            self.free = problem.free[self.local]
        self.du = None
        self.ksp = None
        self._jacobian_assembled = False
        self._probe = self._image = None
        self._references_of: StepResult | None = None
        self._reference, self._field_references = 0.0, {}
        names = problem.field_names if fields is None else list(fields)
        # Several fields (different units): each is tested against its own residual.
        self.field_rows = ({name: problem.field_dofs([name]) for name in names}
                           if len(names) > 1 else {})

    def _operators(self):
        problem = self.problem
        if self.everything:
            return problem.A, problem.b
        A = problem.A.createSubMatrix(self.dofs, self.dofs, submat=self.A)
        self.A = A
        return A, problem.b.getSubVector(self.dofs)

    def solve(self, result: StepResult, evaluator: _Evaluator) -> bool:
        """Newton iterations from the current fields; True when converged (fields updated),
        False with ``result.message`` set."""
        problem, settings = self.problem, self.settings
        if self._references_of is not result:  # a new step (or attempt): new scales
            self._references_of = result
            self._reference, self._field_references = 0.0, dict.fromkeys(self.field_rows, 0.0)
        # The scales persist over the sweeps of a staggered step: a group is converged when its
        # residual is small against its first non-zero residual of the step, not of the sweep.
        field_references = self._field_references
        first = len(result.increments)  # this solve's own increments (a group of a sweep)
        for iteration in range(settings.max_iterations + 1):
            message, norm = evaluator.residual()
            if not self.everything:
                norm = problem.norm(problem.b.array[self.local] * self.free)
            result.residuals.append(norm)
            if message:
                result.message = message
                return False
            self._reference = self._reference or norm
            if self.field_rows:
                norms = self._field_norms()
                for name, value in norms.items():
                    result.field_residuals.setdefault(name, []).append(value)
                    # The first non-zero residual of a field is its scale (a field may be
                    # at rest until the coupling moves it).
                    field_references[name] = field_references[name] or value
                floors = self._roundoff_floors(norms)
                converged = all(value <= max(settings.atol, settings.rtol * field_references[n],
                                             floors[n]) for n, value in norms.items())
                if converged or self._converged(0.0, 1.0, result.increments[first:],
                                                    stagnation=True):
                    return True
            elif self._converged(norm, self._reference, result.increments[first:]):
                return True
            if iteration == settings.max_iterations:
                break
            evaluator.jacobian()
            self._jacobian_assembled = True
            with _Timer(result.times, "solve"):
                increment = self._solve_increment()
            if not np.isfinite(increment):
                result.message = ("the macro linear solve failed (PETSc reason "
                                  f"{self.ksp.getConvergedReason()})")
                return False
            result.increments.append(increment)
        result.message = (f"Newton did not converge in {settings.max_iterations} iterations "
                          f"(residuals {_short(result.residuals)})")
        return False

    def _roundoff_floors(self, norms: dict[str, float]) -> dict[str, float]:
        """Per field, the residual size that is round-off: ROUNDOFF × the largest of the
        forces the other terms put on its rows, ‖J_fg w_g‖ over the fields g (last assembled
        Jacobian). A field at rest in a step (e.g. the displacement while only the
        concentration moves) starts at round-off, so its first residual is no scale to
        reduce from; its terms are. Zero before the first Jacobian."""
        problem = self.problem
        if not self._jacobian_assembled:
            return dict.fromkeys(norms, 0.0)
        if self._probe is None:
            self._probe, self._image = problem.A.createVecs()
        floors = dict.fromkeys(norms, 0.0)
        owned = len(problem.free)
        for name in problem.field_names:
            self._probe.zeroEntries()
            rows = problem.field_dofs([name])
            self._probe.array[rows] = problem.w.x.array[:owned][rows]
            problem.A.mult(self._probe, self._image)
            for target, target_rows in self.field_rows.items():
                size = problem.norm(self._image.array[target_rows] * problem.free[target_rows])
                floors[target] = max(floors[target], ROUNDOFF * size)
        return floors

    def _field_norms(self) -> dict[str, float]:
        """Residual norm of each field over its free dofs (collective)."""
        b, free = self.problem.b.array, self.problem.free
        return {name: self.problem.norm(b[rows] * free[rows])
                for name, rows in self.field_rows.items()}

    def _converged(self, norm: float, reference: float, increments: list[float],
                   stagnation: bool = False) -> bool:
        """‖R‖ ≤ max(atol, rtol·‖R₀‖), or the increment test (alone with ``stagnation``)."""
        settings = self.settings
        if not stagnation and norm <= max(settings.atol, settings.rtol * reference):
            return True
        w_norm = self.problem.norm(self.problem.w.x.array[: len(self.problem.free)])
        return bool(increments) and increments[-1] <= settings.stol * w_norm

    def _solve_increment(self) -> float:
        """Solve for the increment and update the fields; inf if the solver failed (the
        converged reason is the same on every rank)."""
        A, b = self._operators()
        if self.ksp is None:
            self.ksp = _linear_solver(self.problem, self.settings, A, NEWTON_PREFIX,
                                      self.everything)
            self.du = b.duplicate()
        else:
            self.ksp.setOperators(A)
        self.ksp.solve(b, self.du)
        if not self.everything:
            self.problem.b.restoreSubVector(self.dofs, b)
        if self.ksp.getConvergedReason() < 0:
            return float("inf")
        x = self.problem.w.x.petsc_vec
        if self.everything:
            x.axpy(-1.0, self.du)
        else:
            part = x.getSubVector(self.dofs)
            part.axpy(-1.0, self.du)
            x.restoreSubVector(self.dofs, part)
        self.problem.w.x.scatter_forward()
        return self.du.norm()

    def destroy(self) -> None:
        for obj in (self.ksp, self.du, self.A, self.dofs, self._probe, self._image):
            if obj is not None:
                obj.destroy()


class _Staggered:
    """type = "staggered": the field groups in turn (each by Newton, or by the VI SNES when it
    has bounds; the other fields fixed) until a sweep changes no field by more than
    ``stagger_rtol`` of its size (max norms); ``result.sweeps`` counts the sweeps."""

    def __init__(self, problem: Problem, settings: SolverSettings) -> None:
        names = [name for group in settings.groups for name in group]
        if sorted(names) != sorted(problem.field_names):
            raise ValueError(f"[solver] groups {list(map(list, settings.groups))} must name "
                             f"every field once: {problem.field_names}")
        self.problem, self.settings = problem, settings
        self.groups = [
            GroupVISolver(problem, settings, group)
            if any(problem.field(name).bounds is not None for name in group)
            else NewtonSolver(problem, settings, group) for group in settings.groups]
        self.rows = {name: problem.field_dofs([name]) for name in problem.field_names}

    def _change(self, before: np.ndarray) -> float:
        """max over fields of ‖Δw_f‖∞ / ‖w_f‖∞ since ``before`` (collective)."""
        from mpi4py import MPI

        values = self.problem.w.x.array
        local = np.array([[np.abs(values[rows] - before[rows]).max(initial=0.0),
                           np.abs(values[rows]).max(initial=0.0)]
                          for rows in self.rows.values()])
        self.problem.comm.Allreduce(MPI.IN_PLACE, local, op=MPI.MAX)
        change, size = local.T
        return float(np.max(change / np.maximum(size, np.finfo(float).tiny)))

    def solve(self, result: StepResult, evaluator: _Evaluator) -> bool:
        settings = self.settings
        change = np.inf
        for sweep in range(1, settings.max_sweeps + 1):
            result.sweeps = sweep
            before = self.problem.w.x.array.copy()
            for group in self.groups:
                if not group.solve(result, evaluator):
                    return False
            change = self._change(before)
            if change <= settings.stagger_rtol:
                return True
        result.message = (f"the staggered scheme did not converge in {settings.max_sweeps} "
                          f"sweeps (last change {change:.3e} > stagger_rtol "
                          f"{settings.stagger_rtol:.1e})")
        return False

    def destroy(self) -> None:
        for group in self.groups:
            group.destroy()


class _SNES:
    """type = "snes": PETSc SNES (line search, monitors; ``vinewtonrsls`` when a field has
    bounds), the micro models evaluated in the residual callback."""

    def __init__(self, problem: Problem, settings: SolverSettings) -> None:
        from petsc4py import PETSc

        self.problem, self.settings = problem, settings
        snes = self.snes = PETSc.SNES().create(problem.comm)
        self.x = problem.b.duplicate()
        snes.setFunction(self._function, problem.b.duplicate())
        snes.setJacobian(self._jacobian, problem.A)
        bounded = [f for f in problem.fields if f.bounds is not None]
        _configure_snes(snes, settings, bool(bounded))
        self.bounded = bounded
        self.evaluator: _Evaluator | None = None
        self.failure = ""

    def _set_bounds(self) -> None:
        lower, upper = _bounds(self.problem, self.bounded)
        self.snes.setVariableBounds(lower, upper)
        lower.destroy()
        upper.destroy()

    def _function(self, snes, x, F) -> None:
        problem = self.problem
        x.copy(problem.w.x.petsc_vec)
        problem.w.x.scatter_forward()
        message, _ = self.evaluator.residual(F, problem.w.x.petsc_vec)
        if message:
            self.failure = self.failure or message
            F.set(np.nan)  # SNES stops with a not-a-number residual on every rank

    def _jacobian(self, snes, x, J, P) -> None:
        self.evaluator.jacobian(J)

    def solve(self, result: StepResult, evaluator: _Evaluator) -> bool:
        problem = self.problem
        self.evaluator, self.failure = evaluator, ""
        if self.bounded:
            self._set_bounds()
        problem.w.x.petsc_vec.copy(self.x)
        with _Timer(result.times, "solve"):
            self.snes.solve(None, self.x)
        self.x.copy(problem.w.x.petsc_vec)
        problem.w.x.scatter_forward()
        history = self.snes.getConvergenceHistory()[0]
        result.residuals = [float(r) for r in history]
        result.increments = [float("nan")] * self.snes.getIterationNumber()
        reason = self.snes.getConvergedReason()
        if reason > 0:
            return True
        result.message = self.failure or f"SNES diverged (PETSc reason {reason})"
        return False

    def destroy(self) -> None:
        self.snes.destroy()
        self.x.destroy()


def _bounds(problem: Problem, fields):
    """(lower, upper) PETSc vectors of the unknowns from the fields' declared bounds (±inf,
    which PETSc's VI solvers treat as absent, for the rest)."""
    lower, upper = problem.b.duplicate(), problem.b.duplicate()
    lower.set(-np.inf)
    upper.set(np.inf)
    for spec in fields:
        dofs = problem.field_dofs([spec.name])
        for vector, bound in zip((lower, upper), spec.bounds, strict=True):
            vector.array[dofs] = (problem.w_previous.x.array[dofs] if bound == "previous"
                                  else float(bound))
    return lower, upper


def _configure_snes(snes, settings: SolverSettings, bounded: bool) -> None:
    """Type, tolerances, linear solver and pass-through options of an SNES (prefix fe2_snes_)."""
    snes.setOptionsPrefix(SNES_PREFIX)
    # atol > 0: a residual that is exactly zero (e.g. damage held at its bound) has converged
    snes.setTolerances(rtol=settings.rtol, atol=max(settings.atol, np.finfo(float).tiny),
                       stol=settings.stol, max_it=settings.max_iterations)
    snes.setType("vinewtonrsls" if bounded else "newtonls")
    _choose_ksp(snes.getKSP(), settings.linear_solver)
    _set_options(SNES_PREFIX, settings.petsc_options)
    snes.setFromOptions()
    snes.setConvergenceHistory(reset=True)


class GroupVISolver:
    """A field group with bounds inside the staggered scheme: PETSc's variational-inequality
    SNES on the group's dofs, the other fields fixed (e.g. AT1 damage, d_prev ≤ d ≤ 1)."""

    def __init__(self, problem: Problem, settings: SolverSettings, fields) -> None:
        from petsc4py import PETSc

        self.problem, self.settings = problem, settings
        _, self.dofs = _index_set(problem, fields)
        self.bounded = [f for f in problem.fields if f.name in fields and f.bounds is not None]
        self.snes = PETSc.SNES().create(problem.comm)
        self.J = self.x = None  # made from the first assembled Jacobian (its pattern)
        self.evaluator: _Evaluator | None = None
        self.failure = ""

    def _setup(self) -> None:
        """The group's Jacobian and vectors, once the full Jacobian has been assembled (an
        empty assembled PETSc matrix would lose its preallocated pattern)."""
        self.evaluator.jacobian()
        self.J = self.problem.A.createSubMatrix(self.dofs, self.dofs)
        self.x = self.J.createVecRight()
        self.snes.setFunction(self._function, self.x.duplicate())
        self.snes.setJacobian(self._jacobian, self.J)
        _configure_snes(self.snes, self.settings, bounded=True)

    def _copy(self, source, target, to_group: bool) -> None:
        """Between the group's vector and the group's part of a full vector."""
        full = source if to_group else target
        part = full.getSubVector(self.dofs)
        if to_group:
            part.copy(target)
        else:
            source.copy(part)
        full.restoreSubVector(self.dofs, part)

    def _function(self, snes, x, F) -> None:
        problem = self.problem
        self._copy(x, problem.w.x.petsc_vec, to_group=False)
        problem.w.x.scatter_forward()
        message, _ = self.evaluator.residual()
        if message:
            self.failure = self.failure or message
            F.set(np.nan)
        else:
            self._copy(problem.b, F, to_group=True)

    def _jacobian(self, snes, x, J, P) -> None:
        self.evaluator.jacobian()
        self.problem.A.createSubMatrix(self.dofs, self.dofs, submat=J)

    def solve(self, result: StepResult, evaluator: _Evaluator) -> bool:
        problem = self.problem
        self.evaluator, self.failure = evaluator, ""
        if self.J is None:
            self._setup()
        lower, upper = _bounds(problem, self.bounded)
        low, high = self.x.duplicate(), self.x.duplicate()
        self._copy(lower, low, to_group=True)
        self._copy(upper, high, to_group=True)
        self.snes.setVariableBounds(low, high)
        for vector in (lower, upper, low, high):
            vector.destroy()
        self._copy(problem.w.x.petsc_vec, self.x, to_group=True)
        # Round-off floor: a residual 1e-12 of what a unit change of the group's unknowns
        # would cause (‖J‖_F) has converged, whatever the residual was at the start.
        from petsc4py import PETSc

        floor = 1e-12 * self.J.norm(PETSc.NormType.FROBENIUS)
        self.snes.setTolerances(atol=max(self.settings.atol, floor, np.finfo(float).tiny))
        with _Timer(result.times, "solve"):
            self.snes.solve(None, self.x)
        self._copy(self.x, problem.w.x.petsc_vec, to_group=False)
        problem.w.x.scatter_forward()
        result.increments += [float("nan")] * self.snes.getIterationNumber()
        reason = self.snes.getConvergedReason()
        if reason > 0:
            return True
        result.message = self.failure or f"SNES of the bounded group diverged (reason {reason})"
        return False

    def destroy(self) -> None:
        for obj in (self.snes, self.x, self.J, self.dofs):
            if obj is not None:
                obj.destroy()


def make_solver(problem: Problem, settings: SolverSettings):
    """The step solver of ``settings.type`` for ``problem``."""
    # type = "newton": one Newton on every field at once
    solver = {"newton": NewtonSolver, "snes": _SNES, "staggered": _Staggered}[settings.type]
    return StepSolver(problem, solver(problem, settings))


class StepSolver:
    """Solves one step (a time or load increment) from the committed state; on failure the
    fields and micro states are rolled back and the result says why."""

    def __init__(self, problem: Problem, solver) -> None:
        self.problem, self.solver = problem, solver

    def solve_step(self, step) -> StepResult:
        problem = self.problem
        problem.set_step(step)
        result = StepResult(step.load_factor, step.t)
        evaluator = _Evaluator(problem, result)
        if self.solver.solve(result, evaluator):
            result.converged = True
            return result
        problem.rollback()
        return result

    def destroy(self) -> None:
        self.solver.destroy()


def _short(values: list[float]) -> str:
    return ", ".join(f"{v:.2e}" for v in values[-4:])
