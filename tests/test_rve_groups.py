"""Large RVEs solved by a group of ranks: a NonlinearRVE distributed over two ranks, and an FE²
run whose RVEs are solved by groups of two ranks, give the one-rank results (under
``mpirun -n 2``; skipped serially), and so does a run on four oversubscribed ranks started by
the serial suite."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from mpi4py import MPI

from fe2.app.run_case import load_run_config
from fe2.io.mesh import load_mesh
from fe2.laws.pointwise import Elastic, J2Plasticity
from fe2.rve.nonlinear import NonlinearRVE

MATRIX, FIBRE = (50e3, 0.2), (210e3, 0.3)  # E, ν as in test_rve_nonlinear.py
PLASTIC = np.array([8e-3, -2e-3, 12e-3])  # every matrix point of rve_square yields

needs_two_ranks = pytest.mark.skipif(MPI.COMM_WORLD.size < 2, reason="needs 2 MPI ranks")


def _pair() -> MPI.Comm:
    """Consecutive pairs of ranks of COMM_WORLD."""
    return MPI.COMM_WORLD.Split(MPI.COMM_WORLD.rank // 2, MPI.COMM_WORLD.rank)


def _composite(path, comm: MPI.Comm, **options) -> NonlinearRVE:
    J2 = J2Plasticity(*MATRIX, yield_stress=100.0, hardening=1000.0)
    return NonlinearRVE(load_mesh(path, comm), {"matrix": J2, "inclusion": Elastic(*FIBRE)},
                        **options)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@needs_two_ranks
@pytest.mark.parametrize("degree,bc", [(1, "periodic"), (2, "periodic"), (1, "affine")])
def test_rve_on_two_ranks_equals_one_rank(meshed, degree, bc):
    pair = _pair()
    if pair.size < 2:
        pytest.skip("the last rank has no partner")
    serial = _composite(meshed["rve_square"], MPI.COMM_SELF, degree=degree, bc=bc)
    group = _composite(meshed["rve_square"], pair, degree=degree, bc=bc)
    # The mesh is split between the ranks, so are the dofs, points and states.
    assert pair.allreduce(group.n_points) == serial.n_points
    assert pair.allreduce(group.ndofs) == serial.ndofs
    assert pair.allreduce(group.state_size) == serial.state_size
    stress1, tangent1, state1 = serial.solve(PLASTIC / 2, serial.initial_state())
    stress2, tangent2, state2 = group.solve(PLASTIC / 2, group.initial_state())
    # From the committed plastic states, loading on: history matters; and the committed
    # strain again (every yielded point on its yield surface: the committed tangent, issue 15).
    for factor in (1.0, 1.5, 1.5):
        stress1, tangent1, state1 = serial.solve(factor * PLASTIC, state1)
        stress2, tangent2, state2 = group.solve(factor * PLASTIC, state2)
        # Same discrete problem; only the summation order and the LU pivoting differ:
        # 1e-10 relative (round-off, about 1e-13 observed).
        assert _relative(stress2, stress1) < 1e-10
        assert _relative(tangent2, tangent1) < 1e-10
        assert group.iterations == serial.iterations
    # Identical on both ranks of the group (broadcast from its first rank).
    assert np.array_equal(pair.bcast(tangent2), tangent2)
    # Collective averages of the history: the mean equivalent plastic strain (1e-10).
    assert group.average_history(state2, "matrix", 6) == pytest.approx(
        serial.average_history(state1, "matrix", 6), rel=1e-10)
    assert group.point_outputs(state2[None])["equivalent_plastic_strain"] == pytest.approx(
        serial.point_outputs(state1[None])["equivalent_plastic_strain"], rel=1e-10)
    group.destroy()
    serial.destroy()
    pair.Free()


def _with_parallel(case, table: str):
    """A copy of ``case`` with a ``[parallel]`` table (written on rank 0)."""
    path = case.with_name(f"{case.stem}_parallel.toml")
    if MPI.COMM_WORLD.rank == 0:
        path.write_text(case.read_text() + f"\n[parallel]\n{table}\n")
    MPI.COMM_WORLD.barrier()
    return path


@needs_two_ranks
def test_fe2_run_with_rve_groups_equals_one_rank_rves(shared_tmp):
    """FE² with every RVE solved by both ranks (rve_ranks = 2) equals FE² with one RVE per
    rank: the reaction curve, the field and the micro states' plastic strain (relative 1e-10,
    issue 5: round-off of the distributed sums and LU); still one solve per point."""
    from test_fe2_run import _case, _reactions, _run

    comm = MPI.COMM_WORLD
    case = _case(shared_tmp, "groups")
    single = _run(case, shared_tmp / "single")
    grouped = _run(_with_parallel(case, "rve_ranks = 2"), shared_tmp / "grouped")
    assert single.completed and grouped.completed
    assert grouped.summary["micro"]["rve_ranks"] == 2
    a, b = _reactions(grouped.summary), _reactions(single.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-10, atol=0)
    n_points = grouped.summary["quadrature_points"]
    for step in grouped.summary["steps"]:  # each point once per iteration, over all ranks
        assert step["rve_solves"] == [n_points] * len(step["residuals"])
    u1, u2 = single.problem.w.x.array, grouped.problem.w.x.array
    assert comm.allreduce(np.abs(u2 - u1).max(), op=MPI.MAX) <= 1e-10 * comm.allreduce(
        np.abs(u1).max(), op=MPI.MAX)
    # The group states live whole with the owning rank and give the same micro outputs.
    p1, p2 = single.problem.point_outputs("rve"), grouped.problem.point_outputs("rve")
    plastic1, plastic2 = p1["equivalent_plastic_strain"], p2["equivalent_plastic_strain"]
    assert comm.allreduce(float(np.max(plastic1, initial=0.0)), op=MPI.MAX) > 0  # it yielded
    assert comm.allreduce(float(np.abs(plastic2 - plastic1).max(initial=0.0)),
                          op=MPI.MAX) <= 1e-10 * comm.allreduce(
                              float(np.max(plastic1, initial=0.0)), op=MPI.MAX)


@needs_two_ranks
def test_rve_groups_need_equal_groups_and_no_balance(shared_tmp):
    """Bad [parallel] settings are clear config errors on every rank."""
    from test_fe2_run import _case

    from fe2.app.run import build_problem
    from fe2.core.errors import ConfigError

    case = _case(shared_tmp, "bad_groups")
    with pytest.raises(ConfigError, match="cannot be combined"):
        load_run_config(_with_parallel(case, "rve_ranks = 2\nbalance = true"))
    config = load_run_config(_with_parallel(case, "rve_ranks = 3"))
    with pytest.raises(ConfigError, match="do not split into groups of 3"):
        build_problem(config, MPI.COMM_WORLD)


@pytest.mark.serial
@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="starts its own mpirun")
@pytest.mark.parametrize("parallel", ["", "rve_ranks = 2"])
def test_four_oversubscribed_ranks_equal_one_rank(shared_tmp, parallel):
    """``mpirun -n 4`` on 2 cores (oversubscribed), with one RVE per rank or one RVE per pair
    of ranks, gives the serial reaction curve (relative 1e-8 as the 2-rank test of
    test_fe2_run.py: the macro LU sums in another order; issue 5)."""
    import json
    import os
    import subprocess

    from conftest import REPO
    from test_fe2_run import _case, _reactions, _run

    case = _case(shared_tmp, "four")
    serial = _run(case, shared_tmp / "four_serial")
    if parallel:
        case = _with_parallel(case, parallel)
    out = shared_tmp / "four_ranks"
    done = subprocess.run(["mpirun", "-n", "4", "--oversubscribe", sys.executable, "-m", "fe2",
                           "run", str(case), "--out", str(out), "--quiet"], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranks"] == 4 and summary["status"] == "completed"
    assert summary["micro"]["rve_ranks"] == (2 if parallel else 1)
    a, b = _reactions(summary), _reactions(serial.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-8, atol=0)
    for step in summary["steps"]:  # one solve per point and iteration over the 4 ranks
        assert step["rve_solves"] == [summary["quadrature_points"]] * len(step["residuals"])
