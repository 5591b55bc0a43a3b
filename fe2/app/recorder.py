"""What a run leaves behind after every converged step, and the summary record.

After each converged step, in this order: a checkpoint (``checkpoint/``: every field and every
micro state, matched by coordinates on restart, with the step's record), the fields
(``fields.xdmf``: the unknowns and the definition's cell outputs; a restarted run writes
``fields.restart-N.xdmf``) and ``summary.json`` (one :class:`StepRecord` per step) with
``steps.csv`` (the same steps as a table). A run killed after the checkpoint but before the
summary gets the step back from the checkpoint on restart. A failed write stops the run on
every rank (:class:`RecordingFailed`) with the previous checkpoint intact. Collective; only
rank 0 writes JSON and draws the progress bar.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from fe2.app.interrupt import StopRequest
from fe2.core.collective import on_root
from fe2.core.problem import Problem
from fe2.core.solvers import StepResult
from fe2.core.stepping import SteppingState
from fe2.io.checkpoint import CheckpointError, save_checkpoint
from fe2.io.fields import FieldWriter
from fe2.io.records import replace_atomic, write_json_atomic

__all__ = ["PHASES", "Recorder", "RecordingFailed", "StepLimit", "StepRecord", "checkpoint_fields",
           "new_summary", "timing_table", "write_steps_csv"]

log = logging.getLogger(__name__)
PHASES = ("micro", "assembly", "solve", "output")


class StepLimit(Exception):
    """The requested number of steps of this invocation is done (``max_steps``)."""


class RecordingFailed(Exception):
    """Writing the results of a step failed (disk full, folder gone ...); raised on every
    rank. The checkpoint of the previous step is still complete."""


@dataclass(frozen=True)
class StepRecord:
    """One converged step in ``summary.json`` (times in seconds; per-rank lists in rank order)."""

    step: int
    load_factor: float
    t: float
    reaction: float
    boundary_value: float
    newton_iterations: int
    sweeps: int
    residuals: list[float]
    field_residuals: dict[str, list[float]]  # per field, when there are several
    increments: list[float]
    rve_solves: list[int]
    micro_iterations: int
    wall_time_s: float
    time_s: dict[str, float]  # slowest rank per phase
    micro_time_per_rank_s: list[float]  # includes waiting for the slowest
    micro_solve_time_per_rank_s: list[float]
    rve_solves_per_rank: list[int]
    micro_iterations_per_rank: list[int]
    scalars: dict[str, float]  # the definition's global numbers (energies, ...)


def config_hash(path: Path) -> str:
    """Hash of the case file and of every mesh file it names (``mesh = "..."`` in any table):
    a restart refuses a case whose text or geometry changed since the run started."""
    import tomllib

    digest = hashlib.sha256(path.read_bytes())
    for mesh in sorted(_mesh_files(tomllib.loads(path.read_text()), path.parent)):
        digest.update(str(mesh).encode())
        digest.update(mesh.read_bytes())
    return digest.hexdigest()[:16]


def _mesh_files(table: dict[str, Any], folder: Path) -> set[Path]:
    """The existing files named by ``mesh`` keys in ``table`` and its sub-tables."""
    found = set()
    for key, value in table.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                found |= _mesh_files(item, folder)
            elif key == "mesh" and isinstance(item, str) and (folder / item).is_file():
                found.add((folder / item).resolve())
    return found


def _batched(model) -> bool:
    """Whether the dispatcher solves this model's points in batches (fe2.core.dispatch)."""
    from fe2.core.micro import BatchMicroModel

    return bool(not model.is_linear and isinstance(model, BatchMicroModel)
                and getattr(model, "batched", True))


def _solver(model) -> dict[str, str] | None:
    """The micro solver a nonlinear RVE chose and why (``[micro] solver``), or None."""
    from fe2.core.micro import GroupMicroModel

    inner = model.model if isinstance(model, GroupMicroModel) else model
    choice = getattr(inner, "solver_choice", None)
    return None if choice is None else {"name": choice[0], "reason": choice[1]}


def new_summary(config, comm: MPI.Comm, problem: Problem) -> dict[str, Any]:
    """The summary of a new run (before its first step)."""
    regions = [region for coupling in problem.couplings for region in coupling.regions]
    models = [region.dispatcher.model for region in regions]
    index_map = problem.V.dofmap.index_map
    return {
        "config": str(config.path), "config_sha256": config_hash(config.path),
        "description": config.description, "physics": config.definition.kind,
        "fields": problem.field_names, "ranks": comm.size,
        "macro_mesh": str(problem.mesh_path),
        "macro_dofs": index_map.size_global * problem.V.dofmap.index_map_bs,
        "quadrature_points": comm.allreduce(problem.rule.n_owned_points),
        "stepping": config.stepping.variable, "solver": config.solver.type,
        "micro": {"linear": bool(all(m.is_linear for m in models)),
                  "homogenizations": sum(c.homogenizations for c in problem.couplings),
                  "regions": [r.key for r in regions],
                  "state_bytes_per_point": [8 * m.state_size for m in models],
                  "rve_dofs": [int(getattr(m, "ndofs", 0)) for m in models],
                  "batched": [_batched(m) for m in models],
                  "solver": [_solver(m) for m in models],
                  "rve_ranks": config.rve_ranks},
        "reaction": list(config.reaction) if config.reaction else None,
        "status": "running", "steps": [], "load_factor": 0.0, "t": 0.0}


