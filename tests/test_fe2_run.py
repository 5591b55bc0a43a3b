"""The FE² core end to end (fe2 run): linear limit, Newton order, MPI equality, restart,
cutback and clean stops. Small cases: a coarse plate with a hole, a ~100-dof RVE."""

from __future__ import annotations

import string
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import MESHES, REPO
from mpi4py import MPI

from fe2.app.run import restart, run
from fe2.app.run_case import load_run_config

PLATE = string.Template("""
description = "test plate"
[macro]
mesh = "$meshes/plate_hole.geo"
parameters = { h_hole = 0.8, h_far = 3.0, grading = 6 }
degree = 1
[physics]
kind = "mechanics"
model = "plane_strain"
[boundary.left]
ux = 0.0
[boundary.bottom]
uy = 0.0
[boundary.right]
$load
[micro]
mesh = "$meshes/rve_square.geo"
parameters = { h = 0.2 }
rtol = 1e-10
max_iterations = $micro_iterations
[micro.materials.matrix]
$matrix
[micro.materials.inclusion]
law = "elastic"
E = 400e3
nu = 0.2
[loading]
initial_step = $step
max_step = $step
min_step = $min_step
[solver]
rtol = 1e-10
max_iterations = $newton_iterations
""")
J2 = 'law = "j2"\nE = 70e3\nnu = 0.33\nyield_stress = 150.0\nhardening = {hardening}'
ELASTIC = 'law = "elastic"\nE = 70e3\nnu = 0.33'


def _case(folder: Path, name: str, matrix: str = J2.format(hardening=2e3),
          load: str = "ux = 0.04", step: float = 0.25, min_step: float = 0.01,
          micro_iterations: int = 25, newton_iterations: int = 15) -> Path:
    """Write a plate case on rank 0; every rank gets the path."""
    path = folder / f"{name}.toml"
    if MPI.COMM_WORLD.rank == 0:
        path.write_text(PLATE.substitute(
            meshes=MESHES, matrix=matrix, load=load, step=step, min_step=min_step,
            micro_iterations=micro_iterations, newton_iterations=newton_iterations))
    MPI.COMM_WORLD.barrier()
    return path


def _run(case: Path, out: Path, comm=MPI.COMM_WORLD, **options):
    return run(load_run_config(case), out, comm, progress=False, figures=False, **options)


def _reactions(summary: dict) -> np.ndarray:
    return np.array([[s["load_factor"], s["reaction"]] for s in summary["steps"]])


def observed_orders(residuals: list[float], floor: float = 1e-11) -> list[float]:
    """Convergence orders log(r[k+1]/r[k]) / log(r[k]/r[k-1]) of the triples above the
    round-off floor (relative to the first residual), where the estimate is meaningful.

    A last residual below the floor right after one above it (Newton jumped over the floor in
    one iteration) is bounded from above by the floor, which bounds the order of its triple
    from below: that lower bound is included, with the floor in place of the residual."""
    r = np.array(residuals)
    level = floor * r[0]
    keep = r > level
    orders = [float(np.log(r[k + 1] / r[k]) / np.log(r[k] / r[k - 1]))
              for k in range(1, len(r) - 1) if keep[k + 1] and r[k] < r[k - 1]]
    k = len(r) - 2
    if k >= 1 and not keep[k + 1] and keep[k] and r[k] < r[k - 1]:
        orders.append(float(np.log(level / r[k]) / np.log(r[k] / r[k - 1])))
    return orders


