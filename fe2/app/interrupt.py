"""Ctrl-C (SIGINT), SIGTERM (batch systems, ``kill``) and SIGUSR1 stop a run cleanly after its
current step: the handler only takes note; the recorder asks all ranks after every converged
step (one reduction), so every rank stops at the same step with its checkpoint and summary
written. A second signal while waiting interrupts at once.

Under ``mpirun`` (Open MPI) Ctrl-C kills the ranks without warning them; Open MPI forwards
SIGUSR1 to every rank, so ``kill -USR1 <mpirun pid>`` is the clean stop there.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from mpi4py import MPI

__all__ = ["Interrupted", "StopRequest"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


class Interrupted(Exception):
    """A stop was requested by a signal; raised on every rank at the same step."""


class StopRequest:
    """Context manager that turns SIGINT/SIGTERM/SIGUSR1 into a request checked by
    :meth:`check`."""

    def __init__(self, comm: MPI.Comm) -> None:
        self.comm = comm
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # handlers live there only
            for number in _SIGNALS:
                self._previous[number] = signal.signal(number, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _note(self, number: int, frame: FrameType | None) -> None:
        self.signal = number
        signal.signal(number, signal.default_int_handler if number == signal.SIGINT
                      else signal.SIG_DFL)
        if self.comm.rank == 0:
            print(f"\nfe2 run: {signal.Signals(number).name} received: stopping after the "
                  "current step (send it again to abort at once)", file=sys.stderr, flush=True)

    def check(self) -> None:
        """Collective: raise :class:`Interrupted` on every rank if any rank got a signal."""
        number = self.comm.allreduce(self.signal or 0, op=MPI.MAX)
        if number:
            raise Interrupted(f"interrupted by {signal.Signals(number).name}")
