"""Pressure and temperature on the kinetics of an intercalation particle (issue 13, part 2):
the laws of fe2.laws.kinetics against hand values, the [kinetics] table of chemo_mechanics
(exact reduction to the constant-D galvanostatic model, bad inputs) and the charging-time study
problems/chemo_mechanics/charging_time.py run as a user would."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from fe2.core.errors import ConfigError
from fe2.laws import kinetics as laws

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "problems" / "chemo_mechanics"
R, F = 8.314462618, 96485.33212

# ------------------------------------------------------------------ laws (hand values)


def test_arrhenius_ratio_at_two_temperatures():
    """E_a = 50 kJ/mol between 303 K and 323 K: exp(E_a/R (1/303 − 1/323)) = 3.41750809 (hand
    value, math.exp of the formula); the ratio does not depend on T_ref. Tolerance 1e-12."""
    expected = 3.4175080935478963
    assert laws.arrhenius_factor(50e3, 323.0, 303.0) == pytest.approx(expected, rel=1e-12)
    ratio = laws.arrhenius_factor(50e3, 323.0, 250.0) / laws.arrhenius_factor(50e3, 303.0, 250.0)
    assert ratio == pytest.approx(expected, rel=1e-12)
    assert laws.rate_factor(323.0, 303.0, 50e3) == pytest.approx(expected, rel=1e-12)


def test_activation_volume_factor():
    """p = 1 GPa, V_a = 3 cm³/mol, T = 300 K: exp(−pV_a/RT) = exp(−1.2027) = 0.300375010 (hand
    value); V_a > 0 slows the rate under compression. Tolerance 1e-12."""
    factor = laws.activation_volume_factor(1e9, 3e-6, 300.0)
    assert factor == pytest.approx(0.30037501035575176, rel=1e-12)
    assert laws.rate_factor(300.0, 300.0, 50e3, 1e9, 3e-6) == pytest.approx(factor, rel=1e-12)


def test_thermal_stress_raises_the_barrier_of_a_heated_constrained_particle():
    """K = 8.333 GPa, α_T = 3e-5 /K (volumetric), ΔT = 20 K: σ_h = −K α_T ΔT = −5.0 MPa
    (compression); the barrier shift −σ_h Ω with Ω = 3.497e-6 m³/mol is +17.485 J/mol (a higher
    barrier). At T_ref, p = 0, no stress the rate factor is exactly 1 (== 1.0)."""
    sigma = laws.thermal_stress(25e9 / 3, 3e-5, 20.0)
    assert sigma == pytest.approx(-5.0e6, rel=1e-12)
    shift = laws.stress_barrier_shift(sigma, 3.497e-6)
    assert shift == pytest.approx(17.485, rel=1e-12)
    assert laws.rate_factor(303.0, 303.0, 50e3, 0.0, 3e-6, 0.0) == 1.0
    assert laws.rate_factor(303.0, 303.0, barrier_shift=shift) == pytest.approx(
        math.exp(-17.485 / (R * 303.0)), rel=1e-12)


def test_butler_volmer_symmetric_case_and_its_inverse():
    """α_a = α_c = α = 0.5: i = 2 i₀ sinh(αFη/RT) (Newman & Thomas-Alyea); i₀ = 2 A/m², η = 30 mV,
    T = 298.15 K: 2.47025002 A/m² (hand value). The insertion current at η_ins is the cathodic
    mirror; the overpotential that drives a current inverts both forms (asinh for symmetric
    α, bisection for α_c = 0.3). Tolerances 1e-12 (closed form), 1e-10 (bisection)."""
    expected = 2.4702500162930794
    assert laws.butler_volmer(2.0, 0.03, 298.15) == pytest.approx(expected, rel=1e-12)
    alpha = 0.5
    assert laws.butler_volmer(2.0, 0.03, 298.15) == pytest.approx(
        2 * 2.0 * math.sinh(alpha * F * 0.03 / (R * 298.15)), rel=1e-12)
    assert laws.insertion_current(2.0, 0.03, 298.15) == pytest.approx(expected, rel=1e-12)
    assert laws.insertion_overpotential(expected, 2.0, 298.15) == pytest.approx(0.03, rel=1e-12)
    current = laws.insertion_current(2.0, 0.04, 298.15, alpha_a=0.7, alpha_c=0.3)
    assert laws.insertion_overpotential(current, 2.0, 298.15, 0.7, 0.3) == pytest.approx(
        0.04, rel=1e-10)


def test_exchange_current_density_of_doyle_fuller_newman():
    """i₀ = F k c_e^½ (c_max − c_s)^½ c_s^½ with k = 2e-11 m^2.5 mol^-0.5 s^-1, c_e = 1000,
    c_s = c_max/2 = 11450 mol/m³: 0.69870971 A/m² (hand value). Tolerance 1e-12."""
    i0 = laws.exchange_current_density(2e-11, 1000.0, 11450.0, 22900.0)
    assert i0 == pytest.approx(0.6987097095801359, rel=1e-12)


# ------------------------------------------------------------------ the physics' [kinetics]

KINETICS_AT_REFERENCE = """
[kinetics]
reference_temperature = 303.0
pressure = 0.0
thermal_expansion = 3.0e-5
diffusion_activation_energy = 50.2e3
diffusion_activation_volume = 3.0e-6
rate_constant = 2.0e-11
reaction_activation_energy = 50.0e3
reaction_activation_volume = 1.0e-6
"""


def _case(folder: Path, name: str, source: Path, edits=(), append: str = "") -> Path:
    """A copy of ``source`` with its mesh path absolute, ``edits`` (old, new) and ``append``,
    written on rank 0; every rank gets the path."""
    path = folder / f"{name}.toml"
    if MPI.COMM_WORLD.rank == 0:
        text = source.read_text().replace('"../../meshes/', f'"{REPO / "meshes"}/')
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new)
        path.write_text(text + append)
    MPI.COMM_WORLD.barrier()
    return path


SHORT = [("end = 1000.0                   # [s]\nsteps = 100", "end = 200.0\nsteps = 10"),
         ("n = 200, progression = 0.99", "n = 40, progression = 0.97")]


def test_kinetics_at_the_reference_state_reduce_exactly_to_the_galvanostatic_model(shared_tmp):
    """sphere_charge.toml (galvanostatic, constant D; shortened to 10 steps of 20 s on 40
    elements) with and without a [kinetics] table at p = 0, T = T_ref (non-zero activation
    energies, volumes and thermal expansion): the rate factors are exactly 1, so the c, σ_r,
    σ_θ profiles at every step agree to 1e-12 (relative to their largest value); the run with
    kinetics also reports the Butler–Volmer overpotential the current needs (> 0)."""
    from fe2.app.run import run
    from fe2.app.run_case import load_run_config

    source = CASES / "sphere_charge.toml"
    plain = _case(shared_tmp, "plain", source, SHORT)
    kinetic = _case(shared_tmp, "kinetic", source, SHORT, KINETICS_AT_REFERENCE)
    outcomes = [run(load_run_config(case), shared_tmp / case.stem, MPI.COMM_WORLD,
                    progress=False, figures=False) for case in (plain, kinetic)]
    assert all(outcome.completed for outcome in outcomes)
    factors = outcomes[1].summary["chemo_mechanics"]["kinetics"]["regions"]["particle"]
    assert factors["diffusivity_factor"] == 1.0 and factors["rate_constant_factor"] == 1.0
    same = True
    if MPI.COMM_WORLD.rank == 0:
        a, b = (outcome.problem.definition.profiles for outcome in outcomes)
        assert len(a) == len(b) == 10
        for (ta, pa), (tb, pb) in zip(a, b, strict=True):
            scale = np.abs(pa).max(axis=0)
            same = same and ta == tb and bool(np.all(np.abs(pa - pb) <= 1e-12 * scale))
    assert MPI.COMM_WORLD.bcast(same, root=0)
    last = outcomes[1].summary["steps"][-1]["scalars"]
    assert last["overpotential"] > 0
    assert last["surface_current_density"] == pytest.approx(2.0, rel=1e-12)


def test_butler_volmer_charge_conserves_lithium_and_switches_to_the_hold(shared_tmp):
    """charging_time.toml as shipped, shortened to 3000 s at n = 40 (`fe2 run`'s API): the
    lithium balance closes every step (relative 1e-8: backward Euler with the end-of-step
    flux), the surface concentration never exceeds c_lim = 21755 mol/m³ by more than the hold's
    penalty offset j/κ (< 20 mol/m³), and the flux is first reaction-limited (surface_limit 1)
    and later held at c_lim (2)."""
    from fe2.app.run import run
    from fe2.app.run_case import load_run_config

    case = _case(shared_tmp, "bv", CASES / "charging_time.toml",
                 [("end = 4000.0 ", "end = 3000.0 "), ("n = 80,", "n = 40,")])
    outcome = run(load_run_config(case), shared_tmp / "bv", MPI.COMM_WORLD, progress=False,
                  figures=False)
    assert outcome.completed
    scalars = [step["scalars"] for step in outcome.summary["steps"]]
    assert max(abs(s["lithium_balance_error"]) for s in scalars) < 1e-8
    assert max(s["c_surface"] for s in scalars) < 21755.0 + 20.0
    limits = [s["surface_limit"] for s in scalars]
    assert limits[0] == 1.0 and limits[-1] == 2.0
    assert max(s["overpotential"] for s in scalars) == pytest.approx(0.10, rel=1e-6)


@pytest.mark.parametrize(("source", "edits", "append", "message"), [
    ("sphere_charge.toml", [("temperature = 303.0", "temperature = -5.0")], "",
     "temperature = -5: must be positive"),
    ("sphere_charge.toml", [], KINETICS_AT_REFERENCE.replace(
        "reference_temperature = 303.0", "reference_temperature = -303.0"),
     "[kinetics] reference_temperature = -303"),
    ("sphere_charge.toml", [], KINETICS_AT_REFERENCE.replace(
        "reference_temperature = 303.0\n", ""), "missing key 'reference_temperature'"),
    ("sphere_charge.toml", [], KINETICS_AT_REFERENCE + "activation_energy = 1.0\n",
     "unknown key 'activation_energy'"),
    ("sphere_charge.toml", [], KINETICS_AT_REFERENCE.replace(
        "diffusion_activation_energy = 50.2e3", "diffusion_activation_energy = -1.0"),
     "diffusion_activation_energy = -1 J/mol"),
    ("sphere_charge.toml", [("current_density = 2.0 ", "# ")], "",
     "missing key 'current_density'"),
    ("charging_time.toml", [("rate_constant = 2.0e-11 ", "# ")], "", "'rate_constant'"),
    ("charging_time.toml", [("initial_concentration = 1145.0", "initial_concentration = 0.0")],
     "", "initial_concentration = 0"),
    ("charging_time.toml", [("surface_concentration_limit = 21755.0",
                             "surface_concentration_limit = 30000.0")], "",
     "surface_concentration_limit = 30000"),
    ("charging_time.toml", [("transfer_coefficient = 0.5", "transfer_coefficient = 1.5")], "",
     "transfer_coefficient = 1.5"),
])
def test_bad_kinetics_input_is_a_config_error_naming_the_key(shared_tmp, source, edits, append,
                                                              message):
    """Each mistake is a ConfigError that names the table and the key (read before meshing)."""
    from fe2.app.run_case import load_run_config

    case = _case(shared_tmp, "bad", CASES / source, edits, append)
    with pytest.raises(ConfigError) as error:
        load_run_config(case)
    assert message in str(error.value)


def test_study_refuses_a_non_positive_temperature():
    """charging_time.charging_time(T = −5 K): ConfigError naming the temperature."""
    sys.path.insert(0, str(CASES))
    try:
        from charging_time import charging_time
    finally:
        sys.path.remove(str(CASES))
    with pytest.raises(ConfigError, match="temperature = -5 K"):
        charging_time(0.0, -5.0, MPI.COMM_WORLD)


# ------------------------------------------------------------------ the study


@pytest.mark.serial
def test_charging_time_study_is_monotonic_and_finds_the_limiting_process(tmp_path):
    """problems/chemo_mechanics/charging_time.py --quick (p = 0, 2 GPa; T = 293, 313 K; 30
    elements; coarse steps), run as a user would: the minimum charging time falls with T at
    each p and rises with p at each T (activation volumes > 0); the reaction limits at p = 0
    (no time at c_lim) and solid diffusion at 2 GPa (more than half the time at c_lim), at
    both temperatures. Numbers of the full grid: README, "Pressure and temperature"."""
    done = subprocess.run([sys.executable, str(CASES / "charging_time.py"), "--quick",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    with (tmp_path / "charging_time.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 4 and (tmp_path / "charging_time.png").is_file()
    time = {(float(r["pressure_Pa"]), float(r["temperature_K"])): float(r["charging_time_s"])
            for r in rows}
    limit = {(float(r["pressure_Pa"]), float(r["temperature_K"])): r["limited_by"]
             for r in rows}
    for p in (0.0, 2.0e9):
        assert time[(p, 313.0)] < time[(p, 293.0)]
    for t in (293.0, 313.0):
        assert time[(2.0e9, t)] > time[(0.0, t)]
        assert limit[(0.0, t)] == "reaction" and limit[(2.0e9, t)] == "diffusion"
