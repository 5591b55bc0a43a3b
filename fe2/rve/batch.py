"""Batched micro Newton for a periodic or affine NonlinearRVE on one rank: many macro points
at once.

All points of a rank share one mesh, one sparsity pattern and one set of operators, so the
per-point dolfinx and dolfinx_mpc calls of ``NonlinearRVE.solve`` are replaced by arithmetic on
arrays of points:

- the laws are evaluated for all micro points of all active macro points in one call;
- the reduced Jacobian ``K = Pᵀ G diag(C_q / w_q) Gᵀ P`` (pinned row and column replaced by the
  identity) is the sum of one small dense matrix ``A_q (C_q / w_q) A_qᵀ`` per micro point (A_q:
  the rows of ``Pᵀ G`` of its cell, extracted once); for a whole batch these are two stacked
  matrix products and one sparse sum ``S @ local`` with ``S`` built once;
- every point's matrix is refactorized numerically by PETSc's own sparse Cholesky (symmetric
  tangents) or LU, the symbolic analysis (ordering, fill pattern) done once for the shared
  pattern and reused;
- a point solved at its committed macro strain starts from, and returns, its last converged
  tangent (as in ``NonlinearRVE.solve``);
- convergence is checked per point; converged points leave the batch and get their consistent
  tangent by static condensation with the factorization of their converged Jacobian.

The arithmetic is the per-point path's (same operators G, P, w_q and quadrature), so results
agree to round-off and iteration counts are equal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.micro import BatchSolveError, MicroSolveError

__all__ = ["BOUNDARY_CONDITIONS", "BatchNewton", "BatchResult", "JacobianPattern", "PointLU"]

# The cells whose reduced Jacobian is Pᵀ K P with P sparse (the minimal condition's
# saddle-point matrix needs pivoting: solved per point).
BOUNDARY_CONDITIONS = ("periodic", "affine")

# The working memory one chunk of points may take (tangents, Jacobian values, states) [bytes].
CHUNK_BYTES = 256 * 2**20


class JacobianPattern:
    """The reduced Jacobian's CSR pattern and its values as a linear map of tangents.

    Args:
        G: (ndofs × n_points·n) operator of ∫ τ · s(v) dx (fe2.rve.nonlinear.NonlinearRVE.G).
        P: (ndofs × ndofs) expansion w = P x (periodic: slave columns empty; affine: the
            identity).
        weights: quadrature weights w_q (n_points,).
        pin: the pinned dofs (w = 0 there; affine: the boundary).
        n: strain components per point.
    """

    def __init__(self, G: scipy.sparse.csr_matrix, P: scipy.sparse.csr_matrix,
                 weights: NDArray, pin: NDArray, n: int) -> None:
        ndofs, n_points = G.shape[0], len(weights)
        A = (P.T @ G).tocsr()  # reduced rows of the strain operator
        keep = np.ones(ndofs)
        keep[pin] = 0.0
        A = (scipy.sparse.diags(keep) @ A).tocsc()
        A.eliminate_zeros()
        A.sort_indices()
        # Per point: the reduced dofs of its cell (padded) and the dense block A_q (k × n).
        T = A.T.tocoo()  # rows (q, i), columns dofs
        point, component = T.row // n, T.row % n
        keys, position = np.unique(point.astype(np.int64) * ndofs + T.col, return_inverse=True)
        starts = np.searchsorted(keys // ndofs, np.arange(n_points + 1))
        k = int(np.diff(starts).max())
        slot = position - starts[point]
        dofs = np.full((n_points, k), -1, dtype=np.int64)
        dofs[keys // ndofs, np.arange(len(keys)) - starts[keys // ndofs]] = keys % ndofs
        block = np.zeros((n_points, k, n))
        block[point, slot, component] = T.data
        # Point q adds A_q (C_q / w_q) A_qᵀ (k × k) to the rows and columns dofs[q]; S sums
        # these local matrices into the nonzeros.
        self.left = block / weights[:, None, None]
        self.right = block.transpose(0, 2, 1).copy()
        rows = np.broadcast_to(dofs[:, :, None], (n_points, k, k)).ravel()
        cols = np.broadcast_to(dofs[:, None, :], (n_points, k, k)).ravel()
        used = (rows >= 0) & (cols >= 0)
        entry = rows[used] * ndofs + cols[used]
        # Rows without a reduced equation (slaves, the pin) carry a 1 on the diagonal.
        free = np.setdiff1d(np.arange(ndofs), np.unique(rows[used]))
        entries, index = np.unique(np.concatenate([entry, free * ndofs + free]),
                                   return_inverse=True)
        self.ndofs, self.nnz, self.local_size = ndofs, len(entries), k
        self.indptr = np.searchsorted(entries // ndofs, np.arange(ndofs + 1)).astype(np.int32)
        self.indices = (entries % ndofs).astype(np.int32)
        self.S = scipy.sparse.csr_matrix(
            (np.ones(len(entry)), (index[: len(entry)], np.flatnonzero(used))),
            shape=(self.nnz, n_points * k * k))
        self.identity = np.zeros(self.nnz)
        self.identity[index[len(entry):]] = 1.0

    def values(self, C: NDArray) -> NDArray:
        """Nonzero values (m, nnz) of the reduced Jacobians of m points with tangents C
        (m, n_points, n, n)."""
        local = (self.left @ C) @ self.right  # (m, n_points, k, k)
        return (self.S @ local.reshape(len(C), self.S.shape[1]).T).T + self.identity


# Fill-reducing orderings tried for the shared pattern (PETSc names): nested dissection has
# the least fill on large 2D cells, quotient minimum degree on small ones (412 dofs: 10 146
# against 12 554 nonzeros in the Cholesky factor, numeric factorization 0.30 against 0.42 ms).
ORDERINGS = ("nd", "qmd")


def _least_fill_ordering(pattern: JacobianPattern) -> str:
    """The ordering of ORDERINGS whose Cholesky factor of the pattern has the fewest nonzeros
    (factorizations of the pattern with identity values, once per RVE)."""
    from petsc4py import PETSc

    A = PETSc.Mat().createAIJWithArrays(
        (pattern.ndofs, pattern.ndofs), (pattern.indptr, pattern.indices, pattern.identity),
        comm=MPI.COMM_SELF)
    A.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    A.assemble()
    fill = {}
    for ordering in ORDERINGS:
        pc = PETSc.PC().create(MPI.COMM_SELF)
        pc.setOperators(A)
        pc.setType("cholesky")
        pc.setFactorSolverType("petsc")
        pc.setFactorOrdering(ordering)
        pc.setUp()
        fill[ordering] = pc.getFactorMatrix().getInfo()["nz_used"]
        pc.destroy()
    A.destroy()
    return min(ORDERINGS, key=fill.__getitem__)


class PointLU:
    """One point's reduced Jacobian at a time, factorized by PETSc's own sparse direct solver
    with the symbolic analysis (ordering of least fill, fill pattern) done once and reused.

    If every micro tangent is exactly symmetric (J2, elasticity), so is the Jacobian and it is
    factorized by Cholesky (half the work of LU); otherwise, or if Cholesky meets a bad pivot,
    by LU. A point whose tangents equal those of the last factorization reuses it.
    """

    def __init__(self, pattern: JacobianPattern) -> None:
        from petsc4py import PETSc

        self.pattern = pattern
        self.ordering = _least_fill_ordering(pattern)
        self.ksp, self.A, self.values = {}, {}, {}
        for kind in ("cholesky", "lu"):
            # The matrix works on these arrays (no copy): writing the values and assembling
            # is the whole update.
            values = pattern.identity.copy()
            A = PETSc.Mat().createAIJWithArrays(
                (pattern.ndofs, pattern.ndofs), (pattern.indptr, pattern.indices, values),
                comm=MPI.COMM_SELF)
            A.setOption(PETSc.Mat.Option.SYMMETRIC, kind == "cholesky")
            A.assemble()
            ksp = PETSc.KSP().create(MPI.COMM_SELF)
            ksp.setOperators(A)
            ksp.setType("preonly")
            pc = ksp.getPC()
            pc.setType(kind)
            pc.setFactorSolverType("petsc")
            pc.setFactorOrdering(self.ordering)
            self.ksp[kind], self.A[kind], self.values[kind] = ksp, A, values
        self.x, self.b = self.A["lu"].createVecs()
        self._kind = "lu"
        self._factored: NDArray | None = None
        self.factorizations = 0

    def factorize(self, C: NDArray, values: NDArray | None = None) -> None:
        """Factorize the Jacobian of tangents C (n_points, n, n) (values: its nonzeros, if
        already computed), unless C is that of the last factorization."""
        if self._factored is not None and np.array_equal(C, self._factored):
            return
        if values is None:
            values = self.pattern.values(C[None])[0]
        self._factored = None
        kinds = ("cholesky", "lu") if np.array_equal(C, C.swapaxes(1, 2)) else ("lu",)
        for kind in kinds:
            error = self._factorize(kind, values)
            if error is None:
                break
        else:
            raise MicroSolveError(f"micro Jacobian factorization failed: {error}")
        self._kind = kind
        self._factored = C.copy()
        self.factorizations += 1

    def _factorize(self, kind: str, values: NDArray):
        """Numeric factorization by ``kind``; the PETSc error if it failed, else None."""
        from petsc4py import PETSc

        self.values[kind][:] = values
        self.A[kind].assemble()  # marks the values as changed
        pc = self.ksp[kind].getPC()
        try:
            pc.setUp()
        except PETSc.Error as error:
            return error
        if pc.getFailedReason() != 0:
            return f"PETSc factorization failed (reason {pc.getFailedReason()})"
        return None

    def solve(self, rhs: NDArray) -> NDArray:
        """K⁻¹ rhs for the last factorized K; rhs (ndofs,) or (ndofs, k)."""
        ksp = self.ksp[self._kind]
        columns = rhs.reshape(self.pattern.ndofs, -1)
        out = np.empty_like(columns)
        for k in range(columns.shape[1]):
            self.b.array[:] = columns[:, k]
            ksp.solve(self.b, self.x)
            if ksp.getConvergedReason() < 0:
                raise MicroSolveError("RVE linear solve failed (PETSc reason "
                                      f"{ksp.getConvergedReason()})")
            out[:, k] = self.x.array
        return out.reshape(rhs.shape)

    def destroy(self) -> None:
        for obj in (*self.ksp.values(), *self.A.values(), self.x, self.b):
            obj.destroy()


@dataclass
class BatchResult:
    """Stress (m, n), tangent (m, n, n), new states (m, size), Newton updates per point."""

    stress: NDArray
    tangent: NDArray
    states: NDArray
    iterations: NDArray


class BatchNewton:
    """The micro Newton of many points of one NonlinearRVE (on MPI.COMM_SELF) together."""

    def __init__(self, rve) -> None:
        if rve.comm.size != 1:
            raise ValueError("the batched micro Newton needs an RVE on one rank")
        self.rve = rve
        if rve.bc not in BOUNDARY_CONDITIONS:
            raise ValueError(f"the batched micro Newton solves {BOUNDARY_CONDITIONS} cells, "
                             f"not {rve.bc!r}")
        self.P = rve.expansion.tocsr()
        self.PT = self.P.T.tocsr()
        self.G, self.GT = rve.G, rve.G.T.tocsr()
        self.pattern = JacobianPattern(rve.G, self.P, rve.weights, rve.pin, rve.n_strain)
        self.lu = PointLU(self.pattern)

    def chunk_size(self) -> int:
        """Points per chunk so that one chunk's working arrays fit in CHUNK_BYTES."""
        rve = self.rve
        k, n = self.pattern.local_size, rve.n_strain
        per_point = 8 * (rve.n_points * (4 * n * n + k * n + k * k) + self.pattern.nnz
                         + 4 * rve.state_size)
        return max(1, CHUNK_BYTES // per_point)

    def solve(self, strains: NDArray, states: NDArray) -> BatchResult:
        """Every point in order, chunk after chunk.

        Raises:
            BatchSolveError: at the first failing point (later chunks are not solved).
        """
        m, size = len(strains), self.chunk_size()
        result = BatchResult(np.empty((m, self.rve.n_strain)),
                             np.empty((m, self.rve.n_strain, self.rve.n_strain)),
                             np.empty_like(states), np.zeros(m, dtype=int))
        for start in range(0, m, size):
            part = slice(start, min(start + size, m))
            try:
                stress, tangent, new, its = self._chunk(strains[part], states[part])
            except BatchSolveError as error:
                raise BatchSolveError(start + error.index, str(error), np.concatenate(
                    [result.iterations[:start], error.iterations])) from None
            result.stress[part], result.tangent[part] = stress, tangent
            result.states[part], result.iterations[part] = new, its
        return result

    # ------------------------------------------------------------------ one chunk
    def _chunk(self, macro: NDArray, states: NDArray):
        rve = self.rve
        m, n, ndofs = len(macro), rve.n_strain, rve.ndofs
        w = states[:, :ndofs].copy()
        histories = self._histories(states)
        committed = rve.committed_strains(states)
        unmoved = np.flatnonzero(np.all(macro == committed, axis=1))
        first: dict[int, NDArray] = {}  # their first Jacobian's tangents
        stress, tangent = np.empty((m, n)), np.empty((m, n, n))
        new_states = np.empty_like(states)
        iterations = np.zeros(m, dtype=int)
        active = np.arange(m)
        failures: dict[int, str] = {}
        tiny = np.finfo(float).tiny
        for iteration in range(rve.max_iterations + 1):
            if len(active) == 0:
                break
            strain = self._point_strains(macro[active], w[active])
            sigma, C, new_h, finite = rve._evaluate_batch(
                strain, [h[active] for h in histories])
            jacobian = C
            if iteration == 0 and len(unmoved):  # all points are active
                jacobian = C.copy()
                committed_C = C[unmoved]
                rve._first_tangents(committed_C, strain[unmoved],
                                    [h[unmoved] for h in histories])
                jacobian[unmoved] = committed_C
                first = {int(point): jacobian[point] for point in unmoved}
            start = time.perf_counter()
            full = self.G @ sigma.reshape(len(active), -1).T  # (ndofs, active)
            scale = np.sqrt(np.einsum("ij,ij->j", full, full))
            reduced = self.PT @ full
            reduced[rve.pin] = 0.0
            norm = np.sqrt(np.einsum("ij,ij->j", reduced, reduced))
            rve.timings["residual"] += time.perf_counter() - start
            for k in np.flatnonzero(~finite):
                failures[active[k]] = "micro result is not finite (NaN or inf)"
            bad = finite & ~np.isfinite(norm)
            for k in np.flatnonzero(bad):
                failures[active[k]] = "micro Newton residual is not finite"
            ok = finite & ~bad
            done = ok & (norm <= rve.rtol * np.maximum(scale, tiny))
            for k in np.flatnonzero(done):
                iterations[active[k]] = iteration
            C_done = C[done]
            for k, point in enumerate(active[done]):
                if point in first:
                    C_done[k] = first[point]
            self._finish(active[done], C_done, sigma[done], w, new_h, done, macro, stress,
                         tangent, new_states, failures)
            todo = np.flatnonzero(ok & ~done)
            if iteration == rve.max_iterations:
                for k in todo:
                    failures[active[k]] = (
                        f"micro Newton did not converge in {rve.max_iterations} iterations "
                        f"(residual {norm[k]:.3e}, tolerance {rve.rtol * scale[k]:.3e})")
                todo = todo[:0]
            todo = self._update(active, todo, jacobian, reduced, w, failures)
            active = active[todo]
            if failures:  # points after the first failure need not be solved
                active = active[active < min(failures)]
        if failures:
            first = min(failures)
            raise BatchSolveError(first, failures[first], iterations[:first])
        rve.counts["solves"] += m
        return stress, tangent, new_states, iterations

    def _histories(self, states: NDArray) -> list[NDArray]:
        """Per law: read-only views (m, n_points_of_law, n_history) of ``states``."""
        views, offset = [], self.rve.ndofs
        for group in self.rve.groups:
            size = len(group.rows) * group.law.n_history
            view = states[:, offset:offset + size].reshape(
                len(states), len(group.rows), group.law.n_history)
            view.flags.writeable = False
            views.append(view)
            offset += size
        return views

    def _point_strains(self, macro: NDArray, w: NDArray) -> NDArray:
        """Strain (m, n_points, n) at every quadrature point of m points: E + s(w)."""
        start = time.perf_counter()
        rve = self.rve
        strains = (self.GT @ w.T).T.reshape(len(w), rve.n_points, rve.n_strain)
        strains /= rve.weights[None, :, None]
        strains += macro[:, None, :]
        rve.timings["residual"] += time.perf_counter() - start
        return strains

    def _update(self, active: NDArray, todo: NDArray, C: NDArray, reduced: NDArray,
                w: NDArray, failures: dict[int, str]) -> NDArray:
        """Newton update w += P K⁻¹(-Pᵀr) of the points ``todo`` (positions in ``active``);
        returns those that did not fail."""
        rve = self.rve
        start = time.perf_counter()
        values = self.pattern.values(C[todo])
        rve.timings["assembly"] += time.perf_counter() - start
        steps = np.zeros((rve.ndofs, len(todo)))
        kept = np.ones(len(todo), dtype=bool)
        for k, position in enumerate(todo):
            try:
                self._factorize(C[position], values[k])
                start = time.perf_counter()
                steps[:, k] = self.lu.solve(-reduced[:, position])
                rve.timings["linear_solves"] += time.perf_counter() - start
            except MicroSolveError as error:
                failures[active[position]] = str(error)
                kept[k] = False
        w[active[todo]] += (self.P @ steps).T
        return todo[kept]

    def _factorize(self, C: NDArray, values: NDArray | None = None) -> None:
        start = time.perf_counter()
        before = self.lu.factorizations
        self.lu.factorize(C, values)
        self.rve.timings["factorization"] += time.perf_counter() - start
        self.rve.counts["factorizations"] += self.lu.factorizations - before

    def _finish(self, points: NDArray, C: NDArray, sigma: NDArray, w: NDArray,
                new_h: list[NDArray], done: NDArray, macro: NDArray, stress: NDArray,
                tangent: NDArray, new_states: NDArray, failures: dict[int, str]) -> None:
        """Stress, consistent tangent (static condensation) and new state of converged points."""
        if len(points) == 0:
            return
        rve = self.rve
        n, npts = rve.n_strain, rve.n_points
        start = time.perf_counter()
        # Columns (point, k): F = G (C e_k) and H = G (Cᵀ e_k) over the micro points.
        F = self.G @ C.reshape(len(points), npts * n, n).transpose(1, 0, 2).reshape(npts * n, -1)
        H = self.G @ C.transpose(0, 1, 3, 2).reshape(len(points), npts * n, n).transpose(
            1, 0, 2).reshape(npts * n, -1)
        loads = self.PT @ F
        loads[rve.pin] = 0.0
        mean_C = np.einsum("q,mqij->mij", rve.weights, C)
        mean_sigma = np.einsum("q,mqi->mi", rve.weights, sigma)
        rve.timings["averaging"] += time.perf_counter() - start
        histories = [h[done] for h in new_h]
        for k, point in enumerate(points):
            columns = slice(k * n, (k + 1) * n)
            try:
                self._factorize(C[k])
                start = time.perf_counter()
                X = -self.lu.solve(loads[:, columns])
            except MicroSolveError as error:
                failures[point] = str(error)
                continue
            W = self.P @ X
            C_hom = (mean_C[k] + H[:, columns].T @ W) / rve.volume
            stress[point], tangent[point] = mean_sigma[k] / rve.volume, C_hom
            new_states[point] = np.concatenate([w[point], *(h[k].ravel() for h in histories),
                                                macro[point]])
            rve.timings["averaging"] += time.perf_counter() - start
            if not (np.all(np.isfinite(stress[point])) and np.all(np.isfinite(C_hom))):
                failures[point] = "micro result is not finite (NaN or inf)"

    def destroy(self) -> None:
        self.lu.destroy()
