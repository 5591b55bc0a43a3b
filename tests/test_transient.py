"""Transient stepping in time (backward Euler) against the series solution of diffusion into a
slab, single scale and FE² (problems/transport/transient_slab*.toml).

Series (Crank, The Mathematics of Diffusion, 2nd ed., eq. 4.17 with the surface at x = 0 held at
c1 and no flux at x = L; a = D/φ): c/c1 = 1 − Σ 4/((2n+1)π) sin((2n+1)πx/(2L))
exp(−(2n+1)²π² a t/(4L²)).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, case_copy, run_case
from mpi4py import MPI

SINGLE = REPO / "problems" / "transport" / "transient_slab.toml"
FE2 = REPO / "problems" / "transport" / "transient_slab_fe2.toml"
PHI, L, T_END = 0.5, 1.0, 0.1


def series(x: np.ndarray, t: float, a: float, terms: int = 200) -> np.ndarray:
    n = 2 * np.arange(terms) + 1
    return 1 - np.sum(4 / (n * np.pi) * np.sin(np.outer(x, n) * np.pi / (2 * L))
                      * np.exp(-(n ** 2) * np.pi ** 2 * a * t / (4 * L ** 2)), axis=1)


def max_error(outcome, a: float) -> float:
    coordinates, values = outcome.problem.owned_values("c")
    local = np.abs(values[:, 0] - series(coordinates[:, 0], T_END, a)).max(initial=0.0)
    return MPI.COMM_WORLD.allreduce(float(local), op=MPI.MAX)


def with_step(dt: float) -> list[tuple[str, str]]:
    return [("initial_step = 0.005\nmin_step = 0.005\nmax_step = 0.005",
             f"initial_step = {dt}\nmin_step = {dt}\nmax_step = {dt}")]


def test_transient_diffusion_matches_the_series_and_is_first_order_in_time(shared_tmp):
    """Single scale, D = 1, φ = 0.5: at t = 0.1 the nodal error is below 1e-2 c1 with Δt = 0.005
    (backward Euler: O(Δt), about 5e-3 here; P2 in space adds < 1e-4), and halving Δt halves
    it (ratio within [1.7, 2.3]): the storage term, the previous-step field and dt are right."""
    coarse = run_case(case_copy(SINGLE, shared_tmp, "coarse"), shared_tmp / "coarse")
    fine = run_case(case_copy(SINGLE, shared_tmp, "fine", with_step(0.0025)),
                    shared_tmp / "fine")
    assert coarse.completed and fine.completed
    assert len(coarse.summary["steps"]) == 20 and len(fine.summary["steps"]) == 40
    assert coarse.summary["steps"][-1]["t"] == pytest.approx(T_END)
    errors = max_error(coarse, 1.0 / PHI), max_error(fine, 1.0 / PHI)
    assert errors[0] < 1e-2, errors
    assert 1.7 < errors[0] / errors[1] < 2.3, errors


def test_transient_fe2_diffusion_uses_the_homogenized_diffusivity(shared_tmp):
    """FE²: the linear pore-space RVE is homogenized once (no RVE solve per point) and the slab
    follows the series with a = D_eff,xx/φ to the accuracy of the single-scale run (1e-2 c1)."""
    outcome = run_case(case_copy(FE2, shared_tmp, "fe2"), shared_tmp / "fe2")
    assert outcome.completed
    assert outcome.summary["micro"]["homogenizations"] == 1
    assert outcome.summary["total_rve_solves"] == 0
    D_eff = outcome.problem.couplings[0].regions[0].dispatcher.model.D_hom
    assert 0.3 < D_eff[0, 0] < 1.0  # the fibre obstructs: D_eff < D
    assert max_error(outcome, D_eff[0, 0] / PHI) < 1e-2
