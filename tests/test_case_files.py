"""Case-file papercuts (issue 16): one-step loading, groups named in the case, energy
parameters named freely, a type check on every key. Each test says how the case behaved
before. Most only read the case (fast); one run per feature shows it end to end."""

from __future__ import annotations

import re

import numpy as np
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


# ---------------------------------------------------------------- energy written once
def _lame(E: float, nu: float) -> str:
    return f"lambda = {E * nu / ((1 + nu) * (1 - 2 * nu))!r}\nmu = {E / (2 * (1 + nu))!r}"


def _energy_case(folder, name: str, shared: str, matrix: str, inclusion: str):
    """The plate with ``shared`` added to [micro] and the two phases' tables replaced."""
    path = _plate(folder, name, "steps = 2", matrix=matrix)
    if WORLD.rank == 0:
        text = path.read_text().replace("[micro.materials.matrix]",
                                         f"{shared}\n[micro.materials.matrix]")
        path.write_text(text.replace('law = "elastic"\nE = 400e3\nnu = 0.2', inclusion))
    WORLD.barrier()
    return path


QUADRATIC = 'energy = "0.5*lambda*tr(eps)**2 + mu*inner(eps, eps)"'


def test_energy_once_per_case_with_a_keyword_parameter(shared_tmp):
    """The quadratic energy written once in [micro] with a parameter named `lambda`, used by
    both phases with their own parameters (before: `lambda` gave "invalid syntax" and every
    phase had to repeat the energy). The FE² run gives the reaction of the elastic micro
    model homogenized once (relative 1e-8: both are exact for this energy)."""
    case = _energy_case(shared_tmp, "energy_once", QUADRATIC,
                        f'law = "energy"\n{_lame(70e3, 0.33)}',
                        f'law = "energy"\n{_lame(400e3, 0.2)}')
    by_energy = _run(case, shared_tmp / "energy_once")
    linear = _run(_plate(shared_tmp, "energy_linear", "steps = 2"), shared_tmp / "linear")
    assert by_energy.summary["total_rve_solves"] > 0
    a, b = _reactions(by_energy.summary), _reactions(linear.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-8, atol=0)


@pytest.mark.parametrize("shared, matrix, message", [
    ("", 'law = "energy"\nmu = 1.0', '[micro.materials.matrix] law = "energy" needs energy = '
                                      '"<UFL text in eps>" here or once in [micro]'),
    (QUADRATIC, 'law = "elastic"\nE = 1.0\nnu = 0.2',
     '[micro] energy is given but no phase has law = "energy"'),
    (QUADRATIC, 'law = "energy"\nlambda = 1.0', "[micro.materials.matrix] energy = "
                                                 "'0.5*lambda*tr(eps)**2 + mu*inner(eps, eps)': "
                                                 "NameError"),
    ("", 'law = "energy"\nenergy = "eps + "\nI = 1.0', "[micro.materials.matrix] energy "
                                                       "parameter(s) ['I'] would hide"),
])
def test_bad_energy_is_a_clear_error(shared_tmp, shared, matrix, message):
    """A missing, unused or wrong energy names the table (before: errors without the table,
    or a missing energy key on every phase)."""
    inclusion = 'law = "elastic"\nE = 400e3\nnu = 0.2'
    case = _energy_case(shared_tmp, "bad_energy", shared, matrix, inclusion)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_run_config(case)
