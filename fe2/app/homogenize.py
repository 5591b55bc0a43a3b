"""Run a homogenization case: mesh if needed, solve the linear RVE, derive engineering constants.

Every rank solves the same RVE on ``MPI.COMM_SELF`` (a case is one small cell problem); only
rank 0 of the given communicator meshes a ``.geo``, and every rank learns the outcome before
anyone raises. Units are those of the config: stiffness in the unit of E, diffusivity in the
unit of D.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from fe2.app.case import Config

__all__ = ["HomogenizationResult", "format_result", "homogenize"]

# Name, meaning of each engineering constant, for the printed table.
LABELS = {
    "E": "Young's modulus (isotropic equivalent)",
    "nu": "Poisson's ratio (isotropic equivalent)",
    "mu": "shear modulus",
    "E_1": "Young's modulus along x", "E_2": "Young's modulus along y",
    "E_3": "Young's modulus along z",
    "nu_12": "Poisson's ratio -S12/S11", "nu_13": "Poisson's ratio -S13/S11",
    "nu_23": "Poisson's ratio -S23/S22",
    "mu_23": "shear modulus C44/2", "mu_13": "shear modulus C55/2", "mu_12": "shear modulus C66/2",
    "anisotropy": "|C - C_iso| / |C| (0: isotropic)",
    "porosity": "volume fraction of the conducting phases",
    "D": "phase diffusivity used for tau",
    "D_eff": "effective diffusivity, diagonal",
    "relative_D_eff": "D_eff / D, diagonal",
    "tortuosity": "tau = porosity * D / D_eff",
    "macmullin": "MacMullin number D / D_eff",
    "bruggeman_exponent": "alpha in D_eff / D = porosity^alpha",
    "kappa": "phase conductivity (unit of kappa)",
    "kappa_eff": "effective conductivity kappa D_eff / D, diagonal",
}


@dataclass(frozen=True)
class HomogenizationResult:
    """The outcome of one case; ``tensor`` in the unit of the case's materials (E for a
    stiffness, D for a diffusivity)."""

    config: Path
    mesh: Path
    kind: str
    model: str | None
    bc: str
    degree: int
    tensor: np.ndarray
    notation: str
    volume_fractions: dict[str, float]
    ndofs: int
    time_s: float
    timings_s: dict[str, float]
    engineering: dict[str, Any]
    notes: tuple[str, ...] = ()
    description: str = ""  # e.g. "mechanics, plane_strain"
    tensor_name: str = "tensor"  # "stiffness", "diffusivity"
    answer_name: str = "stress"  # what tensor · strain is: "stress", "flux"
    rve: Any = field(default=None, repr=False, compare=False)  # fe2.rve.linear.LinearRVE
    data: Any = field(default=None, repr=False, compare=False)  # fe2.io.mesh.MeshData (all phases)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the record written by ``fe2 homogenize --json``)."""
        return {
            "config": str(self.config), "mesh": str(self.mesh), "physics": self.kind,
            "model": self.model, "bc": self.bc, "degree": self.degree,
            "tensor": self.tensor.tolist(), "notation": self.notation,
            "volume_fractions": self.volume_fractions, "ndofs": self.ndofs,
            "time_s": self.time_s, "timings_s": self.timings_s,
            "engineering": self.engineering, "notes": list(self.notes),
        }

    def write_json(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


# --------------------------------------------------------------------------- running
def homogenize(config: Config, comm: MPI.Comm) -> HomogenizationResult:
    """Run the case: mesh (rank 0), load and solve the RVE on ``MPI.COMM_SELF`` on every rank.

    Raises:
        ConfigError, MeshError: on every rank.
    """
    from fe2.io.mesh import load_mesh
    from fe2.io.meshing import prepare_mesh
    from fe2.rve.linear import LinearRVE

    timings = {}
    start = time.perf_counter()
    path = prepare_mesh(config.rve, config.path, comm)
    timings["mesh"] = time.perf_counter() - start
    start = time.perf_counter()
    data = load_mesh(path, MPI.COMM_SELF, names=config.rve.groups)
    timings["load"] = time.perf_counter() - start
    active = config.check_mesh(data.domain_names(), data.tdim)
    gdim = data.mesh.geometry.dim
    cell = config.cell
    inspect = getattr(cell, "inspect", None)  # facts of the mesh a cell checks before solving
    facts = inspect(data, active, config.rve.bc) if inspect is not None else {}
    matrices = cell.matrices(config.materials, config.options, gdim)
    rve = LinearRVE(data, {p: matrices[p] for p in active}, field=cell.field,
                    degree=config.rve.degree, bc=config.rve.bc)
    timings["setup"], timings["solve"] = rve.setup_time, rve.solve_time
    fractions = rve.volume_fractions
    engineering, notes = cell.constants(rve.tangent, fractions, config.materials, active,
                                        {**config.options, **facts})
    return HomogenizationResult(
        config=config.path, mesh=path, kind=config.kind, model=config.options.get("model"),
        bc=config.rve.bc, degree=config.rve.degree, tensor=np.array(rve.tangent),
        notation=cell.notation(gdim), volume_fractions=fractions, ndofs=int(rve.ndofs),
        time_s=float(rve.setup_time + rve.solve_time),
        timings_s={k: float(v) for k, v in timings.items()},
        engineering=engineering, notes=tuple(notes), description=cell.describe(config.options),
        tensor_name=cell.tensor, answer_name=cell.answer, rve=rve, data=data)


# --------------------------------------------------------------------------- printing
def _number(value: float) -> str:
    return f"{value:.6g}"


def format_result(result: HomogenizationResult) -> str:
    """A readable report: case, effective tensor with its notation, engineering constants."""
    fractions = ", ".join(f"{k} {v:.4f}" for k, v in result.volume_fractions.items())
    lines = [
        f"case      {result.config}",
        f"mesh      {result.mesh}",
        f"phases    {fractions} (volume fractions)",
        f"problem   {result.description}; P{result.degree} fluctuations, {result.bc} BC; "
        f"{result.ndofs} dofs; {result.time_s:.2f} s",
        "",
        f"effective {result.tensor_name} "
        f"({result.notation}):",
    ]
    scale = np.abs(result.tensor).max()
    for row in result.tensor:
        lines.append("  " + "".join(
            f"{(0.0 if abs(v) < 1e-12 * scale else v):>14.6g}" for v in row))
    lines += ["", "engineering constants:"]
    for key, value in result.engineering.items():
        if value is None:
            continue
        text = (", ".join("infinite" if v is None else _number(v) for v in value)
                if isinstance(value, list) else _number(value))
        lines.append(f"  {key:<20} {text:<34} {LABELS.get(key, '')}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)
