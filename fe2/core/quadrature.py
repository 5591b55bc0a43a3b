"""Quadrature spaces: values stored at the quadrature points of a measure, one rule for all.

The FE² core keeps the generalized stress and tangent as Functions on quadrature spaces, so the
macro forms integrate exactly the values the micro models returned. Strain, stress, tangent and
the measure ``dx`` must use the same rule; these helpers make that the only possibility.
"""

from __future__ import annotations

import numpy as np

__all__ = ["QuadratureRule"]

SCHEME = "default"


class QuadratureRule:
    """One quadrature rule of ``degree`` on ``mesh``: its measure, spaces and point layout.

    Point ``p`` of owned cell ``c`` is row ``c * n_points + p`` of every per-point array
    (the quadrature dofmap is cell-contiguous; this is checked once).
    """

    def __init__(self, mesh, degree: int) -> None:
        import ufl

        self.mesh, self.degree = mesh, degree
        self.dx = ufl.Measure("dx", domain=mesh,
                              metadata={"quadrature_degree": degree, "quadrature_scheme": SCHEME})
        tdim = mesh.topology.dim
        self.n_cells = mesh.topology.index_map(tdim).size_local  # owned cells
        scalar = self.space(())
        self.reference_points = scalar.element.interpolation_points()
        self.n_points = len(self.reference_points)
        layout = scalar.dofmap.list[: self.n_cells]
        expected = np.arange(self.n_cells * self.n_points).reshape(layout.shape)
        if not np.array_equal(layout, expected):
            raise RuntimeError("quadrature dofmap is not cell-contiguous")
        self.n_owned_points = self.n_cells * self.n_points
        self._expressions: dict = {}
        self._coordinates: np.ndarray | None = None

    def space(self, shape: tuple[int, ...]):
        """A quadrature function space with values of ``shape`` at every point."""
        import basix.ufl
        from dolfinx import fem

        element = basix.ufl.quadrature_element(self.mesh.basix_cell(), value_shape=shape,
                                               scheme=SCHEME, degree=self.degree)
        return fem.functionspace(self.mesh, element)

    def expression(self, expr):
        """A compiled dolfinx Expression of ``expr`` at the rule's points; compiled once per
        (structurally equal) UFL expression, so outputs rebuilt every step cost no
        compilation."""
        from dolfinx import fem

        compiled = self._expressions.get(expr)
        if compiled is None:
            compiled = self._expressions[expr] = fem.Expression(expr, self.reference_points)
        return compiled

    def evaluate(self, expression, size: int, cells: np.ndarray | None = None) -> np.ndarray:
        """Values of a compiled expression at the points of ``cells`` (default: every owned
        cell), shape (points, size), cell after cell."""
        if cells is None:
            cells = np.arange(self.n_cells, dtype=np.int32)
        return expression.eval(self.mesh, cells).reshape(len(cells) * self.n_points, size)

    def coordinates(self) -> np.ndarray:
        """Physical coordinates of the owned points, shape (n_owned_points, gdim); evaluated
        once (the mesh does not move), read-only."""
        import ufl

        if self._coordinates is None:
            gdim = self.mesh.geometry.dim
            self._coordinates = self.evaluate(
                self.expression(ufl.SpatialCoordinate(self.mesh)), gdim)
            self._coordinates.flags.writeable = False
        return self._coordinates

    def set_values(self, function, values: np.ndarray) -> None:
        """Write per-point values (n_owned_points, ...) into a quadrature Function."""
        size = values[0].size if len(values) else 0
        function.x.array[: self.n_owned_points * size] = values.reshape(-1)
        function.x.scatter_forward()
