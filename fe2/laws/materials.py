"""Linear material laws as matrices in the notation of their generalized strain.

A material here is the constant matrix that maps a phase's generalized strain vector to its
flux vector: the stiffness in Mandel notation for mechanics, the diffusivity tensor for
transport. The RVE cell problem needs nothing else, so one mechanism serves every physics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fe2.laws.mandel import n_mandel

__all__ = ["IsotropicElastic", "Diffusivity", "MECHANICS_MODELS", "lame"]

MECHANICS_MODELS = ("plane_strain", "plane_stress", "3d")


def lame(E: float, nu: float) -> tuple[float, float]:
    """Lamé constants (λ, μ) from Young's modulus E and Poisson's ratio ν (units of E)."""
    return E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))


@dataclass(frozen=True)
class IsotropicElastic:
    """Isotropic linear elasticity: Young's modulus ``E`` [Pa or any stress unit], ``nu`` [-]."""

    E: float
    nu: float

    def __post_init__(self) -> None:
        if not self.E > 0:
            raise ValueError(f"Young's modulus E must be positive, got {self.E}")
        if not -1 < self.nu < 0.5:
            raise ValueError(f"Poisson's ratio nu must lie in (-1, 0.5), got {self.nu}")

    def matrix(self, model: str) -> np.ndarray:
        """Stiffness in Mandel notation for "plane_strain", "plane_stress" or "3d"."""
        lam, mu = lame(self.E, self.nu)
        if model == "plane_stress":
            lam = 2 * lam * mu / (lam + 2 * mu)
        elif model not in MECHANICS_MODELS:
            raise ValueError(f"unknown mechanics model {model!r}; use one of {MECHANICS_MODELS}")
        dim = 3 if model == "3d" else 2
        n = n_mandel(dim)
        stiffness = 2 * mu * np.eye(n)
        stiffness[:dim, :dim] += lam
        return stiffness


@dataclass(frozen=True)
class Diffusivity:
    """Isotropic diffusivity or conductivity ``D`` [m²/s or the unit of the problem]."""

    D: float

    def __post_init__(self) -> None:
        if not self.D > 0:
            raise ValueError(f"diffusivity D must be positive, got {self.D}")

    def matrix(self, dim: int) -> np.ndarray:
        return self.D * np.eye(dim)
