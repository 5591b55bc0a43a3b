"""Batched micro Newton (fe2.rve.batch) against the per-point NonlinearRVE.solve.

The reference is always the per-point path of the same RVE object (dolfinx_mpc assembly,
MUMPS), so every tolerance is round-off: the two paths do the same arithmetic with different
sparse LU solvers. Every RVE lives on MPI.COMM_SELF; under mpirun each rank solves its own
points and the dispatcher tests check that every rank takes the same decision.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import ufl
from mpi4py import MPI

from fe2.core.dispatch import Dispatcher
from fe2.core.micro import BatchMicroModel, BatchSolveError, MicroSolveError
from fe2.io.mesh import load_mesh
from fe2.laws.pointwise import Elastic, J2Plasticity, UFLEnergyLaw
from fe2.rve.nonlinear import NonlinearRVE

MATRIX, FIBRE = (50e3, 0.2), (210e3, 0.3)  # E, ν as in test_rve_nonlinear.py
J2 = J2Plasticity(*MATRIX, yield_stress=100.0, hardening=1000.0)
PLASTIC = np.array([8e-3, -2e-3, 12e-3])  # every matrix point of rve_square yields
RTOL = 1e-10  # round-off agreement of the two paths (issue 15); 1e-15..1e-14 observed


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _j2_rve(meshed, **options) -> NonlinearRVE:
    data = load_mesh(meshed["rve_square"], MPI.COMM_SELF)
    return NonlinearRVE(data, {"matrix": J2, "inclusion": Elastic(*FIBRE)}, **options)


def _per_point(rve: NonlinearRVE, strains, states):
    stress, tangent, new, iterations = [], [], [], []
    for strain, state in zip(strains, states, strict=True):
        s, c, n = rve.solve(strain, state)
        stress.append(s), tangent.append(c), new.append(n), iterations.append(rve.iterations)
    return np.array(stress), np.array(tangent), np.array(new), np.array(iterations)


def _assert_batch_equals_per_point(rve: NonlinearRVE, strains, states) -> np.ndarray:
    """solve_batch gives the per-point stress, tangent and states (round-off of the same
    operators: RTOL) with the same iteration counts; returns those counts."""
    kept = states.copy()
    stress, tangent, new, iterations = _per_point(rve, strains, states)
    batch = rve.solve_batch(strains, states)
    assert np.array_equal(states, kept)  # inputs untouched
    for ours, reference in zip(batch, (stress, tangent, new), strict=True):
        assert _relative(ours, reference) < RTOL
    assert np.array_equal(rve.batch_iterations, iterations)
    return iterations


def _j2_points(rve: NonlinearRVE) -> tuple[np.ndarray, np.ndarray]:
    """Virgin elastic, virgin plastic, and warm-started points from a committed plastic state
    (loading on, unloading elastically): Newton needs 1 to ~6 updates."""
    virgin = rve.initial_state()
    _, _, committed = rve.solve(PLASTIC / 2, virgin)
    strains = np.array([1e-5 * PLASTIC, PLASTIC, 0.6 * PLASTIC, 0.45 * PLASTIC,
                        [2e-3, 5e-3, -1e-3], PLASTIC[::-1], 0.5 * PLASTIC])
    states = np.array([virgin, virgin, committed, committed, virgin, committed, committed])
    return strains, states


@pytest.mark.serial  # one RVE per process; the comparison does not need more ranks
def test_batched_j2_equals_per_point(meshed):
    rve = _j2_rve(meshed)
    assert isinstance(rve, BatchMicroModel) and rve.batched
    strains, states = _j2_points(rve)
    # Stress, consistent tangent and the whole state (fluctuation, 8 J2 histories per point,
    # committed strain), and the same Newton path: the points really leave the batch at
    # different iterations (here 0, 1, 4 and 5 occur).
    iterations = _assert_batch_equals_per_point(rve, strains, states)
    assert len(set(iterations)) >= 3


@pytest.mark.serial
def test_batched_affine_cell_equals_per_point_and_minimal_is_per_point(meshed):
    """Issue 15, item 3. Affine cells: P is the identity and the boundary dofs are pinned, so
    the batched Newton does the per-point arithmetic (RTOL, same iteration counts). Minimal
    cells (a saddle-point Jacobian) decline the batch: the dispatcher solves them one by one."""
    rve = _j2_rve(meshed, bc="affine")
    assert rve.batched
    iterations = _assert_batch_equals_per_point(rve, *_j2_points(rve))
    assert len(set(iterations)) >= 3
    minimal = _j2_rve(meshed, bc="minimal")
    assert not minimal.batched
    strains, states = _j2_points(minimal)
    evaluation = Dispatcher(MPI.COMM_SELF, minimal).evaluate(strains[:2], states[:2])
    assert evaluation.ok and minimal._batch is None  # solved point by point
    stress, tangent, _ = minimal.solve(strains[1], states[1])
    assert _relative(evaluation.stress[1], stress) < RTOL  # the same solve (round-off)
    assert _relative(evaluation.tangent[1], tangent) < RTOL


@pytest.mark.serial
def test_a_solve_at_the_committed_strain_returns_the_committed_tangent(meshed):
    """Issue 15, item 4. After a plastic solve every yielded point sits on its yield surface.
    The first macro iteration of the next step solves every point again at its committed
    strain (the same fields, bit for bit, in a serial and in a parallel run): it converges
    without an update and returns the committed consistent tangent on both paths, so the
    first macro tangent of a step no longer depends on the branch round-off picks. (Before:
    the re-evaluated law picked elastic or plastic by round-off, and this tangent differed
    from the committed one by 105 % of its size.)"""
    rve = _j2_rve(meshed)
    _, tangent, committed = rve.solve(PLASTIC, rve.initial_state())
    assert np.array_equal(rve.committed_strains(committed[None])[0], PLASTIC)
    strains, states = np.array([PLASTIC, 0.6 * PLASTIC]), np.array([committed, committed])
    iterations = _assert_batch_equals_per_point(rve, strains, states)
    assert iterations[0] == 0
    again = rve.solve_batch(strains, states)[1]
    # The committed tangent rebuilt from Δγ: rounding, 1e-12 relative (1e-15 observed).
    assert _relative(again[0], tangent) < 1e-12


@pytest.mark.serial
def test_batched_ufl_energy_law_equals_per_point(meshed):
    """A UFL law (evaluated RVE after RVE: it is bound to the cells' points) in the matrix."""
    lam, mu = 20e3, 30e3

    def energy(eps):
        tr = ufl.tr(eps)
        return lam / 2 * tr**2 + mu * ufl.inner(eps, eps) + 1e8 * ufl.inner(eps, eps) ** 2

    data = load_mesh(meshed["rve_square"], MPI.COMM_SELF)
    rve = NonlinearRVE(data, {"matrix": UFLEnergyLaw(energy, n_history=1),
                              "inclusion": Elastic(*FIBRE)})
    strains = np.array([[1e-5, 0, 0], [2e-2, -1e-2, 1.5e-2], [5e-3, 5e-3, 0],
                        [-3e-2, 1e-2, 2e-2]])
    states = np.tile(rve.initial_state(), (len(strains), 1))
    # The history column is carried unchanged.
    iterations = _assert_batch_equals_per_point(rve, strains, states)
    assert len(set(iterations)) >= 2


@pytest.mark.serial
def test_batch_failure_names_the_first_failing_point(meshed):
    """max_iterations = 3: elastic points converge, plastic ones fail; a NaN strain fails at
    once. The batch stops where a per-point loop would, with the same message."""
    rve = _j2_rve(meshed, max_iterations=3)
    virgin = rve.initial_state()
    strains = np.array([1e-5 * PLASTIC, 2e-5 * PLASTIC, PLASTIC, [np.nan, 0, 0], PLASTIC])
    states = np.tile(virgin, (len(strains), 1))
    with pytest.raises(MicroSolveError, match="did not converge in 3 iterations") as per_point:
        rve.solve(strains[2], virgin)
    with pytest.raises(BatchSolveError) as batch:
        rve.solve_batch(strains, states)
    assert batch.value.index == 2  # the NaN point (3) fails first in time, but comes later
    assert str(batch.value).split("(residual")[0] == str(per_point.value).split("(residual")[0]
    assert list(batch.value.iterations) == [1, 1]  # the converged points before it
    with pytest.raises(BatchSolveError, match="not finite") as nan:
        rve.solve_batch(strains[3:4], states[3:4])
    assert nan.value.index == 0


def test_dispatcher_batched_equals_per_point_and_agrees_on_failure(meshed):
    """Through the dispatcher (with and without balancing): results, counts and the failure
    decision of the batched path are those of the per-point path on every rank."""
    comm = MPI.COMM_WORLD
    rve = _j2_rve(meshed)
    strains, states = _j2_points(rve)
    rve.max_iterations = 4
    strains, states = strains[[0, 2, 3, 6]], states[[0, 2, 3, 6]]  # converge in ≤ 4 updates
    for balance in (False, True):
        answers = {}
        for batched in (False, True):
            rve.batched = batched
            dispatcher = Dispatcher(comm, rve, balance=balance)
            dispatcher.evaluate(strains, states)  # the first call measures costs
            answers[batched] = dispatcher.evaluate(strains, states)
        per_point, batch = answers[False], answers[True]
        assert per_point.ok and batch.ok
        # Round-off of the same operators (RTOL).
        assert _relative(batch.stress, per_point.stress) < RTOL
        assert _relative(batch.tangent, per_point.tangent) < RTOL
        assert _relative(batch.states, per_point.states) < RTOL
        # Balancing moves points by measured cost, so the counts are compared over all ranks.
        for key in ("solves", "micro_iterations"):
            totals = [comm.allreduce(getattr(e.stats, key)) for e in (batch, per_point)]
            assert totals[0] == totals[1]
        assert comm.allreduce(batch.stats.solves) == comm.size * len(strains)

    # A point that cannot converge in 4 updates on rank 0 only: every rank cuts (ok False)
    # with rank 0's message, which is the per-point path's up to the residual digits.
    failing = strains.copy()
    if comm.rank == 0:
        failing[1] = PLASTIC
    messages = {}
    for batched in (False, True):
        rve.batched = batched
        evaluation = Dispatcher(comm, rve).evaluate(failing, states)
        assert not evaluation.ok
        messages[batched] = evaluation.message.split("(residual")[0]
        if comm.rank == 0:
            assert evaluation.stats.solves == 1
    assert messages[True] == messages[False]
    assert "did not converge in 4 iterations" in messages[True]


def test_solver_choice(meshed, monkeypatch):
    """``solver`` (issue 15, item 2): "auto" takes the batch up to the crossover size and MUMPS
    above it or where the batch cannot run, with the reason; "mumps" and "petsc" solve point
    by point (the dispatcher never builds the batch) and agree to round-off (RTOL) with the
    same Newton path; impossible requests are refused."""
    from fe2.rve import nonlinear

    auto = _j2_rve(meshed)
    assert auto.solver_choice[0] == "batched" and auto.solver_choice[1].startswith("auto:")
    monkeypatch.setitem(nonlinear.AUTO_BATCHED_DOFS, 2, auto.ndofs - 1)
    large = _j2_rve(meshed)
    assert large.solver_choice[0] == "mumps" and "dofs >" in large.solver_choice[1]
    assert _j2_rve(meshed, bc="minimal").solver_choice[0] == "mumps"
    for solver in ("batched", "petsc"):
        with pytest.raises(ValueError, match=f"solver '{solver}'"):
            _j2_rve(meshed, solver=solver, bc="minimal")
    strains, states = _j2_points(auto)
    results = {}
    for solver in ("mumps", "petsc"):
        rve = _j2_rve(meshed, solver=solver)
        assert not rve.batched and rve.solver_choice == (solver, "requested")
        Dispatcher(MPI.COMM_WORLD, rve).evaluate(strains[:2], states[:2])
        assert rve._batch is None  # the batched solver was never built
        results[solver] = _per_point(rve, strains, states)
    for ours, reference in zip(results["petsc"][:3], results["mumps"][:3], strict=True):
        assert _relative(ours, reference) < RTOL
    assert np.array_equal(results["petsc"][3], results["mumps"][3])


def _with_micro_key(case: Path, path: Path, key: str, value: str) -> Path:
    """A copy of the plate ``case`` at ``path`` with ``key = "value"`` added to its [micro]
    table (after its ``rtol`` line), written on rank 0."""
    if MPI.COMM_WORLD.rank == 0:
        path.write_text(case.read_text().replace("rtol = 1e-10\n",
                                                 f'rtol = 1e-10\n{key} = "{value}"\n', 1))
    MPI.COMM_WORLD.barrier()
    return path


def test_fe2_run_batched_equals_per_point(shared_tmp):
    """A whole FE² run (the small plate of test_fe2_run.py, J2 cells) with ``[micro] solver``
    "batched" and "mumps": the same macro Newton path and reaction curve, the choice in the
    summary. Tolerance 1e-8 of the largest reaction: the micro results differ by round-off
    (1e-15), which the macro Newton carries to its 1e-10 residual tolerance, not further."""
    from test_fe2_run import _case, _reactions, _run

    case = _case(shared_tmp, "batched", step=0.5)
    summaries = {}
    for solver in ("batched", "mumps"):
        path = _with_micro_key(case, shared_tmp / f"solver_{solver}.toml", "solver", solver)
        outcome = _run(path, shared_tmp / f"solver_{solver}")
        assert outcome.completed
        micro = outcome.summary["micro"]  # reported
        assert micro["batched"] == [solver == "batched"]
        assert micro["solver"] == [{"name": solver, "reason": "requested"}]
        summaries[solver] = outcome.summary
    batched, per_point = (_reactions(summaries[s]) for s in ("batched", "mumps"))
    assert np.abs(batched - per_point).max() <= 1e-8 * np.abs(per_point).max()
    assert ([s["newton_iterations"] for s in summaries["batched"]["steps"]]
            == [s["newton_iterations"] for s in summaries["mumps"]["steps"]])


def test_fe2_run_with_affine_and_minimal_cells(shared_tmp):
    """``[micro] bc`` reaches the nonlinear RVE (issue 15, item 3): the plate of
    test_fe2_run.py converges one step with affine and with minimal J2 cells, the stiffer
    affine cells carrying the larger reaction (energy ordering, test_rve_nonlinear.py); a
    minimal cell shared by a group of ranks is refused with a message on every rank."""
    from test_fe2_run import _case, _run
    from test_rve_groups import _with_parallel

    from fe2.core.errors import ConfigError

    case = _case(shared_tmp, "bcs", step=0.5)
    reactions = {}
    for bc in ("affine", "minimal"):
        path = _with_micro_key(case, shared_tmp / f"bc_{bc}.toml", "bc", bc)
        outcome = _run(path, shared_tmp / f"bc_{bc}", max_steps=1)
        assert len(outcome.summary["steps"]) == 1
        assert outcome.summary["micro"]["batched"] == [bc == "affine"]
        reactions[bc] = outcome.summary["steps"][0]["reaction"]
    assert reactions["affine"] > reactions["minimal"] > 0
    if MPI.COMM_WORLD.size == 2:
        with pytest.raises(ConfigError, match="minimal.*rve_ranks = 2"):
            _run(_with_parallel(shared_tmp / "bc_minimal.toml", "rve_ranks = 2"),
                 shared_tmp / "bc_minimal_group")


@pytest.mark.serial
def test_batched_3d_cell_equals_per_point(shared_tmp):
    """3D (6 Mandel components, P1 tetrahedra, a coarse cube with a sphere): the same operators
    and results as per point."""
    from conftest import MESHES, mesh_on_root

    from fe2.io.meshing import MeshOptions

    report = mesh_on_root([MESHES / "rve_cube_sphere.geo"], shared_tmp,
                          MeshOptions(size_factor=2.0))[0]
    assert report.ok
    data = load_mesh(report.output, MPI.COMM_SELF)
    rve = NonlinearRVE(data, {"matrix": J2, "inclusion": Elastic(*FIBRE)}, model="3d")
    strains = np.array([[6e-3, -2e-3, 1e-3, 4e-3, 0.0, 5e-3], [1e-5, 0, 0, 0, 0, 0]])
    states = np.tile(rve.initial_state(), (2, 1))
    # One plastic and one elastic point; the plastic point needs more updates.
    iterations = _assert_batch_equals_per_point(rve, strains, states)
    assert iterations[0] > iterations[1]
