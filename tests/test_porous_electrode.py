"""Electrolyte transport across negative electrode | separator | positive electrode
(fe2/physics/porous_electrode.py, problems/porous_electrode/)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, case_copy, run_case
from mpi4py import MPI

from fe2.core.errors import ConfigError

CASES = REPO / "problems" / "porous_electrode"
STEADY, DISCHARGE, FE2 = (CASES / f"electrolyte_{name}.toml"
                          for name in ("steady", "discharge", "fe2"))
FARADAY = 96485.33212
# electrolyte_steady.toml: I [A/m²], D [m²/s], t⁺, c(0) [mol/m³], L [m] and ε per region.
CURRENT, D, T_PLUS, C0 = 30.0, 3e-10, 0.2594, 1000.0
L_N, L_S, L_P = 100e-6, 25e-6, 100e-6
EPS_N, EPS_S, EPS_P = 0.3, 0.47, 0.335


def steady_profile(x: np.ndarray) -> np.ndarray:
    """Exact steady c(x) with constant D, uniform a·j = I/L_n (negative), −I/L_p (positive),
    zero flux at both collectors and c(0) = C0. With ν = (1 − t⁺) I/F and D_r = D ε_r^1.5
    (Bruggeman), the flux N = −D_eff c' is νx/L_n, ν, ν(1 − ξ/L_p) in the three layers, so
        c = C0 − ν x²/(2 D_n L_n)                               0 ≤ x ≤ L_n
        c = c(L_n) − ν (x − L_n)/D_s                             L_n ≤ x ≤ L_n + L_s
        c = c(L_n + L_s) − ν (ξ − ξ²/(2 L_p))/D_p,  ξ = x − L_n − L_s
    and the drop c(0) − c(L) is ν [L_n/(2D_n) + L_s/D_s + L_p/(2D_p)] (DESIGN §6)."""
    nu = (1 - T_PLUS) * CURRENT / FARADAY
    D_n, D_s, D_p = (D * eps ** 1.5 for eps in (EPS_N, EPS_S, EPS_P))
    c1 = C0 - nu * L_N / (2 * D_n)
    c2 = c1 - nu * L_S / D_s
    xi = np.clip(x - L_N - L_S, 0.0, None)
    return np.where(x <= L_N, C0 - nu * x ** 2 / (2 * D_n * L_N),
                    np.where(x <= L_N + L_S, c1 - nu * (x - L_N) / D_s,
                             c2 - nu * (xi - xi ** 2 / (2 * L_P)) / D_p))


def analytic_drop() -> float:
    ends = steady_profile(np.array([0.0, L_N + L_S + L_P]))
    return float(ends[0] - ends[1])


def test_steady_state_reproduces_the_analytic_drop_and_profile(shared_tmp):
    """The shipped steady case (P2 on 90 elements across: the piecewise quadratic profile is
    in the space, so only solver round-off remains); asserted relative 1e-3 (the issue's
    tolerance) on the drop and 1e-3 of the drop on every nodal value."""
    outcome = run_case(case_copy(STEADY, shared_tmp, "steady"), shared_tmp / "steady")
    assert outcome.completed, outcome.message
    drop = outcome.summary["steps"][-1]["scalars"]["concentration_drop"]
    assert drop == pytest.approx(analytic_drop(), rel=1e-3)
    x, c = outcome.problem.owned_values("c_e")
    error = MPI.COMM_WORLD.allreduce(float(np.abs(c[:, 0] - steady_profile(x[:, 0])).max(
        initial=0.0)), op=MPI.MAX)
    assert error < 1e-3 * analytic_drop(), error
    regions = outcome.summary["porous_electrode"]["regions"]
    # Bruggeman: τ = ε^(1 − 1.5) exactly.
    assert regions["separator"]["tortuosity"][0] == pytest.approx(EPS_S ** -0.5, rel=1e-12)


def test_transient_conserves_mass_and_approaches_the_steady_drop(shared_tmp):
    """The steady case in time from c = 1000 mol/m³ (no prescribed c_e): the amount ∫ε c_e
    changes by exactly the integrated source in every step (relative to the amount the
    reactions exchange; asserted 1e-10, the Newton tolerance is 1e-12), the drop grows
    monotonically and reaches the analytic steady drop within 1e-3 (the slowest mode decays
    in ε L²/(π² D_eff) ≈ 30 s, the run ends at 2000 s)."""
    case = case_copy(STEADY, shared_tmp, "transient", [
        ("n_n = 40, n_s = 10, n_p = 40", "n_n = 20, n_s = 5, n_p = 20"),
        ("c_e = 1000.0 ", "# c_e free "),
        ("[loading]\ninitial_step = 1.0\nmax_step = 1.0",
         "[time]\nend = 2000.0\ninitial_step = 5.0\nmax_step = 400.0\ngrowth = 2.0")])
    outcome = run_case(case, shared_tmp / "transient")
    assert outcome.completed, outcome.message
    steps = outcome.summary["steps"]
    errors = [abs(s["scalars"]["mass_balance_error"]) for s in steps]
    assert max(errors) < 1e-10, errors
    drops = [s["scalars"]["concentration_drop"] for s in steps]
    assert np.all(np.diff(drops) > -1e-9 * drops[-1])
    assert drops[-1] == pytest.approx(analytic_drop(), rel=1e-3)


def _fe2_case(folder, name, method):
    return case_copy(FE2, folder, name, [("end = 20.0", "end = 10.0"),
                                         ('method = "fe2"', f'method = "{method}"')])


def test_fe2_and_precomputed_agree_on_a_2d_cell(shared_tmp):
    """Full FE² (the cell problem solved at every point in every Newton iteration) against
    one cell problem per region (D(c) D_eff/D): the same fields to 1e-6 (relative; both are
    exact, measured ≈ 1e-13), the FE² run really solved cells, the precomputed none. Serial
    and 2-rank runs give the same drops (reference measured serially, relative 1e-8)."""
    comm = MPI.COMM_WORLD
    full = run_case(_fe2_case(shared_tmp, "full", "fe2"), shared_tmp / "full")
    fast = run_case(_fe2_case(shared_tmp, "fast", "precomputed"), shared_tmp / "fast")
    assert full.completed and fast.completed
    assert full.summary["total_rve_solves"] > 0 and fast.summary["total_rve_solves"] == 0
    for name in ("c_e", "phi_e"):
        a, b = full.problem.owned_values(name)[1], fast.problem.owned_values(name)[1]
        scale = comm.allreduce(float(np.abs(b).max(initial=0.0)), op=MPI.MAX)  # φ_e: its range
        difference = comm.allreduce(float(np.abs(a - b).max(initial=0.0)), op=MPI.MAX)
        assert difference < 1e-6 * scale, (name, difference, scale)
    comparison = full.summary["porous_electrode"]["comparison"]
    assert comparison["max_relative_difference"] < 1e-10
    assert comparison["fe2_time_s"] > comparison["precomputed_time_s"] > 0
    scalars = full.summary["steps"][-1]["scalars"]
    assert scalars["concentration_drop"] == pytest.approx(SERIAL_DROPS[0], rel=1e-8)
    assert scalars["potential_drop"] == pytest.approx(SERIAL_DROPS[1], rel=1e-8)


# Drops [mol/m³, V] of the FE² case after one step, measured serially (the 2-rank run of the
# same test must give them to 1e-8).
SERIAL_DROPS = (97.82570022904417, 0.01726893177133838)


def test_discharge_case_writes_profiles_and_effective_properties(shared_tmp):
    """The shipped discharge case, coarser and shorter: profiles.csv/png, summary entries;
    the RVE electrode's tortuosity lies in (1, 1/ε) (D_eff between ε² D and the Wiener bound
    ε D), its porosity is the cell's pore fraction (0.404 for the circles, 2 % for the
    polygons), and the mass balance holds (1e-10)."""
    case = case_copy(DISCHARGE, shared_tmp, "discharge", [
        ("n_n = 20, n_s = 10, n_p = 20", "n_n = 6, n_s = 3, n_p = 6"),
        ("end = 1800.0", "end = 60.0")])
    outcome = run_case(case, shared_tmp / "discharge")
    assert outcome.completed, outcome.message
    out = shared_tmp / "discharge"
    assert (out / "profiles.csv").is_file() and (out / "profiles.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    positive = summary["porous_electrode"]["regions"]["positive_electrode"]
    assert positive["porosity"] == pytest.approx(0.4043, rel=0.02)
    assert all(1 < tau < 1 / positive["porosity"] for tau in positive["tortuosity"])
    assert max(abs(s["scalars"]["mass_balance_error"]) for s in summary["steps"]) < 1e-10
    drops = [s["scalars"]["concentration_drop"] for s in summary["steps"]]
    assert 0 < drops[0] < drops[-1]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("porosity = 0.47", "porosity = 0.0", "[regions.separator] porosity = 0.0"),
    ("porosity = 0.3", "porosity = -0.1", "[regions.negative_electrode] porosity = -0.1"),
    ("D = 3e-10", "D = -3e-10", "[electrolyte] D = -3e-10"),
    ("kappa = 1.0", "kappa = -1.0", "[electrolyte] kappa = -1.0"),
    ("t_plus = 0.2594", "t_plus = 1.2", "[electrolyte] t_plus = 1.2"),
])
def test_bad_inputs_are_named(shared_tmp, old, new, message):
    """Each mistake is a ConfigError naming the file, the table and the key."""
    from fe2.app.run_case import load_run_config

    case = case_copy(STEADY, shared_tmp, "bad", [(old, new)])
    with pytest.raises(ConfigError) as error:
        load_run_config(case)
    assert message in str(error.value) and str(case) in str(error.value)


def test_a_region_without_a_law_is_named(shared_tmp):
    """The mesh's separator group without [regions.separator]: a ConfigError on every rank."""
    case = case_copy(STEADY, shared_tmp, "missing", [
        ('[regions.separator]\nlaw = "bruggeman"\nporosity = 0.47\nbruggeman = 1.5\n', "")])
    with pytest.raises(ConfigError, match=r"\['separator'\].*\[regions.separator\]"):
        run_case(case, shared_tmp / "missing")
