"""Electrolyte transport across negative electrode | separator | positive electrode
(concentrated-solution theory, prescribed uniform reaction): unknowns c_e [mol/m³] and
φ_e [V].

    ε ∂c_e/∂t = ∇·(D_eff(c_e) ∇c_e) + (1 − t⁺) a·j / F
    ∇·i_e = a·j,   i_e = κ_eff(c_e) [−∇φ_e + (2RT/F)(1 − t⁺) χ ∇ln c_e]

with a·j [A/m³] = +I/L_n in the negative electrode, −I/L_p in the positive one, 0 in the
separator (galvanostatic discharge at current density I [A/m²]; L = region volume / collector
area), zero flux and zero current through every boundary, χ = 1 + d ln f±/d ln c the
thermodynamic factor. The electrolyte (fe2.physics.electrolytes) gives D(c), κ(c), t⁺, χ.
Every region of the mesh takes a law (``[regions.<group>]``):

- ``law = "bruggeman"``: D_eff = D(c) ε^α I, κ_eff = κ(c) ε^α I (``porosity`` ε, ``bruggeman`` α);
- ``law = "rve"``: the periodic cell of the pore space (``mesh``, ``phases``: the
  electrolyte-filled phases), ε its pore fraction. Every pore phase carries the same
  electrolyte, so its coefficients depend on c only through one common factor and
  D_eff(c) = D(c) H, κ_eff(c) = κ(c) H with H the cell's tensor for unit coefficient
  (exact): ``method = "precomputed"`` (and ``"auto"``) solves one cell problem per region;
  ``method = "fe2"`` solves the cell problem again at every quadrature point with the point's
  c (``rve`` coupling, answers q = D_eff ∇c and i_e = κ_eff·drive).

Steady cases (``[loading]``) have no storage term; c_e then needs a prescribed value somewhere
(the reaction integrates to zero, so it only sets the level). Transient cases (``[time]``)
start from the uniform ``initial_concentration``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.definition import Field, MicroCoupling
from fe2.core.errors import ConfigError
from fe2.physics.electrolytes import ELECTROLYTES, Electrolyte, constant
from fe2.rve.factory import MicroSpec

__all__ = ["DEFINITION", "ElectrolyteCell", "PorousElectrode", "RegionLaw", "check_collectors",
           "electrolyte_fields"]

log = logging.getLogger(__name__)

FARADAY = 96485.33212  # [C/mol]
GAS_CONSTANT = 8.314462618  # [J/(mol K)]
METHODS = ("auto", "precomputed", "fe2")
LAWS = ("bruggeman", "rve")
ELECTRODES = ("negative", "positive", "none")
COLLECTORS = ("negative_current_collector", "positive_current_collector")
_RVE_KEYS = ("mesh", "mesh_order", "size_factor", "parameters", "mesh_dir", "degree", "bc")


@dataclass(frozen=True)
class RegionLaw:
    """``[regions.<group>]``: its law, porosity ε [-] (rve: from the cell), Bruggeman α [-],
    the electrode it belongs to (sign of a·j) and the RVE (law "rve")."""

    name: str
    law: str
    electrode: str
    porosity: float | None = None
    bruggeman: float = 1.5
    rve: MicroSpec | None = None
    phases: tuple[str, ...] = ()


class ElectrolyteCell:
    """FE² micro model of a pore-space cell filled with the electrolyte.

    Generalized strain (∇c, drive, c), answer (q, i) = (D_hom(c) ∇c, κ_hom(c) drive), where
    D_hom(c) and κ_hom(c) come from the cell problem re-solved with the pore coefficients D(c)
    and κ(c). Since every pore phase carries the same electrolyte, D_hom is homogeneous of
    degree one in that coefficient: ∂D_hom/∂c = D'(c)/D(c) D_hom (likewise for κ), exact.
    """

    state_size = 0
    iterations = 0
    is_linear = False

    def __init__(self, rve, phases: tuple[str, ...], electrolyte: Electrolyte) -> None:
        self.rve, self.phases, self.electrolyte = rve, phases, electrolyte
        self.gdim = rve.n_strain
        self.n_strain, self.n_stress = 2 * self.gdim + 1, 2 * self.gdim

    def initial_state(self) -> NDArray:
        return np.zeros(0)

    def tensors(self, c: float) -> tuple[NDArray, NDArray]:
        """(D_hom, κ_hom) at c [mol/m³]: two cell problems."""
        e = self.electrolyte
        return (self.rve.rescaled(dict.fromkeys(self.phases, float(e.D(c)))),
                self.rve.rescaled(dict.fromkeys(self.phases, float(e.kappa(c)))))

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        g = self.gdim
        gradient, drive, c = strain[:g], strain[g:2 * g], float(strain[-1])
        e = self.electrolyte
        D_hom, K_hom = self.tensors(c)
        q, i = D_hom @ gradient, K_hom @ drive
        tangent = np.zeros((self.n_stress, self.n_strain))
        tangent[:g, :g] = D_hom
        tangent[g:, g:2 * g] = K_hom
        tangent[:g, -1] = float(e.dD(c)) / float(e.D(c)) * q
        tangent[g:, -1] = float(e.dkappa(c)) / float(e.kappa(c)) * i
        return np.concatenate([q, i]), tangent, state

    def destroy(self) -> None:
        """Nothing held between solves (every solve frees its factorization)."""


class PorousElectrode:
    """The porous-electrode electrolyte definition (see module docstring)."""

    kind: ClassVar[str] = "porous_electrode"
    tables: ClassVar[tuple[str, ...]] = ("electrolyte", "regions")
    fluxes: ClassVar[dict[str, str]] = {}

    def __init__(self, case, electrolyte: Electrolyte, regions: dict[str, RegionLaw],
                 current: float, temperature: float, c0: float, method: str,
                 compare: bool) -> None:
        self.case, self.electrolyte, self.regions = case, electrolyte, regions
        self.current, self.temperature, self.c0 = current, temperature, c0
        self.method, self.compare = method, compare
        self.transient = case.stepping.variable == "time"
        self.profiles: list[tuple[float, NDArray, NDArray, NDArray]] = []
        self._amount: float | None = None

    # ------------------------------------------------------------------ case
    @classmethod
    def from_case(cls, case) -> PorousElectrode:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", ("kind", "current_density", "temperature",
                                         "initial_concentration", "method", "compare_methods"),
                    required=("current_density",))
        current = reader.number(physics, "physics", "current_density", 0.0)
        temperature = reader.number(physics, "physics", "temperature", 298.15)
        if not temperature > 0:
            raise reader.fail("physics", f"temperature = {temperature}: must be positive [K]")
        c0 = reader.number(physics, "physics", "initial_concentration", 1000.0)
        if not c0 > 0:
            raise reader.fail("physics", f"initial_concentration = {c0}: must be positive "
                                         "[mol/m³] (the weak form takes ln c_e)")
        method = reader.string(physics, "physics", "method", METHODS, default="auto")
        compare = physics.get("compare_methods", False)
        if not isinstance(compare, bool):
            raise reader.fail("physics", f"compare_methods must be true or false, got "
                                         f"{compare!r}")
        if "electrolyte" not in case.raw:
            raise reader.fail("", "missing table [electrolyte] (model = "
                                  f"{', '.join((*ELECTROLYTES, 'constant'))})")
        electrolyte = _read_electrolyte(reader, reader.table(case.raw, "", "electrolyte"))
        if "regions" not in case.raw:
            raise reader.fail("", "missing table [regions.<group>] (one per domain group of "
                                  "the macro mesh, with law = \"bruggeman\" or \"rve\")")
        regions = {name: _read_region(reader, case.path, name, table) for name, table in
                   reader.table(case.raw, "", "regions").items()}
        return cls(case, electrolyte, regions, current, temperature, c0, method, compare)

    def check_mesh(self, mesh_data) -> None:
        where = f"{self.case.path}: [regions]"
        groups = mesh_data.domain_names()
        missing = [g for g in groups if g not in self.regions]
        if missing:
            raise ConfigError(f"{where} the domain group(s) {missing} of {mesh_data.path.name} "
                              f"have no law: add [regions.{missing[0]}] with law = "
                              "\"bruggeman\" (porosity) or \"rve\" (mesh)")
        unknown = [name for name in self.regions if name not in groups]
        if unknown:
            raise ConfigError(f"{where} {unknown}: not domain groups of {mesh_data.path.name} "
                              f"(it has {groups})")
        check_collectors(self.case.path, mesh_data)

    def fields(self, gdim: int) -> tuple[Field, ...]:
        return electrolyte_fields(self.case.degree, self.c0)

    def quadrature_degree(self, degree: int) -> int:
        return 2 * degree

    # ------------------------------------------------------------------ regions and cells
    def couplings(self, comm: MPI.Comm, mesh_data) -> list[MicroCoupling]:
        """Cell problems (one per rve region, solved on every rank), the per-cell porosity,
        relative tensor and reaction, and the FE² coupling when method = "fe2"."""
        import ufl
        from dolfinx import fem

        mesh, gdim = mesh_data.mesh, mesh_data.mesh.geometry.dim
        self.mesh_data, self.comm = mesh_data, comm
        self.cells, self.setup_times = {}, {}
        for name, region in self.regions.items():
            if region.law == "rve":
                start = time.perf_counter()
                self.cells[name] = self._cell(region, comm, gdim)
                self.setup_times[name] = time.perf_counter() - start
        Q0 = fem.functionspace(mesh, ("DG", 0))
        T0 = fem.functionspace(mesh, ("DG", 0, (gdim, gdim)))
        self.porosity, self.source = fem.Function(Q0), fem.Function(Q0)
        self.relative = fem.Function(T0)
        self.region_data: dict[str, dict[str, Any]] = {}
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=mesh_data.cell_tags)
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=mesh_data.facet_tags)
        one = fem.Constant(mesh, 1.0)
        area = comm.allreduce(fem.assemble_scalar(fem.form(
            one * ds(mesh_data.group(COLLECTORS[0], mesh_data.tdim - 1).tag))), op=MPI.SUM)
        self.area = area
        for name, region in self.regions.items():
            cells = mesh_data.cells(name)
            if region.law == "rve":
                rve = self.cells[name]
                porosity = sum(rve.volume_fractions[p] for p in region.phases)
                H = np.array(rve.tangent)
            else:
                porosity = region.porosity
                H = porosity ** region.bruggeman * np.eye(gdim)
            volume = comm.allreduce(fem.assemble_scalar(fem.form(
                one * dx(mesh_data.group(name, mesh_data.tdim).tag))), op=MPI.SUM)
            thickness = volume / area
            aj = {"negative": 1.0, "positive": -1.0, "none": 0.0}[region.electrode] * \
                self.current / thickness
            self.porosity.x.array[cells] = porosity
            self.source.x.array[cells] = aj
            self.relative.x.array.reshape(-1, gdim * gdim)[cells] = H.ravel()
            self.region_data[name] = self._describe(region, porosity, H, thickness, aj)
        for function in (self.porosity, self.source, self.relative):
            function.x.scatter_forward()
        fe2 = self.method == "fe2"
        models = {name: ElectrolyteCell(self.cells[name], self.regions[name].phases,
                                        self.electrolyte) for name in self.cells} if fe2 else {}
        self._facet_forms(mesh_data)
        if not models:
            return []
        return [MicroCoupling(
            "rve", lambda fields: {"gradient": ufl.grad(fields["c_e"]),
                                   "drive": self._drive(fields["c_e"], fields["phi_e"]),
                                   "c_e": fields["c_e"]},
            {"flux": (gdim,), "current": (gdim,)}, models, len(self.cells))]

    def _cell(self, region: RegionLaw, comm: MPI.Comm, gdim: int):
        """The region's cell problem with unit coefficient in its pore phases (every rank)."""
        from fe2.io.mesh import load_mesh
        from fe2.io.meshing import prepare_mesh
        from fe2.rve.linear import LinearRVE
        from fe2.rve.percolation import PercolationError, check_percolation

        spec = region.rve
        where = f"{self.case.path}: [regions.{region.name}]"
        data = load_mesh(prepare_mesh(spec.rve, self.case.path, comm), MPI.COMM_SELF)
        phases = data.domain_names()
        unknown = [p for p in region.phases if p not in phases]
        if unknown or data.mesh.geometry.dim != gdim:
            raise ConfigError(f"{where} phases {unknown} are not phases of {data.path.name} "
                              f"({phases})" if unknown else
                              f"{where} the cell {data.path.name} is "
                              f"{data.mesh.geometry.dim}D, the macro mesh {gdim}D")
        try:  # before the solve: a pore split into clusters would make it singular
            check_percolation(data, list(region.phases), periodic=spec.rve.bc == "periodic")
        except PercolationError as error:
            raise ConfigError(f"{where} {error}") from None
        rve = LinearRVE(data, {p: np.eye(gdim) for p in region.phases}, "scalar",
                        spec.rve.degree, spec.rve.bc)
        if np.min(np.diag(rve.tangent)) <= 1e-10:
            raise ConfigError(f"{where} the pore phases {list(region.phases)} of "
                              f"{data.path.name} do not percolate across the cell (an "
                              "effective diffusivity of zero: the tortuosity is infinite)")
        return rve

    def _describe(self, region: RegionLaw, porosity: float, H: NDArray, thickness: float,
                  aj: float) -> dict[str, Any]:
        """What summary.json reports for a region (at the initial concentration)."""
        e, c0 = self.electrolyte, self.c0
        diagonal = np.diag(H)
        return {"law": region.law, "electrode": region.electrode, "porosity": porosity,
                "thickness_m": thickness, "reaction_A_per_m3": aj,
                "relative_D_eff": H.tolist(), "tortuosity": (porosity / diagonal).tolist(),
                "bruggeman_exponent": (np.log(diagonal) / np.log(porosity)).tolist()
                if porosity < 1 else None,
                "D_eff_at_c0_m2_per_s": (float(e.D(c0)) * diagonal).tolist(),
                "kappa_eff_at_c0_S_per_m": (float(e.kappa(c0)) * diagonal).tolist()}

    # ------------------------------------------------------------------ weak form
    def _drive(self, c, phi):
        """−∇φ_e + (2RT/F)(1 − t⁺) χ ∇ln c_e [V/m]."""
        import ufl

        e = self.electrolyte
        nu = 2 * GAS_CONSTANT * self.temperature / FARADAY * (1 - e.t_plus) * \
            e.thermodynamic_factor
        return -ufl.grad(phi) + nu * ufl.grad(c) / c

    def _closed_form(self, c, phi):
        """(q, i_e) of the precomputed and Bruggeman laws: D(c) H ∇c, κ(c) H drive."""
        import ufl

        e = self.electrolyte
        return (e.D(c) * ufl.dot(self.relative, ufl.grad(c)),
                e.kappa(c) * ufl.dot(self.relative, self._drive(c, phi)))

    def residual(self, weak):
        import ufl

        c, phi = weak.fields["c_e"], weak.fields["phi_e"]
        v, w = weak.tests["c_e"], weak.tests["phi_e"]
        q, i = self._closed_form(c, phi)
        form = (ufl.dot(q, ufl.grad(v)) + ufl.dot(i, ufl.grad(w))) * weak.dx_outside
        if "rve" in weak.micro:
            answers = weak.micro["rve"]
            form += (ufl.dot(answers["flux"], ufl.grad(v))
                     + ufl.dot(answers["current"], ufl.grad(w))) * weak.dx
        aj = weak.load_factor * self.source
        form += (aj * w - (1 - self.electrolyte.t_plus) * aj / FARADAY * v) * weak.dx
        if self.transient:
            form += self.porosity * (c - weak.previous["c_e"]) / weak.dt * v * weak.dx
        return form

    # ------------------------------------------------------------------ outputs
    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        c, phi = problem.fields_ufl["c_e"], problem.fields_ufl["phi_e"]
        q, i = self._closed_form(c, phi)
        return {"flux": problem.cell_average(problem.point_values("rve", "flux", q)),
                "current": problem.cell_average(problem.point_values("rve", "current", i))}

    def _facet_forms(self, mesh_data) -> None:
        import ufl
        from dolfinx import fem

        mesh = mesh_data.mesh
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=mesh_data.facet_tags)
        self._collector_ds = [ds(mesh_data.group(n, mesh_data.tdim - 1).tag)
                              for n in COLLECTORS]
        self._one = fem.Constant(mesh, 1.0)

    def scalars(self, problem) -> dict[str, float]:
        """Per step: the electrolyte amount ∫ε c dx [mol per unit thickness in 2D], the
        step's source dt ∫(1 − t⁺)a·j/F dx and the mass balance error relative to the amount
        the reactions exchange, dt ∫|(1 − t⁺)a·j/F| dx; c_e and φ_e drops (negative minus
        positive current collector). Keeps the step's profiles for the report."""
        import ufl
        from dolfinx import fem

        comm = problem.comm
        c, phi = problem.fields_ufl["c_e"], problem.fields_ufl["phi_e"]
        dx = ufl.dx(domain=problem.mesh)

        def total(expression, measure=dx) -> float:
            return comm.allreduce(fem.assemble_scalar(fem.form(expression * measure)),
                                  op=MPI.SUM)

        means = [[total(f, ds) / total(self._one, ds) for ds in self._collector_ds]
                 for f in (c, phi)]
        result = {"concentration_drop": means[0][0] - means[0][1],
                  "potential_drop": means[1][0] - means[1][1],
                  "c_e_min": comm.allreduce(float(np.min(problem.owned_values("c_e")[1],
                                                         initial=np.inf)), op=MPI.MIN)}
        if self.transient:
            rate = (1 - self.electrolyte.t_plus) / FARADAY * problem.step.load_factor
            amount = total(self.porosity * c)
            previous = self._amount if self._amount is not None else total(
                self.porosity * self.c0 * self._one)
            source = problem.step.dt * rate * total(self.source)
            exchanged = problem.step.dt * abs(rate) * total(abs(self.source))
            result.update(electrolyte_amount=amount, source_amount=source,
                          mass_balance_error=(amount - previous - source) / exchanged)
            self._amount = amount
        self._keep_profiles(problem)
        return result

    def _keep_profiles(self, problem) -> None:
        """c_e and φ_e against x (nodal values averaged over the points of one x), on rank 0."""
        parts = [problem.owned_values(name) for name in ("c_e", "phi_e")]
        gathered = problem.comm.gather((parts[0][0][:, 0], parts[0][1][:, 0],
                                        parts[1][1][:, 0]), root=0)
        if problem.comm.rank != 0:
            return
        x, c, phi = (np.concatenate(values) for values in zip(*gathered, strict=True))
        size = max(np.ptp(x), 1e-300)
        keys, inverse = np.unique(np.round(x / size, 9), return_inverse=True)
        counts = np.bincount(inverse)
        self.profiles.append((problem.step.t, keys * size,
                              np.bincount(inverse, c) / counts,
                              np.bincount(inverse, phi) / counts))

    def report(self, problem, out: Path) -> dict[str, Any]:
        """profiles.csv and profiles.png (rank 0) and the summary entries: method, regions
        (ε, D_eff, κ_eff, τ), cell set-up times and, with compare_methods, both methods'
        micro answers at the final state timed and compared."""
        entry: dict[str, Any] = {
            "method": "fe2" if self.method == "fe2" else "precomputed",
            "electrolyte": self.electrolyte.name, "t_plus": self.electrolyte.t_plus,
            "current_density_A_per_m2": self.current, "regions": self.region_data,
            "cell_setup_time_s": self.setup_times}
        if self.compare and self.cells:
            entry["comparison"] = self._compare(problem)
        if problem.comm.rank == 0 and self.profiles:
            _write_profiles(self.profiles, out)
        return {"porous_electrode": entry}

    def _compare(self, problem) -> dict[str, Any]:
        """Both methods' answers (D_eff, κ_eff) at every owned point of the rve regions at
        the final c_e: times [s] (slowest rank) and the largest relative difference."""
        comm = problem.comm
        c_points = problem.point_values("", "", problem.fields_ufl["c_e"])[:, 0]
        mesh_data, n_points = self.mesh_data, problem.rule.n_points
        times, difference, count = {"fe2": 0.0, "precomputed": 0.0}, 0.0, 0
        for name, rve in self.cells.items():
            model = ElectrolyteCell(rve, self.regions[name].phases, self.electrolyte)
            cells = mesh_data.cells(name)
            cells = cells[cells < problem.rule.n_cells]
            values = c_points[(cells[:, None] * n_points + np.arange(n_points)).ravel()]
            start = time.perf_counter()
            full = [model.tensors(c) for c in values]
            times["fe2"] += time.perf_counter() - start
            start = time.perf_counter()
            e, H = self.electrolyte, rve.tangent
            fast = [(e.D(c) * H, e.kappa(c) * H) for c in values]
            times["precomputed"] += time.perf_counter() - start
            for (D1, K1), (D2, K2) in zip(full, fast, strict=True):
                difference = max(difference, np.abs(D1 - D2).max() / np.abs(D2).max(),
                                 np.abs(K1 - K2).max() / np.abs(K2).max())
            count += len(values)
        return {"points": comm.allreduce(count, op=MPI.SUM),
                "fe2_time_s": comm.allreduce(times["fe2"], op=MPI.MAX),
                "precomputed_time_s": comm.allreduce(times["precomputed"], op=MPI.MAX),
                "max_relative_difference": comm.allreduce(difference, op=MPI.MAX)}


