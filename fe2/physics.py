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


PHYSICS = {"mechanics": Mechanics, "transport": Transport}
