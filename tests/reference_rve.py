"""ReferenceRVE: a NonlinearRVE that computes strain, residual and averages by assembling forms.

NonlinearRVE evaluates the micro strain, the internal force and the homogenized stress and
tangent with operators built once (the strain-to-dof operator ``G``, the quadrature weights and
the constraint matrix ``P``). This subclass, for the tests only, replaces them by the forms they
stand for: the strain is interpolated from ``E + s(w)``, the residual ∫ σ · s(v) dx is assembled
by dolfinx and reduced by dolfinx_mpc, and Σ and C_hom come from assembled scalars and vectors
with dolfinx_mpc's back-substitution. It is slower, runs on a one-process communicator only,
and serves as an independent check of ``G``, the weights and ``P``.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from fe2.io.mesh import MeshData
from fe2.laws.pointwise import PointLaw
from fe2.rve.nonlinear import NonlinearRVE


class ReferenceRVE(NonlinearRVE):
    """NonlinearRVE with strain by interpolation and residual and averages by assembly.

    Same arguments as NonlinearRVE; ``data.mesh`` must live on a one-process communicator.
    """

    def __init__(self, data: MeshData, laws: dict[str, PointLaw], model: str = "plane_strain",
                 degree: int = 1, rtol: float = 1e-10, max_iterations: int = 25):
        if data.mesh.comm.size != 1:
            raise ValueError("ReferenceRVE needs a mesh on a one-process communicator")
        super().__init__(data, laws, model=model, degree=degree, rtol=rtol,
                         max_iterations=max_iterations)
        self._build_reference()

    def _build_reference(self) -> None:
        """Forms for the reference path: strain, residual and averages by assembly."""
        import ufl
        from dolfinx import fem

        n = self.n_strain
        Qv = self.rule.space((n,))
        v = ufl.TestFunction(self.V)
        self.macro = fem.Constant(self.mesh, np.zeros(n))
        self.unit = fem.Constant(self.mesh, np.zeros(n))
        self.unit_matrix = fem.Constant(self.mesh, np.zeros((n, n)))
        self.w_function = fem.Function(self.V)
        self.strain_function, self.stress_function = fem.Function(Qv), fem.Function(Qv)
        self.strain_expression = fem.Expression(self.macro + self.strain(self.w_function),
                                                Qv.element.interpolation_points())
        C, sigma = self.C_function, self.stress_function
        self.reference_forms = {
            "residual": fem.form(ufl.inner(sigma, self.strain(v)) * self.dx),
            "stress": fem.form(ufl.inner(sigma, self.unit) * self.dx),
            "A0": fem.form(ufl.inner(C, self.unit_matrix) * self.dx),
            "F": fem.form(ufl.inner(ufl.dot(C, self.unit), self.strain(v)) * self.dx),
            "H": fem.form(ufl.inner(ufl.dot(ufl.transpose(C), self.unit), self.strain(v))
                          * self.dx),
        }

    def _point_strains(self, macro: NDArray, w: NDArray) -> NDArray:
        """Strain (n_points, n_strain) at every quadrature point, interpolated from E + s(w)."""
        start = time.perf_counter()
        self.macro.value[:] = macro
        self.w_function.x.array[:] = w
        self.strain_function.interpolate(self.strain_expression)
        strains = self.strain_function.x.array.reshape(self.n_points, self.n_strain).copy()
        self.timings["residual"] += time.perf_counter() - start
        return strains

    def _residual(self, sigma: NDArray) -> tuple[NDArray, float]:
        """The assembled ∫ σ · s(v) dx reduced by dolfinx_mpc (pinned dof zeroed), and the
        norm of the unreduced assembled vector (convergence scale)."""
        import dolfinx_mpc
        from dolfinx.fem.petsc import assemble_vector

        start = time.perf_counter()
        self.stress_function.x.array[:] = sigma.ravel()
        form = self.reference_forms["residual"]
        full = assemble_vector(form)
        scale = full.norm()
        full.destroy()
        dolfinx_mpc.assemble_vector(form, self.solver.mpc, b=self.solver.b)
        reduced = self.solver.b.array.copy()
        reduced[self.pin] = 0.0
        self.timings["residual"] += time.perf_counter() - start
        return reduced, scale

    def _averages(self, sigma: NDArray, C: NDArray, w: NDArray) -> tuple[NDArray, NDArray]:
        """Σ and C_hom from assembled forms and dolfinx_mpc's back-substitution."""
        import dolfinx_mpc
        from dolfinx import fem
        from dolfinx.fem.petsc import assemble_vector

        n, forms, solver = self.n_strain, self.reference_forms, self.solver
        self.stress_function.x.array[:] = sigma.ravel()
        stress, A0 = np.zeros(n), np.zeros((n, n))
        H, dW = np.zeros((self.ndofs, n)), np.zeros((self.ndofs, n))
        for k, unit in enumerate(np.eye(n)):
            self.unit.value[:] = unit
            stress[k] = fem.assemble_scalar(forms["stress"])
            for j, other in enumerate(np.eye(n)):
                self.unit_matrix.value[:] = np.outer(unit, other)
                A0[k, j] = fem.assemble_scalar(forms["A0"])
            vector = assemble_vector(forms["H"])
            H[:, k] = vector.array
            vector.destroy()
            dolfinx_mpc.assemble_vector(forms["F"], solver.mpc, b=solver.b)
            rhs = solver.b.array.copy()
            rhs[self.pin] = 0.0
            solver.function.x.array[:] = -self._solve(rhs)
            solver.mpc.backsubstitution(solver.function)
            dW[:, k] = solver.function.x.array
        self.unit.value[:] = 0.0
        return stress / self.volume, (A0 + H.T @ dW) / self.volume
