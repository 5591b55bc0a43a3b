"""Two fields through the core: linear thermoelasticity of a bar between walls heated at one end
(problems/thermoelasticity/heated_bar.toml), against its closed form, with every solver, and
serial = mpirun -n 2.

Closed form (uniaxial strain, ε_zz = 0, u = (u_x(x), 0)): T = T1 x/L; equilibrium makes
σ_xx = (λ+2μ)u_x' − 3Kα T uniform, and u_x(0) = u_x(L) = 0 gives σ_xx = −3Kα T1/2 and
u_x = 3Kα T1/(λ+2μ) (x²/(2L) − x/2), 3K = 3λ + 2μ. P2 holds the quadratic u_x and the linear T
exactly, so the only error is round-off (asserted: 1e-10 relative).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, case_copy, run_case
from mpi4py import MPI

from fe2.laws.materials import lame

CASE = REPO / "problems" / "thermoelasticity" / "heated_bar.toml"
E, NU, ALPHA, T1, L, H = 200e9, 0.3, 1.2e-5, 100.0, 1.0, 0.1
LAM, MU = lame(E, NU)
THREE_K = 3 * LAM + 2 * MU


def exact_u(x: np.ndarray) -> np.ndarray:
    return THREE_K * ALPHA * T1 / (LAM + 2 * MU) * (x ** 2 / (2 * L) - x / 2)


def field_errors(outcome) -> tuple[float, float]:
    """Max nodal errors of u_x (relative to max |u_x|) and T (relative to T1), all ranks."""
    problem, comm = outcome.problem, MPI.COMM_WORLD
    x_u, u = problem.owned_values("u")
    x_t, T = problem.owned_values("T")
    scale = np.abs(exact_u(np.linspace(0, L, 101))).max()
    error_u = np.abs(u[:, 0] - exact_u(x_u[:, 0])).max(initial=0) / scale
    error_y = np.abs(u[:, 1]).max(initial=0) / scale
    error_t = np.abs(T[:, 0] - T1 * x_t[:, 0] / L).max(initial=0) / T1
    return (comm.allreduce(float(max(error_u, error_y)), op=MPI.MAX),
            comm.allreduce(float(error_t), op=MPI.MAX))


@pytest.mark.parametrize("name, extra", [
    ("newton", ""), ("staggered", 'groups = [["T"], ["u"]]'),
    ("snes", 'petsc_options = { snes_linesearch_type = "basic" }')])
def test_heated_bar_matches_the_closed_form_with_every_solver(shared_tmp, name, extra):
    """u, T and the wall reaction σ_xx H = −3Kα T1 H/2 to 1e-10 (relative), whichever solver:
    monolithic Newton, staggered T then u (one-way coupling: converged after 1 sweep, at most
    2), or PETSc SNES with options passed through."""
    case = case_copy(CASE, shared_tmp, name, [('type = "newton"', f'type = "{name}"\n{extra}')])
    outcome = run_case(case, shared_tmp / name)
    assert outcome.completed, outcome.message
    step = outcome.summary["steps"][-1]
    assert step["reaction"] == pytest.approx(-THREE_K * ALPHA * T1 * H / 2, rel=1e-10)
    assert max(field_errors(outcome)) < 1e-10
    if name == "staggered":
        assert 1 <= step["sweeps"] <= 2
    if name == "newton":  # each field met rtol = 1e-12 on its own residual (units differ)
        residuals = step["field_residuals"]
        assert set(residuals) == {"u", "T"}
        for values in residuals.values():
            assert values[-1] <= 1e-12 * next(v for v in values if v > 0)
    assert outcome.summary["solver"] == name


@pytest.mark.skipif(MPI.COMM_WORLD.size == 1, reason="compares a parallel with a serial run")
def test_heated_bar_on_two_ranks_equals_serial(shared_tmp):
    """mpirun -n 2 and a serial run (COMM_SELF on each rank) give the same reaction (1e-12
    relative) and both meet the closed form (1e-10)."""
    from fe2.app.run_case import load_run_config
    from fe2.io.meshing import prepare_mesh

    comm = MPI.COMM_WORLD
    case = case_copy(CASE, shared_tmp, "ranks")
    config = load_run_config(case)
    prepare_mesh(config.macro, config.path, comm)  # once, before the serial runs
    parallel = run_case(case, shared_tmp / "parallel", comm)
    serial = run_case(case, shared_tmp / f"serial{comm.rank}", MPI.COMM_SELF)
    a = parallel.summary["steps"][-1]["reaction"]
    b = serial.summary["steps"][-1]["reaction"]
    assert a == pytest.approx(b, rel=1e-12)
    assert max(field_errors(parallel)) < 1e-10
