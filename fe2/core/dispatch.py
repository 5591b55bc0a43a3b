"""Dispatch of the quadrature-point micro problems of a macro iteration over the MPI ranks.

Each rank owns the quadrature points of its owned macro cells (ghost cells are never solved)
and keeps their committed micro states. Every owned point is solved exactly once per call. With
``balance`` the work is redistributed by the per-point cost measured in the previous call:
strain and committed state travel to the solving rank, stress, tangent, new state and cost
travel back, so states always live with their owner and results do not depend on who solved.

A linear micro model is homogenized once: its constant tangent is applied to every point by a
dense product, and no micro problem is solved.

A batch micro model (fe2.core.micro.BatchMicroModel, e.g. a history variable of a single-scale
law, or a nonlinear RVE on one rank) answers all points a rank solves in one vectorized call,
also after balancing; its measured time is split over the points by their micro iterations.

A micro model distributed over a group of ranks (fe2.rve.group.GroupedRVE, for RVEs too large
for one rank) solves the points of all ranks of its group together, one after the other; each
rank counts the solves and micro iterations of its own points, so the global counts are still
one solve per point.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.collective import first_failure
from fe2.core.definition import StepContext
from fe2.core.micro import (
    BatchMicroModel,
    BatchSolveError,
    GroupMicroModel,
    MicroModel,
    MicroSolveError,
    check_finite,
)

__all__ = ["Dispatcher", "DispatchStats", "Evaluation", "balance_plan"]


@dataclass
class DispatchStats:
    """What one rank did in one call: micro solves, micro Newton iterations, seconds."""

    solves: int = 0
    micro_iterations: int = 0
    micro_time: float = 0.0
    sent: int = 0  # points sent to other ranks for solving
    received: int = 0  # points of other ranks solved here


@dataclass
class Evaluation:
    """Micro results for this rank's points; ``ok`` and ``message`` agree on every rank."""

    stress: NDArray
    tangent: NDArray
    states: NDArray
    ok: bool
    message: str
    stats: DispatchStats = field(default_factory=DispatchStats)


def balance_plan(costs: list[NDArray]) -> list[NDArray]:
    """Which rank solves each point: ``plan[r][i]`` for point i owned by rank r.

    Every rank keeps its points in order until its measured cost reaches the mean load (up to
    a relative 1e-9, so equal loads whose float sums differ by rounding move nothing); the
    rest go, most expensive first, to the least loaded rank. Deterministic, so every rank
    computes the same plan from the same (allgathered) costs.
    """
    n_ranks = len(costs)
    target = sum(float(c.sum()) for c in costs) / n_ranks * (1 + 1e-9)
    plan = [np.full(len(c), r, dtype=np.int64) for r, c in enumerate(costs)]
    loads, surplus = [], []
    for rank, cost in enumerate(costs):
        keep = np.cumsum(cost) <= target
        keep[:1] = True  # a rank always keeps its first point
        loads.append(float(cost[keep].sum()))
        surplus += [(-float(cost[i]), rank, int(i)) for i in np.flatnonzero(~keep)]
    heap = [(load, rank) for rank, load in enumerate(loads)]
    heapq.heapify(heap)
    for negative_cost, rank, index in sorted(surplus):
        load, solver = heapq.heappop(heap)
        plan[rank][index] = solver
        heapq.heappush(heap, (load - negative_cost, solver))
    return plan


class Dispatcher:
    """Solves the micro problems of this rank's quadrature points (collective calls).

    Args:
        comm: the macro communicator.
        model: this rank's micro model (forms compiled once, reused for every point).
        balance: redistribute points by measured cost (see module docstring).
    """

    def __init__(self, comm: MPI.Comm, model: MicroModel, balance: bool = False) -> None:
        if balance and isinstance(model, GroupMicroModel):
            raise ValueError("balancing moves single points between ranks; it does not apply "
                             "to RVEs solved by groups of ranks")
        self.comm, self.model, self.balance = comm, model, balance
        self._costs: NDArray | None = None

    def evaluate(self, strains: NDArray, states: NDArray,
                 step: StepContext | None = None) -> Evaluation:
        """Stress (n, n_stress), tangent (n, n_stress, n_strain) and trial states of n points.

        ``states`` are the committed states; they are not modified. ``step`` (t, dt, λ of the
        step being solved) is passed on to every micro solve.
        """
        model = self.model
        if model.is_linear:
            tangent = np.broadcast_to(model.tangent, (len(strains), *model.tangent.shape))
            return Evaluation(strains @ model.tangent.T, tangent, states, True, "")
        plan = self._plan(len(strains)) if self.balance else None
        if isinstance(model, GroupMicroModel):
            result = _solve_group(model, strains, states, step)
            stats = result.stats
        elif plan is None:
            result = _solve_local(model, strains, states, step)
            stats = result.stats
        else:
            result, stats = self._solve_balanced(plan, strains, states, step)
        self._costs = result.costs
        message = first_failure(self.comm, result.message or None) or ""
        return Evaluation(result.stress, result.tangent, result.states, not message, message,
                          stats)

    def _plan(self, n_points: int) -> list[NDArray] | None:
        if self._costs is None or len(self._costs) != n_points:
            return None  # no measurement yet: every rank solves its own points
        return balance_plan(self.comm.allgather(self._costs))

    def _solve_balanced(self, plan: list[NDArray], strains: NDArray, states: NDArray,
                        step: StepContext | None):
        comm, rank = self.comm, self.comm.rank
        mine = plan[rank]
        outgoing = [np.flatnonzero(mine == r) for r in range(comm.size)]
        incoming = comm.alltoall([(strains[i], states[i]) for i in outgoing])
        work_strains = np.concatenate([s for s, _ in incoming])
        work_states = np.concatenate([s for _, s in incoming])
        solved = _solve_local(self.model, work_strains, work_states, step)
        bounds = np.cumsum([0] + [len(s) for s, _ in incoming])
        replies = comm.alltoall([solved.slice(a, b) for a, b in zip(bounds[:-1], bounds[1:],
                                                                           strict=True)])
        result = _PointResults.empty(self.model, len(strains), states.shape[1])
        for indices, reply in zip(outgoing, replies, strict=True):
            result.put(indices, reply)
        result.message = solved.message or next((r.message for r in replies if r.message), "")
        stats = solved.stats
        stats.sent = len(strains) - len(outgoing[rank])
        stats.received = len(work_strains) - len(outgoing[rank])
        return result, stats


