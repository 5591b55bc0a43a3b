"""Periodic RVE with phase-field damage (AT2) in its fracturing phases: a softening micro model.

Unknowns on the cell: the periodic displacement fluctuation w and the periodic damage d (Lagrange
of one degree). With the macro strain E and the micro strain ε = E + sym ∇w::

    ∫ σ(ε, d) : sym ∇v dx = 0,                    σ = g_f(d) ∂ψ⁺/∂ε + ∂ψ⁻/∂ε
    ∫ −2(1 − d) f H q + G_c (d q/ℓ + ℓ ∇d·∇q) dx = 0,      H = max(H_n, ψ⁺(ε))

for all periodic v, q (fe2.laws.fracture: split ψ = ψ⁺ + ψ⁻, g(d) = (1 − d)² + k_ℓ). f is 1
in fracturing phases and 0 in elastic ones, where g_f = 1 (they do not crack; d only decays into
them with the G_c and ℓ of the first fracturing phase). H_n, the committed history at the
quadrature points, changes only when the macro step converges (the FE² core commits the new
state, a cut step rolls it back), which keeps the damage irreversible. Newton solves both fields
at once with the Jacobian UFL derives from the residual (the history's max switches exactly).

The homogenized stress and the consistent tangent (the damage's contribution included, not the
secant) follow from the converged Jacobian K of the unconstrained fields. With U the affine
displacement fields of the unit Mandel strains (no damage) and P the periodic basis (slave dofs
expressed by their masters, one displacement node pinned), differentiating Pᵀ R(U E + P y) = 0
with respect to E (E enters only through ε = sym ∇(U E + w)) gives::

    Σ = Uᵀ R / |Y|,     C_hom = (Uᵀ K U − Uᵀ K P (Pᵀ K P)⁻¹ Pᵀ K U) / |Y|

The cell lives on one rank (``MPI.COMM_SELF``); its linear systems are solved by PETSc (MUMPS LU,
options prefix ``fe2_damage_rve_``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.micro import MicroSolveError, check_finite
from fe2.core.quadrature import QuadratureRule
from fe2.io.mesh import MeshData
from fe2.laws.fracture import FractureMaterial, degradation, split_energy
from fe2.laws.mandel import mandel_to_matrix, n_mandel
from fe2.laws.materials import IsotropicElastic, lame
from fe2.rve.linear import (
    _active_part,
    _phase_volumes,
    lattice_of,
    periodic_constraint,
    periodic_expansion,
)

__all__ = ["DamageRVE"]

MODELS = ("plane_strain", "3d")
MAX_SWEEPS = 300  # alternate-minimization sweeps allowed when the monolithic Newton fails
HALVINGS = 6  # step halvings of a micro Newton update that does not lower the residual
NEWTON_EVERY = 10  # sweeps between attempts of the monolithic Newton to finish
TRIAL_ITERATIONS = 6  # updates such an attempt gets before the sweeps go on


class DamageRVE:
    """A periodic cell with AT2 phase-field damage; a fe2.core.micro.MicroModel.

    Args:
        data: the RVE mesh on ``MPI.COMM_SELF``.
        phases: phase name → FractureMaterial (cracks) or IsotropicElastic (does not); phases
            left out are voids (they count in |Y|).
        model: "plane_strain" (2D mesh) or "3d".
        degree: Lagrange degree of w and d.
        split: energy split of the fracturing phases (fe2.laws.fracture.SPLITS).
        rtol: Newton stops when the periodic residual of each field is below ``rtol`` times
            its scale (w: the unconstrained internal force; d: the crack driving force).
        max_iterations: Newton updates allowed per solve before MicroSolveError.

    The state is ``[w | d | H at the quadrature points]``; ``iterations`` is the number of
    Newton updates of the last solve and ``residuals`` its residual norms.
    """

    is_linear = False

    def __init__(self, data: MeshData, phases: dict[str, FractureMaterial | IsotropicElastic],
                 model: str = "plane_strain", degree: int = 1, split: str = "none",
                 rtol: float = 1e-9, max_iterations: int = 30) -> None:
        gdim = data.mesh.geometry.dim
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; use one of {MODELS}")
        if (gdim == 2) != (model == "plane_strain"):
            raise ValueError(f"model {model!r} does not fit the {gdim}D mesh {data.path.name}")
        if data.mesh.comm.size != 1:
            raise ValueError("a damaging RVE is solved on one rank (MPI.COMM_SELF)")
        fracturing = [m for m in phases.values() if isinstance(m, FractureMaterial)]
        if not fracturing:
            raise ValueError("no phase of the damaging RVE has fracture properties (Gc, ell)")
        if split == "spectral" and gdim == 3:
            raise ValueError('split = "spectral" is implemented in 2D')
        self.model, self.degree, self.split = model, degree, split
        self.rtol, self.max_iterations = rtol, max_iterations
        self.phases = dict(phases)
        self.lattice = lattice_of(data, periodic=True)
        self.volume = self.lattice.volume
        self.volume_fractions = {name: volume / self.volume
                                 for name, volume in _phase_volumes(data).items()}
        self.n_strain = self.n_stress = n_mandel(gdim)
        self.iterations = 0
        self.residuals: list[float] = []
        self._build(data, fracturing[0])

    # ------------------------------------------------------------------ setup
    def _build(self, data: MeshData, crack: FractureMaterial) -> None:
        import ufl
        from dolfinx import fem
        from dolfinx.fem.petsc import create_matrix_block

        mesh, tags = _active_part(data, list(self.phases))
        self.mesh = mesh
        gdim = mesh.geometry.dim
        self.V = fem.functionspace(mesh, ("Lagrange", self.degree, (gdim,)))
        self.S = fem.functionspace(mesh, ("Lagrange", self.degree))
        self.rule = QuadratureRule(mesh, 2 * self.degree)
        coefficients = self._phase_coefficients(data, tags, crack)
        lam, mu, Gc, ell, k_ell, f = (coefficients[k] for k in
                                      ("lambda", "mu", "Gc", "ell", "k_ell", "fracturing"))

        self.w, self.d = fem.Function(self.V), fem.Function(self.S)
        self.history = fem.Function(self.rule.space(()))  # committed H_n
        self.E = fem.Constant(mesh, np.zeros((gdim, gdim)))
        epsilon = ufl.variable(self.E + ufl.sym(ufl.grad(self.w)))
        positive, negative = split_energy(epsilon, lam, mu, self.split)
        g = f * degradation(self.d, k_ell) + (1 - f)
        sigma = g * ufl.diff(positive, epsilon) + ufl.diff(negative, epsilon)
        history = ufl.max_value(self.history, positive)
        v, q = ufl.TestFunction(self.V), ufl.TestFunction(self.S)
        dx = self.rule.dx
        drive = 2 * (1 - self.d) * f * history
        residuals = [ufl.inner(sigma, ufl.sym(ufl.grad(v))) * dx,
                     (-drive * q + Gc * (self.d * q / ell
                                         + ell * ufl.dot(ufl.grad(self.d), ufl.grad(q)))) * dx]
        fields = (self.w, self.d)
        trials = (ufl.TrialFunction(self.V), ufl.TrialFunction(self.S))
        self._residual_forms = [fem.form(r) for r in residuals]
        self._drive_form = fem.form(drive * q * dx)
        self._jacobian_forms = [[fem.form(ufl.derivative(r, u, du))
                                 for u, du in zip(fields, trials, strict=True)]
                                for r in residuals]
        self._matrix = create_matrix_block(self._jacobian_forms)
        self._history_expression = self.rule.expression(f * history)
        self._damage_weights = fem.assemble_vector(fem.form(q * ufl.dx(domain=mesh))).array.copy()

        self.n_w = self.V.dofmap.index_map.size_local * gdim
        self.n_d = self.S.dofmap.index_map.size_local
        self.ndofs = self.n_w + self.n_d
        self.P = self._periodic_basis(gdim)
        n_free = self.P.shape[1]
        self._blocks = {None: (slice(0, self.ndofs), slice(0, n_free)),  # (dofs, free dofs)
                        "w": (slice(0, self.n_w), slice(0, self.n_free_w)),
                        "d": (slice(self.n_w, self.ndofs), slice(self.n_free_w, n_free))}
        self.U = self._affine_modes(gdim)
        self._solvers = {field: _ReducedLU(self.P[rows][:, columns], rows)
                         for field, (rows, columns) in self._blocks.items()}

    def _phase_coefficients(self, data: MeshData, tags, crack: FractureMaterial) -> dict:
        """Cellwise (DG0) λ, μ, G_c, ℓ, k_ℓ and the fracturing indicator f."""
        from dolfinx import fem

        DG0 = fem.functionspace(self.mesh, ("DG", 0))
        functions = {name: fem.Function(DG0) for name in
                     ("lambda", "mu", "Gc", "ell", "k_ell", "fracturing")}
        for name, material in self.phases.items():
            dofs = DG0.dofmap.list[tags.find(data.group(name, data.tdim).tag), 0]
            lam, mu = lame(material.E, material.nu)
            fracturing = isinstance(material, FractureMaterial)
            source = material if fracturing else crack
            for key, value in (("lambda", lam), ("mu", mu), ("Gc", source.Gc),
                               ("ell", source.ell), ("k_ell", source.k_ell),
                               ("fracturing", float(fracturing))):
                functions[key].x.array[dofs] = value
        return functions

    def _periodic_basis(self, gdim: int) -> scipy.sparse.csr_matrix:
        """P (all dofs of [w, d] × free dofs): periodic w without the pinned node, periodic d."""
        bcs, periodic_w = periodic_constraint(self.V, self.lattice, np.zeros(gdim))
        _, periodic_d = periodic_constraint(self.S, self.lattice, None)
        P_w = periodic_expansion(periodic_w, self.V).tocsc()
        P_d = periodic_expansion(periodic_d, self.S).tocsc()
        free_w = np.setdiff1d(np.flatnonzero(np.diff(P_w.indptr)), bcs[0].dof_indices()[0])
        free_d = np.flatnonzero(np.diff(P_d.indptr))  # slave columns are empty
        self.n_free_w = len(free_w)
        return scipy.sparse.block_diag([P_w[:, free_w], P_d[:, free_d]], format="csr")

    def _affine_modes(self, gdim: int) -> NDArray:
        """U (all dofs × n_strain): displacements E·(x − origin) of the unit Mandel strains."""
        from dolfinx import fem

        mode = fem.Function(self.V)
        origin = self.lattice.origin[:, None]
        U = np.zeros((self.ndofs, self.n_strain))
        for k, unit in enumerate(np.eye(self.n_strain)):
            tensor = mandel_to_matrix(unit)
            mode.interpolate(lambda x, t=tensor: t @ (x[:gdim] - origin))
            U[: self.n_w, k] = mode.x.array[: self.n_w]
        return U

    # ------------------------------------------------------------------ state
    @property
    def state_size(self) -> int:
        return self.ndofs + self.rule.n_owned_points

    def initial_state(self) -> NDArray:
        """Zero fluctuation, sound material, zero history."""
        return np.zeros(self.state_size)

    def damage(self, state: NDArray) -> NDArray:
        """The damage dofs of ``state`` (a view)."""
        return np.asarray(state)[self.n_w: self.ndofs]

    def point_outputs(self, states: NDArray) -> dict[str, NDArray]:
        """Per macro point (rows of ``states``): the cell-averaged damage [-] (voids count as
        sound)."""
        states = np.asarray(states, dtype=float).reshape(-1, self.state_size)
        return {"damage": states[:, self.n_w: self.ndofs] @ self._damage_weights / self.volume}

    # ------------------------------------------------------------------ the micro solve
    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        """Homogenized stress (n_strain,), consistent tangent (n_strain²) and new state.

        Raises:
            MicroSolveError: Newton did not converge in ``max_iterations`` updates, the LU
                factorization failed, or a result is not finite.
        """
        macro, state = np.asarray(strain, dtype=float), np.asarray(state, dtype=float)
        if macro.shape != (self.n_strain,) or state.shape != (self.state_size,):
            raise ValueError(f"expected strain ({self.n_strain},) and state "
                             f"({self.state_size},), got {macro.shape} and {state.shape}")
        self.history.x.array[:] = state[self.ndofs:]
        self.iterations, self.residuals = 0, []
        self.w.x.array[:] = state[: self.n_w]
        self.d.x.array[:] = state[self.n_w: self.ndofs]
        try:
            R = self._newton(macro)
        except MicroSolveError:  # a crack jumps: follow it by alternate minimization
            self.w.x.array[:] = state[: self.n_w]
            self.d.x.array[:] = state[self.n_w: self.ndofs]
            R = self._alternate(macro)
        solver = self._solvers[None]
        solver.factor(self._jacobian())  # at the converged fields
        indptr, indices, values = self._matrix.getValuesCSR()
        K = scipy.sparse.csr_matrix((values, indices, indptr), shape=self._matrix.getSize())
        KU = K @ self.U
        X = solver.solve(self.P.T @ KU)
        tangent = (self.U.T @ KU - (self.P.T @ (K.T @ self.U)).T @ X) / self.volume
        stress = self.U.T @ R / self.volume
        history = self.rule.evaluate(self._history_expression, 1)[:, 0]
        check_finite(stress, tangent)
        new_state = np.concatenate([self.w.x.array[: self.n_w], self.d.x.array[: self.n_d],
                                    history])
        return stress, tangent, new_state

    def _newton(self, macro: NDArray, field: str | None = None,
                max_iterations: int | None = None) -> NDArray:
        """Solve the cell at macro strain ``macro`` from the current fields (``field`` "w" or
        "d": that field only, the other held); the unconstrained residual at the solution.

        A Newton update that does not lower the periodic residual norm is halved (up to
        ``HALVINGS`` times): near a crack jump the full step overshoots. ``max_iterations``
        (default: the RVE's) bounds the updates."""
        limit = self.max_iterations if max_iterations is None else max_iterations
        self.E.value[:] = mandel_to_matrix(macro)
        rows, _ = self._blocks[field]
        solver = self._solvers[field]
        R = self._residual()
        for iteration in range(limit + 1):
            if self._converged(R, field):
                return R
            if iteration == limit:
                break
            solver.factor(self._jacobian())
            update = np.zeros(self.ndofs)
            update[rows] = solver.expand(solver.solve(-solver.reduce(R[rows])))
            merit = np.linalg.norm(solver.reduce(R[rows]))
            for halving in range(HALVINGS + 1):
                self._shift(update / 2 ** halving)
                trial = self._residual()
                if np.linalg.norm(solver.reduce(trial[rows])) < merit or halving == HALVINGS:
                    break
                self._shift(-update / 2 ** halving)
            R = trial
            self.iterations += 1
        raise MicroSolveError(f"damaging RVE: Newton did not converge in {limit} "
                              f"iterations (residual {self.residuals[-1]:.3e})")

    def _shift(self, update: NDArray) -> None:
        """Add ``update`` (all dofs of [w, d]) to the fields."""
        self.w.x.array[:] += update[: self.n_w]
        self.d.x.array[:] += update[self.n_w:]

    def _alternate(self, macro: NDArray) -> NDArray:
        """Alternate minimization (w with d held, then d with w held), which follows a crack
        that jumps through the cell where the monolithic Newton does not converge; every
        ``NEWTON_EVERY`` sweeps, or once no damage value changes by more than 1e-4, the
        monolithic Newton tries to finish from there. The residual at the solution."""
        for sweep in range(1, MAX_SWEEPS + 1):
            before = self.d.x.array.copy()
            self._newton(macro, "w")
            self._newton(macro, "d")
            settled = np.abs(self.d.x.array - before).max() <= 1e-4
            if settled or sweep % NEWTON_EVERY == 0:
                w, d = self.w.x.array.copy(), self.d.x.array.copy()
                try:
                    return self._newton(macro, max_iterations=None if settled else
                                        TRIAL_ITERATIONS)
                except MicroSolveError:
                    if settled:
                        raise
                    self.w.x.array[:], self.d.x.array[:] = w, d
        raise MicroSolveError(f"damaging RVE: alternate minimization did not settle in "
                              f"{MAX_SWEEPS} sweeps")

    def _residual(self) -> NDArray:
        """The unconstrained residual [R_w, R_d] at the current fields."""
        from dolfinx import fem

        R = np.zeros(self.ndofs)
        fem.assemble_vector(R[: self.n_w], self._residual_forms[0])
        fem.assemble_vector(R[self.n_w:], self._residual_forms[1])
        return R

    def _converged(self, R: NDArray, field: str | None = None) -> bool:
        """Periodic residual of each field below rtol × its scale (w: ‖R_w‖, the boundary
        tractions that cancel in the periodic sum; d: the driving force 2(1 − d)H)."""
        from dolfinx import fem

        drive = np.zeros(self.n_d)
        fem.assemble_vector(drive, self._drive_form)
        reduced = self.P.T @ R
        norms = (np.linalg.norm(reduced[: self.n_free_w]), np.linalg.norm(reduced[self.n_free_w:]))
        scales = (np.linalg.norm(R[: self.n_w]), np.linalg.norm(drive))
        self.residuals.append(float(np.hypot(*norms)))
        if not np.all(np.isfinite(norms)):
            raise MicroSolveError("damaging RVE: the residual is not finite")
        tiny = np.finfo(float).tiny
        tested = {None: (0, 1), "w": (0,), "d": (1,)}[field]
        return all(norms[i] <= self.rtol * max(scales[i], tiny) for i in tested)

    def _jacobian(self):
        """The unconstrained Jacobian [[K_ww, K_wd], [K_dw, K_dd]] at the current fields
        (PETSc, assembled into one matrix of fixed pattern)."""
        from dolfinx.fem.petsc import assemble_matrix_block

        self._matrix.zeroEntries()
        assemble_matrix_block(self._matrix, self._jacobian_forms)
        self._matrix.assemble()
        return self._matrix

    def destroy(self) -> None:
        """Free the PETSc objects."""
        for solver in self._solvers.values():
            solver.destroy()
        self._matrix.destroy()


class _ReducedLU:
    """MUMPS LU of the periodic reduction Pᵀ K[rows, rows] P of a Jacobian on one rank.

    The reduced matrix is formed by PETSc's PtAP into the same matrix every time (the pattern
    is fixed), so MUMPS redoes only the numeric factorization. Options prefix
    ``fe2_damage_rve_``.
    """

    def __init__(self, P: scipy.sparse.spmatrix, rows: slice) -> None:
        from petsc4py import PETSc

        self.P_scipy = P.tocsr()
        self.P_scipy.sort_indices()
        self.P = PETSc.Mat().createAIJ(self.P_scipy.shape, comm=MPI.COMM_SELF, csr=(
            self.P_scipy.indptr.astype(PETSc.IntType),
            self.P_scipy.indices.astype(PETSc.IntType), self.P_scipy.data))
        self.P.assemble()
        self.rows = PETSc.IS().createStride(rows.stop - rows.start, rows.start, 1,
                                            comm=MPI.COMM_SELF)
        self.ksp = PETSc.KSP().create(MPI.COMM_SELF)
        self.ksp.setOptionsPrefix("fe2_damage_rve_")
        self.ksp.setType("preonly")
        self.ksp.getPC().setType("lu")
        self.ksp.getPC().setFactorSolverType("mumps")
        self.ksp.setFromOptions()
        self.block = self.A = None
        self.x, self.b = self.P.createVecRight(), self.P.createVecRight()  # free dofs

    def factor(self, K) -> None:
        """Factorize Pᵀ K[rows, rows] P (K: the assembled PETSc Jacobian)."""
        from petsc4py import PETSc

        self.block = K.createSubMatrix(self.rows, self.rows, submat=self.block)
        if self.A is None:
            self.A = self.block.PtAP(self.P)
            self.ksp.setOperators(self.A)
        else:
            self.block.PtAP(self.P, result=self.A)
        try:
            self.ksp.setUp()
        except PETSc.Error as error:
            raise MicroSolveError(f"damaging RVE: LU factorization failed: {error}") from error

    def reduce(self, values: NDArray) -> NDArray:
        """Pᵀ values."""
        return self.P_scipy.T @ values

    def expand(self, values: NDArray) -> NDArray:
        """P values."""
        return self.P_scipy @ values

    def solve(self, rhs: NDArray) -> NDArray:
        """(Pᵀ K P)⁻¹ rhs for one (n,) or several (n, k) right-hand sides."""
        columns = np.asarray(rhs, dtype=float).reshape(rhs.shape[0], -1)
        out = np.empty_like(columns)
        for k in range(columns.shape[1]):
            self.b.array[:] = columns[:, k]
            self.ksp.solve(self.b, self.x)
            if self.ksp.getConvergedReason() < 0:
                raise MicroSolveError(f"damaging RVE: linear solve failed (PETSc reason "
                                      f"{self.ksp.getConvergedReason()})")
            out[:, k] = self.x.array
        return out.reshape(rhs.shape)

    def destroy(self) -> None:
        for obj in (self.ksp, self.A, self.block, self.P, self.rows, self.x, self.b):
            if obj is not None:
                obj.destroy()
