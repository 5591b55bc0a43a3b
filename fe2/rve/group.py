"""Large RVEs solved by a group of ranks: one micro model distributed over k ranks.

A NonlinearRVE whose mesh is split over a group communicator keeps, on each rank of the group,
only a *piece* of every point state (its owned fluctuation dofs and the histories of its micro
points), and its ``solve`` is collective over the group. :class:`GroupedRVE` turns it back
into an ordinary fe2.core.micro.MicroModel for the FE² core: a point's *group state* is the
concatenation of the pieces in group rank order, so every macro point keeps its whole state on
the rank that owns it (committed, rolled back and checkpointed like any other state).

:meth:`GroupedRVE.solve_points` is what the dispatcher calls: the points of all ranks of the
group are gathered, solved one after the other by the whole group, and each rank gets its own
points' results back (every point solved once per call).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

__all__ = ["GroupedRVE", "split_groups"]


def split_groups(comm: MPI.Comm, ranks_per_rve: int) -> MPI.Comm:
    """The group communicator of this rank: consecutive blocks of ``ranks_per_rve`` ranks.

    Raises:
        ValueError: on every rank, if the ranks of ``comm`` do not split into equal groups
            (equal groups partition the RVE alike, so every point state has one layout).
    """
    if ranks_per_rve < 1 or comm.size % ranks_per_rve:
        raise ValueError(f"{comm.size} MPI rank(s) do not split into groups of {ranks_per_rve}"
                         " ranks per RVE; use a divisor of the number of ranks")
    return comm.Split(comm.rank // ranks_per_rve, comm.rank)


class GroupedRVE:
    """A micro model distributed over ``model.comm`` (a group of ranks), with group states.

    Args:
        model: a micro model on the group communicator whose ``solve`` is collective and
            returns the same stress and tangent on every rank of the group, with a per-rank
            state piece (fe2.rve.nonlinear.NonlinearRVE on a distributed mesh).
    """

    def __init__(self, model) -> None:
        self.model, self.group = model, model.comm
        self.n_strain, self.n_stress = model.n_strain, model.n_stress
        self.is_linear = model.is_linear
        sizes = self.group.allgather(model.state_size)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.state_size = int(self.offsets[-1])
        self.ndofs = self.group.allreduce(model.ndofs)  # of the whole RVE
        self.iterations = 0

    @property
    def piece(self) -> slice:
        """This rank's piece of a group state."""
        rank = self.group.rank
        return slice(self.offsets[rank], self.offsets[rank + 1])

    def initial_state(self) -> NDArray:
        return np.concatenate(self.group.allgather(self.model.initial_state()))

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        """One point, collective: every rank of the group passes the same strain and state."""
        stress, tangent, piece = self.model.solve(strain, np.asarray(state)[self.piece], step)
        self.iterations = self.model.iterations
        return stress, tangent, np.concatenate(self.group.allgather(piece))

    def gather_points(self, strains: NDArray, states: NDArray) -> tuple[NDArray, NDArray, list]:
        """The strains of every point of the group (in group rank order, the same on every
        rank), this rank's state pieces of them, and the number of points of each rank."""
        every_strain = np.concatenate(self.group.allgather(np.asarray(strains, dtype=float)))
        pieces, counts = self.gather_pieces(states)
        return every_strain.reshape(-1, self.n_strain), pieces, counts

    def gather_pieces(self, states: NDArray) -> tuple[NDArray, list]:
        """This rank's pieces of the group states of every point of the group (in group rank
        order) and the number of points of each rank."""
        outgoing = [np.ascontiguousarray(states[:, self.offsets[r]:self.offsets[r + 1]])
                    for r in range(self.group.size)]
        return np.concatenate(self.group.alltoall(outgoing)), self.group.allgather(len(states))

    def scatter_states(self, pieces: NDArray, counts: list[int]) -> NDArray:
        """Group states of this rank's points from every rank's pieces of all group points
        (the inverse of :meth:`gather_pieces`)."""
        bounds = np.concatenate([[0], np.cumsum(counts)])
        outgoing = [np.ascontiguousarray(pieces[bounds[r]:bounds[r + 1]])
                    for r in range(self.group.size)]
        return np.concatenate(self.group.alltoall(outgoing), axis=1)

    def own_rows(self, counts: list[int]) -> slice:
        """This rank's points among all the group's points (group rank order)."""
        start = int(np.sum(counts[: self.group.rank]))
        return slice(start, start + counts[self.group.rank])

    def point_outputs(self, states: NDArray) -> dict[str, NDArray]:
        """The model's per-point outputs for this rank's points (collective over the group)."""
        outputs = getattr(self.model, "point_outputs", None)
        if outputs is None:
            return {}
        pieces, counts = self.gather_pieces(states)
        rows = self.own_rows(counts)
        return {name: np.asarray(values)[rows] for name, values in outputs(pieces).items()}

    def destroy(self) -> None:
        self.model.destroy()
