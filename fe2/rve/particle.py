"""The particle micro model of the Doyle–Fuller–Newman cell: radial diffusion in a sphere.

At every macro quadrature point of an electrode sits a spherical particle of radius R [m] with
lithium diffusivity D [m²/s] and maximum concentration c_max [mol/m³]::

    ∂c/∂t = D/r² ∂/∂r (r² ∂c/∂r),   ∂c/∂r = 0 at r = 0,   −D ∂c/∂r = j at r = R,

with j [mol/(m² s)] the reaction flux at the surface, positive out of the particle
(deintercalation). Generalized strain: (j,); answer: (c_s,) the surface concentration
[mol/m³] with the tangent ∂c_s/∂j [mol s/m⁵ = (mol/m³)/(mol/(m² s))]; state: the N shell
averages of c [mol/m³] (committed by the core only when the macro step converges).

Discretization (why this one): N shells of equal thickness h = R/N, finite volumes on the shell
averages c_i, backward Euler with the macro step's dt. The flux through the face r_k between
shells k−1 and k is −2 D r_k (c_k − c_{k−1}) / (q_k − q_{k−1}), q_i the volume average of r² over
shell i, and the surface value is c_s = c_{N−1} − j (R² − q_{N−1}) / (2 D R). Both are exact for
profiles A + B r², so (i) lithium is conserved to round-off (the face fluxes telescope; the
mass 4π Σ v_i c_i changes by −4π R² j dt per step), (ii) the quasi-steady constant-flux solution
c = c₀ − 3 j t/R − j r²/(2 D R) + const, linear in t, is reproduced exactly by backward Euler, so
c_s − c̄ → −j R/(5 D) to round-off once the transient has decayed, and (iii) the scheme is
second order for general profiles. The problem is linear in (c_old, j): c_s and the exact
tangent come from one Cholesky factorization per dt, shared by every point of a batch
(``solve_batch`` solves all points with one multi-right-hand-side solve).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from fe2.core.micro import check_finite

__all__ = ["ReactingParticle", "SphericalParticle"]


class SphericalParticle:
    """Radial diffusion in a sphere as a batch micro model (module docstring).

    Args:
        radius: particle radius R [m].
        diffusivity: lithium diffusivity D [m²/s] (constant).
        c_max: maximum concentration [mol/m³] (for stoichiometries c/c_max in outputs).
        c0: initial uniform concentration [mol/m³].
        shells: number N of finite-volume shells.
    """

    n_strain = 1
    n_stress = 1
    is_linear = False  # its answer depends on the state (the profile) and on dt
    iterations = 0
    batched = True

    def __init__(self, radius: float, diffusivity: float, c_max: float, c0: float,
                 shells: int = 20) -> None:
        if not (radius > 0 and diffusivity > 0 and c_max > 0):
            raise ValueError(f"particle: radius {radius} m, D {diffusivity} m²/s and c_max "
                             f"{c_max} mol/m³ must be positive")
        if not 0 <= c0 <= c_max:
            raise ValueError(f"particle: c0 = {c0} mol/m³ outside [0, c_max = {c_max}]")
        if shells < 2:
            raise ValueError(f"particle: shells = {shells}, need at least 2")
        self.radius, self.diffusivity, self.c_max, self.c0 = radius, diffusivity, c_max, c0
        self.state_size = shells
        self.batch_iterations = np.zeros(0, dtype=int)
        edges = np.linspace(0.0, radius, shells + 1)
        cubes = edges ** 3
        self.volumes = np.diff(cubes) / 3.0  # shell volumes / 4π [m³]
        self.r2_mean = 0.6 * np.diff(edges ** 5) / np.diff(cubes)  # q_i [m²]
        inner = edges[1:-1]
        conductance = 2.0 * diffusivity * inner ** 3 / np.diff(self.r2_mean)  # [m³/s] / 4π
        stiffness = np.zeros((shells, shells))
        rows = np.arange(shells - 1)
        stiffness[rows, rows] += conductance
        stiffness[rows + 1, rows + 1] += conductance
        stiffness[rows, rows + 1] -= conductance
        stiffness[rows + 1, rows] -= conductance
        self.stiffness = stiffness
        # c_s = c_{N-1} + surface_gain · j
        self.surface_gain = -(radius ** 2 - self.r2_mean[-1]) / (2.0 * diffusivity * radius)
        self._dt: float | None = None
        self._factor = None
        self._flux_response: NDArray | None = None

    # ------------------------------------------------------------------ state

    def initial_state(self) -> NDArray:
        return np.full(self.state_size, float(self.c0))

    def average(self, states: NDArray) -> NDArray:
        """Particle-average concentration c̄ [mol/m³] of states (..., N)."""
        return np.asarray(states) @ self.volumes / self.volumes.sum()

    def lithium(self, states: NDArray) -> NDArray:
        """Lithium in the particle [mol] of states (..., N): 4π Σ v_i c_i."""
        return 4.0 * np.pi * (np.asarray(states) @ self.volumes)

    def point_outputs(self, states: NDArray) -> dict[str, NDArray]:
        """Average and outer-shell stoichiometries [-] of states (n, N)."""
        states = np.atleast_2d(states)
        return {"theta_average": self.average(states) / self.c_max,
                "theta_outer_shell": states[:, -1] / self.c_max}

    # ------------------------------------------------------------------ solves

    def _prepare(self, dt: float) -> None:
        """Factorize diag(v)/dt + K for this dt (once per distinct dt) and the profile's
        response to a unit surface flux."""
        if self._dt == dt:
            return
        matrix = np.diag(self.volumes / dt) + self.stiffness
        self._factor = scipy.linalg.cho_factor(matrix, lower=True)
        load = np.zeros(self.state_size)
        load[-1] = -self.radius ** 2  # −a_N per unit j (areas / 4π)
        self._flux_response = scipy.linalg.cho_solve(self._factor, load)
        self._dt = dt

    def solve_batch(self, strains: NDArray, states: NDArray,
                    step=None) -> tuple[NDArray, NDArray, NDArray]:
        """Surface concentrations (n, 1) [mol/m³], tangents ∂c_s/∂j (n, 1, 1) and the new
        profiles (n, N) for surface fluxes ``strains`` (n, 1) [mol/(m² s)] over step.dt [s].

        With no step or dt = 0 the profile does not move and c_s answers the flux at once
        (c_s = c_{N−1} + gain·j).
        """
        fluxes = np.asarray(strains, dtype=float).reshape(-1)
        states = np.asarray(states, dtype=float).reshape(fluxes.size, self.state_size)
        dt = 0.0 if step is None else float(step.dt)
        if dt > 0:
            self._prepare(dt)
            rhs = (states * (self.volumes / dt)).T  # (N, n)
            new = scipy.linalg.cho_solve(self._factor, rhs).T
            new += np.outer(fluxes, self._flux_response)
            gain = self._flux_response[-1] + self.surface_gain
        elif dt == 0:
            new = states.copy()
            gain = self.surface_gain
        else:
            raise ValueError(f"particle: negative time step dt = {dt} s")
        surface = new[:, -1] + self.surface_gain * fluxes
        tangent = np.full((fluxes.size, 1, 1), gain)
        check_finite(surface, new)
        self.batch_iterations = np.zeros(fluxes.size, dtype=int)
        return surface[:, None], tangent, new

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        """One point: c_s (1,), ∂c_s/∂j (1, 1) and the new profile (N,)."""
        stress, tangent, new = self.solve_batch(np.reshape(strain, (1, 1)),
                                                np.reshape(state, (1, -1)), step)
        return stress[0], tangent[0], new[0]


class ReactingParticle:
    """A spherical particle behind a Butler–Volmer interface: the DFN micro model of a point.

    Generalized strain (Δφ, c_e): Δφ = φ_s − φ_e [V], c_e [mol/m³]. Answer (j, c_s): the
    reaction flux j [mol/(m² s)] out of the particle and its surface concentration [mol/m³],
    solving at each point (vectorized over the batch) the scalar equation

        F j = i₀(c_e, c_s) [exp(α F η / RT) − exp(−(1 − α) F η / RT)],
        η = Δφ − U(c_s / c_max),   c_s = c_s⁰ + G j

    (c_s is affine in j over a step: :class:`SphericalParticle`, c_s⁰ and G = ∂c_s/∂j from one
    factorization). The residual increases with j (more outflow lowers c_s, raises U, lowers
    η), and i₀ vanishes at c_s = 0 and c_max, so the root lies between the fluxes that empty
    and fill the surface: a Newton iteration safeguarded by that bracket (bisection when a
    step leaves it) converges. Tangent by implicit differentiation, exact at the root.
    dU/dθ by the complex step (the OCP fits are analytic). State: the particle profile.

    Args:
        particle: the diffusion model (R, D_s, c_max, shells, c₀).
        ocp: U(θ) [V] (numpy; may take complex θ for the complex-step derivative).
        exchange_current: i₀(c_e, c_s) [A/m²].
        temperature: T [K].
        alpha: anodic charge-transfer coefficient α [-] (cathodic 1 − α).
        rtol: tolerance of the local solve on |F j − i_BV| relative to F·max(|j|, j_scale)
            with j_scale the flux of i₀ at c_s = c_max/2, c_e = 1000 mol/m³.
    """

    n_strain = 2
    n_stress = 2
    is_linear = False
    iterations = 0
    batched = True

    def __init__(self, particle: SphericalParticle, ocp, exchange_current,
                 temperature: float = 298.15, alpha: float = 0.5, rtol: float = 1e-13,
                 max_iterations: int = 100) -> None:
        from fe2.laws.kinetics import FARADAY, GAS_CONSTANT

        self.particle, self.ocp, self.exchange_current = particle, ocp, exchange_current
        self.alpha, self.rtol, self.max_iterations = alpha, rtol, max_iterations
        self.faraday = FARADAY
        self.f = FARADAY / (GAS_CONSTANT * temperature)  # F/RT [1/V]
        self.state_size = particle.state_size
        self.batch_iterations = np.zeros(0, dtype=int)
        c_max = particle.c_max
        self.j_scale = float(exchange_current(1000.0, c_max / 2)) / FARADAY

    def initial_state(self) -> NDArray:
        return self.particle.initial_state()

    def point_outputs(self, states: NDArray) -> dict[str, NDArray]:
        return self.particle.point_outputs(states)

    def _ocp_and_slope(self, theta: NDArray) -> tuple[NDArray, NDArray]:
        """U(θ) [V] and dU/dθ [V] by the complex step (exact to round-off)."""
        h = 1e-30
        value = self.ocp(theta + 1j * h)
        return np.real(value), np.imag(value) / h

    def _residual(self, j, delta_phi, c_e, c0, gain):
        """F j − i_BV and its partial derivatives (∂/∂j, ∂/∂Δφ, ∂/∂c_e) at c_s = c0 + gain j."""
        c_max, a, f = self.particle.c_max, self.alpha, self.f
        c_s = c0 + gain * j
        theta = c_s / c_max
        U, dU = self._ocp_and_slope(theta)
        eta = delta_phi - U
        i0 = self.exchange_current(c_e, c_s)
        ea, ec = np.exp(a * f * eta), np.exp(-(1 - a) * f * eta)
        bv = ea - ec
        dbv = f * (a * ea + (1 - a) * ec)  # d(bv)/dη
        # i₀ ∝ c_s^½ (c_max − c_s)^½ c_e^½ (both sets): log-derivatives
        di0_dcs = i0 * 0.5 * (1 / c_s - 1 / (c_max - c_s))
        di0_dce = i0 * 0.5 / c_e
        g = self.faraday * j - i0 * bv
        g_j = self.faraday - gain * (di0_dcs * bv - i0 * dbv * dU / c_max)
        return g, g_j, -i0 * dbv, -di0_dce * bv

    def solve_batch(self, strains: NDArray, states: NDArray,
                    step=None) -> tuple[NDArray, NDArray, NDArray]:
        """(j, c_s) (n, 2), tangents ∂(j, c_s)/∂(Δφ, c_e) (n, 2, 2), new profiles (n, N).

        Raises:
            BatchSolveError: naming the first point whose local solve failed (c_e ≤ 0, or
                no convergence).
        """
        from fe2.core.micro import BatchSolveError

        strains = np.asarray(strains, dtype=float).reshape(-1, 2)
        n = strains.shape[0]
        delta_phi, c_e = strains[:, 0], strains[:, 1]
        states = np.asarray(states, dtype=float).reshape(n, self.state_size)
        c0_surface, gain_tangent, _ = self.particle.solve_batch(np.zeros((n, 1)), states, step)
        c0, gain = c0_surface[:, 0], gain_tangent[:, 0, 0]
        c_max = self.particle.c_max
        bad = np.flatnonzero(~(c_e > 0))
        if bad.size:
            raise BatchSolveError(int(bad[0]), f"electrolyte concentration c_e = "
                                  f"{c_e[bad[0]]:.6g} mol/m³ ≤ 0 at a particle",
                                  np.zeros(bad[0], dtype=int))
        # bracket: c_s = c_max (j_lo, i₀ = 0, g < 0) and c_s = 0 (j_hi, g > 0); gain < 0
        lo, hi = (c_max - c0) / gain, -c0 / gain
        j = np.clip(np.zeros(n), lo, hi)
        iterations = np.zeros(n, dtype=int)
        active = np.ones(n, dtype=bool)
        for _ in range(self.max_iterations):
            g, g_j, _, _ = self._residual(j, delta_phi, c_e, c0, gain)
            scale = self.faraday * np.maximum(np.abs(j), self.j_scale)
            # converged: a small residual, or a bracket at round-off (steep g near c_s = 0 or
            # c_max, where i₀ ∝ √c_s √(c_max − c_s) has an infinite slope)
            width = hi - lo
            active = ~((np.abs(g) <= self.rtol * scale)
                       | (width <= 4 * np.finfo(float).eps * np.maximum(np.abs(lo), np.abs(hi))))
            if not active.any():
                break
            lo = np.where(active & (g < 0), j, lo)
            hi = np.where(active & (g > 0), j, hi)
            newton = j - g / g_j
            inside = (newton > lo) & (newton < hi) & np.isfinite(newton)
            j = np.where(active, np.where(inside, newton, 0.5 * (lo + hi)), j)
            iterations += active
        else:
            first = int(np.flatnonzero(active)[0])
            raise BatchSolveError(first, f"Butler–Volmer particle solve did not converge in "
                                  f"{self.max_iterations} iterations (Δφ = "
                                  f"{delta_phi[first]:.6g} V, c_e = {c_e[first]:.6g}, "
                                  f"θ_s = {(c0 + gain * j)[first] / c_max:.6g}, residual "
                                  f"{g[first]:.3g} A/m²)",
                                  iterations[:first])
        g, g_j, g_phi, g_ce = self._residual(j, delta_phi, c_e, c0, gain)
        dj = np.stack([-g_phi / g_j, -g_ce / g_j], axis=1)  # (n, 2)
        tangent = np.stack([dj, gain[:, None] * dj], axis=1)  # rows j, c_s
        c_s = c0 + gain * j
        _, _, new = self.particle.solve_batch(j[:, None], states, step)
        answers = np.stack([j, c_s], axis=1)
        check_finite(answers, tangent, new)
        self.batch_iterations = iterations
        self.iterations = int(iterations.max(initial=0))
        return answers, tangent, new

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        """One point: (j, c_s) (2,), tangent (2, 2), new profile (N,)."""
        answers, tangent, new = self.solve_batch(np.reshape(strain, (1, 2)),
                                                 np.reshape(state, (1, -1)), step)
        return answers[0], tangent[0], new[0]
