"""Collective decisions: a failure on any rank becomes the same error on every rank.

Raising on one rank only hangs the others at their next collective call. Every place where
one rank may fail while the others go on (work done on rank 0 alone, a file one rank cannot
read, a check of local data) goes through these two helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from mpi4py import MPI

__all__ = ["agree", "first_failure", "on_root"]

T = TypeVar("T")


def first_failure(comm: MPI.Comm, failure: T | None) -> T | None:
    """The failure (anything picklable; None: this rank did fine) of the lowest failing rank,
    on every rank; None if no rank failed. One reduction, and a broadcast only when something
    failed (no per-rank list to gather)."""
    first = comm.allreduce(comm.rank if failure is not None else comm.size, op=MPI.MIN)
    return None if first == comm.size else comm.bcast(failure, root=first)


def agree(comm: MPI.Comm, error: Exception | None) -> None:
    """Raise the error of the lowest failing rank (same type and message) on every rank;
    return if no rank failed."""
    failure = first_failure(comm, None if error is None else (type(error), str(error)))
    if failure is not None:
        kind, message = failure
        raise kind(message)


def on_root(comm: MPI.Comm, action: Callable[[], T],
            errors: tuple[type[Exception], ...] = (ValueError, OSError)) -> T:
    """Run ``action`` on rank 0 only and return its (broadcast) result on every rank; an
    error of the listed types is raised on every rank instead.

    PETSc's first import duplicates COMM_WORLD (a collective), so callers that use PETSc in
    ``action`` import it on every rank first.
    """
    result, failure = None, None
    if comm.rank == 0:
        try:
            result = action()
        except errors as error:
            failure = error
    agree(comm, failure)
    return comm.bcast(result, root=0)
