"""``fe2 run``: an FE² job from a case file to fields, summary, figures and checkpoints.

Set-up: the macro and RVE meshes are made from their ``.geo`` (rank 0), the macro mesh is
distributed over the communicator, and the micro model is built: a linear RVE is homogenized
once on rank 0 and only its tangent is broadcast; a nonlinear RVE is built once per rank (on
``MPI.COMM_SELF``) and solved for every owned quadrature point, or, with ``[parallel]
rve_ranks = k``, once per group of k ranks (distributed, fe2.rve_group) and solved by the group
for the points of all its ranks. Then fe2.stepping drives
fe2.macro; after every converged step the output folder gets, in this order, a checkpoint
(``checkpoint/``), the fields (``fields.xdmf``: displacement or concentration, cell-averaged
stress and micro outputs; a restarted run writes ``fields.restart-N.xdmf``) and
``summary.json``. At the end: ``load_curve.png`` and
``field.png``, and a timing table on rank 0.
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

from fe2.config import ConfigError
from fe2.dispatch import Dispatcher
from fe2.io import FieldWriter, load_checkpoint, load_meta, save_checkpoint, write_json_atomic
from fe2.macro import Dirichlet, MacroProblem, Neumann, Reaction, StepResult, owned_dof_values
from fe2.mesh import MeshError, load_mesh
from fe2.meshing import prepare_mesh
from fe2.physics import PHYSICS
from fe2.run_config import LawSpec, RunConfig, load_run_config
from fe2.rve_group import GroupedRVE, split_groups
from fe2.stepping import SteppingFailed, SteppingState, run_load_steps

__all__ = ["RunOutcome", "run", "restart", "build_micro_model", "make_law"]

log = logging.getLogger(__name__)
PHASES = ("strain", "micro", "assembly", "solve", "output")


@dataclass
class RunOutcome:
    """How a run ended (the same on every rank)."""

    completed: bool
    message: str
    out: Path
    summary: dict[str, Any]
    problem: MacroProblem  # the final state, for inspection (tests, scripts)


# --------------------------------------------------------------------------- micro models
def make_law(spec: LawSpec):
    """A point law (fe2.laws) from its config entry."""
    from fe2.laws import Elastic, J2Plasticity, UFLEnergyLaw

    parameters = dict(spec.parameters)
    if spec.law == "elastic":
        return Elastic(**parameters)
    if spec.law == "j2":
        return J2Plasticity(**parameters)
    return UFLEnergyLaw(_energy_function(spec.energy, parameters))


def _energy_function(text: str, parameters: dict[str, float]):
    """The user's strain-energy density (UFL text in ``eps`` and the parameters) as a callable;
    its names are checked now, on a symbolic strain, so a typo is a config error."""
    import ufl

    namespace = {name: getattr(ufl, name) for name in (
        "tr", "inner", "dot", "dev", "sym", "det", "sqrt", "exp", "ln", "cos", "sin", "tanh",
        "conditional", "gt", "lt")}
    namespace.update(parameters, I=ufl.Identity(3))
    try:
        code = compile(text, "<energy>", "eval")
    except SyntaxError as error:
        raise ConfigError(f"energy = {text!r}: not a valid expression: {error.msg}") from None

    def energy(eps):
        return eval(code, {"__builtins__": {}}, {**namespace, "eps": eps})  # noqa: S307

    try:
        energy(ufl.as_matrix([[0.1, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.3]]))
    except Exception as error:
        raise ConfigError(f"energy = {text!r}: {type(error).__name__}: {error} (names "
                          f"available: eps, I, {', '.join(sorted(set(namespace) - {'I'}))})"
                          ) from None
    return energy


def build_micro_model(config: RunConfig, comm: MPI.Comm):
    """The micro model of the case and the number of RVE homogenizations it took.

    Raises:
        ConfigError, MeshError: on every rank.
    """
    import dolfinx.fem.petsc  # noqa: F401  (initializes PETSc, collective: see below)

    from fe2.materials import Diffusivity, IsotropicElastic
    from fe2.rve import LinearRVE

    micro, kind = config.micro, config.physics.kind
    path = prepare_mesh(micro.rve, config.path, comm)
    if micro.is_linear or kind == "transport":
        # Rank 0 works alone here while the others wait in bcast. PETSc's first import
        # duplicates COMM_WORLD (a collective), so it must have happened on every rank
        # before: otherwise the waiting ranks receive its messages and crash.
        tangent, error = None, None
        if comm.rank == 0:  # one homogenization for the whole run
            try:
                data = load_mesh(path, MPI.COMM_SELF)
                params = {phase: dict(spec.parameters) for phase, spec in micro.materials}
                if kind == "mechanics":
                    matrices = {p: IsotropicElastic(**v).matrix(config.physics.model)
                                for p, v in params.items()}
                else:
                    matrices = {p: Diffusivity(**v).matrix(data.mesh.geometry.dim)
                                for p, v in params.items()}
                _check_phases(config, data, matrices)
                tangent = LinearRVE(data, matrices, "vector" if kind == "mechanics" else "scalar",
                                    micro.rve.degree, micro.rve.bc).tangent
            except (ConfigError, MeshError, ValueError) as failure:
                error = f"{type(failure).__name__}: {failure}"
        error = comm.bcast(error, root=0)
        if error is not None:
            raise ConfigError(f"{config.path}: [micro] {error}")
        tangent = comm.bcast(tangent, root=0)
        if kind == "transport":
            from fe2.transport import ConcentrationDependentTransport

            return ConcentrationDependentTransport(tangent, *micro.concentration), 1
        from fe2.micro import HomogenizedModel

        return HomogenizedModel(tangent), 1
    from fe2.rve_nonlinear import NonlinearRVE

    if micro.rve.bc != "periodic":
        raise ConfigError(f"{config.path}: [micro] bc = {micro.rve.bc!r}: nonlinear RVEs use "
                          "periodic boundary conditions")
    try:
        group = split_groups(comm, config.rve_ranks) if config.rve_ranks > 1 else MPI.COMM_SELF
    except ValueError as error:
        raise ConfigError(f"{config.path}: [parallel] rve_ranks: {error}") from None
    data = load_mesh(path, group)
    laws = {phase: make_law(spec) for phase, spec in micro.materials}
    _check_phases(config, data, laws)
    model = NonlinearRVE(data, laws, model=config.physics.model, degree=micro.rve.degree,
                         rtol=micro.rtol, max_iterations=micro.max_iterations)
    return (GroupedRVE(model) if group.size > 1 else model), 0


def _check_phases(config: RunConfig, data, materials: dict) -> None:
    phases = data.domain_names()
    unknown = sorted(set(materials) - set(phases))
    needed = set(config.micro.phases or phases) if config.physics.kind == "transport" else set(
        phases)
    missing = sorted(needed - set(materials))
    if unknown or missing:
        raise ConfigError(f"[micro.materials] phases of {data.path.name} are {phases}; "
                          + (f"unknown: {unknown} " if unknown else "")
                          + (f"missing: {missing}" if missing else ""))


# --------------------------------------------------------------------------- macro problem
def build_problem(config: RunConfig, comm: MPI.Comm, model) -> MacroProblem:
    """The macro problem of the case on ``comm`` with the given micro model."""
    path = prepare_mesh(config.macro, config.path, comm)
    groups = [spec.group for spec in config.boundaries]
    data = load_mesh(path, comm, required=groups)
    physics = (PHYSICS["mechanics"](config.physics.model) if config.physics.kind == "mechanics"
               else PHYSICS["transport"]())
    gdim = data.mesh.geometry.dim
    components = physics.components(gdim)
    dirichlet, neumann = [], []
    for spec in config.boundaries:
        facets = data.facets(spec.group)
        for name, value in spec.values:
            if name not in components:
                raise ConfigError(f"{config.path}: [boundary.{spec.group}] {name}: this "
                                  f"{gdim}D problem has components {', '.join(components)}")
            index = None if physics.kind == "transport" else components.index(name)
            dirichlet.append(Dirichlet(facets, index, value))
        if spec.load is not None:
            if np.ndim(spec.load) and len(spec.load) != gdim:
                raise ConfigError(f"{config.path}: [boundary.{spec.group}] traction needs "
                                  f"{gdim} components")
            neumann.append(Neumann(facets, spec.load))
    reaction = None
    if config.reaction is not None:
        group, name = config.reaction
        index = None if physics.kind == "transport" else components.index(name)
        reaction = Reaction(data.facets(group), index)
    degree = config.macro.degree
    quadrature = config.quadrature_degree
    if quadrature is None:
        quadrature = max(1, 2 * (degree - 1)) if physics.kind == "mechanics" else 2 * degree
    problem = MacroProblem(data.mesh, physics, Dispatcher(comm, model, config.balance), degree,
                           quadrature, dirichlet, neumann, reaction, config.newton)
    problem.mesh_path = path
    return problem


# --------------------------------------------------------------------------- the run
class _StepLimit(Exception):
    """The requested number of steps of this invocation is done (``max_steps``)."""


class _Recorder:
    """Writes fields, checkpoint and summary after each converged step (collective)."""

    def __init__(self, config: RunConfig, problem: MacroProblem, out: Path, comm: MPI.Comm,
                 summary: dict[str, Any], progress: bool, max_steps: int | None) -> None:
        self.config, self.problem, self.out, self.comm = config, problem, out, comm
        self.summary, self.max_steps, self.steps_done = summary, max_steps, 0
        # A restarted run writes its own series (its mesh partition may differ).
        restarts = summary.get("restarts", 0)
        name = "fields.xdmf" if not restarts else f"fields.restart-{restarts}.xdmf"
        summary.setdefault("field_files", []).append(name)
        self.fields = FieldWriter(out / name, problem.mesh, comm)
        self.point_coords = problem.rule.coordinates()
        self.failed_attempts: list[dict] = summary.setdefault("failed_attempts", [])
        self.bar = None
        if progress and comm.rank == 0:
            from tqdm import tqdm

            self.bar = tqdm(total=config.loading.end, unit="λ", desc="fe2 run",
                            bar_format="{l_bar}{bar}| λ {n:.3g}/{total:.3g} [{elapsed}<"
                                       "{remaining}]{postfix}")
            self.bar.update(summary.get("load_factor", 0.0))
        self._step_start = time.perf_counter()

    def attempt(self, result: StepResult) -> None:
        if not result.converged:
            self.failed_attempts.append({"load_factor": result.load_factor,
                                         "message": result.message,
                                         "residuals": result.residuals})
            if self.comm.rank == 0:
                log.info("step to λ = %.4g cut: %s", result.load_factor, result.message)

    def converged(self, result: StepResult, state: SteppingState) -> None:
        start = time.perf_counter()
        problem, comm = self.problem, self.comm
        coords, values = owned_dof_values(problem.u)
        meta = {"stepping": asdict(state), "summary_steps": len(self.summary["steps"]) + 1}
        save_checkpoint(self.out / "checkpoint", comm,
                        {"u": (coords, values),
                         "states": (self.point_coords, problem.committed)}, meta)
        self.fields.write(state.load_factor, {"u": problem.u}, self.cell_fields())
        force, boundary_value = problem.reaction()
        result.times["output"] = time.perf_counter() - start
        wall = time.perf_counter() - self._step_start
        self._step_start = time.perf_counter()
        times = {k: comm.allgather(result.times.get(k, 0.0)) for k in PHASES}
        self.summary["steps"].append({
            "step": state.converged_steps, "load_factor": state.load_factor,
            "reaction": force, "boundary_value": boundary_value,
            "newton_iterations": result.iterations, "residuals": result.residuals,
            "increments": result.increments, "rve_solves": result.rve_solves,
            "micro_iterations": result.micro_iterations, "wall_time_s": wall,
            "time_s": {k: max(v) for k, v in times.items()},
            "micro_time_per_rank_s": times["micro"],  # includes waiting for the slowest
            "micro_solve_time_per_rank_s": comm.allgather(result.local_solve_time),
            "rve_solves_per_rank": comm.allgather(result.local_solves),
            "micro_iterations_per_rank": comm.allgather(result.local_micro_iterations)})
        self.summary["load_factor"] = state.load_factor
        if comm.rank == 0:
            write_json_atomic(self.out / "summary.json", self.summary)
            if self.bar is not None:
                self.bar.set_postfix_str(f"step {state.converged_steps}, "
                                         f"{result.iterations} Newton it.")
                self.bar.update(state.load_factor - self.bar.n)
        self.steps_done += 1
        if self.max_steps is not None and self.steps_done >= self.max_steps:
            raise _StepLimit

    def cell_fields(self) -> dict[str, np.ndarray]:
        problem = self.problem
        stress = problem.stress.x.array[: problem.rule.n_owned_points * problem.n_stress]
        fields = {"stress" if problem.physics.kind == "mechanics" else "flux":
                  problem.cell_average(stress.reshape(-1, problem.n_stress))}
        outputs = getattr(problem.dispatcher.model, "point_outputs", None)
        if outputs is not None:
            for name, values in outputs(problem.committed).items():
                fields[name] = problem.cell_average(np.asarray(values))
        return fields

    def close(self, completed: bool, message: str) -> None:
        self.fields.close()
        self.summary.update(status="completed" if completed else "stopped", message=message)
        self.summary["total_rve_solves"] = sum(sum(s["rve_solves"]) for s in self.summary["steps"])
        if self.comm.rank == 0:
            if self.bar is not None:
                self.bar.close()
            write_json_atomic(self.out / "summary.json", self.summary)


def run(config: RunConfig, out: Path, comm: MPI.Comm = MPI.COMM_WORLD, *,
        resume: bool = False, progress: bool = True, figures: bool = True,
        max_steps: int | None = None) -> RunOutcome:
    """Run (or, with ``resume``, continue) the FE² job of ``config`` into folder ``out``.

    ``max_steps`` ends this invocation after that many converged steps (e.g. to fit a batch
    job's time limit); ``restart`` continues from there. Returns normally also when the
    loading could not be followed to the end (the outcome says why; everything converged so
    far is written).

    Raises:
        ConfigError, MeshError: for a case that does not fit its meshes (every rank).
    """
    out = Path(out).resolve()
    setup_start = time.perf_counter()
    model, homogenizations = build_micro_model(config, comm)
    problem = build_problem(config, comm, model)
    summary = _new_summary(config, comm, problem, homogenizations)
    state = SteppingState(step=config.loading.initial_step)
    if resume:
        summary, state = _resume(config, out, comm, problem)
    elif comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    summary["setup_time_s"] = time.perf_counter() - setup_start
    recorder = _Recorder(config, problem, out, comm, summary, progress, max_steps)
    completed, message = True, "completed"
    try:
        run_load_steps(problem, config.loading, state, recorder.converged, recorder.attempt)
    except SteppingFailed as failure:
        completed, message = False, str(failure)
    except _StepLimit:
        completed = state.load_factor >= config.loading.end * (1 - 1e-12)
        message = "completed" if completed else (
            f"paused after {max_steps} step(s) at λ = {state.load_factor:.6g} (max_steps); "
            f"continue with: fe2 run --restart {out}")
    recorder.close(completed, message)
    if figures and summary["steps"]:
        _figures(config, problem, recorder, out)
    if comm.rank == 0 and progress:
        print(timing_table(summary, comm.size))
    return RunOutcome(completed, message, out, summary, problem)


def restart(out: Path, comm: MPI.Comm = MPI.COMM_WORLD, **options) -> RunOutcome:
    """Continue the interrupted run in ``out`` from its last converged step."""
    out = Path(out).resolve()
    meta = None
    if comm.rank == 0:
        summary_file = out / "summary.json"
        meta = str(summary_file) if summary_file.is_file() else None
    meta = comm.bcast(meta, root=0)
    if meta is None:
        raise ConfigError(f"{out}: no summary.json: not the output folder of an fe2 run")
    import json

    config_path = Path(json.loads(Path(meta).read_text())["config"])
    return run(load_run_config(config_path), out, comm, resume=True, **options)


def _config_hash(config: RunConfig) -> str:
    return hashlib.sha256(config.path.read_bytes()).hexdigest()[:16]


def _new_summary(config, comm, problem: MacroProblem, homogenizations: int) -> dict[str, Any]:
    model = problem.dispatcher.model
    return {
        "config": str(config.path), "config_sha256": _config_hash(config),
        "description": config.description, "ranks": comm.size,
        "macro_mesh": str(problem.mesh_path),
        "macro_dofs": problem.V.dofmap.index_map.size_global * problem.V.dofmap.index_map_bs,
        "quadrature_points": comm.allreduce(problem.rule.n_owned_points),
        "micro": {"linear": bool(model.is_linear), "homogenizations": homogenizations,
                  "state_bytes_per_point": 8 * model.state_size,
                  "rve_dofs": int(getattr(model, "ndofs", 0)),
                  "rve_ranks": config.rve_ranks},
        "reaction": list(config.reaction) if config.reaction else None,
        "status": "running", "steps": [], "load_factor": 0.0}


def _resume(config, out: Path, comm, problem: MacroProblem) -> tuple[dict, SteppingState]:
    import json

    meta = load_meta(out / "checkpoint", comm)
    summary = None
    if comm.rank == 0:
        summary = json.loads((out / "summary.json").read_text())
    summary = comm.bcast(summary, root=0)
    if summary.get("config_sha256") != _config_hash(config):
        raise ConfigError(f"{config.path} changed since the run in {out} started; restart "
                          "needs the same case")
    coords, _ = owned_dof_values(problem.u)
    values = load_checkpoint(out / "checkpoint", comm, "u", coords)
    states = load_checkpoint(out / "checkpoint", comm, "states", problem.rule.coordinates())
    problem.restore(values, states)
    summary["steps"] = summary["steps"][: meta["summary_steps"]]
    summary["restarts"] = summary.get("restarts", 0) + 1
    return summary, SteppingState(**meta["stepping"])


def _figures(config: RunConfig, problem: MacroProblem, recorder: _Recorder, out: Path) -> None:
    from fe2.plot import plot_load_curve, plot_macro_field

    fields = recorder.cell_fields()
    name = next((n for n in fields if n not in ("stress", "flux")), None)
    if name is None:
        name = "stress" if "stress" in fields else "flux"
        values = np.linalg.norm(fields[name], axis=1)
        title = f"|{name}| (cell average)"
    else:
        values = fields[name].reshape(len(fields[name]), -1)[:, 0]
        title = f"{name.replace('_', ' ')} (cell average)"
    mechanics = config.physics.kind == "mechanics"
    plot_macro_field(problem.mesh, values, problem.u if mechanics else None,
                     out / "field.png", title, scale=_display_scale(problem) if mechanics else 0)
    if recorder.comm.rank == 0 and config.reaction is not None:
        group, component = config.reaction
        points = [{"load_factor": 0.0, "reaction": 0.0}] + [
            {"load_factor": s["boundary_value"], "reaction": s["reaction"]}
            for s in recorder.summary["steps"]]
        plot_load_curve(points, out / "load_curve.png",
                        xlabel=f"mean {component} on {group}",
                        ylabel=f"reaction on {group} ({component})")


def _display_scale(problem: MacroProblem) -> float:
    """Displacement magnification so the largest displacement shows as 5 % of the size."""
    x = problem.mesh.geometry.x
    size = problem.comm.allreduce(float(np.ptp(x, axis=0).max()) if len(x) else 0.0, op=MPI.MAX)
    peak = problem.comm.allreduce(float(np.abs(problem.u.x.array).max(initial=0.0)),
                                  op=MPI.MAX)
    return 0.05 * size / peak if peak > 0 else 0.0


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