def checkpoint_fields(problem: Problem) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Everything a restart needs, as name → (coordinates, values) of owned points."""
    fields = {f"field:{name}": (*problem.owned_values(name), problem.owned_hints(name))
              for name in problem.field_names}
    coordinates = problem.rule.coordinates()
    for coupling in problem.couplings:
        for region in coupling.regions:
            fields[f"states:{coupling.name}:{region.key}"] = (coordinates[region.rows],
                                                               region.committed)
    return fields


class Recorder:
    """Writes checkpoint, fields and summary after each converged step (collective)."""

    def __init__(self, config, problem: Problem, out: Path, comm: MPI.Comm,
                 summary: dict[str, Any], progress: bool, max_steps: int | None,
                 stop: StopRequest | None = None) -> None:
        self.config, self.problem, self.out, self.comm = config, problem, out, comm
        self.summary, self.max_steps, self.steps_done = summary, max_steps, 0
        self.stop = stop
        # A restarted run writes its own series (its mesh partition may differ).
        restarts = summary.get("restarts", 0)
        name = "fields.xdmf" if not restarts else f"fields.restart-{restarts}.xdmf"
        summary.setdefault("field_files", []).append(name)
        self.fields = FieldWriter(out / name, problem.mesh, comm)
        self.failed_attempts: list[dict] = summary.setdefault("failed_attempts", [])
        self.bar = None
        if progress and comm.rank == 0:
            from tqdm import tqdm

            unit = "s" if config.stepping.variable == "time" else "λ"
            self.bar = tqdm(total=config.stepping.end, unit=unit, desc="fe2 run",
                            bar_format="{l_bar}{bar}| " + unit + " {n:.3g}/{total:.3g} "
                                       "[{elapsed}<{remaining}]{postfix}")
            self.bar.update(summary.get("position", 0.0))
        self._step_start = time.perf_counter()

    def attempt(self, result: StepResult) -> None:
        if not result.converged:
            self.failed_attempts.append({"load_factor": result.load_factor, "t": result.t,
                                         "message": result.message,
                                         "residuals": result.residuals})
            if self.comm.rank == 0:
                log.info("step to t = %.4g, λ = %.4g cut: %s", result.t, result.load_factor,
                         result.message)

    def converged(self, result: StepResult, state: SteppingState) -> None:
        start = time.perf_counter()
        problem, comm = self.problem, self.comm
        force, boundary_value = problem.reaction()
        record = self._record(result, state, force, boundary_value, start)
        # The checkpoint carries the step's record: a kill before the summary loses nothing.
        meta = {"stepping": asdict(state), "summary_steps": len(self.summary["steps"]) + 1,
                "record": record, "config_sha256": self.summary["config_sha256"]}
        try:
            save_checkpoint(self.out / "checkpoint", comm, checkpoint_fields(problem), meta)
            self.write_fields(state)
            # Output time and wall time are known only now (the checkpoint has them without).
            output = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
            record["time_s"]["output"] = output
            record["wall_time_s"] += output
            self.summary["steps"].append(record)
            self._record_events(record)
            self.summary.update(load_factor=result.load_factor, t=result.t,
                                position=state.position)
            on_root(comm, self.write_summary)
        except (CheckpointError, OSError, ValueError) as error:
            raise RecordingFailed(f"writing the results of step {state.converged_steps} into "
                                  f"{self.out} failed: {error}") from None
        self._step_start = time.perf_counter()
        if self.bar is not None:
            self.bar.set_postfix_str(f"step {state.converged_steps}, "
                                     f"{result.iterations} Newton it.")
            self.bar.update(state.position - self.bar.n)
        self.steps_done += 1
        if self.stop is not None:
            self.stop.check()
        if self.max_steps is not None and self.steps_done >= self.max_steps:
            raise StepLimit

    def _record(self, result: StepResult, state: SteppingState, force: float,
                boundary_value: float, output_start: float) -> dict[str, Any]:
        """The step's StepRecord as a dict (collective: per-rank lists are gathered)."""
        comm = self.comm
        result.times["output"] = time.perf_counter() - output_start
        wall = output_start - self._step_start
        times = {k: comm.allgather(result.times.get(k, 0.0)) for k in PHASES}
        return asdict(StepRecord(
            step=state.converged_steps, load_factor=result.load_factor, t=result.t,
            reaction=force, boundary_value=boundary_value,
            newton_iterations=result.iterations, sweeps=result.sweeps,
            residuals=result.residuals, field_residuals=result.field_residuals,
            increments=result.increments,
            rve_solves=result.rve_solves, micro_iterations=result.micro_iterations,
            wall_time_s=wall, time_s={k: max(v) for k, v in times.items()},
            micro_time_per_rank_s=times["micro"],
            micro_solve_time_per_rank_s=comm.allgather(result.local_solve_time),
            rve_solves_per_rank=comm.allgather(result.local_solves),
            micro_iterations_per_rank=comm.allgather(result.local_micro_iterations),
            scalars=self._scalars()))

    def restored(self, state: SteppingState) -> None:
        """Write the fields and the summary of a step recovered from the checkpoint on restart
        (its record is already in the summary)."""
        try:
            self.write_fields(state)
            on_root(self.comm, self.write_summary)
        except (OSError, ValueError) as error:
            raise RecordingFailed(f"writing the recovered step {state.converged_steps} into "
                                  f"{self.out} failed: {error}") from None

    def write_fields(self, state: SteppingState) -> None:
        """The fields of the current state at the step's position (collective)."""
        problem = self.problem
        nodal = {name: problem.field_function(name) for name in problem.field_names}
        self.fields.write(state.position, nodal, problem.definition.cell_outputs(problem))

    def write_summary(self) -> None:
        """summary.json and steps.csv (rank 0; wrap in on_root)."""
        write_json_atomic(self.out / "summary.json", self.summary)
        write_steps_csv(self.out / "steps.csv", self.summary["steps"])

    def _scalars(self) -> dict[str, float]:
        scalars = getattr(self.problem.definition, "scalars", None)
        return {} if scalars is None else {k: float(v) for k, v in
                                           scalars(self.problem).items()}

    def _record_events(self, record: dict[str, Any]) -> None:
        """The first step at which each of the definition's events holds (collective)."""
        events = getattr(self.problem.definition, "events", None)
        if events is None:
            return
        seen = self.summary.setdefault("events", {})
        for name, happened in events(self.problem).items():
            if happened and name not in seen:
                seen[name] = {key: record[key] for key in ("step", "t", "load_factor")}

    def close(self, status: str, message: str) -> None:
        """Final summary with ``status`` ("completed", "stopped", "interrupted").

        Raises:
            OSError: on every rank, if summary.json cannot be written.
        """
        self.fields.close()
        self.summary.update(status=status, message=message)
        self.summary["total_rve_solves"] = sum(sum(s["rve_solves"]) for s in self.summary["steps"])
        if self.bar is not None:
            self.bar.close()
        on_root(self.comm, lambda: write_json_atomic(self.out / "summary.json", self.summary),
                errors=(OSError, ValueError))


