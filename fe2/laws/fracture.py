"""Phase-field fracture laws shared by the single-scale definition and the damaging RVE (UFL).

A fracturing material stores ψ = g(d) ψ⁺(ε) + ψ⁻(ε) with the degradation g(d) = (1 − d)² + k_ℓ
and dissipates the AT2 crack energy G_c (d²/ℓ + ℓ|∇d|²)/2 (Miehe, Hofacker, Welschinger 2010).
The energy split ψ = ψ⁺ + ψ⁻ decides which strains open cracks: "none" (ψ⁺ = ψ), "volumetric"
(Amor, Marigo, Maurini 2009: ψ⁺ = K/2⟨tr ε⟩₊² + μ dev ε : dev ε) or "spectral" (Miehe et al.
2010: ψ⁺ = λ/2⟨tr ε⟩₊² + μ Σ⟨εᵢ⟩₊², 2D).
"""

from __future__ import annotations

from dataclasses import dataclass

from fe2.laws.materials import IsotropicElastic, lame

__all__ = ["SPLITS", "FractureMaterial", "degradation", "split_energy"]

SPLITS = ("none", "volumetric", "spectral")


@dataclass(frozen=True)
class FractureMaterial:
    """E [kN/mm²], ν [-], fracture toughness Gc [kN/mm], length scale ℓ [mm], residual
    stiffness k_ℓ [-]."""

    E: float
    nu: float
    Gc: float
    ell: float
    k_ell: float = 1e-6

    def __post_init__(self) -> None:
        IsotropicElastic(self.E, self.nu)  # checks E and ν
        if not self.Gc > 0:
            raise ValueError(f"Gc = {self.Gc}: the fracture toughness must be positive")
        if not self.ell > 0:
            raise ValueError(f"ell = {self.ell}: the length scale must be positive")
        if not 0 < self.k_ell <= 1e-2:
            raise ValueError(f"k_ell = {self.k_ell}: the residual stiffness must lie in "
                             "(0, 1e-2]")

    def lame(self, model: str) -> tuple[float, float]:
        """(λ, μ) of the model: plane stress uses the in-plane λ = 2λμ/(λ + 2μ)."""
        lam, mu = lame(self.E, self.nu)
        if model == "plane_stress":
            lam = 2 * lam * mu / (lam + 2 * mu)
        return lam, mu


def degradation(d, k_ell: float):
    """g(d) = (1 − d)² + k_ℓ (UFL or numbers)."""
    return (1 - d) ** 2 + k_ell


def split_energy(epsilon, lam: float, mu: float, split: str):
    """(ψ⁺, ψ⁻) [energy / volume] of the UFL strain tensor ``epsilon`` (module docstring)."""
    import ufl

    trace = ufl.tr(epsilon)
    if split == "none":
        return lam / 2 * trace ** 2 + mu * ufl.inner(epsilon, epsilon), 0 * trace

    def plus(x):
        return (x + abs(x)) / 2

    def minus(x):
        return (x - abs(x)) / 2

    if split == "volumetric":
        bulk = lam + 2 * mu / 3
        deviatoric = ufl.inner(epsilon, epsilon) - trace ** 2 / 3  # 3D deviator, ε₃₃ = 0 in 2D
        return (bulk / 2 * plus(trace) ** 2 + mu * deviatoric,
                bulk / 2 * minus(trace) ** 2)
    if split != "spectral":
        raise ValueError(f"unknown energy split {split!r}; use one of {SPLITS}")
    # spectral, 2D: principal strains (ε₁₁ + ε₂₂)/2 ± √(((ε₁₁ − ε₂₂)/2)² + ε₁₂²)
    radius = ufl.sqrt(((epsilon[0, 0] - epsilon[1, 1]) / 2) ** 2 + epsilon[0, 1] ** 2 + 1e-30)
    principal = (trace / 2 + radius, trace / 2 - radius)
    return (lam / 2 * plus(trace) ** 2 + mu * sum(plus(e) ** 2 for e in principal),
            lam / 2 * minus(trace) ** 2 + mu * sum(minus(e) ** 2 for e in principal))
