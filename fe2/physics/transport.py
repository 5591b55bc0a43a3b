"""Transport (diffusion, conduction) of a concentration c [mol/m³ or any unit], steady or
transient:

    ∫ φ (c − c_prev)/Δt v dx + ∫ q · ∇v dx − λ ∫ q_in v ds = 0,   q = D_eff(c) ∇c

with the storage coefficient φ (``[physics] storage``, e.g. the porosity; 0: steady). The flux
q comes from an RVE at every quadrature point (``[micro]``: generalized strain (∇c, c),
answer q with the tangent [∂q/∂∇c | ∂q/∂c]) or, where no RVE is given, from the closed-form
isotropic ``[material] D``. Tables::

    [physics]  kind = "transport", storage = φ (default 0)
    [material] D                                    (closed-form law outside the micro regions)
    [micro]    mesh, degree, bc, region, phases = [conducting phases],
               [micro.materials.<phase>] D, [micro.concentration] law, beta
    [boundary.<group>] c, flux

The pore-space cell problem is linear (fe2.rve.linear.LinearRVE gives D_hom once); with
``[micro.concentration]`` every phase diffusivity scales with one factor f(c), so

    q = f(c) D_hom ∇c,    ∂q/∂∇c = f(c) D_hom,    ∂q/∂c = f'(c) D_hom ∇c.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from fe2.core.definition import Field, MicroCoupling
from fe2.laws.materials import Diffusivity
from fe2.rve.factory import (
    MicroSpec,
    check_closed_form,
    check_materials,
    check_phases,
    homogenized_tangent,
    read_micro,
)

__all__ = ["CELL", "DEFINITION", "ConcentrationDependentTransport", "Transport", "TransportCell",
           "diffusivity_anisotropy", "scaling", "transport_constants"]

CONCENTRATION_LAWS = ("constant", "linear", "exponential")


def scaling(law: str, beta: float, c: float) -> tuple[float, float]:
    """f(c) and f'(c): "constant" 1, "linear" 1 + βc, "exponential" exp(βc); β in 1/[c]."""
    if law == "constant":
        return 1.0, 0.0
    if law == "linear":
        return 1.0 + beta * c, beta
    if law == "exponential":
        value = float(np.exp(beta * c))
        return value, beta * value
    raise ValueError(f"unknown concentration law {law!r}")


class ConcentrationDependentTransport:
    """Micro model q = f(c) D_hom ∇c (see module docstring); stateless."""

    state_size = 0
    iterations = 0

    def __init__(self, D_hom: NDArray, law: str, beta: float) -> None:
        self.D_hom = np.array(D_hom, dtype=float)
        self.law, self.beta = law, beta
        self.n_stress = len(self.D_hom)
        self.n_strain = self.n_stress + 1
        self.is_linear = law == "constant"
        self.tangent = np.hstack([self.D_hom, np.zeros((self.n_stress, 1))])

    def initial_state(self) -> NDArray:
        return np.zeros(0)

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        gradient, c = strain[:-1], strain[-1]
        f, df = scaling(self.law, self.beta, c)
        flux = self.D_hom @ gradient
        return f * flux, np.hstack([f * self.D_hom, df * flux[:, None]]), state


def _read_diffusivity(reader, values: Any, section: str) -> float:
    if not isinstance(values, dict):
        raise reader.fail(section, f"must be a table, got {values!r}")
    reader.keys(values, section, ("D",), required=("D",))
    D = reader.number(values, section, "D", 0.0)
    if not D > 0:
        raise reader.fail(section, f"D = {D}: must be positive")
    return D


def _read_options(reader, table: dict[str, Any], section: str) -> dict[str, Any]:
    phases = reader.strings(table, section, "phases", "phase names")
    phases = tuple(phases) if phases is not None else None
    concentration = ("constant", 0.0)
    if "concentration" in table:
        conc = reader.table(table, section, "concentration")
        where = f"{section}.concentration"
        reader.keys(conc, where, ("law", "beta"), required=("law",))
        concentration = (reader.string(conc, where, "law", CONCENTRATION_LAWS),
                         reader.number(conc, where, "beta", 0.0))
    return {"phases": phases, "concentration": concentration}