CSV_COLUMNS = ("step", "t", "load_factor", "boundary_value", "reaction", "newton_iterations",
               "sweeps")


def write_steps_csv(path: Path, steps: list[dict[str, Any]]) -> None:
    """One row per converged step (columns CSV_COLUMNS, then the definition's scalars),
    replaced atomically: for spreadsheets and plotting scripts."""
    import csv
    import io

    scalars = list(steps[-1]["scalars"]) if steps else []
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*CSV_COLUMNS, *scalars])
    for step in steps:
        writer.writerow([step[k] for k in CSV_COLUMNS] + [step["scalars"].get(k, "")
                                                          for k in scalars])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text.getvalue())
    replace_atomic(tmp, path)


def timing_table(summary: dict[str, Any], ranks: int) -> str:
    """Where the time went: totals over the steps of the slowest rank per phase."""
    steps = summary["steps"]
    totals = {k: sum(s["time_s"][k] for s in steps) for k in PHASES}
    wall = sum(s["wall_time_s"] for s in steps)
    solves = sum(sum(s["rve_solves"]) for s in steps)
    # Only steps run on this many ranks count (a restarted run may have had other ranks).
    micro = np.sum([s["micro_solve_time_per_rank_s"] for s in steps
                    if len(s.get("micro_solve_time_per_rank_s", ())) == ranks], axis=0)
    lines = [f"{'phase':<12}{'time [s]':>10}{'share':>8}"]
    for name, value in totals.items():
        lines.append(f"{name:<12}{value:>10.2f}{value / wall if wall else 0:>8.1%}")
    lines.append(f"{'wall':<12}{wall:>10.2f}")
    lines.append(f"setup {summary.get('setup_time_s', 0):.2f} s; {len(steps)} steps; "
                 f"{solves} RVE solves on {ranks} rank(s)"
                 + (f"; micro solve time max/mean over ranks {max(micro) / np.mean(micro):.2f}"
                    if ranks > 1 and np.size(micro) == ranks and np.mean(micro) > 0 else ""))
    return "\n".join(lines)
