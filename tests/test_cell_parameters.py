"""The DFN parameter sets of fe2.physics.cell_parameters (issue 14, item 3): transcription of
the published fits, numpy and UFL evaluations agreeing, and clear errors for bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from fe2.physics import cell_parameters as cp


def _marquis_graphite(x: float) -> float:
    """Dualfoil MCMB 2528 graphite fit as printed in Marquis et al. 2019 (via Dualfoil)."""
    return (0.194 + 1.5 * math.exp(-120.0 * x) + 0.0351 * math.tanh((x - 0.286) / 0.083)
            - 0.0045 * math.tanh((x - 0.849) / 0.119) - 0.035 * math.tanh((x - 0.9233) / 0.05)
            - 0.0147 * math.tanh((x - 0.5) / 0.034) - 0.102 * math.tanh((x - 0.194) / 0.142)
            - 0.022 * math.tanh((x - 0.9) / 0.0164) - 0.011 * math.tanh((x - 0.124) / 0.0226)
            + 0.0155 * math.tanh((x - 0.105) / 0.029))


def _marquis_lco(y: float) -> float:
    """Dualfoil LiCoO2 fit with the stoichiometry stretched by 1.062."""
    s = 1.062 * y
    return (2.16216 + 0.07645 * math.tanh(30.834 - 54.4806 * s)
            + 2.1581 * math.tanh(52.294 - 50.294 * s) - 0.14169 * math.tanh(11.0923 - 19.8543 * s)
            + 0.2051 * math.tanh(1.4684 - 5.4888 * s) + 0.2531 * math.tanh((-s + 0.56478) / 0.1316)
            - 0.02167 * math.tanh((s - 0.525) / 0.006))


def _chen_graphite(x: float) -> float:
    """Chen et al. 2020, eq. (8)."""
    return (1.9793 * math.exp(-39.3631 * x) + 0.2482 - 0.0909 * math.tanh(29.8538 * (x - 0.1234))
            - 0.04478 * math.tanh(14.9159 * (x - 0.2769))
            - 0.0205 * math.tanh(30.4444 * (x - 0.6103)))


def _chen_nmc(y: float) -> float:
    """Chen et al. 2020, eq. (9)."""
    return (-0.8090 * y + 4.4875 - 0.0428 * math.tanh(18.5138 * (y - 0.5542))
            - 17.7326 * math.tanh(15.7890 * (y - 0.3117))
            + 17.5842 * math.tanh(15.9308 * (y - 0.3120)))


CASES = [(cp.graphite_mcmb2528_dualfoil, _marquis_graphite),
         (cp.lco_dualfoil, _marquis_lco),
         (cp.graphite_chen2020, _chen_graphite),
         (cp.nmc811_chen2020, _chen_nmc)]


@pytest.mark.parametrize("function, reference", CASES)
def test_ocp_fits_match_the_published_formulas(function, reference):
    """Each fit against the formula of its publication written out term by term with math
    (source: module docstring), at θ in {0, 0.05, ..., 1}; tolerance 1e-14 relative plus 1e-13 V
    absolute: the same arithmetic up to summation order, with terms up to 17.7 V (NMC811) whose
    round-off (≈ 4e-15 V each) is not relative to a small result (LiCoO2 at θ = 1: 6 mV, past
    the end-of-discharge cliff of the fit at 1.062 θ ≈ 1.04)."""
    theta = np.linspace(0.0, 1.0, 21)
    values = function(theta)
    expected = np.array([reference(float(x)) for x in theta])
    assert np.allclose(values, expected, rtol=1e-14, atol=1e-13)


@pytest.mark.parametrize("function, reference", CASES)
def test_ocp_fits_give_the_same_numbers_in_ufl(function, reference):
    """The UFL path (used by macro weak forms) against numpy at θ = 0.37, evaluated by a
    dolfinx Expression on one interval cell; tolerance 1e-13 relative (round-off)."""
    from dolfinx import fem, mesh

    domain = mesh.create_unit_interval(MPI.COMM_SELF, 1)
    theta = fem.Constant(domain, 0.37)
    expression = fem.Expression(function(theta), np.array([[0.5]]))
    value = expression.eval(domain, np.array([0], dtype=np.int32)).ravel()[0]
    assert value == pytest.approx(reference(0.37), rel=1e-13)


@pytest.mark.parametrize("name", sorted(cp.SETS))
def test_sets_build_and_their_initial_ocv_lies_between_the_cut_offs(name):
    """Every set builds; its initial OCV U_p(θ_p0) − U_n(θ_n0) lies inside [V_min, V_max]
    (a cell must start inside its own cut-offs). Marquis 2019 starts at θ_n = 0.8, θ_p = 0.6
    (c₀/c_max of the set; tolerance 1e-12)."""
    cell = cp.cell_parameters(name)
    ocv = cell.open_circuit_voltage(cell.negative.initial_stoichiometry,
                                    cell.positive.initial_stoichiometry)
    assert cell.v_min < ocv < cell.v_max
    assert cell.negative.surface_area == pytest.approx(
        3 * cell.negative.active_fraction / cell.negative.particle_radius, rel=1e-15)
    if name == "Marquis2019":
        assert cell.negative.initial_stoichiometry == pytest.approx(0.8, rel=1e-12)
        assert cell.positive.initial_stoichiometry == pytest.approx(0.6, rel=1e-12)
        assert cell.electrolyte.name == "Capiglia1999"
    else:
        assert cell.electrolyte.name == "Nyman2008"


def test_exchange_current_density_and_arrhenius():
    """i₀ = m_ref c_e^½ c_s^½ (c_max − c_s)^½ at T_ref (Marquis 2019 negative electrode,
    m_ref = 2e-5, c_e = 1000, c_s = c_max/2): hand value; at 308.15 K the factor
    exp(37480/R (1/298.15 − 1/308.15)); tolerance 1e-12."""
    electrode = cp.cell_parameters("Marquis2019").negative
    c_max = electrode.c_max
    expected = 2e-5 * math.sqrt(1000.0) * (c_max / 2)
    assert electrode.exchange_current(1000.0, c_max / 2) == pytest.approx(expected, rel=1e-12)
    factor = math.exp(37480.0 / 8.314462618 * (1 / 298.15 - 1 / 308.15))
    assert electrode.exchange_current(1000.0, c_max / 2, 308.15) == pytest.approx(
        expected * factor, rel=1e-12)


@pytest.mark.parametrize("theta", [-1e-9, 1.0 + 1e-9, np.array([0.5, 1.2])])
def test_stoichiometry_outside_zero_one_is_an_error(theta):
    """Issue 14, bad inputs: a stoichiometry leaving [0, 1] raises ValueError naming it."""
    for function, _ in CASES:
        with pytest.raises(ValueError, match="stoichiometry outside"):
            function(theta)


def test_missing_label_unknown_set_and_bad_override():
    """Issue 14, bad inputs: a missing parameter is named; an unknown set lists the known
    ones; an initial concentration above c_max is rejected."""
    label = "Positive particle radius [m]"
    with pytest.raises(KeyError, match=r"Positive particle radius \[m\]"):
        cp.cell_parameters("Chen2020", {label: None})
    with pytest.raises(KeyError, match="Marquis2019"):
        cp.cell_parameters("Nope")
    with pytest.raises(ValueError, match="stoichiometry outside"):
        cp.cell_parameters("Chen2020", {"Negative initial lithium concentration [mol.m-3]":
                                        40000.0})
    changed = cp.cell_parameters("Chen2020", {label: 4e-6})
    assert changed.positive.particle_radius == 4e-6
