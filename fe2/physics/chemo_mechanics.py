"""Stress-assisted diffusion in intercalation particles: displacement u [m], lithium
concentration c [mol/m³] and hydrostatic stress σ_h [Pa], solved together.

    ∫ σ : ε(v) w dx = 0,          σ = λ tr(ε − ε_ch) I + 2μ (ε − ε_ch),  ε_ch = (Ω/3)(c − c₀) I
    ∫ (σ_h − tr σ / 3) s w dx = 0                      (σ_h as a field: its gradient drives c)
    ∫ [(c − c_prev)/Δt q + D (∇c − θ (Ω c / RT) ∇σ_h) · ∇q] w dx − λ ∫ (i_n / F) q w ds = 0

The flux J = −(D c / RT) ∇μ follows from the chemical potential μ = μ₀ + RT ln c − Ω σ_h:
lithium moves towards tension. θ = 1 is the two-way coupling, θ = 0 the one-way one (stress
follows concentration only). i_n [A/m²] is the surface current density into the particle at
load factor 1 (> 0 charges; a ``[time] path`` of load factors reverses it to discharge).
Every field is written in 3D components so one weak form serves four models (w is the volume
weight of the coordinates, the particle centre at the origin):

- ``sphere_1d``: x = r on [0, R]; ε = diag(u′, u/r, u/r); w = r² (per steradian);
- ``axisymmetric``: (x, y) = (r, z), rotation about y; components (r, θ, z); w = r (per radian);
- ``plane_strain`` (ε_zz = 0) and ``3d``: Cartesian, w = 1.

Regions (``[regions.<group>]``, one per domain group): a ``set`` of fe2.physics.intercalation
and/or E, nu, D, Omega, c_max; a region without D, Omega and c_max is passive (a binder: it
deforms, holds no lithium; c and σ_h live on the lithium-storing regions only). Tables::

    [physics]  kind = "chemo_mechanics", model, coupling = "two_way" | "one_way",
               current_density i_n [A/m²], temperature [K], initial_concentration c₀ [mol/m³],
               surface = ["surface"] (facet groups lithium crosses: outer or between regions),
               profile_points (101: points of the radial profiles along the x axis)
    [regions.<group>] set, E [Pa], nu, D [m²/s], Omega [m³/mol], c_max [mol/m³]
    [boundary.<group>] ux, uy, uz (symmetry planes, the centre), c, sigma_h

Solve monolithically (``[solver] type = "newton"``) or staggered
(``type = "staggered"``, ``groups = [["c"], ["u", "sigma_h"]]``).

Pressure and temperature on the kinetics (optional ``[kinetics]``, laws in fe2.laws.kinetics):
D of ``[regions]`` and the reaction rate constant k hold at T_ref, p = 0; at the run's
temperature T and applied pressure p (compression > 0) each rate is scaled by
exp(−E_a/R (1/T − 1/T_ref) − (p V_a − σ_th Ω)/(R T)), with its own E_a, V_a, and the thermal
stress σ_th = −K α_T (T − T_ref) of a constrained particle (K the bulk modulus of the region,
α_T volumetric). The surface flux is the galvanostatic λ i_n/F (``surface = "galvanostatic"``;
with a ``rate_constant`` the Butler–Volmer overpotential it needs is reported per step) or a
Butler–Volmer flux at the insertion overpotential λ η (``surface = "butler_volmer"``), capped by
λ i_n/F if ``current_density`` is given and by a hold of the surface concentration at
``surface_concentration_limit`` (a Robin penalty κ (c_lim − c) with ``hold_conductance`` κ)::

    [kinetics] reference_temperature [K], pressure [Pa], thermal_expansion α_T [1/K],
               diffusion_activation_energy [J/mol], diffusion_activation_volume [m³/mol],
               surface = "galvanostatic" | "butler_volmer", rate_constant k
               [m^2.5 mol^-0.5 s^-1 for α = 1/2], reaction_activation_energy [J/mol],
               reaction_activation_volume [m³/mol], electrolyte_concentration c_e [mol/m³]
               (1000), transfer_coefficient α = α_c = 1 − α_a (0.5), overpotential η [V],
               surface_concentration_limit c_lim [mol/m³], hold_conductance κ [m/s] (1e-6)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.definition import Field, MicroCoupling
from fe2.core.errors import ConfigError
from fe2.laws import kinetics as laws
from fe2.physics.intercalation import CASE_KEYS, IntercalationMaterial, set_values
from fe2.rve.factory import MicroSpec, read_micro
from fe2.rve.swelling import SwellingMaterial

__all__ = ["DEFINITION", "ChemoMechanics", "ElectrodeRegion", "Kinematics", "KineticsSettings",
           "Settings"]

log = logging.getLogger(__name__)

FARADAY = 96485.33212  # [C/mol]
GAS_CONSTANT = 8.314462618  # [J/(mol K)]
MODELS = ("sphere_1d", "axisymmetric", "plane_strain", "3d")
COUPLINGS = ("two_way", "one_way")
_DIMENSION = {"sphere_1d": 1, "axisymmetric": 2, "plane_strain": 2, "3d": 3}
_PHYSICS_KEYS = ("kind", "model", "coupling", "current_density", "temperature",
                 "initial_concentration", "reference_concentration", "surface", "profile_points")


class Kinematics:
    """Strain, gradient, volume weight and radial direction of one model as 3D UFL objects
    (see the module docstring); the particle centre is the origin."""

    def __init__(self, model: str, mesh) -> None:
        import ufl

        self.model = model
        self.x = ufl.SpatialCoordinate(mesh)

    def _over_r(self, value, limit):
        """value / r, and ``limit`` (its value on the axis, by l'Hôpital) where r = 0."""
        import ufl

        r = self.x[0]
        return ufl.conditional(ufl.gt(r, 0), value / ufl.conditional(ufl.gt(r, 0), r, 1),
                               limit)

    def weight(self):
        return {"sphere_1d": self.x[0] ** 2, "axisymmetric": self.x[0]}.get(self.model, 1)

    def strain(self, u):
        """ε(u) as a 3×3 tensor."""
        import ufl

        if self.model == "sphere_1d":
            hoop = self._over_r(u[0], u[0].dx(0))
            return ufl.as_matrix([[u[0].dx(0), 0, 0], [0, hoop, 0], [0, 0, hoop]])
        if self.model == "axisymmetric":
            shear = (u[0].dx(1) + u[1].dx(0)) / 2
            return ufl.as_matrix([[u[0].dx(0), 0, shear],
                                  [0, self._over_r(u[0], u[0].dx(0)), 0],
                                  [shear, 0, u[1].dx(1)]])
        e = ufl.sym(ufl.grad(u))
        if self.model == "plane_strain":
            return ufl.as_matrix([[e[0, 0], e[0, 1], 0], [e[1, 0], e[1, 1], 0], [0, 0, 0]])
        return e

    def gradient(self, c):
        """∇c as a 3-vector."""
        import ufl

        return self.vector(ufl.grad(c))

    def radius(self):
        """Distance from the particle centre [m]."""
        import ufl

        x = self.x
        if self.model == "sphere_1d":
            return x[0]
        return ufl.sqrt(sum(x[i] ** 2 for i in range(len(x))))

    def direction(self):
        """The radial unit vector (3 components; e_x at the centre)."""
        import ufl

        position = self.vector(self.x)
        rho = self.radius()
        safe = ufl.conditional(ufl.gt(rho, 0), rho, 1)
        return ufl.as_vector([ufl.conditional(ufl.gt(rho, 0), position[i] / safe, float(i == 0))
                              for i in range(3)])

    def vector(self, v):
        """A vector of the mesh's components (a displacement, a gradient, a position) as the
        3 components of :meth:`strain`."""
        import ufl

        if self.model == "sphere_1d":
            return ufl.as_vector([v[0], 0, 0])
        if self.model == "axisymmetric":
            return ufl.as_vector([v[0], 0, v[1]])
        if self.model == "plane_strain":
            return ufl.as_vector([v[0], v[1], 0])
        return v

    def radial_and_hoop(self, sigma):
        """(σ_rr, σ_θθ): normal stresses along and across the radius. The hoop stress is the
        azimuthal one (sphere_1d, axisymmetric), the in-plane tangential one (plane_strain)
        or the mean tangential one (3d: (tr σ − σ_rr)/2); all are the hoop stress of a
        spherically symmetric state."""
        import ufl

        n = self.direction()
        radial = ufl.dot(n, ufl.dot(sigma, n))
        if self.model in ("sphere_1d", "axisymmetric"):
            return radial, sigma[1, 1]
        if self.model == "plane_strain":
            t = ufl.as_vector([-n[1], n[0], 0])
            return radial, ufl.dot(t, ufl.dot(sigma, t))
        return radial, (ufl.tr(sigma) - radial) / 2


@dataclass(frozen=True)
class ElectrodeRegion:
    """A region whose stress comes from an electrode cell (``[micro]`` with this ``region``):
    it stores lithium with the electrode-scale diffusivity D [m²/s] up to c_max [mol/m³] (per
    m³ of active material); its stiffness and swelling are the cell's."""

    D: float
    c_max: float
    active: ClassVar[bool] = True
    Omega: ClassVar[float] = 0.0

    def __post_init__(self) -> None:
        for name, value in (("D", self.D), ("c_max", self.c_max)):
            if not value > 0:
                raise ValueError(f"{name} = {value:g}: must be positive")

    def lame(self) -> tuple[float, float]:
        return 0.0, 0.0  # no closed-form stress: the cell answers


@dataclass(frozen=True)
class Settings:
    """``[physics]`` of a chemo-mechanics case (units in the module docstring)."""

    model: str
    two_way: bool
    current: float  # i_n [A/m²] at load factor 1
    temperature: float  # [K]
    c0: float  # initial concentration [mol/m³]
    c_ref: float  # stress-free concentration [mol/m³]
    surface: tuple[str, ...]
    profile_points: int


class ChemoMechanics:
    """The stress-assisted diffusion definition (see module docstring)."""

    kind: ClassVar[str] = "chemo_mechanics"
    tables: ClassVar[tuple[str, ...]] = ("regions", "micro", "kinetics")
    fluxes: ClassVar[dict[str, str]] = {}

    def __init__(self, case, settings: Settings,
                 regions: dict[str, IntercalationMaterial | ElectrodeRegion],
                 micro: list[MicroSpec]) -> None:
        self.case, self.settings, self.regions, self.micro = case, settings, regions, micro
        self.model, self.two_way = settings.model, settings.two_way
        self.current, self.c0, self.c_ref = settings.current, settings.c0, settings.c_ref
        self.temperature, self.surface = settings.temperature, settings.surface
        self.active = tuple(name for name, m in regions.items() if m.active)
        self.electrodes = tuple(spec.region for spec in micro)
        self.particles = tuple(name for name in self.active if name not in self.electrodes)
        self.profiles: list[tuple[float, NDArray]] = []
        self.history: list[tuple[float, float, float]] = []  # (t, hoop max, its radius)
        self._amount: float | None = None
        self._warned = False
        self.kinetics: KineticsSettings | None = None  # [kinetics]; set by from_case

    # ------------------------------------------------------------------ case
    @classmethod
    def from_case(cls, case) -> ChemoMechanics:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", _PHYSICS_KEYS, required=("model",))
        model = reader.string(physics, "physics", "model", MODELS)
        coupling = reader.string(physics, "physics", "coupling", COUPLINGS, default="two_way")
        current = reader.number(physics, "physics", "current_density", 0.0)
        temperature = reader.number(physics, "physics", "temperature", 298.15)
        if not temperature > 0:
            raise reader.fail("physics", f"temperature = {temperature:g}: must be positive [K]")
        c0 = reader.number(physics, "physics", "initial_concentration", 0.0)
        c_ref = reader.number(physics, "physics", "reference_concentration", c0)
        surface = tuple(reader.strings(physics, "physics", "surface", "facet groups")
                        or ["surface"])
        points = reader.integer(physics, "physics", "profile_points", 101, minimum=2)
        micro = read_micro(reader, case.raw, lambda values, section: _read_swelling_material(
            reader, values, section))
        electrodes = [spec.region for spec in micro]
        if micro and None in electrodes:
            raise reader.fail("micro", "give the region of the macro mesh the electrode cell "
                                       "fills (region = \"<domain group>\")")
        if micro and model not in ("plane_strain", "3d"):
            raise reader.fail("physics", f"model = {model!r}: an electrode cell ([micro]) "
                                         "needs plane_strain or 3d")
        if micro and coupling == "two_way":
            raise reader.fail("physics", "coupling = \"two_way\" needs the gradient of the "
                                         "hydrostatic stress inside the particles, which an "
                                         "electrode cell does not resolve: use \"one_way\"")
        if "regions" not in case.raw:
            raise reader.fail("", "missing table [regions.<group>] (one per domain group of the "
                                  "mesh: set = \"ZhangShyySastry2007\" or E, nu, D, Omega, c_max)")
        regions = {name: _read_region(reader, name, table, name in electrodes) for name, table
                   in reader.table(case.raw, "", "regions").items()}
        missing = [name for name in electrodes if name not in regions]
        if missing:
            raise reader.fail("micro", f"region {missing[0]!r} has no [regions.{missing[0]}] "
                                       "(D and c_max of the electrode)")
        if not any(m.active for m in regions.values()):
            raise reader.fail("regions", "no region stores lithium (give D, Omega and c_max, or "
                                         "a set, in at least one)")
        for name, m in regions.items():
            for key, value in (("initial_concentration", c0), ("reference_concentration", c_ref)):
                if m.active and not 0 <= value <= m.c_max:
                    raise reader.fail("physics", f"{key} = {value:g} mol/m³ lies outside "
                                                 f"[0, c_max = {m.c_max:g}] of region {name!r}")
        if case.stepping.variable != "time":
            raise reader.fail("", "chemo_mechanics is transient: give a [time] table")
        kinetics = _read_kinetics(reader, case.raw, physics, regions, c0)
        if "current_density" not in physics and (kinetics is None
                                                 or kinetics.surface == "galvanostatic"):
            raise reader.fail("physics", "missing key 'current_density' (the galvanostatic "
                                         "surface current i_n [A/m²])")
        if micro and kinetics is not None:
            raise reader.fail("kinetics", "the kinetics of a particle surface do not apply to "
                                          "an electrode cell ([micro])")
        settings = Settings(model, coupling == "two_way", current, temperature, c0, c_ref,
                            surface, points)
        definition = cls(case, settings, regions, micro)
        definition.kinetics = kinetics
        return definition

    def check_mesh(self, mesh_data) -> None:
        """The mesh dimension fits the model, every domain group has a region, the surface
        groups exist, and the charge does not overfill or empty the particles within the run
        (the mean concentration; ConfigError saying when)."""
        gdim = mesh_data.mesh.geometry.dim
        where = f"{self.case.path}:"
        if gdim != _DIMENSION[self.model]:
            raise ConfigError(f"{where} [physics] model = {self.model!r} needs a "
                              f"{_DIMENSION[self.model]}D mesh; {mesh_data.path.name} is "
                              f"{gdim}D")
        groups = mesh_data.domain_names()
        missing = [g for g in groups if g not in self.regions]
        unknown = [r for r in self.regions if r not in groups]
        if missing or unknown:
            raise ConfigError(f"{where} [regions] must name each domain group of "
                              f"{mesh_data.path.name} once ({groups}); missing {missing}, "
                              f"unknown {unknown}")
        absent = [s for s in self.surface if s not in mesh_data.boundary_names()]
        if absent:
            raise ConfigError(f"{where} [physics] surface: {absent} are not facet groups of "
                              f"{mesh_data.path.name} (it has {mesh_data.boundary_names()})")
        self.mesh_data = mesh_data
        self._check_capacity()

    def _measures(self):
        """(dx with the domain tags, the surface measure ds + dS of the surface groups)."""
        import ufl

        mesh, data = self.mesh_data.mesh, self.mesh_data
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=data.cell_tags)
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=data.facet_tags)
        dS = ufl.Measure("dS", domain=mesh, subdomain_data=data.facet_tags)
        tags = tuple(data.group(s, data.tdim - 1).tag for s in self.surface)
        return dx, tags, ds, dS

    def _surface_integral(self, integrand) -> float:
        """∫ integrand w over the surface groups (outer facets and facets between regions)."""
        from dolfinx import fem

        _, tags, ds, dS = self._measures()
        w = self.kinematics.weight()
        form = sum(integrand * w * ds(t) + (integrand * w)("+") * dS(t) for t in tags)
        return self.mesh_data.mesh.comm.allreduce(fem.assemble_scalar(fem.form(form)),
                                                  op=MPI.SUM)

    def _active_integral(self, integrand) -> float:
        from dolfinx import fem

        dx, *_ = self._measures()
        tags = [self.mesh_data.group(name, self.mesh_data.tdim).tag for name in self.active]
        w = self.kinematics.weight()
        form = sum(integrand * w * dx(t) for t in tags)
        return self.mesh_data.mesh.comm.allreduce(fem.assemble_scalar(fem.form(form)),
                                                  op=MPI.SUM)

    def _check_capacity(self) -> None:
        from dolfinx import fem

        mesh = self.mesh_data.mesh
        self.kinematics = Kinematics(self.model, mesh)
        one = fem.Constant(mesh, 1.0)
        self.area, self.volume = self._surface_integral(one), self._active_integral(one)
        if self.kinetics is not None and self.kinetics.surface == "butler_volmer":
            return  # the reaction flux vanishes at c_max (and the hold keeps c ≤ c_lim)
        capacity = min(m.c_max for name, m in self.regions.items() if m.active)
        stepping = self.case.stepping
        t = np.linspace(0.0, stepping.end, 4001)
        load = np.array([stepping.load_factor(s) for s in t])
        charge = np.concatenate([[0.0], np.cumsum((load[1:] + load[:-1]) / 2 * np.diff(t))])
        mean = self.c0 + self.current / FARADAY * self.area / self.volume * charge
        outside = np.flatnonzero((mean > capacity) | (mean < 0))
        if len(outside):
            when = t[outside[0]]
            raise ConfigError(
                f"{self.case.path}: [physics] current_density = {self.current:g} A/m² drives the "
                f"mean lithium concentration {'above c_max' if mean[outside[0]] > 0 else 'below 0'}"
                f" at t = {when:.4g} s, before the end of the run ({stepping.end:g} s); the "
                f"particles hold {capacity:g} mol/m³ at most: lower the current or end earlier")

    def fields(self, gdim: int) -> tuple[Field, ...]:
        degree = self.case.degree
        return (Field("u", True, ("ux", "uy", "uz"), degree, label="displacement [m]"),
                Field("c", False, ("c",), degree, label="lithium concentration [mol/m³]",
                      initial=self.c0, regions=self.active),
                Field("sigma_h", False, ("sigma_h",), degree, label="hydrostatic stress [Pa]",
                      regions=self.particles))

    def quadrature_degree(self, degree: int) -> int:
        return 2 * degree + (2 if self.model == "sphere_1d" else 1)

    def couplings(self, comm, mesh_data) -> list[MicroCoupling]:
        from dolfinx import fem

        mesh = mesh_data.mesh
        Q0 = fem.functionspace(mesh, ("DG", 0))
        self.coefficients = {name: fem.Function(Q0) for name in
                             ("lambda", "mu", "Omega", "D", "active", "particle")}
        for name, m in self.regions.items():
            cells = mesh_data.cells(name)
            lam, mu = m.lame()
            for key, value in (("lambda", lam), ("mu", mu), ("Omega", m.Omega), ("D", m.D),
                               ("active", float(m.active)),
                               ("particle", float(name in self.particles))):
                self.coefficients[key].x.array[cells] = value
        for function in self.coefficients.values():
            function.x.scatter_forward()
        if self.kinetics is not None:
            self._apply_kinetics(mesh_data)
        if self.micro:
            return [self._electrode_coupling(comm)]
        self.stiffness = max(m.E for m in self.regions.values())  # scales the force rows
        self.radius = self._particle_radius()
        return []

    def _electrode_coupling(self, comm: MPI.Comm) -> MicroCoupling:
        """The electrode cells (one homogenization each): generalized strain (ε, c − c_ref)
        in Mandel notation, answer the stress (fe2.rve.swelling)."""
        from fe2.core.micro import HomogenizedModel
        from fe2.laws.mandel import mandel_strain, n_mandel
        from fe2.rve.swelling import swelling_tangent

        self.cells = {spec.region: swelling_tangent(spec, self.case.path, comm, self.model)
                      for spec in self.micro}
        closed_form = [m.E for m in self.regions.values() if isinstance(m, IntercalationMaterial)]
        self.stiffness = max(closed_form + [float(np.max(np.abs(t[:, :-1])))
                                            for t in self.cells.values()])
        gdim = _DIMENSION[self.model]
        return MicroCoupling(
            "rve", lambda fields: {"strain": mandel_strain(fields["u"]),
                                   "dc": fields["c"] - self.c_ref},
            {"stress": (n_mandel(gdim),)},
            {region: HomogenizedModel(tangent) for region, tangent in self.cells.items()},
            len(self.cells))

    def _particle_radius(self) -> float:
        """The largest distance of a node of the lithium-storing regions from the centre."""
        data = self.mesh_data
        cells = np.concatenate([data.cells(name) for name in self.active])
        nodes = np.unique(data.mesh.geometry.dofmap[cells])
        local = np.linalg.norm(data.mesh.geometry.x[nodes], axis=1).max(initial=0.0)
        return data.mesh.comm.allreduce(float(local), op=MPI.MAX)

    # ------------------------------------------------------------------ weak form
    def stress(self, u, c):
        """σ(u, c) as a 3×3 UFL tensor [Pa]."""
        import ufl

        k = self.coefficients
        identity = ufl.Identity(3)
        elastic = self.kinematics.strain(u) - k["Omega"] / 3 * (c - self.c_ref) * identity
        return k["lambda"] * ufl.tr(elastic) * identity + 2 * k["mu"] * elastic

    def diffusivity(self):
        """D [m²/s] in the lithium flux (UFL; a subclass may make it depend on the fields)."""
        return self.coefficients["D"]

    def residual(self, weak):
        import ufl

        u, c, sh = (weak.fields[n] for n in ("u", "c", "sigma_h"))
        v, q, s = (weak.tests[n] for n in ("u", "c", "sigma_h"))
        kin, k = self.kinematics, self.coefficients
        w, dx = kin.weight(), weak.dx
        sigma = self.stress(u, c)
        # (zero where electrode cells answer: their regions carry λ = μ = 0)
        form = ufl.inner(sigma, kin.strain(v)) * w / self.stiffness * dx
        if "rve" in weak.micro:
            from fe2.laws.mandel import mandel_strain

            form += ufl.dot(weak.micro["rve"]["stress"], mandel_strain(v)) / self.stiffness * dx
        form += k["particle"] * (sh - ufl.tr(sigma) / 3) * s * w / self.stiffness * dx
        drift = float(self.two_way) * k["Omega"] * c / (GAS_CONSTANT * self.temperature)
        flux = -self.diffusivity() * (kin.gradient(c) - drift * kin.gradient(sh))
        form += k["active"] * ((c - weak.previous["c"]) / weak.dt * q
                               - ufl.dot(flux, kin.gradient(q))) * w * dx
        _, tags, ds, dS = self._measures()
        inflow = self.surface_flux(weak.load_factor, c)
        form -= sum(inflow * q * w * ds(t) + (inflow * q * w)("+") * dS(t) for t in tags)
        return form

    # ------------------------------------------------------------------ outputs
    def _stress_parts(self, problem):
        fields = problem.fields_ufl
        return self.kinematics.radial_and_hoop(self.stress(fields["u"], fields["c"]))

    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        """Particles: radial and hoop stress [Pa]; with electrode cells: the stress in Mandel
        notation [Pa] (the cells' answer where they fill the region)."""
        import ufl

        if self.micro:
            from fe2.laws.mandel import ufl_mandel

            gdim = _DIMENSION[self.model]
            fields = problem.fields_ufl
            sigma = self.stress(fields["u"], fields["c"])
            closed_form = ufl_mandel(ufl.as_matrix([[sigma[i, j] for j in range(gdim)]
                                                    for i in range(gdim)]))
            return {"stress": problem.cell_average(
                problem.point_values("rve", "stress", closed_form))}
        radial, hoop = self._stress_parts(problem)
        values = problem.point_values("", "", ufl.as_vector([radial, hoop]))
        averaged = problem.cell_average(values)
        return {"radial_stress": averaged[:, 0], "hoop_stress": averaged[:, 1]}

    def scalars(self, problem) -> dict[str, float]:
        """Per step: mean and surface concentration [mol/m³], the lithium balance error
        (change of the amount minus the inflow, relative to the inflow), the largest hoop
        stress over the particles [Pa] and its radius [m], σ_θ at the surface and σ_r at the
        centre (on the x axis) [Pa]; the mean normal displacement of the surface [m]. Keeps
        the radial profiles for the report. With electrode cells: the first four only."""
        import ufl

        c = problem.fields_ufl["c"]
        step = problem.step
        amount = self._active_integral(c)
        previous = self._amount if self._amount is not None else self.c0 * self.volume
        inflow = (step.dt * step.load_factor * self.current / FARADAY * self.area
                  if self.kinetics is None or self.kinetics.surface == "galvanostatic"
                  else step.dt * self._reaction_inflow(problem))
        self._amount = amount
        surface_c = self._surface_integral(c) / self.area
        capacity = min(self.regions[name].c_max for name in self.active)
        if not self._warned and not 0 <= surface_c <= capacity and problem.comm.rank == 0:
            log.warning("t = %.4g s: the surface concentration %.4g mol/m³ left [0, c_max = "
                        "%.4g]: the particle surface is saturated or emptied, the current "
                        "cannot be sustained", step.t, surface_c, capacity)
        self._warned = self._warned or not 0 <= surface_c <= capacity
        # outward: the facet normal of an electrode's outer surface, the radius of a particle
        n = ufl.FacetNormal(problem.mesh) if self.micro else None
        u = problem.fields_ufl["u"]
        normal_displacement = (ufl.dot(u, n) if self.micro else
                               ufl.dot(self.kinematics.vector(u), self.kinematics.direction()))
        scalars = {
            "c_mean": amount / self.volume, "c_surface": surface_c,
            "lithium_balance_error": (amount - previous - inflow) / max(abs(inflow), 1e-300),
            "surface_displacement": self._surface_integral(normal_displacement) / self.area}
        if self.micro:
            return scalars
        _, hoop = self._stress_parts(problem)
        peak, where = self._largest(problem, hoop)
        profile = self._profile(problem)
        if problem.comm.rank == 0:
            self.profiles.append((step.t, profile))
        self.history.append((step.t, peak, where))
        values = scalars | {"hoop_stress_max": peak, "hoop_stress_max_radius": where,
                            "surface_hoop_stress": float(profile[-1, 3]),
                            "centre_radial_stress": float(profile[0, 2])}
        if self.kinetics is not None:
            values.update(self._kinetic_scalars(step, surface_c, inflow / step.dt / self.area))
        return values

    def _largest(self, problem, expression) -> tuple[float, float]:
        """The largest value of ``expression`` over the quadrature points of the lithium-
        storing regions and its distance from the centre (all ranks)."""
        import ufl

        values = problem.point_values("", "", ufl.as_vector(
            [expression, self.kinematics.radius(), self.coefficients["active"]]))
        inside = values[values[:, 2] > 0.5]
        best = int(np.argmax(inside[:, 0])) if len(inside) else -1
        local = (float(inside[best, 0]), float(inside[best, 1])) if len(inside) else (
            -np.inf, 0.0)
        return problem.comm.allreduce(local, op=MPI.MAX)

    def _profile(self, problem) -> NDArray:
        """(profile_points, 4): r [m], c [mol/m³], σ_r and σ_θ [Pa] along the x axis from the
        centre to the particle surface (on rank 0; the other ranks get a copy)."""
        import ufl
        from dolfinx import fem, geometry

        if not hasattr(self, "_ray"):
            mesh = problem.mesh
            space = fem.functionspace(mesh, ("DG", self.case.degree, (3,)))
            radial, hoop = self._stress_parts(problem)
            values = ufl.as_vector([problem.fields_ufl["c"], radial, hoop])
            radii = np.linspace(0.0, self.radius, self.settings.profile_points)
            radii[-1] *= 1 - 1e-9  # inside the particle, not in a binder shell
            points = np.zeros((len(radii), 3))
            points[:, 0] = radii
            tree = geometry.bb_tree(mesh, mesh.topology.dim)
            colliding = geometry.compute_colliding_cells(
                mesh, geometry.compute_collisions_points(tree, points), points)
            active = self.coefficients["active"].x.array
            found, cells = [], []
            for i in range(len(points)):  # a cell of the lithium-storing regions per point
                links = [cell for cell in colliding.links(i) if active[cell] > 0.5]
                if links:
                    found.append(i)
                    cells.append(links[0])
            self._ray = (fem.Function(space), fem.Expression(
                values, space.element.interpolation_points()), radii, points,
                np.array(found, dtype=int), np.array(cells, dtype=np.int32))
        function, expression, radii, points, found, cells = self._ray
        function.interpolate(expression)
        local = np.full((len(radii), 3), np.nan)
        if len(found):
            local[found] = function.eval(points[found], cells)
        everything = problem.comm.allgather(local)
        merged = everything[0]
        for part in everything[1:]:
            merged = np.where(np.isnan(merged), part, merged)
        return np.column_stack([radii, merged])

    def report(self, problem, out: Path) -> dict[str, Any]:
        """profiles.csv (t, r, c, σ_r, σ_θ), profiles.png and stress_history.png on rank 0;
        summary entries: the largest hoop stress over the run, when and where, and the
        surface hoop and centre radial stresses over time. With electrode cells: their
        homogenized stiffness, chemical stress and expansion."""
        if self.micro:
            from fe2.rve.swelling import chemical_expansion

            return {"chemo_mechanics": {"model": self.model, "electrode_cells": {
                region: {"stiffness_Pa": tangent[:, :-1].tolist(),
                         "chemical_stress_Pa_m3_per_mol": tangent[:, -1].tolist(),
                         "expansion_m3_per_mol": chemical_expansion(tangent).tolist()}
                for region, tangent in self.cells.items()}}}
        times = [t for t, _, _ in self.history]
        peaks = [p for _, p, _ in self.history]
        best = int(np.argmax(peaks)) if peaks else 0
        entry: dict[str, Any] = {
            "model": self.model, "coupling": "two_way" if self.two_way else "one_way",
            "particle_radius_m": self.radius, "current_density_A_per_m2": self.current,
            "hoop_stress_max": {"value_Pa": peaks[best], "t_s": times[best],
                                "radius_m": self.history[best][2]} if peaks else None}
        if self.kinetics is not None:
            entry["kinetics"] = self._kinetic_report()
        if problem.comm.rank == 0 and self.profiles:
            entry["surface_hoop_stress_Pa"] = [[t, float(p[-1, 3])] for t, p in self.profiles]
            entry["centre_radial_stress_Pa"] = [[t, float(p[0, 2])] for t, p in self.profiles]
            _write_profiles(self.profiles, out)
        return {"chemo_mechanics": entry}

    # ------------------------------------------------------------------ kinetics ([kinetics])
    def _rate_factors(self, name: str) -> dict[str, float]:
        """Region ``name``'s factors rate(T, p)/rate_ref of D and k [-], its thermal stress
        σ_th [Pa] and the barrier shift −σ_th Ω [J/mol] (fe2.laws.kinetics)."""
        kin, m = self.kinetics, self.regions[name]
        bulk = m.E / (3 * (1 - 2 * m.nu))
        sigma = laws.thermal_stress(bulk, kin.thermal_expansion,
                                    self.temperature - kin.reference_temperature)
        shift = laws.stress_barrier_shift(sigma, m.Omega)
        return {"thermal_stress_Pa": float(sigma), "barrier_shift_J_per_mol": float(shift),
                "diffusivity_factor": float(laws.rate_factor(
                    self.temperature, kin.reference_temperature,
                    kin.diffusion_activation_energy, kin.pressure,
                    kin.diffusion_activation_volume, shift)),
                "rate_constant_factor": float(laws.rate_factor(
                    self.temperature, kin.reference_temperature,
                    kin.reaction_activation_energy, kin.pressure,
                    kin.reaction_activation_volume, shift))}

    def _apply_kinetics(self, mesh_data) -> None:
        """Scale D per region to (T, p); the reaction's coefficients (k(T, p), c_max per cell)
        and constants (T, c_e, η, caps, the load factor) for :meth:`surface_flux`."""
        from dolfinx import fem

        mesh, kin = mesh_data.mesh, self.kinetics
        space = self.coefficients["D"].function_space
        self.kinetic_coefficients = {name: fem.Function(space) for name in ("k", "c_max")}
        for name, m in self.regions.items():
            if not m.active:
                continue
            cells = mesh_data.cells(name)
            factors = self._rate_factors(name)
            self.coefficients["D"].x.array[cells] = m.D * factors["diffusivity_factor"]
            self.kinetic_coefficients["k"].x.array[cells] = (
                (kin.rate_constant or 0.0) * factors["rate_constant_factor"])
            self.kinetic_coefficients["c_max"].x.array[cells] = m.c_max
        for function in (self.coefficients["D"], *self.kinetic_coefficients.values()):
            function.x.scatter_forward()
        self.kinetic_constants = {
            name: fem.Constant(mesh, float(value)) for name, value in (
                ("T", self.temperature), ("c_e", kin.electrolyte_concentration),
                ("eta", kin.overpotential or 0.0), ("i_cap", self.current),
                ("c_lim", kin.surface_concentration_limit or 0.0),
                ("kappa", kin.hold_conductance), ("load", 1.0))}

    def surface_flux(self, load_factor, c):
        """Lithium flux into the particles across the surface groups [mol/(m² s)] (UFL):
        λ i_n/F (galvanostatic), or min(j_BV(λη, c), λ i_n/F if a current is given,
        κ (c_lim − c) if a limit is given) with j_BV the Butler–Volmer insertion flux."""
        if self.kinetics is None or self.kinetics.surface == "galvanostatic":
            return load_factor * self.current / FARADAY
        return self._reaction_flux(load_factor, c)

    def _reaction_flux(self, load_factor, c, backend: str = "ufl"):
        """The capped Butler–Volmer flux of :meth:`surface_flux` [mol/(m² s)]; with
        ``backend = "numpy"``, the (reaction, current cap, hold) candidates at the floats
        ``c`` and ``load_factor`` on the region with the smallest c_max (the report's)."""
        import ufl

        kin = self.kinetics
        alpha_c = kin.transfer_coefficient
        alpha_a = 1.0 - alpha_c
        if backend == "numpy":
            name = min(self.active, key=lambda n: self.regions[n].c_max)
            c_max = self.regions[name].c_max
            k = kin.rate_constant * self._rate_factors(name)["rate_constant_factor"]
            floor = 1e-9 * c_max
            cs = min(max(c, floor), c_max - floor)
            i0 = laws.exchange_current_density(k, kin.electrolyte_concentration, cs, c_max,
                                               alpha_a, alpha_c)
            reaction = laws.insertion_current(i0, load_factor * kin.overpotential,
                                              self.temperature, alpha_a, alpha_c) / FARADAY
            cap = (load_factor * self.current / FARADAY if kin.current_cap else np.inf)
            hold = (kin.hold_conductance * (kin.surface_concentration_limit - c)
                    if kin.surface_concentration_limit is not None else np.inf)
            return reaction, cap, hold
        kc, constants = self.kinetic_coefficients, self.kinetic_constants
        floor = 1e-9 * kc["c_max"]
        cs = ufl.max_value(ufl.min_value(c, kc["c_max"] - floor), floor)
        i0 = laws.exchange_current_density(kc["k"], constants["c_e"], cs, kc["c_max"],
                                           alpha_a, alpha_c)
        flux = laws.insertion_current(i0, load_factor * constants["eta"], constants["T"],
                                      alpha_a, alpha_c, exp=ufl.exp) / FARADAY
        if kin.current_cap:
            flux = ufl.min_value(flux, load_factor * constants["i_cap"] / FARADAY)
        if kin.surface_concentration_limit is not None:
            flux = ufl.min_value(flux, constants["kappa"] * (constants["c_lim"] - c))
        return flux

    def _reaction_inflow(self, problem) -> float:
        """∫ j w ds over the surface groups at the step's fields [mol/s] (Butler–Volmer)."""
        constants = self.kinetic_constants
        constants["load"].value = problem.step.load_factor
        return self._surface_integral(self._reaction_flux(constants["load"],
                                                          problem.fields_ufl["c"]))

    def _kinetic_scalars(self, step, surface_c: float, flux: float) -> dict[str, float]:
        """Per step: the surface current density [A/m²] (F × the mean surface flux) and the
        insertion overpotential it needs at the mean surface concentration [V] (if a
        rate_constant is given); Butler–Volmer: which limit sets the flux (0: the current
        cap, 1: the reaction at the overpotential η, 2: the hold at c_lim)."""
        kin = self.kinetics
        values = {"surface_current_density": flux * FARADAY}
        if kin.rate_constant is None:
            return values
        name = min(self.active, key=lambda n: self.regions[n].c_max)
        c_max = self.regions[name].c_max
        k = kin.rate_constant * self._rate_factors(name)["rate_constant_factor"]
        cs = min(max(surface_c, 0.0), c_max)
        i0 = laws.exchange_current_density(k, kin.electrolyte_concentration, cs, c_max,
                                           1.0 - kin.transfer_coefficient,
                                           kin.transfer_coefficient)
        values["overpotential"] = float(laws.insertion_overpotential(
            flux * FARADAY, i0, self.temperature, 1.0 - kin.transfer_coefficient,
            kin.transfer_coefficient))
        if kin.surface == "butler_volmer":
            reaction, cap, hold = self._reaction_flux(step.load_factor, surface_c, "numpy")
            values["surface_limit"] = float({0: 1, 1: 0, 2: 2}[int(np.argmin(
                [reaction, cap, hold]))])
        return values

    def _kinetic_report(self) -> dict[str, Any]:
        """The summary's kinetics entry: settings and, per lithium-storing region, the
        factors of D and k, the thermal stress and the barrier shift."""
        kin = self.kinetics
        return {"temperature_K": self.temperature,
                "settings": {key: value for key, value in vars(kin).items()},
                "regions": {name: self._rate_factors(name) for name in self.active}}


