"""Case-file papercuts (issue 16): one-step loading, groups named in the case, energy
parameters named freely, a type check on every key. Each test says how the case behaved
before. Most only read the case (fast); one run per feature shows it end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MESHES, REPO
from mpi4py import MPI
from test_fe2_run import ELASTIC, PLATE, _reactions, _run

from fe2.app.case import load_config
from fe2.app.homogenize import homogenize
from fe2.app.run_case import load_run_config
from fe2.core.errors import ConfigError

WORLD = MPI.COMM_WORLD
ENV = {**os.environ, "PYTHONPATH": str(REPO)}  # this repository's fe2 in subprocesses


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


# ---------------------------------------------------------------- groups named in the case
# The laminate of meshes/rve_laminate.geo (f = 0.5) with unnamed physical groups; tags 1 and 2
# are used by a surface and a curve each.
UNNAMED_LAMINATE = """
h = 0.25;
Point(1) = {0, 0, 0, h}; Point(2) = {1, 0, 0, h}; Point(3) = {1, 0.5, 0, h};
Point(4) = {0, 0.5, 0, h}; Point(5) = {1, 1, 0, h}; Point(6) = {0, 1, 0, h};
Line(1) = {1, 2}; Line(2) = {2, 3}; Line(3) = {4, 3}; Line(4) = {1, 4};
Line(5) = {3, 5}; Line(6) = {6, 5}; Line(7) = {4, 6};
Curve Loop(1) = {1, 2, -3, -4}; Curve Loop(2) = {3, 5, -6, -7};
Plane Surface(1) = {1}; Plane Surface(2) = {2};
Periodic Curve {2} = {4} Translate {1, 0, 0};
Periodic Curve {5} = {7} Translate {1, 0, 0};
Periodic Curve {6} = {1} Translate {0, 1, 0};
Physical Surface(1) = {1}; Physical Surface(2) = {2};
Physical Curve(1) = {4, 7}; Physical Curve(2) = {2, 5};
Physical Curve(3) = {1}; Physical Curve(4) = {6};
"""
NAMES = ('groups = { "2:1" = "layer_a", "2:2" = "layer_b", "1:1" = "left", "1:2" = "right", '
         '3 = "bottom", 4 = "top" }')
LAMINATE = REPO / "problems" / "mechanics" / "rve_laminate.toml"


NAMED_LAMINATE = UNNAMED_LAMINATE
for _old, _new in (("Surface(1)", 'Surface("layer_a", 1)'), ("Surface(2)", 'Surface("layer_b", 2)'),
                   ("Curve(1)", 'Curve("left", 1)'), ("Curve(2)", 'Curve("right", 2)'),
                   ("Curve(3)", 'Curve("bottom", 3)'), ("Curve(4)", 'Curve("top", 4)')):
    NAMED_LAMINATE = NAMED_LAMINATE.replace(f"Physical {_old}", f"Physical {_new}")


@pytest.fixture(scope="module")
def unnamed_msh(tmp_path_factory) -> Path:
    """The unnamed laminate (and named.msh, the same with names) meshed by `fe2 mesh` as a
    user would."""
    folder = tmp_path_factory.mktemp("unnamed")
    (folder / "unnamed.geo").write_text(UNNAMED_LAMINATE)
    (folder / "named.geo").write_text(NAMED_LAMINATE)
    done = subprocess.run([sys.executable, "-m", "fe2", "mesh", str(folder / "unnamed.geo"),
                           str(folder / "named.geo"), "--out", str(folder)], cwd=REPO, env=ENV,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return folder / "unnamed.msh"


def _laminate_case(folder: Path, msh: Path, groups: str) -> Path:
    """problems/mechanics/rve_laminate.toml on the unnamed mesh with ``groups``."""
    text = LAMINATE.read_text().replace('mesh = "../../meshes/rve_laminate.geo"',
                                        f'mesh = "{msh}"\n{groups}')
    path = folder / "unnamed_laminate.toml"
    path.write_text(text.replace("parameters = { f = 0.5 }", ""))
    return path


@pytest.mark.serial
def test_groups_name_an_unnamed_mesh(tmp_path, unnamed_msh):
    """[rve] groups names the groups by tag ("dim:tag" where two dimensions share it): the
    unnamed laminate homogenizes to the stiffness of the named one (relative 1e-10: the
    layered stiffness is exact on any mesh). Before: `groups` was an unknown key and the mesh
    was refused ("physical group 1:1 has no name")."""
    named = homogenize(load_config(LAMINATE), MPI.COMM_SELF).tensor
    case = _laminate_case(tmp_path, unnamed_msh, NAMES)
    unnamed = homogenize(load_config(case), MPI.COMM_SELF).tensor
    assert np.allclose(unnamed, named, rtol=1e-10, atol=1e-10 * np.abs(named).max())


@pytest.mark.serial
@pytest.mark.parametrize("groups, message", [
    ("", "physical group 1:1 has no name; fe2 refers to groups by name: name it in the mesh "
         "table of the case, e.g. groups = { 1 = \"matrix\" }"),
    (NAMES.replace('"2:1"', "1"), "[rve] groups: 1 = 'layer_a': unnamed.msh has groups of tag 1 "
                                   "in dimensions [1, 2]; write \"<dim>:1\""),
    (NAMES.replace("4 = ", "7 = "), "[rve] groups: 7 = 'top': unnamed.msh has no physical group "
                                     "7; its groups are 1:1 (unnamed)"),
    (NAMES.replace('"top"', '"left"'), "[rve] groups: the name(s) ['left'] are given to "
                                        "several tags"),
    (NAMES.replace('"1:1"', '"one"'), "[rve] groups: key 'one' must be a physical tag"),
    ('groups = "layer_a"', "[rve] groups must be a table like { 1 = \"matrix\", 2 = \"fibre\" "
                           "}, got 'layer_a'"),
    (NAMES.replace('"top"', "4"), "[rve.groups] 4 must be a string, got 4"),
])
def test_bad_groups_are_clear_errors(tmp_path, unnamed_msh, groups, message):
    """A missing name, an ambiguous or absent tag, a name given twice, a bad key or value
    name the case, table and key; `fe2 homogenize` exits with status 2, no traceback."""
    case = _laminate_case(tmp_path, unnamed_msh, groups)
    done = subprocess.run([sys.executable, "-m", "fe2", "homogenize", str(case)], cwd=REPO, env=ENV,
                          capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


RUN_ON_LAMINATES = """
[macro]
mesh = "{msh}"
{groups}
[physics]
kind = "mechanics"
model = "plane_strain"
[boundary.left]
ux = 0.0
uy = 0.0
[boundary.right]
ux = 0.01
[micro]
mesh = "{msh}"
{groups}
[micro.materials.layer_a]
E = 10e3
nu = 0.3
[micro.materials.layer_b]
E = 100e3
nu = 0.2
[loading]
steps = 1
"""


@pytest.mark.serial
def test_groups_in_macro_and_micro_tables_of_a_run(tmp_path, unnamed_msh):
    """The laminate as macro mesh and as RVE, both unnamed and named in [macro] and [micro]:
    the same reaction as the named copy of the mesh (relative 1e-12; before: refused)."""
    reactions = []
    for msh, groups in ((unnamed_msh, NAMES), (unnamed_msh.with_name("named.msh"), "")):
        case = tmp_path / f"{msh.stem}.toml"
        case.write_text(RUN_ON_LAMINATES.format(msh=msh, groups=groups))
        done = _run(case, tmp_path / msh.stem, comm=MPI.COMM_SELF)
        assert done.completed
        reactions.append(_reactions(done.summary))
    assert reactions[0][0, 1] != 0 and np.allclose(*reactions, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- a type check on every key
TOP = 'description = "test plate"\n'  # (old, new, ...) edits below; top-level keys go here
@pytest.mark.parametrize("edit, message", [
    # before: TypeError tracebacks ('int' object is not iterable, string indices...)
    ((TOP, TOP + "parallel = 1\n"), "parallel must be a table like [parallel], got 1"),
    ((TOP, TOP + 'solver = "groups"\n', "[solver]\n", "[output]\n"),
     "solver must be a table like [solver], got 'groups'"),
    # before: "[output] unknown key 'x'" (the letters of the string)
    ((TOP, TOP + 'output = "x"\n'), "output must be a table like [output], got 'x'"),
    # before: an error without the file and table
    (("[solver]", "[solver]\npetsc_options = { ksp_type = [1] }"),
     "[solver.petsc_options] ksp_type must be a string, number or true/false, got [1]"),
    # already errors before; kept
    ((TOP, TOP + "loading = 3\n", "[loading]\n", "[output]\n"),
     "loading must be a table like [loading], got 3"),
    (("[solver]", "[solver]\npetsc_options = 1"), "[solver] petsc_options must be a table"),
    (("[solver]", '[solver]\ngroups = "u"'), "[solver] groups must be a list of lists"),
    (("[loading]", "[loading]\npath = 1"), "[loading] path must be a list of [s, load factor]"),
    (("[solver]", '[parallel]\nbalance = "yes"\n[solver]'),
     "[parallel] balance must be true or false, got 'yes'"),
    (("parameters = { h = 0.2 }", "parameters = 0.2"),
     "[micro] parameters must be a table like { R = 0.2 }, got 0.2"),
    (("degree = 1", "degree = 1\nmesh_dir = 1"), "[macro] mesh_dir must be a string, got 1"),
    ((ELASTIC, 'law = "energy"\nenergy = 1'),
     "[micro.materials.matrix] energy must be a string, got 1"),
])
def test_every_key_has_its_type_checked(shared_tmp, edit, message):
    """A value of the wrong type is an error naming the table, the key and what is expected."""
    case = _plate(shared_tmp, "types", "steps = 1")
    if WORLD.rank == 0:
        text = case.read_text()
        for old, new in zip(edit[::2], edit[1::2], strict=True):
            text = text.replace(old, new, 1)
        case.write_text(text)
    WORLD.barrier()
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_run_config(case)


@pytest.mark.parametrize("phases", ['"matrix"', "[]", '["a", "a"]', "[1]"])
def test_phases_of_a_transport_micro_table_must_be_a_list_of_names(shared_tmp, phases):
    """`phases = "matrix"` in [micro] of a transport case (before: split into letters there
    too, as in [physics] of fe2 homogenize)."""
    case = shared_tmp / "transport_phases.toml"
    if WORLD.rank == 0:
        case.write_text(f"""
