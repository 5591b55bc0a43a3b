"""Small-strain mechanics: displacement u [length], strain and stress in Mandel notation.

    residual(u; v) = ∫ σ · ε(v) dx − λ ∫ t · v ds,   ε(u) = Mandel(sym ∇u)

σ is the homogenized stress of an RVE at every quadrature point (``[micro]``: the generalized
strain is ε(u), the answer σ with the tangent ∂σ/∂ε), or, where no RVE is given, the closed-form
isotropic elastic law of ``[material]`` (single scale). Tables::

    [physics]  kind = "mechanics", model = "plane_strain" | "3d"
    [material] E, nu                     (closed-form law outside the micro regions)
    [micro]    mesh, degree, bc, rtol, max_iterations, region, energy (the UFL text of every
               "energy" phase without its own), [micro.materials.<phase>]
               with law = "elastic" (E, nu) | "j2" (E, nu, yield_stress, hardening,
               kinematic_hardening) | "energy" (energy = UFL text in eps, and parameters
               named freely: a Python keyword such as lambda is renamed internally)
               | "phase_field" (E, nu, Gc, ell, k_ell: the phase cracks, AT2; the RVE is then
               fe2.rve.damage's, with ``split`` in [micro])
    [boundary.<group>] ux, uy, uz, traction = [tx, ty(, tz)]
"""

from __future__ import annotations

import io
import keyword
import logging
import tokenize
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from fe2.core.definition import Field, MicroCoupling
from fe2.core.errors import ConfigError
from fe2.laws.fracture import SPLITS, FractureMaterial
from fe2.laws.mandel import mandel_strain, n_mandel
from fe2.laws.materials import MECHANICS_MODELS, IsotropicElastic
from fe2.rve.factory import (
    MicroSpec,
    check_closed_form,
    check_materials,
    damage_rve,
    homogenized_tangent,
    nonlinear_rve,
    read_micro,
)

__all__ = ["CELL", "DEFINITION", "LAWS", "MechanicsCell", "mechanics_constants",
           "stiffness_anisotropy", "LawSpec", "Mechanics", "make_law", "rigid_body_modes",
           "strain"]

log = logging.getLogger(__name__)
MODELS = ("plane_strain", "3d")
LAWS = {"elastic": ("E", "nu"),
        "j2": ("E", "nu", "yield_stress", "hardening", "kinematic_hardening"),
        "energy": ("energy",),
        "phase_field": ("E", "nu", "Gc", "ell", "k_ell")}
_LAW_REQUIRED = {"elastic": ("E", "nu"), "j2": ("E", "nu", "yield_stress"), "energy": ("energy",),
                 "phase_field": ("E", "nu", "Gc", "ell")}
_ENERGY_NAMES = ("tr", "inner", "dot", "dev", "sym", "det", "sqrt", "exp", "ln", "cos", "sin",
                 "tanh", "conditional", "gt", "lt")


@dataclass(frozen=True)
class LawSpec:
    """A micro material: ``law`` name and its numeric ``parameters`` (UFL text for energy)."""

    law: str
    parameters: tuple[tuple[str, float], ...]
    energy: str = ""


strain = mandel_strain  # ε(u) in Mandel notation (UFL)


def read_law(reader, values: Any, section: str) -> LawSpec:
    """One ``[micro.materials.<phase>]`` table."""
    if not isinstance(values, dict):
        raise reader.fail(section, f"must be a table, got {values!r}")
    law = reader.string(values, section, "law", tuple(LAWS), default="elastic")
    if law == "energy":  # checked by _with_energy once the [micro] energy is known
        energy = reader.string(values, section, "energy") if "energy" in values else ""
        return LawSpec(law, tuple((k, reader.number(values, section, k, 0.0))
                                  for k in values if k not in ("law", "energy")), energy)
    reader.keys(values, section, ("law", *LAWS[law]), required=_LAW_REQUIRED[law])
    spec = LawSpec(law, tuple((k, reader.number(values, section, k, 0.0))
                              for k in LAWS[law] if k in values))
    try:  # the laws check their own parameters
        make_law(spec)
    except ValueError as error:
        raise reader.fail(section, str(error)) from None
    return spec