SURFACES = ("galvanostatic", "butler_volmer")
_KINETICS_KEYS = ("reference_temperature", "pressure", "thermal_expansion",
                  "diffusion_activation_energy", "diffusion_activation_volume", "surface",
                  "rate_constant", "reaction_activation_energy", "reaction_activation_volume",
                  "electrolyte_concentration", "transfer_coefficient", "overpotential",
                  "surface_concentration_limit", "hold_conductance")


@dataclass(frozen=True)
class KineticsSettings:
    """The ``[kinetics]`` table (see the module docstring; units there and in
    fe2.laws.kinetics). ``current_cap``: ``[physics] current_density`` caps the
    Butler–Volmer current."""

    reference_temperature: float
    pressure: float = 0.0
    thermal_expansion: float = 0.0
    diffusion_activation_energy: float = 0.0
    diffusion_activation_volume: float = 0.0
    surface: str = "galvanostatic"
    rate_constant: float | None = None
    reaction_activation_energy: float = 0.0
    reaction_activation_volume: float = 0.0
    electrolyte_concentration: float = 1000.0
    transfer_coefficient: float = 0.5
    overpotential: float | None = None
    surface_concentration_limit: float | None = None
    hold_conductance: float = 1e-6
    current_cap: bool = False


def _read_kinetics(reader, raw: dict[str, Any], physics: dict[str, Any],
                   regions: dict[str, IntercalationMaterial],
                   c0: float) -> KineticsSettings | None:
    """``[kinetics]`` (None if absent), validated; every error names the key."""
    if "kinetics" not in raw:
        return None
    section = "kinetics"
    table = reader.table(raw, "", section)
    reader.keys(table, section, _KINETICS_KEYS, required=("reference_temperature",))
    values: dict[str, Any] = {key: reader.number(table, section, key, 0.0) for key in
                              _KINETICS_KEYS if key in table and key != "surface"}
    values["surface"] = reader.string(table, section, "surface", SURFACES,
                                      default="galvanostatic")
    if not values["reference_temperature"] > 0:
        raise reader.fail(section, f"reference_temperature = {values['reference_temperature']:g}"
                                   ": must be positive [K]")
    for key in ("diffusion_activation_energy", "reaction_activation_energy"):
        if values.get(key, 0.0) < 0:
            raise reader.fail(section, f"{key} = {values[key]:g} J/mol: must not be negative")
    for key in ("rate_constant", "electrolyte_concentration", "hold_conductance"):
        if key in values and not values[key] > 0:
            raise reader.fail(section, f"{key} = {values[key]:g}: must be positive")
    if not 0 < values.get("transfer_coefficient", 0.5) < 1:
        raise reader.fail(section, f"transfer_coefficient = {values['transfer_coefficient']:g}:"
                                   " must lie in (0, 1)")
    c_max = min(m.c_max for m in regions.values() if m.active) if any(
        m.active for m in regions.values()) else 0.0
    if values["surface"] == "butler_volmer":
        missing = [key for key in ("rate_constant", "overpotential") if key not in values]
        if missing:
            raise reader.fail(section, f"surface = \"butler_volmer\" needs "
                                       f"{' and '.join(repr(k) for k in missing)}")
        if not c0 > 0:
            raise reader.fail("physics", f"initial_concentration = {c0:g} mol/m³: the "
                                         "Butler–Volmer exchange current ∝ c_s^α vanishes at "
                                         "c = 0 (no lithium would ever enter); start above 0")
        values["current_cap"] = "current_density" in physics
    elif "overpotential" in values or "surface_concentration_limit" in values:
        raise reader.fail(section, "overpotential and surface_concentration_limit belong to "
                                   "surface = \"butler_volmer\"")
    limit = values.get("surface_concentration_limit")
    if limit is not None and not c0 < limit <= c_max:
        raise reader.fail(section, f"surface_concentration_limit = {limit:g} mol/m³: must lie "
                                   f"in (initial_concentration = {c0:g}, c_max = {c_max:g}]")
    return KineticsSettings(**values)


