"""Linear thermoelasticity, single scale: displacement u [m] and temperature T [K].

    ∫ σ(u, T) : ε(v) dx − λ ∫ t · v ds = 0,    σ = λ_L tr(ε) I + 2μ ε − 3K α (T − T_ref) I
    ∫ ρc (T − T_prev)/Δt q dx + ∫ k ∇T · ∇q dx − λ ∫ q_n q ds = 0

with 3K = 3λ_L + 2μ (plane strain: ε_zz = 0, so the in-plane stress carries the full 3K α ΔT).
The temperature drives the displacement (one-way coupling); both fields are solved together
(``[solver] type = "newton"``) or in turn (``type = "staggered"``, ``groups = [["T"], ["u"]]``).
Tables::

    [physics]  kind = "thermoelasticity", model = "plane_strain" | "3d"
    [material] E [Pa], nu, alpha [1/K], k [W/(m K)], T_ref [K] (0), heat_capacity ρc [J/(m³ K)]
               (0: steady heat conduction)
    [boundary.<group>] ux, uy, uz, T, traction = [...], heat_flux
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fe2.core.definition import Field, MicroCoupling
from fe2.core.errors import ConfigError
from fe2.laws.materials import IsotropicElastic, lame

__all__ = ["DEFINITION", "ThermalMaterial", "Thermoelasticity"]

MODELS = ("plane_strain", "3d")
_KEYS = ("E", "nu", "alpha", "k", "T_ref", "heat_capacity")


@dataclass(frozen=True)
class ThermalMaterial:
    """Isotropic thermoelastic material (units as in the module docstring)."""

    E: float
    nu: float
    alpha: float
    k: float
    T_ref: float = 0.0
    heat_capacity: float = 0.0

    def __post_init__(self) -> None:
        IsotropicElastic(self.E, self.nu)  # checks E and nu
        if not self.k > 0:
            raise ValueError(f"k = {self.k}: the conductivity must be positive")
        if self.heat_capacity < 0:
            raise ValueError(f"heat_capacity = {self.heat_capacity}: must be at least 0")


class Thermoelasticity:
    """The thermoelasticity definition (see module docstring)."""

    kind: ClassVar[str] = "thermoelasticity"
    tables: ClassVar[tuple[str, ...]] = ("material",)
    fluxes: ClassVar[dict[str, str]] = {"traction": "u", "heat_flux": "T"}

    def __init__(self, case, model: str, material: ThermalMaterial) -> None:
        self.case, self.model, self.material = case, model, material

    @classmethod
    def from_case(cls, case) -> Thermoelasticity:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", ("kind", "model"), required=("model",))
        model = reader.string(physics, "physics", "model", MODELS)
        material = reader.numbers(case.raw, "material", ThermalMaterial, _KEYS,
                                  ("E", "nu", "alpha", "k"))
        if material.heat_capacity > 0 and case.stepping.variable != "time":
            raise reader.fail("material", "heat_capacity > 0 is transient: give a [time] table")
        return cls(case, model, material)

    def check_mesh(self, mesh_data) -> None:
        gdim = mesh_data.mesh.geometry.dim
        if (gdim == 3) != (self.model == "3d"):
            raise ConfigError(f"{self.case.path}: [physics] model = {self.model!r} does not fit "
                              f"the {gdim}D macro mesh {mesh_data.path.name}")

    def fields(self, gdim: int) -> tuple[Field, ...]:
        degree = self.case.degree
        return (Field("u", True, ("ux", "uy", "uz"), degree, label="displacement [m]"),
                Field("T", False, ("T",), degree, label="temperature [K]"))

    def quadrature_degree(self, degree: int) -> int:
        return 2 * degree

    def couplings(self, comm, mesh_data) -> list[MicroCoupling]:
        return []

    def stress(self, u, T):
        """σ(u, T) as a UFL tensor [Pa]."""
        import ufl

        m = self.material
        lam, mu = lame(m.E, m.nu)
        eps = ufl.sym(ufl.grad(u))
        identity = ufl.Identity(len(u))
        return (lam * ufl.tr(eps) * identity + 2 * mu * eps
                - (3 * lam + 2 * mu) * m.alpha * (T - m.T_ref) * identity)

    def residual(self, weak):
        import ufl

        u, T = weak.fields["u"], weak.fields["T"]
        v, q = weak.tests["u"], weak.tests["T"]
        m = self.material
        form = ufl.inner(self.stress(u, T), ufl.sym(ufl.grad(v))) * weak.dx
        form += m.k * ufl.dot(ufl.grad(T), ufl.grad(q)) * weak.dx
        if m.heat_capacity > 0:
            form += m.heat_capacity * (T - weak.previous["T"]) / weak.dt * q * weak.dx
        return form

    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        import ufl

        u, T = problem.fields_ufl["u"], problem.fields_ufl["T"]
        sigma = self.stress(u, T)
        gdim = problem.mesh.geometry.dim
        components = ufl.as_vector([sigma[i, j] for i in range(gdim) for j in range(gdim)])
        values = problem.point_values("", "", components)
        return {"stress": problem.cell_average(values).reshape(-1, gdim, gdim)}


DEFINITION = Thermoelasticity