def make_law(spec: LawSpec):
    """A point law (fe2.laws.pointwise) from its case entry; for "phase_field" the
    FractureMaterial of a damaging RVE phase (fe2.rve.damage)."""
    from fe2.laws.pointwise import Elastic, J2Plasticity, UFLEnergyLaw

    parameters = dict(spec.parameters)
    if spec.law == "phase_field":
        return FractureMaterial(**parameters)
    if spec.law == "elastic":
        return Elastic(**parameters)
    if spec.law == "j2":
        return J2Plasticity(**parameters)
    return UFLEnergyLaw(_energy_function(spec.energy, parameters))


def _with_energy(reader, spec: MicroSpec) -> MicroSpec:
    """``spec`` with the ``[micro] energy`` text given to every ``law = "energy"`` phase that
    has none of its own (the energy written once, its parameters per phase); every energy law
    is checked now, so that a typo is a config error naming its table."""
    shared, materials = spec.option("energy", ""), []
    for phase, law in spec.materials:
        section = f"{spec.section}.materials.{phase}"
        if law.law == "energy":
            if not law.energy and not shared:
                raise reader.fail(section, 'law = "energy" needs energy = "<UFL text in eps>" '
                                           f"here or once in [{spec.section}]")
            law = replace(law, energy=law.energy or shared)
            try:
                make_law(law)
            except ValueError as error:
                raise reader.fail(section, str(error)) from None
        materials.append((phase, law))
    if shared and not any(law.law == "energy" for _, law in materials):
        raise reader.fail(spec.section, 'energy is given but no phase has law = "energy"')
    return replace(spec, materials=tuple(materials))


def _python_names(text: str, parameters: dict[str, float]) -> tuple[str, dict[str, float]]:
    """The energy text and parameters with every parameter named like a Python keyword
    (``lambda``, ``in``...) renamed in both (``lambda`` → ``lambda_``, underscores added until
    the name is free), so that parameters are named freely."""
    taken = set(parameters) | set(_ENERGY_NAMES) | {"eps", "I"}
    renamed = {}
    for name in parameters:
        if keyword.iskeyword(name):
            new = name + "_"
            while new in taken:
                new += "_"
            renamed[name] = new
            taken.add(new)
    if not renamed:
        return text, parameters
    try:
        tokens = [(kind, renamed.get(word, word) if kind == tokenize.NAME else word)
                  for kind, word, *_ in tokenize.generate_tokens(io.StringIO(text).readline)]
    except (tokenize.TokenError, SyntaxError):  # reported by compile() on the original text
        return text, parameters
    return (tokenize.untokenize(tokens),
            {renamed.get(name, name): value for name, value in parameters.items()})


def _energy_function(text: str, parameters: dict[str, float]):
    """The user's strain-energy density (UFL text in ``eps`` and the parameters) as a callable;
    its names are checked on a symbolic strain."""
    import ufl

    reserved = sorted(set(parameters) & {"eps", "I", *_ENERGY_NAMES})
    if reserved:
        raise ValueError(f"energy parameter(s) {reserved} would hide the strain or a function "
                         f"of the same name: rename them")
    names = ", ".join(sorted({*_ENERGY_NAMES, *parameters}))
    source = text
    text, parameters = _python_names(text, parameters)
    namespace = {name: getattr(ufl, name) for name in _ENERGY_NAMES}
    namespace.update(parameters, I=ufl.Identity(3))
    try:
        code = compile(text, "<energy>", "eval")
    except SyntaxError as error:
        raise ValueError(f"energy = {source!r}: not a valid expression: {error.msg}") from None

    def energy(eps):
        return eval(code, {"__builtins__": {}}, {**namespace, "eps": eps})  # noqa: S307

    try:
        energy(ufl.as_matrix([[0.1, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.3]]))
    except Exception as error:
        raise ValueError(f"energy = {source!r}: {type(error).__name__}: {error} (names "
                         f"available: eps, I, {names})") from None
    return energy


def _is_damaging(spec: MicroSpec) -> bool:
    return any(law.law == "phase_field" for _, law in spec.materials)


def _check_damage_phases(reader, spec: MicroSpec) -> None:
    """A damaging RVE combines phase-field phases with elastic ones only."""
    others = sorted({law.law for _, law in spec.materials} - {"phase_field", "elastic"})
    if _is_damaging(spec) and others:
        raise reader.fail(f"{spec.section}.materials", f"law = \"phase_field\" combines with "
                                                       f"\"elastic\" phases only, not {others}")


def _is_linear(spec: MicroSpec) -> bool:
    return all(law.law == "elastic" for _, law in spec.materials)


