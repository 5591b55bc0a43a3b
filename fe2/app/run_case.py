"""TOML case files for ``fe2 run``: the generic tables, strictly validated (problems/README.md).

Generic tables: ``[macro]`` (mesh source, field degree, quadrature degree), ``[physics]``
(``kind``; the rest belongs to the definition), ``[boundary.<group>]`` (prescribed field
components, and the definition's boundary fluxes, at load factor 1), ``[loading]``
(quasi-static) or ``[time]`` (transient), ``[solver]``, ``[parallel]``, ``[output]``. The
definition found by ``kind`` reads ``[physics]`` and its own tables (e.g. ``[micro]``). Every
mistake is a ConfigError naming the file, the table and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fe2.app.case import RVESettings, TableReader, read_toml
from fe2.core.definition import find_definition
from fe2.core.solvers import SolverSettings
from fe2.core.stepping import Stepping

__all__ = ["BoundarySpec", "CaseInput", "RunConfig", "load_run_config"]

_GENERIC = ("description", "macro", "physics", "boundary", "loading", "time", "solver",
            "parallel", "output")
_MACRO = ("mesh", "mesh_order", "size_factor", "parameters", "mesh_dir", "groups", "degree",
          "quadrature_degree")
_COMPONENT_LIMIT = 3  # components named per vector field (x, y, z)


@dataclass(frozen=True)
class CaseInput:
    """What a definition reads itself from: the reader (errors name the file), the raw
    tables, ``[physics]``, and the generic settings it may need."""

    reader: TableReader
    path: Path
    raw: dict[str, Any]
    physics: dict[str, Any]
    degree: int  # Lagrange degree of the macro fields
    stepping: Stepping
    rve_ranks: int


@dataclass(frozen=True)
class BoundarySpec:
    """``[boundary.<group>]``: prescribed components (name, value) and fluxes (key, value)."""

    group: str
    values: tuple[tuple[str, float], ...]
    fluxes: tuple[tuple[str, tuple[float, ...] | float], ...]


@dataclass(frozen=True)
class RunConfig:
    """An ``fe2 run`` case read from ``path``."""

    path: Path
    description: str
    macro: RVESettings  # mesh source and field degree (bc unused)
    quadrature_degree: int | None
    definition: Any  # fe2.core.definition.Definition
    boundaries: tuple[BoundarySpec, ...]
    stepping: Stepping
    solver: SolverSettings
    balance: bool
    reaction: tuple[str, str] | None  # (group, component)
    rve_ranks: int = 1  # ranks that solve one RVE together (a distributed nonlinear RVE)


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate an ``fe2 run`` case.

    Raises:
        ConfigError: if the file is missing, not TOML, or any key or value is wrong.
    """
    path, raw = read_toml(path)
    reader = _RunReader(path)
    physics = reader.table(raw, "", "physics") if "physics" in raw else None
    if physics is None:
        raise reader.fail("", "missing table [physics]")
    kind = reader.string(physics, "physics", "kind")
    try:
        definition_class = find_definition(kind)
    except LookupError as error:
        raise reader.fail("physics", str(error)) from None
    own = tuple(getattr(definition_class, "tables", ()))
    reader.keys(raw, "", (*_GENERIC, *own), required=("macro", "physics", "boundary"))
    macro_table = reader.table(raw, "", "macro")
    macro = reader.rve(macro_table, "macro", _MACRO)
    quadrature = (reader.integer(macro_table, "macro", "quadrature_degree", 1, minimum=0)
                  if "quadrature_degree" in macro_table else None)
    stepping = reader.stepping(raw)
    parallel = reader.mapping(raw, "", "parallel", example="[parallel]")
    reader.keys(parallel, "parallel", ("balance", "rve_ranks"))
    balance = reader.boolean(parallel, "parallel", "balance", False)
    rve_ranks = reader.integer(parallel, "parallel", "rve_ranks", 1, minimum=1)
    if balance and rve_ranks > 1:
        raise reader.fail("parallel", "balance = true moves single points between ranks; it "
                                      "cannot be combined with rve_ranks > 1")
    case = CaseInput(reader, path, raw, physics, macro.degree, stepping, rve_ranks)
    definition = definition_class.from_case(case)
    boundaries = reader.boundaries(reader.table(raw, "", "boundary"), definition)
    solver = reader.solver(reader.mapping(raw, "", "solver", example="[solver]"))
    fields = definition.fields(_COMPONENT_LIMIT)
    bounded = [field.name for field in fields if field.bounds is not None]
    if bounded and solver.type == "newton":
        raise reader.fail("solver", f"field(s) {bounded} have bounds: use type = \"snes\" or "
                                    "\"staggered\" (a variational-inequality SNES keeps them)")
    names = [field.name for field in fields]
    grouped = [name for group in solver.groups for name in group]
    if solver.groups and sorted(grouped) != sorted(names):
        raise reader.fail("solver", f"groups {[list(g) for g in solver.groups]} must name "
                                    f"every field once: {names}")
    output = reader.mapping(raw, "", "output", example="[output]")
    reader.keys(output, "output", ("reaction",))
    reaction = reader.reaction(output, boundaries)
    return RunConfig(path, reader.string(raw, "", "description", default=""), macro, quadrature,
                     definition, boundaries, stepping, solver, balance, reaction, rve_ranks)


