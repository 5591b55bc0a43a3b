"""The quadrature-point dispatcher: the balance plan, and balanced against static dispatch.

``balance_plan`` is pure arithmetic and is checked on synthetic costs. The dispatcher is checked
with a cheap fake micro model whose cost (a sleep) is uneven across ranks and whose stress and
new state depend nonlinearly on the strain and on the input state, so a point solved with
another point's state, twice, or not at all shows. Under ``mpirun -n 2`` the balanced
dispatcher moves points from the expensive rank; serially it is a no-op. Every assertion is on
global (allreduced) quantities, so all ranks pass or fail together.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from mpi4py import MPI

from fe2.core.dispatch import Dispatcher, balance_plan
from fe2.core.micro import MicroModel, MicroSolveError

SECONDS_PER_UNIT = 2e-3  # sleep per unit of |strain[0]| in FakeModel.solve [s]


class FakeModel:
    """A nonlinear micro model with an uneven, strain-dependent cost (a sleep).

    stress = tanh(strain) + state/2, tangent = diag(1 - tanh²(strain)); the new state is
    ``state + strain² + 1`` (entry-wise), so it depends on the point's own input state and
    counts how often a point was solved from it. ``fail_above``: |strain[0]| above it raises
    MicroSolveError.
    """

    n_strain = n_stress = state_size = 3  # equal sizes: a state swapped for a strain is wrong,
    is_linear = False                     # not a shape error on one rank (which would hang)

    def __init__(self, fail_above: float = np.inf) -> None:
        self.iterations = 0
        self.solves = 0
        self.fail_above = fail_above

    def initial_state(self) -> np.ndarray:
        return np.zeros(self.state_size)

    def solve(self, strain, state, step=None):
        size = abs(float(strain[0]))
        time.sleep(SECONDS_PER_UNIT * size)
        if size > self.fail_above:
            raise MicroSolveError(f"fake failure at {size}")
        self.solves += 1
        self.iterations = 1 + int(10 * size)
        return reference(strain, state)


def reference(strain, state):
    """What FakeModel.solve returns, computed directly."""
    stress = np.tanh(strain) + 0.5 * state
    return stress, np.diag(1.0 - np.tanh(strain) ** 2), state + strain**2 + 1.0


def uneven_points(comm: MPI.Comm, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Strains and states of this rank's n points: rank 0's points cost 20 times more."""
    rng = np.random.default_rng(100 + comm.rank)
    strains = rng.uniform(-0.5, 0.5, (n, 3))
    strains[:, 0] = (1.0 if comm.rank == 0 else 0.05) * rng.uniform(0.9, 1.1, n)
    return strains, rng.uniform(-1.0, 1.0, (n, 3))


def loads(costs: list[np.ndarray], plan: list[np.ndarray]) -> np.ndarray:
    """Total cost each rank solves under ``plan``."""
    totals = np.zeros(len(costs))
    for cost, solver in zip(costs, plan, strict=True):
        np.add.at(totals, solver, cost)
    return totals


def random_costs(rng: np.random.Generator, ranks: int) -> list[np.ndarray]:
    """Per-rank costs with varying counts (also 0), heavy tails and one very uneven rank."""
    costs = [rng.lognormal(0.0, 1.0, rng.integers(0, 40)) for _ in range(ranks)]
    costs[rng.integers(ranks)] *= 10.0
    return costs


# ---------------------------------------------------------------------------- balance_plan
@pytest.mark.parametrize("ranks", [1, 2, 3, 7, 64])
def test_plan_assigns_every_point_once_and_loads_within_one_point_of_the_mean(ranks):
    rng = np.random.default_rng(ranks)
    for _ in range(50):
        costs = random_costs(rng, ranks)
        plan = balance_plan(costs)
        # One solving rank per point, and a valid one: "exactly once" by construction.
        assert [p.shape for p in plan] == [c.shape for c in costs]
        assert all(np.all((p >= 0) & (p < ranks)) for p in plan)
        # Greedy bound: every load within the largest point cost of the mean (module
        # docstring of fe2.core.dispatch); tolerance: rounding of the sums (1e-12 relative).
        total = loads(costs, plan)
        largest = max((c.max() for c in costs if len(c)), default=0.0)
        assert np.isclose(total.sum(), sum(c.sum() for c in costs), rtol=1e-12)
        assert np.all(np.abs(total - total.mean()) <= largest * (1 + 1e-12))


