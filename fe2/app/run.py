"""``fe2 run``: a case file to fields, summary, figures and checkpoints.

Set-up: the macro mesh is made from its ``.geo`` (rank 0) and distributed over the
communicator; the definition builds its micro models (fe2.rve.factory: a linear RVE is
homogenized once, a nonlinear RVE is built once per rank or per group of ranks); boundary
conditions come from the mesh's facet groups. Then fe2.core.stepping drives the step solver of
``[solver]`` (fe2.core.solvers) over the load factor or time, and fe2.app.recorder writes after
every converged step. At the end: ``load_curve.png`` and ``field.png``, and a timing table on
rank 0.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from fe2.app.figures import draw_figures
from fe2.app.recorder import Recorder, StepLimit, config_hash, new_summary, timing_table
from fe2.app.run_case import RunConfig, load_run_config
from fe2.core.collective import agree
from fe2.core.errors import ConfigError
from fe2.core.problem import Dirichlet, Flux, Problem, Reaction
from fe2.core.solvers import make_solver
from fe2.core.stepping import SteppingFailed, SteppingState, run_steps
from fe2.io.checkpoint import CheckpointError, load_checkpoint, load_meta
from fe2.io.mesh import load_mesh
from fe2.io.meshing import prepare_mesh

__all__ = ["RunOutcome", "build_problem", "restart", "run"]


@dataclass
class RunOutcome:
    """How a run ended (the same on every rank)."""

    completed: bool
    message: str
    out: Path
    summary: dict[str, Any]
    problem: Problem  # the final state, for inspection (tests, scripts)


def build_problem(config: RunConfig, comm: MPI.Comm) -> Problem:
    """The macro problem of the case on ``comm`` with its micro models.

    Raises:
        ConfigError, MeshError: on every rank.
    """
    path = prepare_mesh(config.macro, config.path, comm)
    data = load_mesh(path, comm, required=[spec.group for spec in config.boundaries])
    definition = config.definition
    definition.check_mesh(data)
    gdim = data.mesh.geometry.dim
    fields = definition.fields(gdim)
    components = {name: (f.name, i if f.vector else None)
                  for f in fields for i, name in enumerate(f.component_names(gdim))}
    dirichlet, fluxes = [], []
    for spec in config.boundaries:
        facets = data.facets(spec.group)
        section = f"{config.path}: [boundary.{spec.group}]"
        for name, value in spec.values:
            if name not in components:
                raise ConfigError(f"{section} {name}: this {gdim}D problem has components "
                                  f"{', '.join(components)}")
            field, index = components[name]
            dirichlet.append(Dirichlet(field, index, facets, value))
        for key, value in spec.fluxes:
            field = next(f for f in fields if f.name == definition.fluxes[key])
            size = gdim if field.vector else 0
            if np.ndim(value) != (1 if size else 0) or (size and len(value) != size):
                raise ConfigError(f"{section} {key} needs " + (
                    f"{gdim} components" if size else "one number"))
            fluxes.append(Flux(field.name, facets, value))
    reaction = None
    if config.reaction is not None:
        group, name = config.reaction
        reaction = Reaction(*components[name], data.facets(group))
    couplings = definition.couplings(comm, data)
    problem = Problem(data, definition, couplings, config.quadrature_degree, dirichlet, fluxes,
                      reaction, config.balance)
    problem.mesh_path = path
    return problem


def run(config: RunConfig, out: Path, comm: MPI.Comm, *, resume: bool = False,
        progress: bool = True, figures: bool = True,
        max_steps: int | None = None) -> RunOutcome:
    """Run (or, with ``resume``, continue) the case ``config`` into folder ``out``.

    ``max_steps`` ends this invocation after that many converged steps (e.g. to fit a batch
    job's time limit); ``restart`` continues from there. Returns normally also when the
    stepping could not be followed to the end (the outcome says why; everything converged so
    far is written).

    Raises:
        ConfigError, MeshError, CheckpointError: for a case that does not fit its meshes or
            checkpoint (every rank).
    """
    out = Path(out).resolve()
    setup_start = time.perf_counter()
    problem = build_problem(config, comm)
    summary = new_summary(config, comm, problem)
    state = SteppingState(step=config.stepping.initial_step)
    if resume:
        summary, state = _resume(config, out, comm, problem)
    elif comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    summary["setup_time_s"] = time.perf_counter() - setup_start
    recorder = Recorder(config, problem, out, comm, summary, progress, max_steps)
    solver = make_solver(problem, config.solver)
    completed, message = True, "completed"
    try:
        run_steps(solver, config.stepping, state, recorder.converged, recorder.attempt)
    except SteppingFailed as failure:
        completed, message = False, str(failure)
    except StepLimit:
        completed = state.position >= config.stepping.end * (1 - 1e-12)
        message = "completed" if completed else (
            f"paused after {max_steps} step(s) at {state.position:.6g} (max_steps); "
            f"continue with: fe2 run --restart {out}")
    solver.destroy()  # collective: not on the way out of an error raised on one rank only
    recorder.close(completed, message)
    if figures and summary["steps"]:
        draw_figures(config, problem, out, summary)
    if comm.rank == 0 and progress:
        print(timing_table(summary, comm.size))
    return RunOutcome(completed, message, out, summary, problem)


def restart(out: Path, comm: MPI.Comm, **options) -> RunOutcome:
    """Continue the interrupted run in ``out`` from its last converged step."""
    out = Path(out).resolve()
    config_path = None
    if comm.rank == 0:
        try:
            config_path = json.loads((out / "summary.json").read_text())["config"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            config_path = ConfigError(f"{out}: not the output folder of an fe2 run (its "
                                      f"summary.json cannot be read: {error})")
    config_path = comm.bcast(config_path, root=0)
    if isinstance(config_path, Exception):
        raise config_path
    return run(load_run_config(config_path), out, comm, resume=True, **options)


def _resume(config: RunConfig, out: Path, comm: MPI.Comm,
            problem: Problem) -> tuple[dict, SteppingState]:
    meta = load_meta(out / "checkpoint", comm)
    summary = None
    if comm.rank == 0:
        summary = json.loads((out / "summary.json").read_text())
    summary = comm.bcast(summary, root=0)
    if summary.get("config_sha256") != config_hash(config.path):
        raise ConfigError(f"{config.path} changed since the run in {out} started; restart "
                          "needs the same case")
    for name in problem.field_names:
        coordinates, _ = problem.owned_values(name)
        values = load_checkpoint(out / "checkpoint", comm, f"field:{name}", coordinates,
                                 hints=problem.owned_hints(name))
        problem.restore_values(name, values)
    coordinates = problem.rule.coordinates()
    stored = [(region, load_checkpoint(out / "checkpoint", comm,
                                       f"states:{coupling.name}:{region.key}",
                                       coordinates[region.rows]))
              for coupling in problem.couplings for region in coupling.regions]
    error = None
    try:
        state = SteppingState(**meta["stepping"])
        for region, states in stored:
            region.committed = region.trial = np.array(states, dtype=float).reshape(
                region.committed.shape)
    except (TypeError, KeyError, ValueError) as failure:
        error = CheckpointError(f"{out / 'checkpoint'} does not fit this case: "
                                f"{type(failure).__name__}: {failure}")
    agree(comm, error)
    summary["steps"] = summary["steps"][: meta["summary_steps"]]
    summary["restarts"] = summary.get("restarts", 0) + 1
    return summary, state
