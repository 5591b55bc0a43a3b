"""Nonlinear macro diffusion through the FE² core (problems/transport/electrode_transport_fe2.toml):
generalized strain (∇c, c), flux D_eff exp(βc) ∇c from the periodic pore-space cell."""

from __future__ import annotations

import numpy as np
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
