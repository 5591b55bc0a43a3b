"""The one interface every micro model implements (DESIGN §2).

The FE² core hands each quadrature point's generalized macro strain to a micro model and gets
back the homogenized generalized stress, the consistent tangent and the new per-point state.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from numpy.typing import NDArray

__all__ = ["MicroModel"]


@runtime_checkable
class MicroModel(Protocol):
    """A micro model: generalized macro strain → (stress, consistent tangent, new state)."""

    n_strain: int  # size of the generalized macro strain at a quadrature point
    n_stress: int  # size of the generalized macro stress

    def solve(self, strain: NDArray, state: Any) -> tuple[NDArray, NDArray, Any]:
        """Return stress (n_stress,), tangent (n_stress, n_strain) and the new state."""
        ...