class Mechanics:
    """The mechanics definition (see module docstring)."""

    kind: ClassVar[str] = "mechanics"
    tables: ClassVar[tuple[str, ...]] = ("micro", "material")
    fluxes: ClassVar[dict[str, str]] = {"traction": "u"}

    def __init__(self, case, model: str, micro: list[MicroSpec],
                 material: IsotropicElastic | None) -> None:
        self.case, self.model, self.micro, self.material = case, model, micro, material
        # (StepContext, per-point values, smallest over all ranks): see _ellipticity
        self._ellipticity_of_step = (None, None, None)
        self._localized = False  # the loss of ellipticity was reported

    @classmethod
    def from_case(cls, case) -> Mechanics:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", ("kind", "model"), required=("model",))
        model = reader.string(physics, "physics", "model", MODELS)
        micro = [_with_energy(reader, spec) for spec in read_micro(
            reader, case.raw, lambda values, section: read_law(reader, values, section),
            lambda table, section: {
                "split": reader.string(table, section, "split", SPLITS, default="none"),
                "energy": reader.string(table, section, "energy", default="")},
            ("split", "energy"))]
        for spec in micro:
            _check_damage_phases(reader, spec)
        material = None
        if "material" in case.raw:
            material = reader.numbers(case.raw, "material", IsotropicElastic, ("E", "nu"),
                                      ("E", "nu"))
        check_closed_form(reader, micro, material is not None, "mechanics", "E and nu")
        return cls(case, model, micro, material)

    def check_mesh(self, mesh_data) -> None:
        gdim = mesh_data.mesh.geometry.dim
        if (gdim == 3) != (self.model == "3d"):
            raise ConfigError(f"{self.case.path}: [physics] model = {self.model!r} does not fit "
                              f"the {gdim}D macro mesh {mesh_data.path.name} (2D: plane_strain, "
                              "3D: 3d)")

    def fields(self, gdim: int) -> tuple[Field, ...]:
        return (Field("u", True, ("ux", "uy", "uz"), self.case.degree,
                      label="displacement"),)

    def quadrature_degree(self, degree: int) -> int:
        return max(1, 2 * (degree - 1))

    def couplings(self, comm, mesh_data) -> list[MicroCoupling]:
        if not self.micro:
            return []
        models, homogenizations = {}, 0
        for spec in self.micro:
            if spec.region is not None:
                mesh_data.group(spec.region, mesh_data.tdim)  # a clear MeshError if absent
            if _is_linear(spec):
                from fe2.core.micro import HomogenizedModel

                models[spec.region] = HomogenizedModel(
                    homogenized_tangent(spec, self.case.path, comm, self._linear_tangent(spec)))
                homogenizations += 1
            elif _is_damaging(spec):
                phases = {phase: make_law(law) if law.law == "phase_field" else
                          IsotropicElastic(**dict(law.parameters))
                          for phase, law in spec.materials}
                models[spec.region] = damage_rve(spec, self.case.path, comm, phases, self.model,
                                                 spec.option("split", "none"),
                                                 self.case.rve_ranks)
            else:
                laws = {phase: make_law(law) for phase, law in spec.materials}
                models[spec.region] = nonlinear_rve(spec, self.case.path, comm, laws,
                                                    self.model, self.case.rve_ranks)
        return [MicroCoupling("rve", lambda fields: {"strain": strain(fields["u"])},
                              {"stress": (n_mandel(mesh_data.mesh.geometry.dim),)}, models,
                              homogenizations)]

    def _linear_tangent(self, spec: MicroSpec):
        def tangent(data):
            from fe2.rve.factory import check_phases
            from fe2.rve.linear import LinearRVE

            check_phases(spec, data, data.domain_names())
            if (data.mesh.geometry.dim == 3) != (self.model == "3d"):
                raise ValueError(f"the RVE mesh {data.path.name} is {data.mesh.geometry.dim}D "
                                 f"but the macro model is {self.model!r}")
            matrices = {phase: IsotropicElastic(**dict(law.parameters)).matrix(self.model)
                        for phase, law in spec.materials}
            return LinearRVE(data, matrices, "vector", spec.rve.degree, spec.rve.bc).tangent
        return tangent

    def _closed_form_stress(self, u):
        import ufl

        C = ufl.as_matrix(self.material.matrix(self.model).tolist())
        return ufl.dot(C, strain(u))

    def residual(self, weak):
        import ufl

        u, v = weak.fields["u"], weak.tests["u"]
        form = 0
        if "rve" in weak.micro:
            form += ufl.dot(weak.micro["rve"]["stress"], strain(v)) * weak.dx
        if self.material is not None:
            form += ufl.dot(self._closed_form_stress(u), strain(v)) * weak.dx_outside
        return form

    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        stress = problem.point_values("rve", "stress", self._closed_form_stress(
            problem.fields_ufl["u"]) if self.material is not None else None)
        outputs = {}
        indicator = self._ellipticity(problem)
        if indicator is not None:  # the smallest over each cell's points
            shaped = indicator.reshape(problem.rule.n_cells, problem.rule.n_points)
            outputs["ellipticity"] = np.nanmin(shaped, axis=1) if shaped.size else \
                np.zeros(0)
        outputs["stress"] = problem.cell_average(stress)
        for name, values in problem.point_outputs("rve").items():
            outputs[name] = problem.cell_average(values)
        return outputs

    def scalars(self, problem) -> dict[str, float]:
        """The smallest ellipticity indicator over the micro points (fe2.laws.acoustic): ≤ 0
        once a homogenized tangent has lost ellipticity (the macro response localizes and the
        RVE stops being representative); a warning names the step."""
        smallest = self._smallest_ellipticity(problem)
        if smallest is None:
            return {}
        if smallest <= 0 and not self._localized:
            self._localized = True
            if problem.comm.rank == 0:
                log.warning("loss of ellipticity at t = %g, load factor %g: the homogenized "
                            "tangent admits a localization band (ellipticity %.3g)",
                            problem.step.t, problem.step.load_factor, smallest)
        return {"ellipticity_min": smallest}

    def events(self, problem) -> dict[str, bool]:
        """``loss_of_ellipticity``: some point's homogenized tangent admits a band."""
        smallest = self._smallest_ellipticity(problem)
        return {} if smallest is None else {"loss_of_ellipticity": smallest <= 0}

    def _smallest_ellipticity(self, problem) -> float | None:
        """The smallest indicator over every rank's points (collective); None without RVEs."""
        if self._ellipticity(problem) is None:
            return None
        return self._ellipticity_of_step[2]

    def _ellipticity(self, problem):
        """Per owned point: the ellipticity of the micro tangent (NaN where no RVE answers);
        None without micro models. Computed once per step with its minimum over all ranks
        (collective; outputs, scalars and events share them)."""
        from fe2.laws.acoustic import ellipticity

        coupling = problem.coupling("rve")
        if coupling is None:
            return None
        from mpi4py import MPI

        step, cached, _ = self._ellipticity_of_step
        if step is problem.step:
            return cached
        n = problem.rule.n_owned_points * coupling.n_stress * coupling.n_strain
        tangents = coupling.tangent.x.array[:n].reshape(-1, coupling.n_stress,
                                                        coupling.n_strain)
        values = np.full(problem.rule.n_owned_points, np.nan)
        for region in coupling.regions:
            values[region.rows] = ellipticity(tangents[region.rows])
        smallest = problem.comm.allreduce(float(np.nanmin(values, initial=np.inf)), op=MPI.MIN)
        self._ellipticity_of_step = problem.step, values, smallest
        return values

    def near_nullspace(self, V):
        """The rigid-body modes: what algebraic multigrid needs to coarsen elasticity well."""
        return rigid_body_modes(V)


