"""Transport micro model with a concentration-dependent diffusivity, for nonlinear macro
diffusion through the FE² core.

The cell problem of the pore space is linear (fe2.rve.LinearRVE gives D_hom once); every phase
diffusivity scales with the same factor f(c) of the macro concentration, so the homogenized
flux at a macro point with generalized strain (∇c, c) is

    q = f(c) D_hom ∇c,    ∂q/∂∇c = f(c) D_hom,    ∂q/∂c = f'(c) D_hom ∇c.

The macro problem is then nonlinear in c although the cell problem is not: the same Newton,
dispatcher and state handling as mechanics, with a generalized strain of size gdim + 1 and a
stress of size gdim (fe2.physics.Transport).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["ConcentrationDependentTransport", "scaling"]


def scaling(law: str, beta: float, c: float) -> tuple[float, float]:
    """f(c) and f'(c): "constant" 1, "linear" 1 + βc, "exponential" exp(βc); β in 1/[c]."""
    if law == "constant":
        return 1.0, 0.0
    if law == "linear":
        return 1.0 + beta * c, beta
    if law == "exponential":
        value = float(np.exp(beta * c))
        return value, beta * value
    raise ValueError(f"unknown concentration law {law!r}")


class ConcentrationDependentTransport:
    """Micro model q = f(c) D_hom ∇c (see module docstring); stateless."""

    state_size = 0
    iterations = 0

    def __init__(self, D_hom: NDArray, law: str, beta: float) -> None:
        self.D_hom = np.array(D_hom, dtype=float)
        self.law, self.beta = law, beta
        self.n_stress = len(self.D_hom)
        self.n_strain = self.n_stress + 1
        self.is_linear = law == "constant"
        self.tangent = np.hstack([self.D_hom, np.zeros((self.n_stress, 1))])

    def initial_state(self) -> NDArray:
        return np.zeros(0)

    def solve(self, strain: NDArray, state: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        gradient, c = strain[:-1], strain[-1]
        f, df = scaling(self.law, self.beta, c)
        flux = self.D_hom @ gradient
        return f * flux, np.hstack([f * self.D_hom, df * flux[:, None]]), state