class _RunReader(TableReader):
    def boundaries(self, table: dict[str, Any], definition) -> tuple[BoundarySpec, ...]:
        components = _components(definition)
        flux_keys = tuple(definition.fluxes)
        result = []
        for group, values in table.items():
            section = f"boundary.{group}"
            if not isinstance(values, dict) or not values:
                raise self.fail("boundary", f"{group} must be a table [{section}] with keys "
                                            f"{', '.join((*components, *flux_keys))}")
            self.keys(values, section, (*components, *flux_keys))
            prescribed = tuple((c, self.number(values, section, c, 0.0))
                               for c in components if c in values)
            fluxes = tuple((key, self.flux(values, section, key)) for key in flux_keys
                           if key in values)
            result.append(BoundarySpec(group, prescribed, fluxes))
        if not any(spec.values for spec in result) and not getattr(
                definition, "allows_pure_flux", False):
            raise self.fail("boundary", "no prescribed value anywhere: the problem is singular")
        return tuple(result)

    def flux(self, values: dict[str, Any], section: str, key: str) -> tuple[float, ...] | float:
        value = values[key]
        if isinstance(value, list):
            if not value or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                    for x in value):
                raise self.fail(section, f"{key} must be a number or a list of numbers, got "
                                         f"{value!r}")
            return tuple(float(x) for x in value)
        return self.number(values, section, key, 0.0)

    def stepping(self, raw: dict[str, Any]) -> Stepping:
        if "loading" in raw and "time" in raw:
            raise self.fail("", "give either [loading] (quasi-static) or [time] (transient)")
        section = "time" if "time" in raw else "loading"
        table = self.mapping(raw, "", section, example=f"[{section}]")
        extra = {}
        if "path" in table:
            path = table["path"]
            if (not isinstance(path, list) or len(path) < 2 or not all(
                    isinstance(p, list) and len(p) == 2 and all(
                        isinstance(x, int | float) and not isinstance(x, bool) for x in p)
                    for p in path)):
                raise self.fail(section, f"path must be a list of [s, load factor] pairs, got "
                                         f"{path!r}")
            extra["path"] = tuple((float(a), float(b)) for a, b in path)
        if "steps" in table:
            extra.update(self.equal_steps(table, section))
        return self.dataclass(raw, section, Stepping, exclude=("variable", "path"),
                              allowed_extra=("path", "steps"),
                              variable="time" if section == "time" else "load", **extra)

    def equal_steps(self, table: dict[str, Any], section: str) -> dict[str, float]:
        """``steps = N``: N equal increments end/N (initial_step = max_step = end/N; a failed
        step is still cut back, down to min_step, by default at most the increment)."""
        given = [key for key in ("initial_step", "max_step") if key in table]
        if given:
            raise self.fail(section, f"steps = N sets the increment end/N: remove "
                                     f"{' and '.join(given)}")
        count = self.integer(table, section, "steps", 1, minimum=1)
        step = self.number(table, section, "end", 1.0) / count
        defaults = {"initial_step": step, "max_step": step}
        if "min_step" not in table:
            defaults["min_step"] = min(Stepping.min_step, step)
        return defaults

    def solver(self, table: dict[str, Any]) -> SolverSettings:
        extra: dict[str, Any] = {}
        if "groups" in table:
            groups = table["groups"]
            if (not isinstance(groups, list) or not all(
                    isinstance(g, list) and g and all(isinstance(n, str) for n in g)
                    for g in groups)):
                raise self.fail("solver", f"groups must be a list of lists of field names, "
                                          f"e.g. [['u'], ['d']], got {groups!r}")
            extra["groups"] = tuple(tuple(g) for g in groups)
        if "petsc_options" in table:
            options = self.mapping(table, "solver", "petsc_options",
                                   example='{ pc_type = "gamg" }')
            extra["petsc_options"] = tuple((key, self.option_text(options, key))
                                           for key in options)
        return self.dataclass({"solver": table}, "solver", SolverSettings,
                              exclude=("groups", "petsc_options"), allowed_extra=tuple(extra),
                              **extra)

    def option_text(self, options: dict[str, Any], key: str) -> str:
        """A PETSc option value as PETSc reads it (true/false, numbers, strings)."""
        value = options[key]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise self.fail("solver.petsc_options", f"{key} must be a string, number or true/false, "
                                                f"got {value!r}")

    def dataclass(self, raw: dict[str, Any], section: str, cls, exclude=(), allowed_extra=(),
                  **fixed):
        table = self.mapping(raw, "", section, example=f"[{section}]")
        names = [f.name for f in fields(cls) if f.name not in exclude]
        self.keys(table, section, (*names, *allowed_extra))
        values = dict(fixed)
        for f in fields(cls):
            if f.name in table and f.name not in exclude:
                if isinstance(f.default, str):
                    values[f.name] = self.string(table, section, f.name)
                elif isinstance(f.default, int) and not isinstance(f.default, bool):
                    values[f.name] = self.integer(table, section, f.name, 0, minimum=1)
                else:
                    values[f.name] = self.number(table, section, f.name, 0.0)
        try:
            return cls(**values)
        except ValueError as error:
            raise self.fail(section, str(error)) from None

    def reaction(self, output: dict[str, Any], boundaries) -> tuple[str, str] | None:
        if "reaction" in output:
            text = self.string(output, "output", "reaction")
            group, _, component = text.partition(".")
            known = {spec.group: [c for c, _ in spec.values] for spec in boundaries}
            if group not in known or component not in known[group]:
                raise self.fail("output", f"reaction = {text!r}: must be <group>.<component> of "
                                          f"a prescribed value, one of "
                                          f"{[f'{g}.{c}' for g, cs in known.items() for c in cs]}")
            return group, component
        for spec in boundaries:  # default: the first non-zero prescribed value
            for component, value in spec.values:
                if value != 0:
                    return spec.group, component
        return None


def _components(definition) -> tuple[str, ...]:
    """Every component name of the definition's fields (for any mesh dimension)."""
    return tuple(name for field in definition.fields(_COMPONENT_LIMIT) for name in
                 field.component_names(_COMPONENT_LIMIT))