def check_collectors(case: Path, mesh_data) -> None:
    """The macro mesh of a cell has both current-collector facet groups (ConfigError)."""
    absent = [name for name in COLLECTORS if name not in mesh_data.boundary_names()]
    if absent:
        raise ConfigError(f"{case}: the macro mesh {mesh_data.path.name} needs the boundary "
                          f"groups {list(COLLECTORS)} (missing {absent})")


def electrolyte_fields(degree: int, c0: float, phi0: float = 0.0) -> tuple[Field, Field]:
    """c_e [mol/m³] (starting at c0) and φ_e [V] (starting at phi0) of a cell."""
    return (Field("c_e", False, ("c_e",), degree, label="electrolyte concentration [mol/m³]",
                  initial=c0),
            Field("phi_e", False, ("phi_e",), degree, label="electrolyte potential [V]",
                  initial=phi0))


# --------------------------------------------------------------------------- reading
def _read_electrolyte(reader, table: dict[str, Any]) -> Electrolyte:
    section = "electrolyte"
    model = reader.string(table, section, "model", (*ELECTROLYTES, "constant"))
    if model != "constant":
        reader.keys(table, section, ("model",))
        return ELECTROLYTES[model]()
    keys = ("D", "kappa", "t_plus", "thermodynamic_factor")
    reader.keys(table, section, ("model", *keys), required=keys[:3])
    try:
        return constant(*(reader.number(table, section, key, 1.0) for key in keys))
    except ValueError as error:
        raise reader.fail(section, str(error)) from None


