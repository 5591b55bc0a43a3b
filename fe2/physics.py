"""Macro problem definitions: what the generalized strain and stress are and how they pair.

The FE² core (fe2.macro) is the same for every physics. A definition names the unknown field,
its components (for boundary conditions), the generalized strain as a UFL expression of the
field, and the quantity of the test function the generalized stress does work on::

    residual(u; v) = ∫ S · test_strain(v) dx − λ ∫ t · v ds
    jacobian(du, v) = ∫ (T · strain(du)) · test_strain(v) dx

with S, T the homogenized stress and tangent returned by the micro models at the quadrature
points and λ the load factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from fe2.mandel import n_mandel, ufl_mandel

__all__ = ["Mechanics", "Transport", "PHYSICS"]


@dataclass(frozen=True)
class Mechanics:
    """Small-strain mechanics: displacement [length], strain and stress in Mandel notation.

    ``model`` is "plane_strain" (2D mesh) or "3d".
    """

    model: str = "plane_strain"
    kind = "mechanics"

    def components(self, gdim: int) -> tuple[str, ...]:
        return ("ux", "uy", "uz")[:gdim]

    def value_shape(self, gdim: int) -> tuple[int, ...]:
        return (gdim,)

    def n_strain(self, gdim: int) -> int:
        return n_mandel(gdim)

    def n_stress(self, gdim: int) -> int:
        return n_mandel(gdim)

    def strain(self, u):
        import ufl

        return ufl_mandel(ufl.sym(ufl.grad(u)))

    def test_strain(self, v):
        return self.strain(v)

    def near_nullspace(self, V):
        """The rigid-body modes of V (3 in 2D, 6 in 3D), orthonormalized, as a PETSc
        NullSpace: what algebraic multigrid needs to coarsen elasticity well."""
        from dolfinx import la
        from petsc4py import PETSc

        gdim = V.mesh.geometry.dim
        n_owned = V.dofmap.index_map.size_local
        x = V.tabulate_dof_coordinates()[:n_owned, :gdim]
        modes = [la.vector(V.dofmap.index_map, gdim) for _ in range(3 if gdim == 2 else 6)]
        values = [mode.array[: n_owned * gdim].reshape(n_owned, gdim) for mode in modes]
        for i in range(gdim):  # translations
            values[i][:, i] = 1.0
        rotations = [(0, 1)] if gdim == 2 else [(0, 1), (1, 2), (2, 0)]
        for k, (i, j) in enumerate(rotations):  # rotations in the (i, j) planes
            values[gdim + k][:, i], values[gdim + k][:, j] = -x[:, j], x[:, i]
        la.orthonormalize(modes)
        basis = [mode.petsc_vec.copy() for mode in modes]  # own memory: outlive ``modes``
        return PETSc.NullSpace().create(vectors=basis, comm=V.mesh.comm)


@dataclass(frozen=True)
class Transport:
    """Steady transport (diffusion, conduction) of a concentration c [mol/m³ or any unit].

    Generalized strain (∇c, c): the micro model may depend on the concentration itself.
    Generalized stress: the flux-like quantity D∇c paired with ∇v, so the weak form reads
    ∫ D(c)∇c·∇v dx = λ ∫ q_in v ds.
    """

    kind = "transport"

    def components(self, gdim: int) -> tuple[str, ...]:
        return ("c",)

    def value_shape(self, gdim: int) -> tuple[int, ...]:
        return ()

    def n_strain(self, gdim: int) -> int:
        return gdim + 1

    def n_stress(self, gdim: int) -> int:
        return gdim

    def strain(self, c):
        import ufl

        return ufl.as_vector([*ufl.grad(c), c])

    def test_strain(self, v):
        import ufl

        return ufl.grad(v)

    def near_nullspace(self, V):
        """None: the constant, the near-nullspace of a scalar problem, is multigrid's default."""
        return None


PHYSICS = {"mechanics": Mechanics, "transport": Transport}
