"""Pointwise material laws at the micro quadrature points, vectorized over all points at once.

Every law works in 3D Mandel notation (6 components, fe2.mandel): a plane-strain RVE embeds its
in-plane strain with ε33 = ε13 = ε23 = 0 and keeps the in-plane block of stress and tangent, so
out-of-plane plastic flow is accounted for. A law maps strain (n, 6) and history (n, n_history)
to stress (n, 6), consistent tangent dσ/dε (n, 6, 6) and the new history; it never changes its
inputs in place (the FE² core keeps the committed history until a macro step converges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from fe2.materials import IsotropicElastic

__all__ = ["PointLaw", "Elastic"]


@runtime_checkable
class PointLaw(Protocol):
    """A material law evaluated at n points at once (3D Mandel notation)."""

    n_history: int  # history variables per point
    is_linear: bool  # constant tangent and no history

    def bind(self, Q, cells: NDArray) -> None:
        """Attach to the RVE's scalar quadrature space ``Q``; rows of ``update`` are the points
        of ``cells`` in order (row r = cells[r // nqp], point r % nqp). Most laws ignore it."""
        ...

    def initial_history(self, n: int) -> NDArray:
        """History of n virgin points, shape (n, n_history)."""
        ...

    def update(self, strain: NDArray, history: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """Stress (n, 6), tangent (n, 6, 6), new history (n, n_history) for total strain."""
        ...


@dataclass(frozen=True)
class Elastic:
    """Isotropic linear elasticity: Young's modulus ``E`` [stress unit], ``nu`` [-]."""

    E: float
    nu: float
    n_history = 0
    is_linear = True

    def __post_init__(self) -> None:
        IsotropicElastic(self.E, self.nu)  # validates E and nu

    @property
    def stiffness(self) -> NDArray:
        """The 6 × 6 Mandel stiffness."""
        return IsotropicElastic(self.E, self.nu).matrix("3d")

    def bind(self, Q, cells: NDArray) -> None:
        pass

    def initial_history(self, n: int) -> NDArray:
        return np.zeros((n, 0))

    def update(self, strain: NDArray, history: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        C = self.stiffness
        return strain @ C, np.broadcast_to(C, (len(strain), 6, 6)), history
