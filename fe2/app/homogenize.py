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

__all__ = ["HomogenizationResult", "homogenize", "mechanics_constants",
           "transport_constants", "anisotropy", "format_result", "notation"]

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
}


@dataclass(frozen=True)
class HomogenizationResult:
    """The outcome of one case. ``tensor`` is in the unit of E (mechanics) or D (transport)."""

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


def notation(kind: str, gdim: int) -> str:
    """How the vectors behind the tensor are ordered and scaled."""
    if kind == "transport":
        return "gradient [" + ", ".join("xyz"[:gdim]) + "]"
    return ("Mandel [11, 22, sqrt2*12]" if gdim == 2
            else "Mandel [11, 22, 33, sqrt2*23, sqrt2*13, sqrt2*12]")


# --------------------------------------------------------------------------- engineering
def anisotropy(tensor: np.ndarray, kind: str) -> float:
    """Relative Frobenius distance of ``tensor`` from its projection onto isotropic tensors.

    Mechanics (Mandel, in-plane for 2D): C_iso = (C:J) J + (C:K / tr K) K with the
    spherical and deviatoric projectors J, K; transport: D_iso = tr(D)/d · I.
    """
    tensor = np.asarray(tensor, dtype=float)
    n = tensor.shape[0]
    if kind == "transport":
        iso = np.trace(tensor) / n * np.eye(n)
    else:
        d = 3 if n == 6 else 2
        m = np.r_[np.ones(d), np.zeros(n - d)]
        J = np.outer(m, m) / d
        K = np.eye(n) - J
        iso = np.sum(tensor * J) * J + np.sum(tensor * K) / np.trace(K) * K
    return float(np.linalg.norm(tensor - iso) / np.linalg.norm(tensor))


def mechanics_constants(C: np.ndarray, model: str) -> dict[str, float]:
    """Engineering constants of an effective stiffness in Mandel notation (units of C).

    2D: the isotropic material with the same in-plane C11 (mean of C11, C22) and C12:
    plane strain gives the 3D E, ν with λ + 2μ = C11, λ = C12; plane stress E, ν with
    C11 = E/(1-ν²), C12 = νC11. ``mu`` = C33/2 (the shear entry, Mandel). 3D: from the
    compliance S = C⁻¹, E_i = 1/S_ii, ν_ij = -S_ij/S_ii, μ_23 = C44/2 ...; E, ν, μ are their
    means. ``anisotropy`` tells how far C is from isotropic (then E, ν are indicative only).
    """
    C = np.asarray(C, dtype=float)
    if C.shape == (3, 3):
        c11, c12 = 0.5 * (C[0, 0] + C[1, 1]), C[0, 1]
        if model == "plane_strain":
            nu = c12 / (c11 + c12)
            E = (c11 - c12) * (c11 + 2 * c12) / (c11 + c12)
        elif model == "plane_stress":
            nu = c12 / c11
            E = c11 * (1 - nu**2)
        else:
            raise ValueError(f"a 3x3 stiffness needs a 2D model, got {model!r}")
        return {"E": E, "nu": nu, "mu": C[2, 2] / 2, "anisotropy": anisotropy(C, "mechanics")}
    if C.shape != (6, 6):
        raise ValueError(f"expected a 3x3 or 6x6 Mandel stiffness, got shape {C.shape}")
    S = np.linalg.inv(C)
    out = {f"E_{i + 1}": 1 / S[i, i] for i in range(3)}
    out |= {f"nu_{i + 1}{j + 1}": -S[i, j] / S[i, i] for i, j in ((0, 1), (0, 2), (1, 2))}
    out |= {f"mu_{name}": C[k, k] / 2 for k, name in ((3, "23"), (4, "13"), (5, "12"))}
    out["E"] = float(np.mean([out[f"E_{i}"] for i in (1, 2, 3)]))
    out["nu"] = float(np.mean([out[k] for k in ("nu_12", "nu_13", "nu_23")]))
    out["mu"] = float(np.mean([out[k] for k in ("mu_23", "mu_13", "mu_12")]))
    out["anisotropy"] = anisotropy(C, "mechanics")
    return {k: float(v) for k, v in out.items()}