def test_plan_is_deterministic_and_leaves_costs_unchanged():
    costs = random_costs(np.random.default_rng(5), 4)
    copies = [c.copy() for c in costs]
    first, second = balance_plan(costs), balance_plan(copies)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))  # exact
    assert all(np.array_equal(a, b) for a, b in zip(costs, copies, strict=True))  # exact


def test_plan_moves_nothing_when_already_balanced():
    rng = np.random.default_rng(7)
    same = rng.random(25)
    for ranks in (2, 3, 5):
        # Identical costs on every rank; equal loads in different orders (integer costs: the
        # sums are exact). Exact: no point may move.
        for costs in ([same.copy() for _ in range(ranks)],
                      [rng.permutation(np.arange(1.0, 21.0)) for _ in range(ranks)]):
            plan = balance_plan(costs)
            assert all(np.all(p == r) for r, p in enumerate(plan))


def test_plan_moves_nothing_for_equal_loads_with_rounding():
    costs = [np.array([0.8, 0.36, 0.99, 0.94, 0.28]), np.array([0.99, 0.36, 0.94, 0.8, 0.28]),
             np.array([0.94, 0.36, 0.28, 0.8, 0.99])]  # the same five costs on three ranks
    plan = balance_plan(costs)
    assert all(np.all(p == r) for r, p in enumerate(plan))  # exact: no point may move


# ---------------------------------------------------------------------------- Dispatcher
def _global_max_error(comm, results, strains, states) -> float:
    """Largest deviation over all ranks of (stress, tangent, states) from ``reference``."""
    error = 0.0
    for i, (strain, state) in enumerate(zip(strains, states, strict=True)):
        expected = reference(strain, state)
        got = (results.stress[i], results.tangent[i], results.states[i])
        error = max(error, *(float(np.abs(a - b).max()) for a, b in zip(got, expected,
                                                                           strict=True)))
    return comm.allreduce(error, op=MPI.MAX)


def test_balanced_dispatch_equals_static_and_solves_every_point_once():
    comm = MPI.COMM_WORLD
    strains, states = uneven_points(comm)
    n_global = comm.allreduce(len(strains))
    static = Dispatcher(comm, FakeModel(), balance=False)
    model = FakeModel()
    balanced = Dispatcher(comm, model, balance=True)
    assert isinstance(model, MicroModel)
    expected = static.evaluate(strains, states)
    for call in range(3):  # call 0 measures the costs, calls 1 and 2 are balanced by them
        before = model.solves
        result = balanced.evaluate(strains, states)
        # Every point solved exactly once per call, wherever: global counts (exact).
        assert comm.allreduce(result.stats.solves) == n_global
        assert comm.allreduce(model.solves - before) == n_global
        assert result.ok and result.message == ""
        # Results travel back to their owner: identical to static dispatch and to the
        # reference with the point's own input state (tolerance 1e-10, absolute; O(1) values).
        assert _global_max_error(comm, result, strains, states) <= 1e-10
        difference = max(float(np.abs(a - b).max(initial=0.0)) for a, b in (
            (result.stress, expected.stress), (result.tangent, expected.tangent),
            (result.states, expected.states)))
        assert comm.allreduce(difference, op=MPI.MAX) <= 1e-10
        # The committed states are inputs only (exact).
        assert comm.allreduce(int(not np.array_equal(states, uneven_points(comm)[1]))) == 0
        sent = comm.allreduce(result.stats.sent)
        assert sent == comm.allreduce(result.stats.received)  # exact: what leaves arrives
        if call > 0 and comm.size > 1:
            # Rank 0's points cost 20 times more: a plan from measured costs moves some.
            assert comm.bcast(result.stats.sent, root=0) > 0
        elif comm.size == 1:
            assert sent == 0  # serial: balancing is a no-op


def test_balanced_dispatch_reports_a_micro_failure_on_every_rank():
    comm = MPI.COMM_WORLD
    strains, states = uneven_points(comm)
    if comm.rank == 0:
        strains[-1, 0] = 2.0  # the last (most likely moved) point of the expensive rank fails
    dispatcher = Dispatcher(comm, FakeModel(fail_above=1.5), balance=True)
    outcomes = [dispatcher.evaluate(strains, states) for _ in range(2)]  # static, balanced
    for outcome in outcomes:
        # The same decision and message on every rank (exact).
        assert comm.allgather((outcome.ok, outcome.message)) == [
            (False, "micro solve failed at strain " + np.array2string(
                comm.bcast(strains[-1], root=0)) + ": fake failure at 2.0")] * comm.size