def test_linear_micro_homogenizes_once_and_matches_single_scale(shared_tmp):
    """Linear micro: one homogenization, no RVE solve per point, and the FE² field equals a
    single-scale solve with the homogenized tangent (relative 1e-8, issue 4)."""
    import ufl
    from dolfinx import fem
    from dolfinx.fem.petsc import LinearProblem

    case = _case(shared_tmp, "linear", matrix=ELASTIC, step=0.5)
    outcome = _run(case, shared_tmp / "linear")
    summary, problem = outcome.summary, outcome.problem
    assert outcome.completed and summary["micro"]["homogenizations"] == 1
    assert summary["total_rve_solves"] == 0
    # The single-scale reference: the same mesh, space, rule and BCs, C_hom as a Constant.
    C = problem.couplings[0].regions[0].dispatcher.model.tangent
    V, rule = problem.V, problem.rule
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    from fe2.physics.mechanics import strain as eps
    a = ufl.dot(ufl.dot(fem.Constant(V.mesh, C), eps(u)), eps(v)) * rule.dx
    L = ufl.dot(fem.Constant(V.mesh, (0.0, 0.0)), v) * rule.dx
    problem_ref = LinearProblem(a, L, bcs=problem._bcs, petsc_options={
        "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    u_ref = problem_ref.solve()
    comm = V.mesh.comm
    n = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
    diff = comm.allreduce(np.sum((u_ref.x.array[:n] - problem.w.x.array[:n]) ** 2))
    norm = comm.allreduce(np.sum(u_ref.x.array[:n] ** 2))
    assert np.sqrt(diff / norm) < 1e-8


def test_macro_newton_converges_quadratically(shared_tmp):
    """Consistent homogenized tangent ⇒ quadratic macro Newton: observed order ≥ 1.8 in the
    asymptotic range of every plastic step (issue 4); each iteration solves every point once."""
    outcome = _run(_case(shared_tmp, "newton"), shared_tmp / "newton")
    summary = outcome.summary
    assert outcome.completed and summary["load_factor"] == pytest.approx(1.0)
    n_points = summary["quadrature_points"]
    orders = []
    for step in summary["steps"]:
        # Exactly one RVE solve per global quadrature point and iteration (no point twice).
        assert step["rve_solves"] == [n_points] * len(step["residuals"])
        if step["newton_iterations"] >= 3:
            orders.append(max(observed_orders(step["residuals"])))
    assert len(orders) >= 2 and min(orders) >= 1.8, orders
    # J2 with hardening never loses ellipticity (fe2/laws/acoustic.py): the indicator stays
    # positive at every point of every step, so the localization warning never fires.
    assert all(step["scalars"]["ellipticity_min"] > 0 for step in summary["steps"])


@pytest.mark.skipif(MPI.COMM_WORLD.size == 1, reason="compares a parallel with a serial run")
def test_parallel_run_equals_serial_run(shared_tmp):
    """mpirun -n 2 and a serial run give the same reaction curve (relative 1e-8, issue 4)."""
    from fe2.io.meshing import prepare_mesh

    comm = MPI.COMM_WORLD
    case = _case(shared_tmp, "parallel")
    config = load_run_config(case)
    # Mesh once, before the serial runs.
    for source in (config.macro, config.definition.micro[0].rve):
        prepare_mesh(source, config.path, comm)
    parallel = _run(case, shared_tmp / "parallel", comm)
    serial = _run(case, shared_tmp / f"serial{comm.rank}", MPI.COMM_SELF)
    a, b = _reactions(parallel.summary), _reactions(serial.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-8, atol=0)
    assert parallel.summary["quadrature_points"] == serial.summary["quadrature_points"]


def test_restart_ends_with_the_same_result(shared_tmp):
    """A run paused after 2 steps and restarted ends like the uninterrupted run (relative
    1e-10, issue 4): checkpoints restore the field and every micro state exactly."""
    case = _case(shared_tmp, "restart")
    whole = _run(case, shared_tmp / "whole")
    first = _run(case, shared_tmp / "parts", max_steps=2)
    assert not first.completed and "max_steps" in first.message
    assert len(first.summary["steps"]) == 2
    second = restart(shared_tmp / "parts", MPI.COMM_WORLD, progress=False, figures=False)
    assert second.completed and second.summary["restarts"] == 1
    a, b = _reactions(whole.summary), _reactions(second.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-10, atol=0)
    comm = MPI.COMM_WORLD
    diff = comm.allreduce(np.abs(whole.problem.w.x.array - second.problem.w.x.array).max())
    scale = comm.allreduce(np.abs(whole.problem.w.x.array).max(), op=MPI.MAX)
    assert diff <= 1e-10 * scale


def test_micro_failure_cuts_the_step(shared_tmp):
    """A micro Newton limit too small for the first (large) step makes every rank cut it
    instead of crashing; smaller steps then converge (issue 4)."""
    case = _case(shared_tmp, "cutback", step=1.0, micro_iterations=4, min_step=0.01)
    outcome = _run(case, shared_tmp / "cutback")
    failures, steps = outcome.summary["failed_attempts"], outcome.summary["steps"]
    assert failures and all("micro solve failed" in f["message"] for f in failures)
    assert failures[0]["load_factor"] == pytest.approx(1.0)
    assert steps and steps[0]["load_factor"] < 1.0  # converged after cutting
    # Every rank took the same decisions (they are based on global quantities).
    assert MPI.COMM_WORLD.allgather((outcome.completed, len(steps), len(failures))) == [
        (outcome.completed, len(steps), len(failures))] * MPI.COMM_WORLD.size


def test_impossible_loading_stops_cleanly_with_results(shared_tmp):
    """A traction above the limit load of a perfectly plastic matrix cannot be followed: the
    run stops on every rank with a clear message and the converged steps stay readable."""
    from fe2.io.fields import read_xdmf

    case = _case(shared_tmp, "limit", matrix=J2.format(hardening=0.0),
                 load="traction = [400.0, 0.0]", step=0.25, min_step=0.02, newton_iterations=8)
    outcome = _run(case, shared_tmp / "limit")
    assert not outcome.completed and "below the minimum" in outcome.message
    steps = outcome.summary["steps"]
    assert steps and steps[-1]["load_factor"] < 1.0
    if MPI.COMM_WORLD.rank == 0:
        import json

        summary = json.loads((shared_tmp / "limit" / "summary.json").read_text())
        assert summary["status"] == "stopped" and len(summary["steps"]) == len(steps)
        series = read_xdmf(shared_tmp / "limit" / "fields.xdmf")
        assert [t for t, _ in series.fields["u"]] == [s["load_factor"] for s in steps]


@pytest.mark.serial
def test_cli_run_killed_and_restarted(shared_tmp):
    """`fe2 run` killed mid-run (SIGKILL after 2 steps) and continued with --restart ends
    with the reaction curve of an uninterrupted run (relative 1e-10), as a user would do it."""
    import json
    import os
    import signal

    case = _case(shared_tmp, "killed", step=0.125)
    out = shared_tmp / "killed"
    command = [sys.executable, "-m", "fe2", "run", str(case), "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        summary = out / "summary.json"
        if summary.is_file() and len(json.loads(summary.read_text())["steps"]) >= 2:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done = subprocess.run([sys.executable, "-m", "fe2", "run", "--restart", str(out),
                           "--quiet"], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    whole = _run(case, shared_tmp / "killed_whole")
    restarted = json.loads((out / "summary.json").read_text())
    a, b = _reactions(whole.summary), _reactions(restarted)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-10, atol=0)


def test_ufl_energy_micro_law_runs_through_the_core(shared_tmp):
    """A user's strain energy in UFL (here the quadratic, i.e. linear elastic, one) is solved
    by the nonlinear micro path at every point and gives the reaction of the linear elastic
    micro model homogenized once (relative 1e-8: both are exact for this energy)."""
    lam, mu = 70e3 * 0.33 / (1.33 * 0.34), 70e3 / 2.66
    energy = (f'law = "energy"\nenergy = "0.5*lmbda*tr(eps)**2 + mu*inner(eps, eps)"\n'
              f"lmbda = {lam!r}\nmu = {mu!r}")
    by_energy = _run(_case(shared_tmp, "energy", matrix=energy, step=0.5), shared_tmp / "e")
    linear = _run(_case(shared_tmp, "elastic", matrix=ELASTIC, step=0.5), shared_tmp / "l")
    assert by_energy.summary["total_rve_solves"] > 0
    assert linear.summary["total_rve_solves"] == 0
    a, b = _reactions(by_energy.summary), _reactions(linear.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-8, atol=0)


@pytest.mark.serial
@pytest.mark.parametrize("edit, message", [
    (("[loading]", "[loading]\nstep = 3"), "[loading] unknown key 'step'"),
    (("[boundary.right]", "[boundary.rigth]"), "missing physical group(s) ['rigth']"),
    (('law = "j2"', 'law = "j3"'), "law = 'j3': unknown value"),
    (("yield_stress = 150.0", "yield_stress = -1.0"),
     "[micro.materials.matrix] yield stress must be positive"),
    (('"0.5*lmbda', '"0.5*lambda_'), "NameError"),
    (("[solver]", '[solver]\nlinear_solver = "cholesky"'),
     "linear_solver = 'cholesky': use one of lu, iterative"),
    (("[solver]", '[solver]\ntype = "staggered"\ngroups = [["u"], ["d"]]'),
     "groups [['u'], ['d']] must name every field once"),
    (("rve_square.geo", "rve_cube_sphere.geo"), "is 3D but the macro model is 'plane_strain'"),
    (('model = "plane_strain"', 'model = "3d"'), "model = '3d' does not fit the 2D macro mesh"),
    (('kind = "mechanics"', 'kind = "fracture"'), "kind = 'fracture': no such physics"),
])
def test_bad_case_is_a_clear_error(shared_tmp, edit, message):
    """A wrong key, group, law or parameter exits with status 2 and names the problem."""
    text = PLATE.substitute(meshes=MESHES, matrix=J2.format(hardening=0.0), load="ux = 0.01",
                            step=0.5, min_step=0.1, micro_iterations=25, newton_iterations=8)
    if "lmbda" in edit[0]:
        text = text.replace('law = "j2"', 'law = "energy"\nenergy = "0.5*lmbda*tr(eps)**2"\n'
                                          'lmbda = 1.0\n#')
    case = shared_tmp / "bad.toml"
    case.write_text(text.replace(*edit))
    done = subprocess.run([sys.executable, "-m", "fe2", "run", str(case), "--quiet", "--out",
                           str(shared_tmp / "bad")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.serial
@pytest.mark.parametrize("damage", ["meta", "data"])
def test_restart_from_a_damaged_checkpoint_is_a_clear_error(shared_tmp, damage):
    """`fe2 run --restart` of a run whose only checkpoint lost its meta.json, or whose data
    file is garbage, exits 2 with a message naming the checkpoint (no traceback)."""
    case = _case(shared_tmp, "damaged", step=0.5)
    out = shared_tmp / "damaged"
    first = _run(case, out, max_steps=1)
    assert not first.completed
    folder = next((out / "checkpoint").glob("checkpoint-*"))
    if damage == "meta":
        (folder / "meta.json").unlink()
    else:
        for file in folder.glob("*.npz"):
            file.write_bytes(b"not a checkpoint")
    done = subprocess.run([sys.executable, "-m", "fe2", "run", "--restart", str(out), "--quiet"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "checkpoint" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_timing_table_reports_solve_imbalance_across_a_restart_on_other_ranks():
    """The imbalance line uses the measured solve seconds of the steps run on the current
    number of ranks (a restart may change it); exact arithmetic on made-up steps."""
    from fe2.app.recorder import PHASES, timing_table

    def step(solve_times):
        return {"time_s": dict.fromkeys(PHASES, 1.0), "wall_time_s": 5.0, "rve_solves": [4],
                "micro_solve_time_per_rank_s": solve_times}

    summary = {"steps": [step([9.0]), step([3.0, 1.0]), step([3.0, 1.0])], "setup_time_s": 0.5}
    table = timing_table(summary, 2)
    assert "3 steps; 12 RVE solves on 2 rank(s)" in table
    assert "max/mean over ranks 1.50" in table  # 6 / mean(6, 2)
    assert "max/mean" not in timing_table(summary, 3)  # no step ran on 3 ranks


def test_iterative_macro_solver_matches_lu_and_keeps_newton_quadratic(shared_tmp):
    """[solver] linear_solver = "iterative" (GMRES + GAMG with the rigid-body modes, relative
    1e-10) gives the LU run's reaction curve and still converges quadratically (order ≥ 1.8;
    the linear solves are 1e-10 accurate, so Newton is exact in the asymptotic range)."""
    lu_case = _case(shared_tmp, "lu")
    case = shared_tmp / "iterative.toml"
    if MPI.COMM_WORLD.rank == 0:
        case.write_text(lu_case.read_text().replace(
            "[solver]\n", '[solver]\nlinear_solver = "iterative"\n'))
    MPI.COMM_WORLD.barrier()
    lu = _run(lu_case, shared_tmp / "lu")
    iterative = _run(case, shared_tmp / "iterative")
    assert lu.completed and iterative.completed
    # Both stop at ‖R‖ ≤ 1e-10 ‖R₀‖ from the same start: the reactions agree to that order
    # (1e-8 relative leaves a margin of 100 for the conditioning of the plate).
    a, b = _reactions(iterative.summary), _reactions(lu.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-8, atol=0)
    orders = [max(observed_orders(step["residuals"])) for step in iterative.summary["steps"]
              if step["newton_iterations"] >= 3]
    assert len(orders) >= 2 and min(orders) >= 1.8, orders