def rigid_body_modes(V):
    """The rigid-body modes of V (3 in 2D, 6 in 3D), orthonormalized, as a PETSc
    NullSpace: what algebraic multigrid needs to coarsen elasticity well."""
    from dolfinx import la
    from petsc4py import PETSc

    gdim = V.mesh.geometry.dim
    n_owned = V.dofmap.index_map.size_local
    x = V.tabulate_dof_coordinates()[:n_owned, :gdim]
    modes = [la.vector(V.dofmap.index_map, gdim) for _ in range(3 if gdim == 2 else 6)]
    values = [mode.array[: n_owned * gdim].reshape(n_owned, gdim) for mode in modes]
    for i in range(gdim):  # translations
        values[i][:, i] = 1.0
    rotations = [(0, 1)] if gdim == 2 else [(0, 1), (1, 2), (2, 0)]
    for k, (i, j) in enumerate(rotations):  # rotations in the (i, j) planes
        values[gdim + k][:, i], values[gdim + k][:, j] = -x[:, j], x[:, i]
    la.orthonormalize(modes)
    basis = [mode.petsc_vec.copy() for mode in modes]  # own memory: outlive ``modes``
    return PETSc.NullSpace().create(vectors=basis, comm=V.mesh.comm)


# --------------------------------------------------------------------------- fe2 homogenize
def stiffness_anisotropy(C: np.ndarray) -> float:
    """Relative Frobenius distance of a Mandel stiffness (in-plane for 2D) from its projection
    C_iso = (C:J) J + (C:K / tr K) K onto isotropic tensors (J, K: spherical and deviatoric
    projectors)."""
    C = np.asarray(C, dtype=float)
    n = C.shape[0]
    d = 3 if n == 6 else 2
    m = np.r_[np.ones(d), np.zeros(n - d)]
    J = np.outer(m, m) / d
    K = np.eye(n) - J
    iso = np.sum(C * J) * J + np.sum(C * K) / np.trace(K) * K
    return float(np.linalg.norm(C - iso) / np.linalg.norm(C))


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
        return {"E": E, "nu": nu, "mu": C[2, 2] / 2, "anisotropy": stiffness_anisotropy(C)}
    if C.shape != (6, 6):
        raise ValueError(f"expected a 3x3 or 6x6 Mandel stiffness, got shape {C.shape}")
    S = np.linalg.inv(C)
    out = {f"E_{i + 1}": 1 / S[i, i] for i in range(3)}
    out |= {f"nu_{i + 1}{j + 1}": -S[i, j] / S[i, i] for i, j in ((0, 1), (0, 2), (1, 2))}
    out |= {f"mu_{name}": C[k, k] / 2 for k, name in ((3, "23"), (4, "13"), (5, "12"))}
    out["E"] = float(np.mean([out[f"E_{i}"] for i in (1, 2, 3)]))
    out["nu"] = float(np.mean([out[k] for k in ("nu_12", "nu_13", "nu_23")]))
    out["mu"] = float(np.mean([out[k] for k in ("mu_23", "mu_13", "mu_12")]))
    out["anisotropy"] = stiffness_anisotropy(C)
    return {k: float(v) for k, v in out.items()}