def _read_region(reader, name: str, table: Any,
                 electrode: bool) -> IntercalationMaterial | ElectrodeRegion:
    """``[regions.<name>]``: a particle or binder material, or (``electrode``: a ``[micro]``
    region) the electrode-scale D and c_max."""
    section = f"regions.{name}"
    if not isinstance(table, dict):
        raise reader.fail(section, f"must be a table, got {table!r}")
    if electrode:
        reader.keys(table, section, ("D", "c_max"), required=("D", "c_max"))
        try:
            return ElectrodeRegion(*(reader.number(table, section, key, 0.0)
                                     for key in ("D", "c_max")))
        except ValueError as error:
            raise reader.fail(section, str(error)) from None
    reader.keys(table, section, ("set", *CASE_KEYS))
    values: dict[str, float] = {}
    if "set" in table:
        try:
            values = set_values(reader.string(table, section, "set"))
        except KeyError as error:
            raise reader.fail(section, str(error.args[0])) from None
    values.update({key: reader.number(table, section, key, 0.0)
                   for key in CASE_KEYS if key in table})
    missing = [key for key in ("E", "nu") if key not in values]
    if missing:
        raise reader.fail(section, f"missing {', '.join(missing)} (or a set)")
    try:
        return IntercalationMaterial(**values)
    except ValueError as error:
        raise reader.fail(section, str(error)) from None