class Transport:
    """The transport definition (see module docstring)."""

    kind: ClassVar[str] = "transport"
    tables: ClassVar[tuple[str, ...]] = ("micro", "material")
    fluxes: ClassVar[dict[str, str]] = {"flux": "c"}

    def __init__(self, case, storage: float, micro: list[MicroSpec], D: float | None) -> None:
        self.case, self.storage, self.micro, self.D = case, storage, micro, D

    @classmethod
    def from_case(cls, case) -> Transport:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", ("kind", "storage"))
        storage = reader.number(physics, "physics", "storage", 0.0)
        if storage < 0:
            raise reader.fail("physics", f"storage = {storage}: must be at least 0")
        if storage > 0 and case.stepping.variable != "time":
            raise reader.fail("physics", "storage > 0 is a transient problem: give a [time] "
                                         "table instead of [loading]")
        micro = read_micro(reader, case.raw,
                           lambda values, section: _read_diffusivity(reader, values, section),
                           lambda table, section: _read_options(reader, table, section),
                           ("phases", "concentration"))
        D = None
        if "material" in case.raw:
            table = reader.table(case.raw, "", "material")
            D = _read_diffusivity(reader, table, "material")
        check_closed_form(reader, micro, D is not None, "transport", "D")
        return cls(case, storage, micro, D)

    def check_mesh(self, mesh_data) -> None:
        """Any dimension."""

    def fields(self, gdim: int) -> tuple[Field, ...]:
        return (Field("c", False, ("c",), self.case.degree, label="concentration"),)

    def quadrature_degree(self, degree: int) -> int:
        return 2 * degree

    def couplings(self, comm, mesh_data) -> list[MicroCoupling]:
        if not self.micro:
            return []
        import ufl

        models = {}
        for spec in self.micro:
            if spec.region is not None:
                mesh_data.group(spec.region, mesh_data.tdim)
            D_hom = homogenized_tangent(spec, self.case.path, comm, self._cell_problem(spec))
            models[spec.region] = ConcentrationDependentTransport(
                D_hom, *spec.option("concentration"))
        gdim = mesh_data.mesh.geometry.dim
        return [MicroCoupling(
            "rve", lambda fields: {"gradient": ufl.grad(fields["c"]), "c": fields["c"]},
            {"flux": (gdim,)}, models, len(self.micro))]

    @staticmethod
    def _cell_problem(spec: MicroSpec):
        def tangent(data):
            from fe2.rve.linear import LinearRVE
            from fe2.rve.percolation import check_percolation

            phases = spec.option("phases") or data.domain_names()
            check_phases(spec, data, phases)
            check_percolation(data, list(phases), periodic=spec.rve.bc == "periodic")
            gdim = data.mesh.geometry.dim
            matrices = {phase: Diffusivity(D).matrix(gdim) for phase, D in spec.materials}
            return LinearRVE(data, matrices, "scalar", spec.rve.degree, spec.rve.bc).tangent
        return tangent

    def _closed_form_flux(self, c):
        import ufl

        return self.D * ufl.grad(c)

    def residual(self, weak):
        import ufl

        c, v = weak.fields["c"], weak.tests["c"]
        form = 0
        if "rve" in weak.micro:
            form += ufl.dot(weak.micro["rve"]["flux"], ufl.grad(v)) * weak.dx
        if self.D is not None:
            form += ufl.dot(self._closed_form_flux(c), ufl.grad(v)) * weak.dx_outside
        if self.storage > 0:
            form += self.storage * (c - weak.previous["c"]) / weak.dt * v * weak.dx
        return form

    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        flux = problem.point_values("rve", "flux", self._closed_form_flux(
            problem.fields_ufl["c"]) if self.D is not None else None)
        return {"flux": problem.cell_average(flux)}

    def near_nullspace(self, V):
        """None: the constant, the near-nullspace of a scalar problem, is multigrid's default."""
        return None


# --------------------------------------------------------------------------- fe2 homogenize
def diffusivity_anisotropy(D: np.ndarray) -> float:
    """Relative Frobenius distance of a diffusivity tensor from tr(D)/d · I."""
    D = np.asarray(D, dtype=float)
    iso = np.trace(D) / D.shape[0] * np.eye(D.shape[0])
    return float(np.linalg.norm(D - iso) / np.linalg.norm(D))


def transport_constants(D_eff: np.ndarray, porosity: float, D: float,
                        percolates: tuple[bool, ...] | None = None) -> dict[str, Any]:
    """Porosity ε, D_eff diagonal, tortuosity τ_i = ε D / D_eff_ii, MacMullin D / D_eff_ii and
    the Bruggeman exponent α_i (D_eff_ii / D = ε^α_i) per direction; units of D.

    ``percolates`` (per direction, fe2.rve.percolation): along a direction in which the
    conducting phase does not percolate D_eff_ii is 0 and τ_i, the MacMullin number and α_i
    are infinite: they are None, not a number made of round-off."""
    diagonal = np.diag(np.asarray(D_eff, dtype=float)).copy()
    blocked = np.zeros(len(diagonal), dtype=bool) if percolates is None else ~np.array(percolates)
    diagonal[blocked] = 0.0
    relative = diagonal / D

    def per_direction(values) -> list[float | None]:
        return [None if b else float(v) for v, b in zip(values, blocked, strict=True)]

    with np.errstate(divide="ignore", invalid="ignore"):
        bruggeman = (per_direction(np.log(relative) / np.log(porosity))
                     if 0 < porosity < 1 - 1e-12 and np.all(relative[~blocked] > 0) else None)
        return {
            "porosity": float(porosity), "D": float(D), "D_eff": diagonal.tolist(),
            "relative_D_eff": relative.tolist(),
            "tortuosity": per_direction(porosity / relative),
            "macmullin": per_direction(1 / relative), "bruggeman_exponent": bruggeman,
            "anisotropy": diffusivity_anisotropy(D_eff),
        }


