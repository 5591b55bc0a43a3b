"""Nonlinear macro diffusion through the FE² core (problems/transport/electrode_transport_fe2.toml):
generalized strain (∇c, c), flux D_eff exp(βc) ∇c from the periodic pore-space cell."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO
from mpi4py import MPI
from test_fe2_run import observed_orders

from fe2.app.run import run
from fe2.app.run_case import load_run_config

CASE = REPO / "problems" / "transport" / "electrode_transport_fe2.toml"


def test_nonlinear_transport_matches_kirchhoff_and_converges_quadratically(shared_tmp):
    config = load_run_config(CASE)
    outcome = run(config, shared_tmp / "transport", MPI.COMM_WORLD, progress=False,
                  figures=False)
    assert outcome.completed
    problem, summary = outcome.problem, outcome.summary
    # Quadratic Newton with the consistent tangent [f D, f' D ∇c] (issue 4): order ≥ 1.8.
    for step in summary["steps"]:
        assert step["newton_iterations"] >= 3  # the problem is really nonlinear
        assert max(observed_orders(step["residuals"])) >= 1.8, step["residuals"]
    # Kirchhoff: Φ(c) = (exp(βc) − 1)/β is linear in x, so c(x) = ln(1 + x/L (e^{βc_R} − 1))/β
    # and the flux is D_xx (e^{βc_R} − 1)/(β L). P1 on 80 elements across: nodal error
    # O(h²·c'') ≈ 1e-3 c_R at most; asserted 2e-3 c_R (max over all dofs, all ranks).
    beta, c_right = config.definition.micro[0].option("concentration")[1], 1000.0
    x = problem.V.tabulate_dof_coordinates()[:, 0]
    length = MPI.COMM_WORLD.allreduce(x.max(), op=MPI.MAX)
    exact = np.log1p(x / length * np.expm1(beta * c_right)) / beta
    error = MPI.COMM_WORLD.allreduce(np.abs(problem.w.x.array - exact).max(), op=MPI.MAX)
    assert error < 2e-3 * c_right, error
    # Reaction = total flux through the right side (height H = 20 µm), relative 1e-3.
    D_xx = problem.couplings[0].regions[0].dispatcher.model.D_hom[0, 0]
    height = 20e-6
    flux = D_xx * np.expm1(beta * c_right) / (beta * length) * height
    assert abs(summary["steps"][-1]["reaction"] - flux) < 1e-3 * flux
    # The 1D solution needs D_xy ≈ 0: the cell is square-symmetric, the unstructured mesh only
    # to discretization level (measured D_xy/D_xx ≈ 1e-8); 1e-6 keeps its effect far below
    # the 2e-3 profile tolerance above.
    D = problem.couplings[0].regions[0].dispatcher.model.D_hom
    assert abs(D[0, 1]) < 1e-6 * D[0, 0] and abs(D[0, 0] - D[1, 1]) < 1e-6 * D[0, 0]


LAYERED = REPO / "problems" / "transport" / "layered_cell_fe2.toml"


def test_one_rve_per_region_and_a_closed_form_law_elsewhere(shared_tmp):
    """[[micro]] per region: each electrode is its own RVE (two homogenizations), the
    separator uses [material] D. Layers in series (DESIGN §6, harmonic mean across layers):
    the flux is c_R/(L_n/D_n + L_s/D_s + L_p/D_p) and P1 holds the piecewise linear profile, so
    the reaction matches to 1e-9 (relative); the larger particles of the positive electrode
    give it the smaller D_eff."""
    from conftest import case_copy, run_case

    outcome = run_case(case_copy(LAYERED, shared_tmp, "layered"), shared_tmp / "layered")
    assert outcome.completed, outcome.message
    summary = outcome.summary
    assert summary["micro"]["homogenizations"] == 2
    assert summary["micro"]["regions"] == ["negative_electrode", "positive_electrode"]
    regions = outcome.problem.couplings[0].regions
    D_n, D_p = (region.dispatcher.model.D_hom[0, 0] for region in regions)
    assert D_p < D_n < 1e-10
    L_n, L_s, L_p, H, D_s, c_right = 100e-6, 25e-6, 100e-6, 20e-6, 3e-11, 1000.0
    flux = c_right / (L_n / D_n + L_s / D_s + L_p / D_p)
    assert abs(summary["steps"][-1]["reaction"]) == pytest.approx(flux * H, rel=1e-9)
