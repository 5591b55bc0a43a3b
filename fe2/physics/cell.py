"""The Doyle–Fuller–Newman (pseudo-two-dimensional) lithium-ion cell, isothermal, galvanostatic.

Macro unknowns: c_e [mol/m³] and φ_e [V] in the whole cell, the solid potential φ_s [V] in each
electrode (two fields, ``phi_s_n`` and ``phi_s_p``, each living on its electrode only)::

    ε ∂c_e/∂t = ∇·(D(c_e) ε^b ∇c_e) + (1 − t⁺) a j
    ∇·i_e = a F j,   i_e = κ(c_e) ε^b [−∇φ_e + (2RT/F)(1 − t⁺) χ ∇ln c_e]
    ∇·i_s = −a F j,  i_s = −σ_eff ∇φ_s

with a = 3 ε_s / R_p the particle surface per volume [1/m] and j [mol/(m² s)] the reaction flux
out of the particles, answered at every quadrature point of an electrode by the micro model
fe2.rve.particle.ReactingParticle (Butler–Volmer with i₀(c_e, c_s) and U(c_s/c_max), radial
diffusion in the particle) from the operands (φ_s − φ_e, c_e), with its tangent: the macro Newton
sees the exact linearization. Boundary conditions: no flux of c_e and no ionic current through
any boundary; φ_s_n = 0 on ``negative_current_collector`` (give it in ``[boundary]``); the
applied current density I = c_rate · I_1C / A [A/m²] (discharge positive; times λ, the ``[time]``
path of a current table) leaves through ``positive_current_collector``:
−σ_eff ∂φ_s/∂n = I there. Terminal voltage V = φ_s_p − φ_s_n on the two collectors.

Tables::

    [physics] kind = "cell", parameter_set = "Marquis2019" | "Chen2020"
              (fe2.physics.cell_parameters), c_rate [-] (> 0 discharge), shells (20)
    [boundary.negative_current_collector] phi_s_n = 0.0

Isothermal at the set's reference temperature (the electrolyte fits are at 298.15 K). The mesh
is meshes/electrode_sandwich.geo (groups negative_electrode | separator | positive_electrode
and the two collectors; set its L_n, L_s, L_p to the set's thicknesses).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from mpi4py import MPI

from fe2.core.definition import Field, MicroCoupling
from fe2.core.errors import ConfigError
from fe2.laws.kinetics import FARADAY, GAS_CONSTANT
from fe2.physics.cell_parameters import SETS, CellParameters, cell_parameters
from fe2.physics.porous_electrode import COLLECTORS, check_collectors, electrolyte_fields
from fe2.rve.particle import ReactingParticle, SphericalParticle

__all__ = ["DEFINITION", "Cell"]

REGIONS = ("negative_electrode", "separator", "positive_electrode")


class Cell:
    """The DFN cell definition (module docstring)."""

    kind: ClassVar[str] = "cell"
    tables: ClassVar[tuple[str, ...]] = ()
    fluxes: ClassVar[dict[str, str]] = {}

    def __init__(self, case, parameters: CellParameters, c_rate: float, shells: int) -> None:
        self.case, self.parameters, self.c_rate, self.shells = case, parameters, c_rate, shells
        self.current = parameters.current_density(c_rate)  # [A/m²]
        self.temperature = parameters.temperature_ref
        p = parameters
        self.ocv0 = float(p.open_circuit_voltage(p.negative.initial_stoichiometry,
                                                 p.positive.initial_stoichiometry))
        self.phi_e0 = -float(p.negative.ocp(p.negative.initial_stoichiometry))

    @classmethod
    def from_case(cls, case) -> Cell:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", ("kind", "parameter_set", "c_rate", "shells"),
                    required=("parameter_set", "c_rate"))
        name = reader.string(physics, "physics", "parameter_set", tuple(SETS))
        c_rate = reader.number(physics, "physics", "c_rate", 1.0)
        shells = reader.integer(physics, "physics", "shells", 20)
        if shells < 2:
            raise reader.fail("physics", f"shells = {shells}: need at least 2")
        if case.stepping.variable != "time":
            raise reader.fail("", "the cell model is transient: give a [time] table")
        return cls(case, cell_parameters(name), c_rate, shells)

    def check_mesh(self, mesh_data) -> None:
        groups = sorted(mesh_data.domain_names())
        if groups != sorted(REGIONS):
            raise ConfigError(f"{self.case.path}: the macro mesh {mesh_data.path.name} must "
                              f"have the domain groups {list(REGIONS)}, it has {groups}")
        check_collectors(self.case.path, mesh_data)

    def fields(self, gdim: int) -> tuple[Field, ...]:
        degree = self.case.degree
        return (*electrolyte_fields(degree, self.parameters.c_e0, self.phi_e0),
                Field("phi_s_n", False, ("phi_s_n",), degree,
                      label="negative solid potential [V]", initial=0.0,
                      regions=("negative_electrode",)),
                Field("phi_s_p", False, ("phi_s_p",), degree,
                      label="positive solid potential [V]", initial=self.ocv0,
                      regions=("positive_electrode",)))

    def quadrature_degree(self, degree: int) -> int:
        return 2 * degree

    # ------------------------------------------------------------------ regions and particles
    def couplings(self, comm: MPI.Comm, mesh_data) -> list[MicroCoupling]:
        """Per-cell coefficients (DG0) and one ReactingParticle model per electrode."""
        import ufl
        from dolfinx import fem

        mesh, p = mesh_data.mesh, self.parameters
        self.mesh_data, self.comm = mesh_data, comm
        Q0 = fem.functionspace(mesh, ("DG", 0))
        names = ("porosity", "relative", "area", "sigma", "in_n", "in_p")
        self.coefficients = {name: fem.Function(Q0, name=name) for name in names}
        c = self.coefficients
        layers = {"negative_electrode": p.negative, "positive_electrode": p.positive}
        for region in REGIONS:
            cells = mesh_data.cells(region)
            if region == "separator":
                eps, brug = p.separator.porosity, p.separator.bruggeman
                area = sigma = 0.0
            else:
                electrode = layers[region]
                eps, brug = electrode.porosity, electrode.bruggeman_electrolyte
                area, sigma = electrode.surface_area, electrode.effective_conductivity
            c["porosity"].x.array[cells] = eps
            c["relative"].x.array[cells] = eps ** brug
            c["area"].x.array[cells] = area
            c["sigma"].x.array[cells] = sigma
            c["in_n"].x.array[cells] = float(region == "negative_electrode")
            c["in_p"].x.array[cells] = float(region == "positive_electrode")
        for function in c.values():
            function.x.scatter_forward()
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=mesh_data.facet_tags)
        self._ds = {name: ds(mesh_data.group(name, mesh_data.tdim - 1).tag)
                    for name in COLLECTORS}
        self._dx = ufl.Measure("dx", domain=mesh, subdomain_data=mesh_data.cell_tags)
        self._one = fem.Constant(mesh, 1.0)
        self.collector_length = comm.allreduce(fem.assemble_scalar(fem.form(
            self._one * self._ds[COLLECTORS[1]])), op=MPI.SUM)
        models = {}
        for region, electrode in layers.items():
            particle = SphericalParticle(
                electrode.particle_radius, electrode.particle_diffusivity(self.temperature),
                electrode.c_max, electrode.initial_concentration, self.shells)
            models[region] = ReactingParticle(
                particle, electrode.ocp,
                lambda ce, cs, e=electrode: e.exchange_current(ce, cs, self.temperature),
                self.temperature, electrode.charge_transfer_coefficient)

        def operands(fields: dict[str, Any]) -> dict[str, Any]:
            phi_s = c["in_n"] * fields["phi_s_n"] + c["in_p"] * fields["phi_s_p"]
            return {"delta_phi": phi_s - fields["phi_e"], "c_e": fields["c_e"]}

        return [MicroCoupling("particle", operands, {"j": (), "c_s": ()}, models)]

    # ------------------------------------------------------------------ weak form
    def _ionic_current(self, c, phi):
        """i_e = κ(c) ε^b [−∇φ_e + (2RT/F)(1 − t⁺) χ ∇ln c_e] [A/m²]."""
        import ufl

        e = self.parameters.electrolyte
        nu = 2 * GAS_CONSTANT * self.temperature / FARADAY * (1 - e.t_plus) * \
            e.thermodynamic_factor
        return e.kappa(c) * self.coefficients["relative"] * (-ufl.grad(phi)
                                                             + nu * ufl.grad(c) / c)

    def residual(self, weak):
        import ufl

        k = self.coefficients
        e = self.parameters.electrolyte
        c, phi = weak.fields["c_e"], weak.fields["phi_e"]
        v, w = weak.tests["c_e"], weak.tests["phi_e"]
        j = weak.micro["particle"]["j"]
        aj = k["area"] * j  # [mol/(m³ s)]
        form = (k["porosity"] * (c - weak.previous["c_e"]) / weak.dt * v
                + e.D(c) * k["relative"] * ufl.dot(ufl.grad(c), ufl.grad(v))
                - (1 - e.t_plus) * aj * v) * weak.dx
        form += (ufl.dot(self._ionic_current(c, phi), ufl.grad(w)) + FARADAY * aj * w) * weak.dx
        for name, indicator in (("phi_s_n", k["in_n"]), ("phi_s_p", k["in_p"])):
            phi_s, test = weak.fields[name], weak.tests[name]
            form += indicator * (k["sigma"] * ufl.dot(ufl.grad(phi_s), ufl.grad(test))
                                 + FARADAY * aj * test) * weak.dx
        form += weak.load_factor * self.current * weak.tests["phi_s_p"] * \
            self._ds[COLLECTORS[1]]
        return form

    # ------------------------------------------------------------------ outputs
    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        return {"j": problem.cell_average(problem.point_values("particle", "j")),
                "c_s": problem.cell_average(problem.point_values("particle", "c_s"))}

    def _total(self, problem, expression, measure) -> float:
        from dolfinx import fem

        return problem.comm.allreduce(fem.assemble_scalar(fem.form(expression * measure)),
                                      op=MPI.SUM)

    def scalars(self, problem) -> dict[str, float]:
        """Per step: terminal voltage [V], applied current density [A/m²], and the reaction
        current ∫ a F j dx of each electrode relative to the applied current (+1 in the
        negative and −1 in the positive electrode at a converged discharge step: charge
        conservation)."""
        k = self.coefficients
        mean = {}
        for field, collector in (("phi_s_n", COLLECTORS[0]), ("phi_s_p", COLLECTORS[1])):
            ds = self._ds[collector]
            mean[field] = (self._total(problem, problem.fields_ufl[field], ds)
                           / self._total(problem, self._one, ds))
        current = problem.step.load_factor * self.current
        applied = current * self.collector_length  # [A per unit depth]
        j = problem.coupling("particle").answers(False)["j"]
        dx = problem.rule.dx
        reaction = [self._total(problem, FARADAY * k["area"] * j * k[name], dx)
                    for name in ("in_n", "in_p")]
        return {"voltage": mean["phi_s_p"] - mean["phi_s_n"], "current_density": current,
                "reaction_negative": reaction[0] / applied if applied else reaction[0],
                "reaction_positive": reaction[1] / applied if applied else reaction[1]}

    def events(self, problem) -> dict[str, bool]:
        """``cut_off``: the terminal voltage fell below the set's lower cut-off."""
        voltage = self.scalars(problem)["voltage"]
        return {"cut_off": bool(voltage < self.parameters.v_min)}


DEFINITION = Cell