def transport_constants(D_eff: np.ndarray, porosity: float, D: float) -> dict[str, Any]:
    """Porosity ε, D_eff diagonal, tortuosity τ_i = ε D / D_eff_ii, MacMullin D / D_eff_ii and
    the Bruggeman exponent α_i (D_eff_ii / D = ε^α_i) per direction; units of D."""
    diagonal = np.diag(np.asarray(D_eff, dtype=float))
    relative = diagonal / D
    bruggeman = ([float(np.log(r) / np.log(porosity)) for r in relative]
                 if 0 < porosity < 1 and np.all(relative > 0) else None)
    return {
        "porosity": float(porosity), "D": float(D), "D_eff": diagonal.tolist(),
        "relative_D_eff": relative.tolist(), "tortuosity": (porosity / relative).tolist(),
        "macmullin": (1 / relative).tolist(), "bruggeman_exponent": bruggeman,
        "anisotropy": anisotropy(D_eff, "transport"),
    }


# --------------------------------------------------------------------------- running
def homogenize(config: Config, comm: MPI.Comm = MPI.COMM_WORLD) -> HomogenizationResult:
    """Run the case: mesh (rank 0), load and solve the RVE on ``MPI.COMM_SELF`` on every rank.

    Raises:
        ConfigError: if the case does not fit the mesh (phases, materials, dimension).
        MeshError: if meshing fails, the mesh is unreadable, or a periodic BC meets a
            non-periodic mesh.
    """
    from fe2.io.mesh import load_mesh
    from fe2.io.meshing import prepare_mesh
    from fe2.rve.linear import LinearRVE

    timings = {}
    start = time.perf_counter()
    path = prepare_mesh(config.rve, config.path, comm)
    timings["mesh"] = time.perf_counter() - start
    start = time.perf_counter()
    data = load_mesh(path, MPI.COMM_SELF)
    timings["load"] = time.perf_counter() - start
    active = config.check_mesh(data.domain_names(), data.tdim)
    gdim = data.mesh.geometry.dim
    kind = config.physics.kind
    matrices = config.material_matrices(gdim)
    rve = LinearRVE(data, {p: matrices[p] for p in active},
                    field="vector" if kind == "mechanics" else "scalar",
                    degree=config.rve.degree, bc=config.rve.bc)
    timings["setup"], timings["solve"] = rve.setup_time, rve.solve_time
    fractions = rve.volume_fractions
    notes = []
    if kind == "mechanics":
        engineering = mechanics_constants(rve.tangent, config.physics.model)
        if engineering["anisotropy"] > 0.01:
            notes.append(f"the effective stiffness is anisotropic (anisotropy "
                         f"{engineering['anisotropy']:.3f}): E, nu, mu are isotropic-equivalent "
                         "summaries only; use the tensor")
    else:
        porosity = sum(fractions[p] for p in active)
        diffusivities = {name: m.D for name, m in config.materials}
        D = sum(fractions[p] * diffusivities[p] for p in active) / porosity
        if len({diffusivities[p] for p in active}) > 1:
            notes.append(f"the conducting phases have different D; tortuosity is relative to "
                         f"their volume-weighted mean D = {D:.6g}")
        engineering = transport_constants(rve.tangent, porosity, D)
    return HomogenizationResult(
        config=config.path, mesh=path, kind=kind, model=config.physics.model, bc=config.rve.bc,
        degree=config.rve.degree, tensor=np.array(rve.tangent), notation=notation(kind, gdim),
        volume_fractions=fractions, ndofs=int(rve.ndofs),
        time_s=float(rve.setup_time + rve.solve_time),
        timings_s={k: float(v) for k, v in timings.items()},
        engineering=engineering, notes=tuple(notes), rve=rve, data=data)


# --------------------------------------------------------------------------- printing
def _number(value: float) -> str:
    return f"{value:.6g}"


def format_result(result: HomogenizationResult) -> str:
    """A readable report: case, effective tensor with its notation, engineering constants."""
    fractions = ", ".join(f"{k} {v:.4f}" for k, v in result.volume_fractions.items())
    what = (f"mechanics, {result.model}" if result.kind == "mechanics" else "transport")
    lines = [
        f"case      {result.config}",
        f"mesh      {result.mesh}",
        f"phases    {fractions} (volume fractions)",
        f"problem   {what}; P{result.degree} fluctuations, {result.bc} BC; {result.ndofs} dofs; "
        f"{result.time_s:.2f} s",
        "",
        f"effective {'stiffness' if result.kind == 'mechanics' else 'diffusivity'} "
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
        text = (", ".join(_number(v) for v in value) if isinstance(value, list)
                else _number(value))
        lines.append(f"  {key:<20} {text:<34} {LABELS.get(key, '')}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)
