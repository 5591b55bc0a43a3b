"""The pictures at the end of a run: ``field.png`` (a cell output on the mesh, warped by the
displacement when the first field is a vector field) and ``load_curve.png`` (reaction against
the mean prescribed value, or against time for a transient run). Collective: a picture that
cannot be written is a ValueError or OSError on every rank; ranks that own no cells take part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from fe2.core.collective import on_root
from fe2.core.problem import Problem
from fe2.io.plot import plot_load_curve, plot_macro_field

__all__ = ["draw_figures"]


def draw_figures(config, problem: Problem, out: Path, summary: dict[str, Any]) -> None:
    """field.png: the last cell output (a micro model's own output when it has one, e.g. the
    equivalent plastic strain; a vector or tensor output as its norm); load_curve.png."""
    comm = problem.comm
    outputs = problem.definition.cell_outputs(problem)
    # A rank that owns no cells may know fewer outputs and no value width: rank 0 chooses.
    name = comm.bcast(list(outputs)[-1] if outputs else None, root=0)
    if name is not None:
        values = np.asarray(outputs.get(name, np.zeros(0)), dtype=float)
        width = comm.allreduce(values.size // len(values) if len(values) else 0, op=MPI.MAX)
        values = values.reshape(len(values), max(width, 1))
        if values.shape[1] == 1:
            values, title = values[:, 0], f"{name.replace('_', ' ')} (cell average)"
        else:
            values, title = np.linalg.norm(values, axis=1), f"|{name}| (cell average)"
        first = problem.fields[0]
        # A 1D mesh is drawn undeformed (its one-component vector collapses to a scalar).
        warped = first.vector and problem.mesh.geometry.dim > 1
        displacement = problem.field_function(first.name) if warped else None
        scale = _display_scale(problem, displacement) if displacement is not None else 0.0
        plot_macro_field(problem.mesh, values, displacement, out / "field.png", title,
                         scale=scale)
    if config.reaction is not None:
        group, component = config.reaction
        transient = config.stepping.variable == "time"
        points = [{"load_factor": 0.0, "reaction": 0.0}] + [
            {"load_factor": s["t"] if transient else s["boundary_value"],
             "reaction": s["reaction"]} for s in summary["steps"]]
        on_root(comm, lambda: plot_load_curve(
            points, out / "load_curve.png",
            xlabel="time [s]" if transient else f"mean {component} on {group}",
            ylabel=f"reaction on {group} ({component})"))


def _display_scale(problem: Problem, displacement) -> float:
    """Displacement magnification so the largest displacement shows as 5 % of the size."""
    x = problem.mesh.geometry.x
    comm = problem.comm
    size = comm.allreduce(float(np.ptp(x, axis=0).max()) if len(x) else 0.0, op=MPI.MAX)
    peak = comm.allreduce(float(np.abs(displacement.x.array).max(initial=0.0)), op=MPI.MAX)
    return 0.05 * size / peak if peak > 0 else 0.0
