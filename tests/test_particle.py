"""The spherical particle micro model of the DFN cell (fe2.rve.particle, issue 14 item 2):
lithium conservation, the constant-flux sphere (long-time closed form and the transient series),
the exact tangent, and a batch equal to its points."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from fe2.core.definition import StepContext
from fe2.core.micro import BatchMicroModel
from fe2.rve.particle import SphericalParticle

# Marquis 2019 negative particle (fe2.physics.cell_parameters): R = 10 µm, D = 3.9e-14 m²/s.
R, D, C_MAX, C0 = 10e-6, 3.9e-14, 24983.2619938437, 19986.609595075
TAU = R * R / D  # diffusion time [s]


def _run(particle, flux, state, dt, steps):
    surface = None
    for _ in range(steps):
        surface, _, state = particle.solve(np.array([flux]), state, StepContext(dt=dt))
    return surface[0], state


def test_is_a_batch_micro_model():
    """The FE² core's protocol (fe2.core.micro.BatchMicroModel)."""
    assert isinstance(SphericalParticle(R, D, C_MAX, C0), BatchMicroModel)


def test_lithium_is_conserved():
    """Lithium 4π Σ v_i c_i changes by exactly −4π R² Σ j dt (flux out positive) over 50 steps
    of random flux and dt from a random profile: finite volumes telescope (module docstring).
    Tolerance 1e-12 relative to the lithium in the particle (round-off)."""
    rng = np.random.default_rng(14)
    particle = SphericalParticle(R, D, C_MAX, C0, shells=30)
    state = C0 * (0.5 + 0.5 * rng.random(30))
    start, outflow = particle.lithium(state), 0.0
    for _ in range(50):
        flux, dt = 1e-5 * rng.uniform(-1, 1), TAU * rng.uniform(1e-4, 1e-1)
        _, _, state = particle.solve(np.array([flux]), state, StepContext(dt=dt))
        outflow += 4 * np.pi * R * R * flux * dt
    assert abs(particle.lithium(state) - (start - outflow)) <= 1e-12 * start


def test_constant_flux_long_time_closed_form():
    """Constant flux j out of a sphere, long times (Crank, The Mathematics of Diffusion, 2nd
    ed., §6.3.2, eq. 6.58 at t ≫ R²/D): c_s − c̄ = −j R/(5 D) and c̄ = c₀ − 3 j t / R. The
    scheme is exact for this quadratic, linear-in-t profile (module docstring); after 4 R²/D
    in steps of R²/(100 D) the slowest transient has decayed by (1 + 20.19·0.01)^−400 ≈ 1e-32.
    Tolerance 1e-9 relative (round-off of the 400 steps)."""
    flux = 2e-7  # c̄ falls by 3 j t/R ≈ 9.2e3 mol/m³ of C0 ≈ 2.0e4: stays physical
    particle = SphericalParticle(R, D, C_MAX, C0, shells=20)
    surface, state = _run(particle, flux, particle.initial_state(), TAU / 100, 400)
    average = particle.average(state)
    assert surface - average == pytest.approx(-flux * R / (5 * D), rel=1e-9)
    assert average == pytest.approx(C0 - 3 * flux * 4 * TAU / R, rel=1e-12)


def _series_surface(tau: float) -> float:
    """Surface concentration rise per unit j R/D for a unit influx into a sphere from a uniform
    state (Crank eq. 6.58 at r = R): 3τ + 1/5 − 2 Σ exp(−α_n² τ)/α_n², tan α_n = α_n."""
    roots = np.array([scipy.optimize.brentq(lambda a: np.tan(a) - a, n * np.pi + 1e-9,
                                            n * np.pi + np.pi / 2 - 1e-9) for n in range(1, 200)])
    return 3 * tau + 0.2 - 2 * np.sum(np.exp(-roots ** 2 * tau) / roots ** 2)


def test_transient_against_the_series_first_order_in_time():
    """Early transient (τ = D t/R² = 0.1) against the series solution (Crank eq. 6.58; the
    terms beyond n = 199 are below exp(−(199π)²·0.1) ≈ 0). Backward Euler is first order: with
    40 shells, halving dt from τ/1000 to τ/2000 halves the error (ratio 2 ± 0.1), and the finer
    error is below 5e-5 relative (measured 6.1e-5 and 3.2e-5, ratio 1.92: the first-order time
    error plus a second-order space error of ≈ 3e-6)."""
    particle = SphericalParticle(1.0, 1.0, 1e9, 0.0, shells=40)
    exact = _series_surface(0.1)
    errors = []
    for steps in (1000, 2000):
        surface, _ = _run(particle, -1.0, particle.initial_state(), 0.1 / steps, steps)
        errors.append(abs(surface / exact - 1))
    assert errors[0] / errors[1] == pytest.approx(2.0, abs=0.1)
    assert errors[1] < 5e-5


def test_tangent_against_finite_differences():
    """∂c_s/∂j against a central difference (step 1e-3 of j); the model is linear in j, so the
    difference is exact up to round-off: tolerance 1e-6 relative (the brief's check)."""
    rng = np.random.default_rng(3)
    particle = SphericalParticle(R, D, C_MAX, C0, shells=25)
    state = C0 * (0.8 + 0.2 * rng.random(25))
    step = StepContext(dt=30.0)
    for flux in (-3e-6, 0.0, 5e-6):
        _, tangent, _ = particle.solve(np.array([flux]), state, step)
        h = 1e-3 * 5e-6
        up, _, _ = particle.solve(np.array([flux + h]), state, step)
        down, _, _ = particle.solve(np.array([flux - h]), state, step)
        assert tangent[0, 0] == pytest.approx((up[0] - down[0]) / (2 * h), rel=1e-6)


def test_batch_equals_points_and_leaves_inputs_alone():
    """solve_batch of 7 points (random fluxes and profiles) equals solve point by point
    (tolerance 1e-13 relative: the same factorization, multi-RHS round-off), and the input
    states are not changed in place (the core keeps them until the macro step converges)."""
    rng = np.random.default_rng(7)
    particle = SphericalParticle(R, D, C_MAX, C0, shells=15)
    fluxes = 1e-5 * rng.uniform(-1, 1, (7, 1))
    states = C0 * (0.5 + 0.5 * rng.random((7, 15)))
    kept = states.copy()
    step = StepContext(dt=12.5)
    surface, tangent, new = particle.solve_batch(fluxes, states, step)
    assert np.array_equal(states, kept)
    for i in range(7):
        s, t, n = particle.solve(fluxes[i], states[i], step)
        assert np.allclose(surface[i], s, rtol=1e-13, atol=0)
        assert np.allclose(tangent[i], t, rtol=1e-13, atol=0)
        assert np.allclose(new[i], n, rtol=1e-13, atol=0)


def test_zero_step_and_bad_inputs():
    """dt = 0 (the core's first evaluation): the profile does not move and c_s answers the flux
    through the outer half shell (exact to 1e-15); bad parameters raise ValueError."""
    particle = SphericalParticle(R, D, C_MAX, C0, shells=10)
    state = particle.initial_state()
    surface, tangent, new = particle.solve(np.array([1e-5]), state, StepContext(dt=0.0))
    assert np.array_equal(new, state)
    assert surface[0] == pytest.approx(C0 + particle.surface_gain * 1e-5, rel=1e-15)
    assert tangent[0, 0] == particle.surface_gain
    with pytest.raises(ValueError, match="outside"):
        SphericalParticle(R, D, C_MAX, 1.1 * C_MAX)
    with pytest.raises(ValueError, match="positive"):
        SphericalParticle(R, -D, C_MAX, C0)
