"""The output folder of a run, claimed before anything is computed.

A new run refuses a folder that holds another run (its ``summary.json`` or checkpoints):
continuing it is ``--restart``, replacing it ``--overwrite`` (which clears the old results
and checkpoints first, so a later restart can never pick up the other run's state). A path
that is a file or cannot be written is refused at once, with the same error on every rank.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from mpi4py import MPI

from fe2.core.collective import on_root
from fe2.core.errors import OutputError

__all__ = ["RESULT_PATTERNS", "claim_output", "check_writable"]

# What a run writes into its folder (cleared by --overwrite); other files are left alone.
RESULT_PATTERNS = ("summary.json", "steps.csv", "fields*.xdmf", "fields*.h5", "field.png",
                   "load_curve.png")


def claim_output(out: Path, comm: MPI.Comm, *, overwrite: bool = False) -> None:
    """Make ``out`` ready for a new run (rank 0 works, every rank learns the outcome).

    Raises:
        OutputError: on every rank, if ``out`` is a file, cannot be written, or holds another
            run and ``overwrite`` is not set.
    """
    on_root(comm, lambda: _claim(Path(out), overwrite))


def check_writable(out: Path) -> None:
    """Create ``out`` if needed and prove that a file can be written in it (a probe file:
    permission bits do not tell a read-only file system, nor anything when run as root).

    Raises:
        OutputError: naming the folder and the reason.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: this is a file; the output of a run is a folder "
                          "(give a folder name)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".fe2-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"--out {out}: cannot write there ({error.strerror or error}); "
                          "choose a writable folder") from None


def _claim(out: Path, overwrite: bool) -> None:
    check_writable(out)
    found = _previous_run(out)
    if found is None:
        return
    if not overwrite:
        raise OutputError(
            f"{out} holds another run ({found}). Continue it with `fe2 run --restart {out}`, "
            f"replace it with --overwrite, or choose another --out")
    try:
        if (out / "checkpoint").exists():
            shutil.rmtree(out / "checkpoint")
        for pattern in RESULT_PATTERNS:
            for path in out.glob(pattern):
                path.unlink()
    except OSError as error:
        raise OutputError(f"--overwrite: cannot clear the old run in {out}: {error}") from None


def _previous_run(out: Path) -> str | None:
    """A description of the run whose results are in ``out``, or None if there are none."""
    summary = out / "summary.json"
    if summary.exists():
        try:
            return f"case {json.loads(summary.read_text())['config']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "its summary.json is unreadable"
    if (out / "checkpoint").is_dir() and any((out / "checkpoint").iterdir()):
        return "checkpoints without a summary"
    return None