class MechanicsCell:
    """The linear cell problem of mechanics for ``fe2 homogenize``: ``[physics] model`` and
    ``[materials.<phase>] E, nu``; every phase of the mesh needs a material."""

    field = "vector"
    material_keys = ("E", "nu")
    tensor = "stiffness"
    answer = "stress"

    def read_physics(self, reader, table: dict) -> dict:
        reader.keys(table, "physics", ("kind", "model"))
        if "model" not in table:
            raise reader.fail("physics", f"missing key 'model' (allowed: "
                                         f"{', '.join(MECHANICS_MODELS)})")
        return {"model": reader.string(table, "physics", "model", MECHANICS_MODELS)}

    def material(self, E: float, nu: float) -> IsotropicElastic:
        return IsotropicElastic(E, nu)

    def active_phases(self, options: dict, phases: list[str], tdim: int, given: list[str],
                      mesh_name: str) -> list[str]:
        model = options["model"]
        if (tdim == 3) != (model == "3d"):
            need = "a 3D mesh" if model == "3d" else "a 2D mesh"
            allowed = "3d" if tdim == 3 else "plane_strain, plane_stress"
            raise ValueError(f"[physics] model = {model!r} needs {need}, but {mesh_name} is "
                             f"{tdim}D; allowed for this mesh: {allowed}")
        check_materials(phases, given, phases, mesh_name, keys="E, nu")
        return phases

    def matrices(self, materials, options: dict, gdim: int) -> dict[str, np.ndarray]:
        return {name: m.matrix(options["model"]) for name, m in materials}

    def notation(self, gdim: int) -> str:
        return ("Mandel [11, 22, sqrt2*12]" if gdim == 2
                else "Mandel [11, 22, 33, sqrt2*23, sqrt2*13, sqrt2*12]")

    def constants(self, tangent, fractions, materials, active, options):
        engineering = mechanics_constants(tangent, options["model"])
        notes = []
        if engineering["anisotropy"] > 0.01:
            notes.append(f"the effective stiffness is anisotropic (anisotropy "
                         f"{engineering['anisotropy']:.3f}): E, nu, mu are isotropic-equivalent "
                         "summaries only; use the tensor")
        return engineering, notes

    def describe(self, options: dict) -> str:
        return f"mechanics, {options['model']}"


CELL = MechanicsCell()
DEFINITION = Mechanics
