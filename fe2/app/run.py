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
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from fe2.app.figures import draw_figures
from fe2.app.interrupt import Interrupted, StopRequest
from fe2.app.outdir import check_writable, claim_output
from fe2.app.recorder import (
    Recorder,
    RecordingFailed,
    StepLimit,
    config_hash,
    new_summary,
    timing_table,
)
from fe2.app.run_case import RunConfig, load_run_config
from fe2.core.collective import agree, on_root
from fe2.core.errors import ConfigError
from fe2.core.problem import Dirichlet, Flux, Problem, Reaction
from fe2.core.solvers import make_solver
from fe2.core.stepping import SteppingFailed, SteppingState, run_steps
from fe2.io.checkpoint import CheckpointError, load_checkpoint, open_checkpoint
from fe2.io.mesh import load_mesh
from fe2.io.meshing import prepare_mesh

__all__ = ["RunOutcome", "build_problem", "restart", "run"]

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """How a run ended (the same on every rank)."""

    completed: bool
    message: str  # "completed", or why it stopped and how to continue
    out: Path
    summary: dict[str, Any]
    problem: Problem  # the final state, for inspection (tests, scripts)


def build_problem(config: RunConfig, comm: MPI.Comm) -> Problem:
    """The macro problem of the case on ``comm`` with its micro models.

    Raises:
        ConfigError, MeshError: on every rank.
    """
    path = prepare_mesh(config.macro, config.path, comm)
    data = load_mesh(path, comm, required=[spec.group for spec in config.boundaries],
                     names=config.macro.groups)
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
        overwrite: bool = False, progress: bool = True, figures: bool = True,
        max_steps: int | None = None) -> RunOutcome:
    """Run (or, with ``resume``, continue) the case ``config`` into folder ``out``.

    A new run needs a folder without another run in it (``overwrite`` clears it first).
    ``max_steps`` ends this invocation after that many converged steps (e.g. to fit a batch
    job's time limit); ``restart`` continues from there. Returns normally also when the
    stepping could not be followed to the end, when writing the results failed, or on Ctrl-C
    (the outcome says why; everything converged and written so far is kept).

    Raises:
        ConfigError, MeshError, CheckpointError, OutputError: for a case that does not fit its
            meshes, checkpoint or output folder (every rank).
    """
    out = Path(out).resolve()
    setup_start = time.perf_counter()
    if resume:
        on_root(comm, lambda: check_writable(out))
    else:
        claim_output(out, comm, overwrite=overwrite)
    problem = build_problem(config, comm)
    summary = new_summary(config, comm, problem)
    state = SteppingState(step=config.stepping.initial_step)
    recovered = False
    if resume:
        summary, state, recovered = _resume(config, out, comm, problem)
    summary["setup_time_s"] = time.perf_counter() - setup_start
    with StopRequest(comm) as stop:
        recorder = Recorder(config, problem, out, comm, summary, progress, max_steps, stop)
        solver = make_solver(problem, config.solver)
        status, message = "completed", "completed"
        try:
            if recovered:
                recorder.restored(state)
            run_steps(solver, config.stepping, state, recorder.converged, recorder.attempt)
        except SteppingFailed as failure:
            status, message = "stopped", str(failure)
        except StepLimit:
            if state.position < config.stepping.end * (1 - 1e-12):
                status, message = "stopped", (
                    f"paused after {max_steps} step(s) at {state.position:.6g} (max_steps); "
                    f"continue with: fe2 run --restart {out}")
        except Interrupted as stopped:  # after the last step there is nothing left to do
            if state.position < config.stepping.end * (1 - 1e-12):
                status, message = "interrupted", (
                    f"{stopped}; the last checkpoint is kept: continue with "
                    f"fe2 run --restart {out}")
        except RecordingFailed as failure:
            status, message = "stopped", (f"{failure}; the last complete checkpoint is kept: "
                                          f"continue with fe2 run --restart {out}")
        solver.destroy()  # collective: not on the way out of an error raised on one rank only
        report = getattr(config.definition, "report", None)
        if report is not None and summary["steps"]:
            try:
                summary.update(report(problem, out))
            except (ValueError, OSError) as error:  # raised on every rank alike
                if comm.rank == 0:
                    log.warning("the physics' report was not written: %s", error)
        try:
            recorder.close(status, message)
        except (OSError, ValueError) as error:  # raised on every rank alike
            if comm.rank == 0:
                log.error("the final summary.json could not be written: %s", error)
        if figures and summary["steps"] and status != "interrupted":
            try:
                draw_figures(config, problem, out, summary)
            except (ValueError, OSError) as error:  # raised on every rank alike
                if comm.rank == 0:
                    log.warning("the figures were not drawn: %s", error)
    if comm.rank == 0 and progress:
        print(timing_table(summary, comm.size))
    return RunOutcome(status == "completed", message, out, summary, problem)