def _read_swelling_material(reader, values: Any, section: str) -> SwellingMaterial:
    """``[micro.materials.<phase>]``: E [Pa], nu, Omega [m³/mol] (0: the phase does not swell)."""
    reader.keys(values, section, ("E", "nu", "Omega"), required=("E", "nu"))
    try:
        return SwellingMaterial(*(reader.number(values, section, key, 0.0)
                                  for key in ("E", "nu", "Omega")))
    except ValueError as error:
        raise reader.fail(section, str(error)) from None


def _write_profiles(profiles: list[tuple[float, NDArray]], out: Path) -> None:
    """profiles.csv, profiles.png (c, σ_r, σ_θ against r at up to six times) and
    stress_history.png (σ_θ at the surface and σ_r at the centre against t)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["t_s,r_m,c_mol_per_m3,sigma_r_Pa,sigma_theta_Pa"]
    for t, p in profiles:
        rows += [f"{t:.9g},{r:.9g},{c:.12g},{sr:.12g},{st:.12g}" for r, c, sr, st in p]
    (out / "profiles.csv").write_text("\n".join(rows) + "\n")
    chosen = profiles if len(profiles) <= 6 else [
        profiles[int(k)] for k in np.linspace(0, len(profiles) - 1, 6)]
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    for t, p in chosen:
        for axis, column in zip(axes, (1, 2, 3), strict=True):
            scale = 1.0 if column == 1 else 1e-6
            axis.plot(p[:, 0] * 1e6, p[:, column] * scale, label=f"t = {t:.4g} s")
    for axis, (label, title) in zip(axes, (("c [mol/m³]", "lithium concentration"),
                                           ("σ_r [MPa]", "radial stress"),
                                           ("σ_θ [MPa]", "hoop stress")), strict=True):
        axis.set(xlabel="r [µm]", ylabel=label, title=title)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "profiles.png", dpi=120)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(6, 4))
    t = np.array([t for t, _ in profiles])
    axis.plot(t, [p[-1, 3] * 1e-6 for _, p in profiles], label="σ_θ at the surface")
    axis.plot(t, [p[0, 2] * 1e-6 for _, p in profiles], label="σ_r at the centre")
    axis.set(xlabel="t [s]", ylabel="stress [MPa]", title="particle stresses over time")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "stress_history.png", dpi=120)
    plt.close(figure)


DEFINITION = ChemoMechanics
