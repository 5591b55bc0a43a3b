"""The one interface every micro model implements (DESIGN §2).

The FE² core hands each quadrature point's generalized macro strain to a micro model and gets
back the homogenized generalized stress, the consistent tangent and the new per-point state.
A state is a flat float64 vector of ``state_size`` entries (history variables, the last
converged fluctuation for the warm start, ...): compact to store for every macro quadrature
point, cheap to swap in and out, and easy to send between ranks or write to a checkpoint.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["BatchMicroModel", "BatchSolveError", "GroupMicroModel", "HomogenizedModel",
           "LinearMicroModel", "MicroModel", "MicroSolveError", "check_finite"]


class MicroSolveError(RuntimeError):
    """A micro solve did not converge or returned non-finite numbers; the macro step is cut."""


class BatchSolveError(MicroSolveError):
    """A point of a ``solve_batch`` failed. ``index`` is the first failing point in batch
    order and ``iterations`` the micro Newton iterations of the points before it (they
    converged), as a loop of ``solve`` that stops at the first failure would have found."""

    def __init__(self, index: int, message: str, iterations: NDArray) -> None:
        super().__init__(message)
        self.index = index
        self.iterations = np.asarray(iterations, dtype=int)


@runtime_checkable
class MicroModel(Protocol):
    """A micro model: generalized macro strain → (stress, consistent tangent, new state).

    ``is_linear`` models have a constant tangent: the core homogenizes them once per run and
    never calls ``solve`` per quadrature point; they provide that ``tangent``
    (n_stress, n_strain). ``solve`` must not change ``state`` in place; ``step`` is the
    fe2.core.definition.StepContext (t, dt, λ) of the macro step being solved, for models that
    evolve in time. ``iterations`` is the number of micro Newton iterations of the last
    ``solve``. Optional: ``point_outputs(states) -> {name: (n_points, ...)}`` (values written
    with the macro fields) and ``destroy()`` (free PETSc objects).
    """

    n_strain: int  # size of the generalized macro strain at a quadrature point
    n_stress: int  # size of the generalized macro stress
    state_size: int  # entries of the flat per-point state vector
    is_linear: bool
    iterations: int

    def initial_state(self) -> NDArray:
        """The state of a virgin point, shape (state_size,)."""
        ...

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        """Return stress (n_stress,), tangent (n_stress, n_strain) and the new state."""
        ...


@runtime_checkable
class LinearMicroModel(MicroModel, Protocol):
    """A micro model with a constant ``tangent``: stress = tangent @ strain, no state."""

    tangent: NDArray


@runtime_checkable
class BatchMicroModel(MicroModel, Protocol):
    """A micro model that answers many points in one vectorized call (pointwise laws, or an
    RVE whose points share one mesh and its operators).

    Optional: ``batched`` (False: the dispatcher solves point by point with ``solve``, e.g.
    to compare), ``batch_iterations`` (micro Newton iterations per point of the last
    ``solve_batch``; the dispatcher counts them and splits the measured time over the points
    in proportion to iterations + 1, the cost used for load balancing). A failure may raise
    BatchSolveError to name the first failing point.
    """

    def solve_batch(self, strains: NDArray, states: NDArray,
                    step=None) -> tuple[NDArray, NDArray, NDArray]:
        """Stress (n, n_stress), tangent (n, n_stress, n_strain) and new states (n, size)."""
        ...


@runtime_checkable
class GroupMicroModel(MicroModel, Protocol):
    """A micro model solved collectively by a group of ranks (fe2.rve.group.GroupedRVE): the
    dispatcher gathers the points of the whole group, the group solves them one after the
    other with ``model`` (the distributed RVE), and each rank gets its own points back."""

    model: MicroModel

    def gather_points(self, strains: NDArray, states: NDArray) -> tuple[NDArray, NDArray, list]:
        """Every strain of the group, this rank's state pieces of them, points per rank."""
        ...

    def own_rows(self, counts: list[int]) -> slice:
        """This rank's points among all the group's points."""
        ...

    def scatter_states(self, pieces: NDArray, counts: list[int]) -> NDArray:
        """Whole states of this rank's points from every rank's pieces."""
        ...


def check_finite(*arrays: NDArray, comm=None) -> None:
    """Raise MicroSolveError if any array holds NaN or inf; with ``comm`` (an RVE distributed
    over a group of ranks) on every rank of ``comm`` if it happens on any."""
    finite = all(bool(np.all(np.isfinite(array))) for array in arrays)
    if comm is not None:
        from mpi4py import MPI

        finite = comm.allreduce(finite, op=MPI.LAND)
    if not finite:
        raise MicroSolveError("micro result is not finite (NaN or inf)")


class HomogenizedModel:
    """A linear micro model reduced to its homogenized tangent (n_stress, n_strain).

    The RVE is solved once (on one rank) and only this matrix travels; the FE² core applies
    it to every point without solving anything.
    """

    is_linear = True
    state_size = 0
    iterations = 0

    def __init__(self, tangent: NDArray) -> None:
        self.tangent = np.array(tangent, dtype=float)
        self.n_stress, self.n_strain = self.tangent.shape

    def initial_state(self) -> NDArray:
        return np.zeros(0)

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        return self.tangent @ strain, self.tangent, state
