"""Small-strain mechanics: displacement u [length], strain and stress in Mandel notation.

    residual(u; v) = ∫ σ · ε(v) dx − λ ∫ t · v ds,   ε(u) = Mandel(sym ∇u)

σ is the homogenized stress of an RVE at every quadrature point (``[micro]``: the generalized
strain is ε(u), the answer σ with the tangent ∂σ/∂ε), or, where no RVE is given, the closed-form
isotropic elastic law of ``[material]`` (single scale). Tables::

    [physics]  kind = "mechanics", model = "plane_strain" | "3d"
    [material] E, nu                     (closed-form law outside the micro regions)
    [micro]    mesh, degree, bc, rtol, max_iterations, region, [micro.materials.<phase>]
               with law = "elastic" (E, nu) | "j2" (E, nu, yield_stress, hardening,
               kinematic_hardening) | "energy" (energy = UFL text in eps, and parameters)
    [boundary.<group>] ux, uy, uz, traction = [tx, ty(, tz)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fe2.core.definition import Field, MicroCoupling
from fe2.core.errors import ConfigError
from fe2.laws.mandel import n_mandel, ufl_mandel
from fe2.laws.materials import IsotropicElastic
from fe2.rve.factory import MicroSpec, homogenized_tangent, nonlinear_rve, read_micro

__all__ = ["DEFINITION", "LAWS", "LawSpec", "Mechanics", "make_law", "rigid_body_modes",
           "strain"]

MODELS = ("plane_strain", "3d")
LAWS = {"elastic": ("E", "nu"),
        "j2": ("E", "nu", "yield_stress", "hardening", "kinematic_hardening"),
        "energy": ("energy",)}
_LAW_REQUIRED = {"elastic": ("E", "nu"), "j2": ("E", "nu", "yield_stress"), "energy": ("energy",)}
_ENERGY_NAMES = ("tr", "inner", "dot", "dev", "sym", "det", "sqrt", "exp", "ln", "cos", "sin",
                 "tanh", "conditional", "gt", "lt")


@dataclass(frozen=True)
class LawSpec:
    """A micro material: ``law`` name and its numeric ``parameters`` (UFL text for energy)."""

    law: str
    parameters: tuple[tuple[str, float], ...]
    energy: str = ""


def strain(u):
    """ε(u) in Mandel notation (UFL)."""
    import ufl

    return ufl_mandel(ufl.sym(ufl.grad(u)))


def read_law(reader, values: Any, section: str) -> LawSpec:
    """One ``[micro.materials.<phase>]`` table."""
    if not isinstance(values, dict):
        raise reader.fail(section, f"must be a table, got {values!r}")
    law = reader.string(values, section, "law", tuple(LAWS), default="elastic")
    if law == "energy":
        energy = reader.string(values, section, "energy")
        parameters = tuple((k, reader.number(values, section, k, 0.0))
                           for k in values if k not in ("law", "energy"))
        spec = LawSpec(law, parameters, energy)
        make_law(spec)  # its names are checked now, so a typo is a config error
        return spec
    reader.keys(values, section, ("law", *LAWS[law]), required=_LAW_REQUIRED[law])
    spec = LawSpec(law, tuple((k, reader.number(values, section, k, 0.0))
                              for k in LAWS[law] if k in values))
    try:  # the laws check their own parameters
        make_law(spec)
    except ValueError as error:
        raise reader.fail(section, str(error)) from None
    return spec


def make_law(spec: LawSpec):
    """A point law (fe2.laws.pointwise) from its case entry."""
    from fe2.laws.pointwise import Elastic, J2Plasticity, UFLEnergyLaw

    parameters = dict(spec.parameters)
    if spec.law == "elastic":
        return Elastic(**parameters)
    if spec.law == "j2":
        return J2Plasticity(**parameters)
    return UFLEnergyLaw(_energy_function(spec.energy, parameters))


def _energy_function(text: str, parameters: dict[str, float]):
    """The user's strain-energy density (UFL text in ``eps`` and the parameters) as a callable;
    its names are checked on a symbolic strain."""
    import ufl

    namespace = {name: getattr(ufl, name) for name in _ENERGY_NAMES}
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

    @classmethod
    def from_case(cls, case) -> Mechanics:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", ("kind", "model"), required=("model",))
        model = reader.string(physics, "physics", "model", MODELS)
        micro = read_micro(reader, case.raw, lambda values, section: read_law(
            reader, values, section))
        material = None
        if "material" in case.raw:
            table = reader.table(case.raw, "", "material")
            reader.keys(table, "material", ("E", "nu"), required=("E", "nu"))
            try:
                material = IsotropicElastic(reader.number(table, "material", "E", 0.0),
                                            reader.number(table, "material", "nu", 0.0))
            except ValueError as error:
                raise reader.fail("material", str(error)) from None
        if material is None and not micro:
            raise reader.fail("", "mechanics needs [micro] (an RVE at every point) or "
                                  "[material] (closed-form elastic law)")
        if material is None and any(spec.region is not None for spec in micro):
            raise reader.fail("micro", "cells outside the micro regions need a closed-form "
                                       "law: add [material] with E and nu")
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
        outputs = {"stress": problem.cell_average(stress)}
        for name, values in problem.point_outputs("rve").items():
            outputs[name] = problem.cell_average(values)
        return outputs

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


DEFINITION = Mechanics