def restart(out: Path, comm: MPI.Comm, **options) -> RunOutcome:
    """Continue the interrupted run in ``out`` from its last complete checkpoint."""
    out = Path(out).resolve()

    summary = on_root(comm, lambda: _read_summary(out))
    return run(load_run_config(summary["config"]), out, comm, resume=True, **options)


def _read_summary(out: Path) -> dict[str, Any]:
    """The summary.json of the run in ``out`` (call on one rank).

    Raises:
        ConfigError: if it cannot be read or names no case.
    """
    try:
        summary = json.loads((out / "summary.json").read_text())
        if not isinstance(summary.get("config"), str):
            raise ValueError("no case file named in it")
    except (OSError, ValueError, AttributeError) as error:
        raise ConfigError(f"{out}: not the output folder of an fe2 run (its summary.json "
                          f"cannot be read: {error})") from None
    return summary


def _resume(config: RunConfig, out: Path, comm: MPI.Comm,
            problem: Problem) -> tuple[dict, SteppingState, bool]:
    """The summary and stepping state of the last complete checkpoint in ``out``, with the
    fields and micro states restored; True if its step was missing from the summary (the run
    died between checkpoint and summary) and was recorded from the checkpoint."""
    summary = on_root(comm, lambda: _read_summary(out))
    if summary.get("config_sha256") != config_hash(config.path):
        raise ConfigError(f"{config.path} or a mesh file it names changed since the run in "
                          f"{out} started; restart needs the same case (start anew with "
                          "--overwrite)")
    checkpoint = open_checkpoint(out / "checkpoint", comm)
    meta = checkpoint.meta
    if meta.get("config_sha256") != summary["config_sha256"]:
        raise CheckpointError(f"{checkpoint.folder} was written by another case than the one "
                              f"of {out / 'summary.json'}; start anew with --overwrite")
    for name in problem.field_names:
        coordinates, _ = problem.owned_values(name)
        values = load_checkpoint(checkpoint, comm, f"field:{name}", coordinates,
                                 hints=problem.owned_hints(name))
        problem.restore_values(name, values)
    coordinates = problem.rule.coordinates()
    stored = [(region, load_checkpoint(checkpoint, comm,
                                       f"states:{coupling.name}:{region.key}",
                                       coordinates[region.rows]))
              for coupling in problem.couplings for region in coupling.regions]
    error = None
    try:
        state = SteppingState(**meta["stepping"])
        steps, record = int(meta["summary_steps"]), dict(meta["record"])
        for region, states in stored:
            region.committed = region.trial = np.array(states, dtype=float).reshape(
                region.committed.shape)
    except (TypeError, KeyError, ValueError) as failure:
        error = CheckpointError(f"{out / 'checkpoint'} does not fit this case: "
                                f"{type(failure).__name__}: {failure}")
    agree(comm, error)
    recovered = len(summary["steps"]) < steps
    summary["steps"] = summary["steps"][:steps - 1] + [record] if recovered else \
        summary["steps"][:steps]
    if recovered and comm.rank == 0:
        log.warning("step %d was missing from %s (the run stopped between its checkpoint and "
                    "its summary): recorded from the checkpoint", steps, out / "summary.json")
    summary.update(restarts=summary.get("restarts", 0) + 1, ranks=comm.size,
                   load_factor=record["load_factor"], t=record["t"],
                   position=state.position)
    return summary, state, recovered
