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


# ------------------------------------------------------------------ Butler–Volmer particle

def _reacting(name: str = "Marquis2019", side: str = "negative"):
    from fe2.physics.cell_parameters import cell_parameters
    from fe2.rve.particle import ReactingParticle

    electrode = getattr(cell_parameters(name), side)
    particle = SphericalParticle(electrode.particle_radius, electrode.diffusivity,
                                 electrode.c_max, electrode.initial_concentration, shells=20)
    return ReactingParticle(particle, electrode.ocp, electrode.exchange_current), electrode


@pytest.mark.parametrize("name, side", [("Marquis2019", "negative"), ("Marquis2019", "positive"),
                                        ("Chen2020", "negative"), ("Chen2020", "positive")])
def test_reacting_particle_solves_butler_volmer_and_diffusion(name, side):
    """At Δφ = U(θ₀) + {−50, 0, 10, 200} mV: the answer (j, c_s) satisfies Butler–Volmer
    F j = i₀ (e^{αFη/RT} − e^{−(1−α)Fη/RT}) with η = Δφ − U(c_s/c_max) (relative 1e-12 of
    i₀ e^{α F|η|/RT}) and c_s, the new profile are the diffusion model's answer to that j
    (relative 1e-12); at η = 0 the flux is 0 (absolute 1e-14 mol/(m² s): the root of the
    equilibrium). Sources: the equations of the module docstring."""
    from fe2.laws.kinetics import FARADAY, GAS_CONSTANT

    model, electrode = _reacting(name, side)
    U0 = float(electrode.ocp(electrode.initial_stoichiometry))
    strains = np.array([[U0 + d, 1000.0] for d in (-0.05, 0.0, 0.01, 0.2)])
    states = np.tile(model.initial_state(), (4, 1))
    step = StepContext(dt=20.0)
    answers, _, new = model.solve_batch(strains, states, step)
    f = FARADAY / (GAS_CONSTANT * 298.15)
    for (delta_phi, c_e), (j, c_s), profile in zip(strains, answers, new, strict=True):
        eta = delta_phi - float(electrode.ocp(c_s / electrode.c_max))
        i0 = electrode.exchange_current(c_e, c_s)
        bv = i0 * (np.exp(0.5 * f * eta) - np.exp(-0.5 * f * eta))
        assert abs(FARADAY * j - bv) <= 1e-12 * i0 * np.exp(0.5 * f * abs(eta))
        surface, _, alone = model.particle.solve(np.array([j]), model.initial_state(), step)
        assert c_s == pytest.approx(surface[0], rel=1e-12)
        assert np.allclose(profile, alone, rtol=1e-12, atol=0)
    assert abs(answers[1, 0]) <= 1e-14


def test_reacting_particle_tangent_against_finite_differences():
    """∂(j, c_s)/∂(Δφ, c_e) against central differences (steps 1e-6 V and 1e-3 mol/m³, whose
    truncation error is O(h²) ≈ 1e-9 relative here): tolerance 1e-6 relative."""
    model, electrode = _reacting("Chen2020", "positive")
    U0 = float(electrode.ocp(electrode.initial_stoichiometry))
    state = model.initial_state()
    step = StepContext(dt=15.0)
    for strain in (np.array([U0 - 0.03, 950.0]), np.array([U0 + 0.08, 1100.0])):
        _, tangent, _ = model.solve(strain, state, step)
        for k, h in enumerate((1e-6, 1e-3)):
            shift = np.zeros(2)
            shift[k] = h
            up, _, _ = model.solve(strain + shift, state, step)
            down, _, _ = model.solve(strain - shift, state, step)
            assert np.allclose(tangent[:, k], (up - down) / (2 * h), rtol=1e-6, atol=0)


def test_reacting_particle_batch_equals_points():
    """Batch of 5 points = point by point (relative 1e-12: the same iteration, per point
    stopping test), and a non-positive c_e names its point (BatchSolveError.index)."""
    from fe2.core.micro import BatchSolveError

    model, electrode = _reacting("Marquis2019", "positive")
    rng = np.random.default_rng(5)
    U0 = float(electrode.ocp(electrode.initial_stoichiometry))
    strains = np.column_stack([U0 + rng.uniform(-0.1, 0.1, 5), rng.uniform(500, 1500, 5)])
    states = electrode.initial_concentration * (0.95 + 0.1 * rng.random((5, 20)))
    step = StepContext(dt=5.0)
    answers, tangents, new = model.solve_batch(strains, states, step)
    for i in range(5):
        a, t, n = model.solve(strains[i], states[i], step)
        assert np.allclose(answers[i], a, rtol=1e-12, atol=0)
        assert np.allclose(tangents[i], t, rtol=1e-12, atol=0)
        assert np.allclose(new[i], n, rtol=1e-12, atol=0)
    strains[3, 1] = 0.0
    with pytest.raises(BatchSolveError) as failure:
        model.solve_batch(strains, states, step)
    assert failure.value.index == 3