def _read_region(reader, path: Path, name: str, table: Any) -> RegionLaw:
    section = f"regions.{name}"
    if not isinstance(table, dict):
        raise reader.fail(section, f"must be a table, got {table!r}")
    law = reader.string(table, section, "law", LAWS)
    electrode = reader.string(table, section, "electrode", ELECTRODES, default="none")
    if law == "bruggeman":
        reader.keys(table, section, ("law", "electrode", "porosity", "bruggeman"),
                    required=("porosity",))
        porosity = reader.number(table, section, "porosity", 0.0)
        if not 0 < porosity <= 1:
            raise reader.fail(section, f"porosity = {porosity}: must lie in (0, 1]")
        alpha = reader.number(table, section, "bruggeman", 1.5)
        if not alpha >= 0:
            raise reader.fail(section, f"bruggeman = {alpha}: the exponent must be at least 0")
        return RegionLaw(name, law, electrode, porosity, alpha)
    reader.keys(table, section, ("law", "electrode", "phases", *_RVE_KEYS),
                required=("mesh", "phases"))
    phases = table["phases"]
    if (not isinstance(phases, list) or not phases
            or not all(isinstance(p, str) for p in phases)):
        raise reader.fail(section, f"phases must be a non-empty list of the electrolyte-filled "
                                   f"phases of the cell, got {phases!r}")
    rve = reader.rve({k: v for k, v in table.items() if k in _RVE_KEYS}, section)
    spec = MicroSpec(rve, 1e-10, 1, name, tuple((p, 1.0) for p in phases), (), section)
    return RegionLaw(name, law, electrode, rve=spec, phases=tuple(phases))


def _write_profiles(profiles: list, out: Path) -> None:
    """profiles.csv (t [s], x [m], c_e [mol/m³], φ_e [V]) and profiles.png (rank 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["t_s,x_m,c_e_mol_per_m3,phi_e_V"]
    for t, x, c, phi in profiles:
        rows += [f"{t:.9g},{a:.9g},{b:.12g},{d:.12g}" for a, b, d in zip(x, c, phi, strict=True)]
    (out / "profiles.csv").write_text("\n".join(rows) + "\n")
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    chosen = profiles if len(profiles) <= 6 else [
        profiles[int(k)] for k in np.linspace(0, len(profiles) - 1, 6)]
    for t, x, c, phi in chosen:
        axes[0].plot(x * 1e6, c, label=f"t = {t:.4g} s")
        axes[1].plot(x * 1e6, phi * 1e3, label=f"t = {t:.4g} s")
    axes[0].set(xlabel="x [µm]", ylabel="c_e [mol/m³]", title="electrolyte concentration")
    axes[1].set(xlabel="x [µm]", ylabel="φ_e [mV]", title="electrolyte potential")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "profiles.png", dpi=120)
    plt.close(figure)


DEFINITION = PorousElectrode