class TransportCell:
    """The linear cell problem of transport for ``fe2 homogenize``: ``[physics] phases`` (the
    conducting phases; default all), optional ``[physics] kappa`` (the electrolyte
    conductivity [S/m]: κ_eff = κ D_eff/D is reported too) and ``[materials.<phase>] D``.
    Phases left out do not conduct: they are cut out of the problem but count in the cell
    volume."""

    field = "scalar"
    material_keys = ("D",)
    tensor = "diffusivity"
    answer = "flux"
    # The constants fe2 sweep fits and plots (fe2.app.sweep): porosity, D_eff/D, τ per direction.
    pore_constants = True

    def read_physics(self, reader, table: dict) -> dict:
        reader.keys(table, "physics", ("kind", "phases", "kappa"))
        kappa = None
        if "kappa" in table:
            kappa = reader.number(table, "physics", "kappa", 0.0)
            if not kappa > 0:
                raise reader.fail("physics", f"kappa = {kappa}: must be positive")
        phases = reader.strings(table, "physics", "phases", "phase names")
        return {"phases": tuple(phases) if phases is not None else None, "kappa": kappa}

    def material(self, D: float) -> Diffusivity:
        return Diffusivity(D)

    def active_phases(self, options: dict, phases: list[str], tdim: int, given: list[str],
                      mesh_name: str) -> list[str]:
        check_materials(phases, given, (), mesh_name)  # unknown phases first
        active = phases if options["phases"] is None else sorted(options["phases"])
        absent = [name for name in active if name not in phases]
        if absent:
            raise ValueError(f"[physics] phases: unknown phase(s) {absent}; the phases of "
                             f"{mesh_name} are {phases}")
        extra = [name for name in given if name not in active]
        if extra:
            raise ValueError(f"[materials] phase(s) {extra} are not conducting (not in [physics] "
                             f"phases = {active}); remove them or list them there")
        check_materials(phases, given, active, mesh_name,
                        "every conducting phase needs one", keys="D")
        return active

    def matrices(self, materials, options: dict, gdim: int) -> dict[str, np.ndarray]:
        return {name: m.matrix(gdim) for name, m in materials}

    def notation(self, gdim: int) -> str:
        return "gradient [" + ", ".join("xyz"[:gdim]) + "]"

    def constants(self, tangent, fractions, materials, active, options):
        porosity = sum(fractions[p] for p in active)
        diffusivities = {name: m.D for name, m in materials}
        D = sum(fractions[p] * diffusivities[p] for p in active) / porosity
        notes = []
        if len({diffusivities[p] for p in active}) > 1:
            notes.append(f"the conducting phases have different D; tortuosity is relative to "
                         f"their volume-weighted mean D = {D:.6g}")
        found = options.get("percolation")
        if found is not None and found.blocked:
            notes.append(f"the conducting phases do not percolate along "
                         f"{', '.join(found.blocked)}: D_eff = 0 and the tortuosity is infinite "
                         "there")
        constants = transport_constants(tangent, porosity, D,
                                        None if found is None else found.directions)
        kappa = options.get("kappa")
        if kappa is not None:
            # The same cell problem with every phase coefficient scaled by κ/D: κ_eff/κ = D_eff/D.
            constants["kappa"] = kappa
            constants["kappa_eff"] = [kappa * r for r in constants["relative_D_eff"]]
            if len({diffusivities[p] for p in active}) > 1:
                notes.append("kappa_eff = kappa D_eff / D assumes the same kappa/D in every "
                             "conducting phase")
        return constants, notes

    def inspect(self, data, active: list[str], bc: str) -> dict[str, Any]:
        """Before the solve: which directions the conducting phases percolate along
        (fe2.rve.percolation; PercolationError, exit status 2, if none)."""
        from fe2.rve.percolation import check_percolation

        return {"percolation": check_percolation(data, active, periodic=bc == "periodic")}

    def describe(self, options: dict) -> str:
        return "transport"


CELL = TransportCell()
DEFINITION = Transport
