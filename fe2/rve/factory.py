"""Micro models from case tables: the ``[micro]`` table(s) shared by physics with RVEs.

A case has one ``[micro]`` table (an RVE at every macro point) or several ``[[micro]]`` tables
each with a ``region`` (a domain physical group of the macro mesh): a different RVE per region.
The table holds the RVE mesh source and discretization (as ``[rve]`` of homogenization cases),
the micro Newton settings and ``[micro.materials.<phase>]``; the physics reads the materials
(and any keys of its own) through callbacks, so this module knows no physics.

Building: a linear RVE is homogenized once, on rank 0 (the others wait; only the tangent is
broadcast); a nonlinear RVE is built on every rank (``MPI.COMM_SELF``) or once per group of
``rve_ranks`` ranks (fe2.rve.group).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.collective import on_root
from fe2.core.errors import ConfigError
from fe2.rve.linear import BOUNDARY_CONDITIONS
from fe2.rve.nonlinear import SOLVERS

__all__ = ["MICRO_KEYS", "MicroSpec", "check_closed_form", "check_materials", "check_phases",
           "damage_rve", "homogenized_tangent", "nonlinear_rve", "read_micro"]

MICRO_KEYS = ("mesh", "mesh_order", "size_factor", "parameters", "mesh_dir", "groups", "degree",
              "bc", "rtol", "max_iterations", "region", "materials", "solver")


@dataclass(frozen=True)
class MicroSpec:
    """One ``[micro]`` table: RVE mesh and discretization, micro Newton, region, materials
    (phase → what the physics' material reader returned) and the physics' own ``options``."""

    rve: Any  # fe2.app.case.RVESettings
    rtol: float
    max_iterations: int
    region: str | None
    materials: tuple[tuple[str, Any], ...]
    options: tuple[tuple[str, Any], ...] = ()
    section: str = "micro"
    solver: str = "auto"  # of nonlinear RVEs: fe2.rve.nonlinear.SOLVERS

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)


def read_micro(reader, raw: dict[str, Any], read_material: Callable[[Any, str], Any],
               read_options: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
               option_keys: Sequence[str] = ()) -> list[MicroSpec]:
    """Every ``[micro]`` / ``[[micro]]`` table of a case (none: []).

    ``read_material(values, section)`` reads one ``[micro.materials.<phase>]``;
    ``read_options(table, section)`` the physics' own keys ``option_keys``.
    """
    if "micro" not in raw:
        return []
    value = raw["micro"]
    tables = value if isinstance(value, list) else [value]
    specs, regions = [], set()
    for index, table in enumerate(tables):
        section = "micro" if not isinstance(value, list) else f"micro #{index + 1}"
        if not isinstance(table, dict):
            raise reader.fail(section, f"must be a table, got {table!r}")
        reader.keys(table, section, (*MICRO_KEYS, *option_keys), required=("mesh", "materials"))
        rve = reader.rve({k: v for k, v in table.items()
                          if k not in ("rtol", "max_iterations", "region", "materials", "solver",
                                       *option_keys)}, section)
        rtol = reader.number(table, section, "rtol", 1e-10)
        if not 0 < rtol < 1:
            raise reader.fail(section, f"rtol = {rtol}: must lie in (0, 1)")
        region = reader.string(table, section, "region") if "region" in table else None
        if len(tables) > 1 and region is None:
            raise reader.fail(section, "several [[micro]] tables need a region each")
        if region in regions:
            raise reader.fail(section, f"region {region!r} has two micro tables")
        regions.add(region)
        materials = reader.table(table, section, "materials")
        if not materials:
            raise reader.fail(f"{section}.materials", "no material given")
        laws = tuple((phase, read_material(values, f"{section}.materials.{phase}"))
                     for phase, values in materials.items())
        options = read_options(table, section) if read_options is not None else {}
        solver = reader.string(table, section, "solver", SOLVERS, default="auto")
        specs.append(MicroSpec(rve, rtol, reader.integer(table, section, "max_iterations", 25,
                                                         minimum=1),
                               region, laws, tuple(options.items()), section, solver))
    return specs


def check_materials(phases: Sequence[str], given: Sequence[str], needed: Sequence[str],
                    mesh_name: str, what: str = "every phase that takes part needs one",
                    keys: str = "") -> None:
    """The ``[materials]`` of a cell problem name phases of the mesh and cover ``needed``.

    Raises:
        ValueError: naming the phases of the mesh, or the missing table.
    """
    unknown = [name for name in given if name not in phases]
    if unknown:
        raise ValueError(f"[materials] unknown phase(s) {unknown}; the phases of {mesh_name} are "
                         f"{list(phases)}")
    missing = [name for name in needed if name not in given]
    if missing:
        raise ValueError(f"[materials] missing material for phase(s) {missing} ({what}; add "
                         f"[materials.{missing[0]}]{' with keys ' + keys if keys else ''})")


def check_closed_form(reader, micro: Sequence[MicroSpec], closed_form: bool, kind: str,
                      keys: str) -> None:
    """A case needs micro models or a closed-form ``[material]`` law (keys ``keys``), and the
    closed form wherever the micro regions leave cells uncovered."""
    if closed_form:
        return
    if not micro:
        raise reader.fail("", f"{kind} needs [micro] (an RVE at every point) or [material] "
                              f"with {keys} (closed-form law)")
    if any(spec.region is not None for spec in micro):
        raise reader.fail("micro", f"cells outside the micro regions need a closed-form law: "
                                   f"add [material] with {keys}")


def check_phases(spec: MicroSpec, data, needed: Sequence[str]) -> None:
    """Every material names a phase of the RVE mesh and every ``needed`` phase has one.

    Raises:
        ValueError: naming the phases of the mesh.
    """
    phases = data.domain_names()
    given = [phase for phase, _ in spec.materials]
    unknown = sorted(set(given) - set(phases))
    missing = sorted(set(needed) - set(given))
    absent = sorted(set(needed) - set(phases))
    if unknown or missing or absent:
        raise ValueError(f"[{spec.section}.materials] phases of {data.path.name} are {phases}; "
                         + (f"unknown: {unknown} " if unknown else "")
                         + (f"missing: {missing} " if missing else "")
                         + (f"not in the mesh: {absent}" if absent else ""))


def _rve_mesh(spec: MicroSpec, case: Path, comm: MPI.Comm) -> Path:
    from fe2.io.meshing import prepare_mesh

    return prepare_mesh(spec.rve, case, comm)


def homogenized_tangent(spec: MicroSpec, case: Path, comm: MPI.Comm,
                        tangent_of: Callable[[Any], NDArray]) -> NDArray:
    """The homogenized tangent of a linear RVE, solved once on rank 0 of ``comm``:
    ``tangent_of(mesh_data)`` builds the cell problem (ValueError for a case that does not fit
    the mesh, raised on every rank with the case file and table named)."""
    import dolfinx.fem.petsc  # noqa: F401  (PETSc initialized on every rank: see on_root)

    from fe2.io.mesh import MeshError, load_mesh

    path = _rve_mesh(spec, case, comm)
    try:
        return on_root(comm, lambda: tangent_of(load_mesh(path, MPI.COMM_SELF,
                                                          names=spec.rve.groups)),
                       errors=(ValueError, MeshError))
    except ValueError as error:
        raise ConfigError(f"{case}: [{spec.section}] {error}") from None


def nonlinear_rve(spec: MicroSpec, case: Path, comm: MPI.Comm, laws: dict, model: str,
                  rve_ranks: int):
    """A nonlinear RVE with pointwise ``laws`` per phase and the boundary condition ``bc`` of
    the table (periodic, affine or minimal), on every rank or distributed over groups of
    ``rve_ranks`` ranks (periodic and affine)."""
    from fe2.rve.group import GroupedRVE, split_groups
    from fe2.rve.nonlinear import NonlinearRVE

    try:
        group = split_groups(comm, rve_ranks) if rve_ranks > 1 else MPI.COMM_SELF
    except ValueError as error:
        raise ConfigError(f"{case}: [parallel] rve_ranks: {error}") from None
    if spec.rve.bc == "minimal" and group.size > 1:
        raise ConfigError(f"{case}: [{spec.section}] bc = 'minimal' is solved on one rank per "
                          f"RVE, not with [parallel] rve_ranks = {rve_ranks}")
    data = _checked_rve_mesh(spec, case, comm, group, model, BOUNDARY_CONDITIONS)
    try:
        rve = NonlinearRVE(data, laws, model=model, degree=spec.rve.degree, rtol=spec.rtol,
                           max_iterations=spec.max_iterations, solver=spec.solver,
                           bc=spec.rve.bc)
    except ValueError as error:  # a solver that cannot run here: the same on every rank
        raise ConfigError(f"{case}: [{spec.section}] {error}") from None
    return GroupedRVE(rve) if group.size > 1 else rve


def damage_rve(spec: MicroSpec, case: Path, comm: MPI.Comm, phases: dict, model: str,
               split: str, rve_ranks: int):
    """A periodic RVE with phase-field damage (fe2.rve.damage) on every rank; ``phases`` maps
    phase names to FractureMaterial or IsotropicElastic."""
    from fe2.rve.damage import DamageRVE

    if rve_ranks > 1:
        raise ConfigError(f"{case}: [parallel] rve_ranks = {rve_ranks}: a damaging RVE is "
                          "solved on one rank (use rve_ranks = 1)")
    data = _checked_rve_mesh(spec, case, comm, MPI.COMM_SELF, model, ("periodic",))
    try:
        return DamageRVE(data, phases, model=model, degree=spec.rve.degree, split=split,
                         rtol=spec.rtol, max_iterations=spec.max_iterations)
    except ValueError as error:
        raise ConfigError(f"{case}: [{spec.section}] {error}") from None


def _checked_rve_mesh(spec: MicroSpec, case: Path, comm: MPI.Comm, group: MPI.Comm,
                      model: str, conditions: Sequence[str]):
    """The RVE mesh of ``spec`` on ``group``, checked: a BC of ``conditions``, phases,
    dimension."""
    from fe2.io.mesh import load_mesh

    if spec.rve.bc not in conditions:
        raise ConfigError(f"{case}: [{spec.section}] bc = {spec.rve.bc!r}: this RVE takes "
                          f"{' or '.join(conditions)} boundary conditions")
    data = load_mesh(_rve_mesh(spec, case, comm), group, names=spec.rve.groups)
    try:
        check_phases(spec, data, data.domain_names())
        if (data.mesh.geometry.dim == 3) != (model == "3d"):
            raise ValueError(f"the RVE mesh {data.path.name} is {data.mesh.geometry.dim}D but "
                             f"the macro model is {model!r}")
    except ValueError as error:
        raise ConfigError(f"{case}: [{spec.section}] {error}") from None
    return data