@dataclass
class _PointResults:
    stress: NDArray
    tangent: NDArray
    states: NDArray
    costs: NDArray  # seconds per point
    iterations: NDArray  # micro Newton iterations per point
    message: str = ""
    stats: DispatchStats = field(default_factory=DispatchStats)

    @classmethod
    def empty(cls, model: MicroModel, n: int, state_size: int) -> _PointResults:
        return cls(np.full((n, model.n_stress), np.nan),
                   np.full((n, model.n_stress, model.n_strain), np.nan),
                   np.full((n, state_size), np.nan), np.zeros(n), np.zeros(n, dtype=int))

    def slice(self, start: int, stop: int) -> _PointResults:
        part = slice(start, stop)
        return _PointResults(self.stress[part], self.tangent[part], self.states[part],
                             self.costs[part], self.iterations[part], self.message)

    def put(self, indices: NDArray, other: _PointResults) -> None:
        self.stress[indices] = other.stress
        self.tangent[indices] = other.tangent
        self.states[indices] = other.states
        self.costs[indices] = other.costs
        self.iterations[indices] = other.iterations


def _solve_points(model: MicroModel, strains: NDArray, states: NDArray,
                  step: StepContext | None) -> _PointResults:
    """Solve the points in order; stop at the first failure (the step is cut anyway)."""
    result = _PointResults.empty(model, len(strains), states.shape[1])
    stats = result.stats
    for i, (strain, state) in enumerate(zip(strains, states, strict=True)):
        start = time.perf_counter()
        try:
            stress, tangent, new_state = model.solve(strain, state, step)
            check_finite(stress, tangent)
        except MicroSolveError as error:
            result.message = f"micro solve failed at strain {np.array2string(strain)}: {error}"
            break
        finally:
            elapsed = time.perf_counter() - start
            result.costs[i] = elapsed
            stats.micro_time += elapsed
        result.stress[i], result.tangent[i], result.states[i] = stress, tangent, new_state
        result.iterations[i] = model.iterations
        stats.solves += 1
        stats.micro_iterations += model.iterations
    return result


def _solve_local(model: MicroModel, strains: NDArray, states: NDArray,
                 step: StepContext | None) -> _PointResults:
    """This rank's points: in one batch if the model can, else one after the other."""
    if isinstance(model, BatchMicroModel) and getattr(model, "batched", True):
        return _solve_batch(model, strains, states, step)
    return _solve_points(model, strains, states, step)


def _solve_batch(model: BatchMicroModel, strains: NDArray, states: NDArray,
                 step: StepContext | None) -> _PointResults:
    """Every point in one vectorized call (no per-point Python for a pointwise law)."""
    result = _PointResults.empty(model, len(strains), states.shape[1])
    start = time.perf_counter()
    iterations = np.zeros(len(strains), dtype=int)
    try:
        stress, tangent, new_states = model.solve_batch(strains, states, step)
        check_finite(stress, tangent)
    except BatchSolveError as error:  # as _solve_points: the points before the failure count
        strain = strains[error.index]
        result.message = f"micro solve failed at strain {np.array2string(strain)}: {error}"
        result.stats.solves = error.index
        iterations[: error.index] = error.iterations
    except MicroSolveError as error:
        result.message = f"micro batch solve failed: {error}"
    else:
        result.stress, result.tangent, result.states = stress, tangent, new_states
        result.stats.solves = len(strains)
        iterations[:] = getattr(model, "batch_iterations", iterations)
    elapsed = time.perf_counter() - start
    result.iterations = iterations
    result.costs = elapsed * (iterations + 1) / max(int(np.sum(iterations + 1)), 1)
    result.stats.micro_time = elapsed
    result.stats.micro_iterations = int(iterations.sum())
    return result


def _solve_group(model: GroupMicroModel, strains: NDArray, states: NDArray,
                 step: StepContext | None) -> _PointResults:
    """Solve the points of every rank of the model's group together (collective over the
    group; a failure stops every rank of the group at the same point)."""
    every_strain, pieces, counts = model.gather_points(strains, states)
    solved = _solve_points(model.model, every_strain, pieces, step)
    rows = model.own_rows(counts)
    result = solved.slice(rows.start, rows.stop)
    result.states = model.scatter_states(solved.states, counts)
    result.stats = DispatchStats(  # the solves stop at the first failure, for all ranks
        solves=int(np.clip(solved.stats.solves - rows.start, 0, len(strains))),
        micro_iterations=int(result.iterations.sum()),
        micro_time=solved.stats.micro_time)  # this rank took part in every solve
    return result
