"""Case-file papercuts (issue 16): one-step loading, groups named in the case, energy
parameters named freely, a type check on every key. Each test says how the case behaved
before. Most only read the case (fast); one run per feature shows it end to end."""

from __future__ import annotations

import re

import pytest
from conftest import MESHES
from mpi4py import MPI
from test_fe2_run import ELASTIC, PLATE, _reactions, _run

from fe2.app.run_case import load_run_config
from fe2.core.errors import ConfigError

WORLD = MPI.COMM_WORLD


def _plate(folder, name: str, loading: str, matrix: str = ELASTIC) -> object:
    """The plate case of test_fe2_run with its [loading] table replaced by ``loading``."""
    path = folder / f"{name}.toml"
    if WORLD.rank == 0:
        text = PLATE.substitute(meshes=MESHES, matrix=matrix, load="ux = 0.01", step=0.5,
                                min_step=0.01, micro_iterations=25, newton_iterations=15)
        text = re.sub(r"\[loading\]\n(.*\n)*?(?=\[solver\])", f"[loading]\n{loading}\n", text)
        path.write_text(text)
    WORLD.barrier()
    return path


# ---------------------------------------------------------------- one-step loading
def test_steps_gives_equal_increments(shared_tmp):
    """`steps = N` alone: N equal increments end/N (before: an unknown key; one step needed
    both initial_step = 1 and max_step = 1, and initial_step = 1 alone was refused)."""
    one = load_run_config(_plate(shared_tmp, "one_step", "steps = 1")).stepping
    assert (one.initial_step, one.max_step, one.end) == (1.0, 1.0, 1.0)
    four = load_run_config(_plate(shared_tmp, "four", "end = 2.0\nsteps = 4")).stepping
    assert (four.initial_step, four.max_step, four.min_step) == (0.5, 0.5, 1e-3)
    fine = load_run_config(_plate(shared_tmp, "fine", "steps = 5000")).stepping
    assert fine.min_step == fine.initial_step == 2e-4  # the default min_step follows
    done = _run(_plate(shared_tmp, "one_run", "steps = 1"), shared_tmp / "one_run")
    assert done.completed and [s[0] for s in _reactions(done.summary)] == [1.0]


@pytest.mark.parametrize("loading, message", [
    ("steps = 2\nmax_step = 0.5", "[loading] steps = N sets the increment end/N: remove "
                                  "max_step"),
    ("steps = 0", "[loading] steps = 0: must be at least 1"),
    ("steps = 1.5", "[loading] steps must be an integer"),
    ("initial_step = 1.0", "got 0.001, 1, 0.25 (for N equal steps give steps = N alone)"),
])
def test_bad_steps_are_clear_errors(shared_tmp, loading, message):
    """Conflicting or wrong step keys name the table and the way out."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_run_config(_plate(shared_tmp, "bad_steps", loading))