[macro]
mesh = "{MESHES}/rectangle.geo"
[physics]
kind = "transport"
[boundary.left]
c = 1.0
[micro]
mesh = "{MESHES}/rve_square.geo"
phases = {phases}
[micro.materials.matrix]
D = 1.0
""")
    WORLD.barrier()
    with pytest.raises(ConfigError, match=re.escape("[micro] phases must be a non-empty list "
                                                    "of phase names")
                       if phases != '["a", "a"]' else re.escape("[micro] phases lists a name "
                                                                 "twice")):
        load_run_config(case)


# ---------------------------------------------------------------- summary after a restart
@pytest.mark.serial
def test_summary_ranks_follow_a_restart_on_another_count(tmp_path):
    """A run stopped after one step on 1 rank and restarted on 2: summary.json says 2 ranks
    and one restart (issue 16 listed `ranks` of the first run kept; already right on main,
    this test keeps it so)."""
    case = _plate(tmp_path, "ranks", "steps = 2")
    out = tmp_path / "ranks"
    command = [sys.executable, "-m", "fe2", "run"]
    first = subprocess.run([*command, str(case), "--out", str(out), "--max-steps", "1",
                            "--quiet"], cwd=REPO, env=ENV, capture_output=True, text=True)
    assert first.returncode == 1, first.stderr  # stopped early, results kept
    again = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", *command, "--restart",
                            str(out), "--quiet"], cwd=REPO, env=ENV, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["ranks"], summary["restarts"], summary["status"]) == (2, 1, "completed")
    assert [s["load_factor"] for s in summary["steps"]] == [0.5, 1.0]
