"""Kinetic laws of intercalation particles: Arrhenius rates with activation volumes, the thermal
stress of a constrained particle and the barrier shift it causes, Butler–Volmer surface reaction.

Sign conventions (used throughout fe2.physics.chemo_mechanics):

- stresses are positive in tension; a hydrostatic stress σ_h < 0 is compression; the applied
  pressure p is positive in compression (p = −σ_h of the load);
- a rate (a diffusivity D or a reaction rate constant k) given at the reference state
  (T_ref, p = 0, no stress) changes as

      rate(T, p) = rate_ref · exp(−E_a/R (1/T − 1/T_ref) − (p V_a + ΔE_σ)/(R T))

  with activation energy E_a [J/mol], activation volume V_a [m³/mol] (V_a > 0: pressure slows
  the process) and a stress shift of the barrier ΔE_σ = −σ_h Ω [J/mol] (Ω the partial molar
  volume of lithium [m³/mol]): compression (σ_h < 0) raises the barrier for insertion, tension
  lowers it. At T = T_ref, p = 0, σ_h = 0 the factor is exactly 1.
- the thermal stress of a particle held at its volume (fully constrained) when heated by
  ΔT = T − T_ref is σ_h = −K α_T ΔT with K the bulk modulus [Pa] and α_T the *volumetric*
  thermal expansion coefficient [1/K] (3 × the linear one).

Butler–Volmer (Doyle, Fuller, Newman, J. Electrochem. Soc. 140 (1993) 1526, eqs. for the pore-wall
flux; Newman & Thomas-Alyea, Electrochemical Systems, 3rd ed., Wiley 2004, ch. 8): the current
density across the particle surface, anodic (lithium leaving the solid) positive, is

    i = i₀ [exp(α_a F η / RT) − exp(−α_c F η / RT)],   η = φ_s − φ_e − U  [V]
    i₀ = F k c_e^α_a (c_max − c_s)^α_a c_s^α_c           [A/m²]

with the reaction rate constant k [m^(1+3α_a) mol^(−α_a) s^(−1)] (m^2.5 mol^-0.5 s^-1 for
α_a = α_c = 1/2), electrolyte concentration c_e and surface concentration c_s [mol/m³].
Insertion (charging the particle) is the cathodic direction: :func:`insertion_current` takes
the insertion overpotential η_ins = −η > 0 and returns the current into the particle.

Every function works on floats and NumPy arrays; those marked so also on UFL expressions
(pass ``exp=ufl.exp``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FARADAY", "GAS_CONSTANT", "activation_volume_factor", "arrhenius_factor",
           "butler_volmer", "exchange_current_density", "insertion_current",
           "insertion_overpotential", "rate_factor", "stress_barrier_shift", "thermal_stress"]

FARADAY = 96485.33212  # [C/mol]
GAS_CONSTANT = 8.314462618  # [J/(mol K)]


def arrhenius_factor(activation_energy: Any, temperature: Any, reference_temperature: Any):
    """exp(−E_a/R (1/T − 1/T_ref)) [-]: the rate at T over the rate at T_ref.

    Args:
        activation_energy: E_a [J/mol].
        temperature, reference_temperature: T, T_ref [K].
    """
    return np.exp(-activation_energy / GAS_CONSTANT
                  * (1.0 / temperature - 1.0 / reference_temperature))


def activation_volume_factor(pressure: Any, activation_volume: Any, temperature: Any):
    """exp(−p V_a / (R T)) [-]: the rate under pressure p over the rate at p = 0.

    Args:
        pressure: p [Pa], compression positive.
        activation_volume: V_a [m³/mol] (1 cm³/mol = 1e-6 m³/mol).
        temperature: T [K].
    """
    return np.exp(-pressure * activation_volume / (GAS_CONSTANT * temperature))


def thermal_stress(bulk_modulus: Any, volumetric_expansion: Any, temperature_change: Any):
    """σ_h = −K α_T ΔT [Pa]: hydrostatic stress of a fully constrained particle heated by ΔT.

    Args:
        bulk_modulus: K = E / (3 (1 − 2ν)) [Pa].
        volumetric_expansion: α_T [1/K], the volumetric coefficient (3 × the linear one).
        temperature_change: ΔT = T − T_ref [K].
    """
    return -bulk_modulus * volumetric_expansion * temperature_change


def stress_barrier_shift(hydrostatic_stress: Any, partial_molar_volume: Any):
    """ΔE_σ = −σ_h Ω [J/mol]: the change of an activation energy under the hydrostatic stress
    σ_h [Pa] (tension positive) for partial molar volume Ω [m³/mol]; > 0 (a higher barrier, a
    slower rate) under compression."""
    return -hydrostatic_stress * partial_molar_volume


def rate_factor(temperature: Any, reference_temperature: Any, activation_energy: Any = 0.0,
                pressure: Any = 0.0, activation_volume: Any = 0.0, barrier_shift: Any = 0.0):
    """rate(T, p) / rate_ref = exp(−E_a/R (1/T − 1/T_ref) − (p V_a + ΔE_σ)/(R T)) [-].

    Exactly 1 at T = T_ref, p = 0, ΔE_σ = 0.

    Args:
        temperature, reference_temperature: T, T_ref [K].
        activation_energy: E_a [J/mol].
        pressure: p [Pa] (compression positive); activation_volume: V_a [m³/mol].
        barrier_shift: ΔE_σ [J/mol] (:func:`stress_barrier_shift`).
    """
    return np.exp(-activation_energy / GAS_CONSTANT
                  * (1.0 / temperature - 1.0 / reference_temperature)
                  - (pressure * activation_volume + barrier_shift)
                  / (GAS_CONSTANT * temperature))


def exchange_current_density(rate_constant: Any, electrolyte_concentration: Any,
                             surface_concentration: Any, maximum_concentration: Any,
                             alpha_a: float = 0.5, alpha_c: float = 0.5):
    """i₀ = F k c_e^α_a (c_max − c_s)^α_a c_s^α_c [A/m²] (Doyle–Fuller–Newman 1993).

    Works on UFL expressions too (powers only). The caller keeps c_s within [0, c_max].

    Args:
        rate_constant: k [m^(1+3α_a) mol^(−α_a) s^(−1)].
        electrolyte_concentration: c_e [mol/m³].
        surface_concentration, maximum_concentration: c_s, c_max [mol/m³].
        alpha_a, alpha_c: anodic and cathodic transfer coefficients [-].
    """
    return (FARADAY * rate_constant * electrolyte_concentration ** alpha_a
            * (maximum_concentration - surface_concentration) ** alpha_a
            * surface_concentration ** alpha_c)


def butler_volmer(exchange_current: Any, overpotential: Any, temperature: Any,
                  alpha_a: float = 0.5, alpha_c: float = 0.5,
                  exp: Callable[[Any], Any] = np.exp):
    """i = i₀ [exp(α_a F η/RT) − exp(−α_c F η/RT)] [A/m²], anodic (out of the solid) positive;
    α_a = α_c = α gives 2 i₀ sinh(α F η / RT). Works on UFL with ``exp=ufl.exp``.

    Args:
        exchange_current: i₀ [A/m²].
        overpotential: η = φ_s − φ_e − U [V].
        temperature: T [K].
    """
    f = FARADAY / (GAS_CONSTANT * temperature)
    return exchange_current * (exp(alpha_a * f * overpotential)
                               - exp(-alpha_c * f * overpotential))


def insertion_current(exchange_current: Any, overpotential: Any, temperature: Any,
                      alpha_a: float = 0.5, alpha_c: float = 0.5,
                      exp: Callable[[Any], Any] = np.exp):
    """The current density into the particle [A/m²] (lithium inserted per area: this / F) at
    insertion overpotential η_ins = −η [V]: −:func:`butler_volmer` at η = −η_ins, i.e.
    i₀ [exp(α_c F η_ins/RT) − exp(−α_a F η_ins/RT)]. Works on UFL with ``exp=ufl.exp``."""
    return -butler_volmer(exchange_current, -overpotential, temperature, alpha_a, alpha_c, exp)


def insertion_overpotential(current: Any, exchange_current: Any, temperature: Any,
                            alpha_a: float = 0.5, alpha_c: float = 0.5):
    """The insertion overpotential η_ins [V] that drives the current density ``current`` [A/m²]
    into the particle: the inverse of :func:`insertion_current` in η_ins;
    (RT/(αF)) asinh(i / (2 i₀)) for α_a = α_c = α, bisection otherwise (floats). ±inf where
    i₀ = 0 and i ≠ 0."""
    if alpha_a == alpha_c:
        with np.errstate(divide="ignore"):
            return (GAS_CONSTANT * temperature / (alpha_a * FARADAY)
                    * np.arcsinh(np.asarray(current) / (2 * np.asarray(exchange_current))))
    current, exchange_current = float(current), float(exchange_current)
    if exchange_current <= 0:
        return float(np.sign(current) * np.inf) if current else 0.0
    low, high = -1.0, 1.0
    while insertion_current(exchange_current, low, temperature, alpha_a, alpha_c) > current:
        low *= 2
    while insertion_current(exchange_current, high, temperature, alpha_a, alpha_c) < current:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if insertion_current(exchange_current, middle, temperature, alpha_a, alpha_c) < current:
            low = middle
        else:
            high = middle
    return (low + high) / 2
