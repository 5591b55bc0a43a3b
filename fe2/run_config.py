"""TOML case files for ``fe2 run``: an FE² job, strictly validated (problems/README.md).

Tables: ``[macro]`` (mesh source, field degree), ``[physics]``, ``[boundary.<group>]``
(prescribed components and tractions/fluxes at load factor 1), ``[micro]`` (RVE mesh, solver
tolerances, ``[micro.materials.<phase>]`` laws), ``[loading]``, ``[newton]``, ``[parallel]``,
``[output]``. Every mistake is a ConfigError naming the file, the table and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fe2.config import ConfigError, Physics, RVESettings, TableReader, read_toml
from fe2.macro import NewtonSettings
from fe2.materials import MECHANICS_MODELS
from fe2.stepping import LoadStepping

__all__ = ["BoundarySpec", "LawSpec", "MicroSettings", "RunConfig", "load_run_config"]

_TOP = ("description", "macro", "physics", "boundary", "micro", "loading", "newton",
        "parallel", "output")
_MESH_KEYS = ("mesh", "mesh_order", "size_factor", "parameters", "mesh_dir", "degree")
_MACRO = (*_MESH_KEYS, "quadrature_degree")
_MICRO = (*_MESH_KEYS, "bc", "rtol", "max_iterations", "phases", "materials", "concentration")
_RUN_MODELS = ("plane_strain", "3d")
LAWS = {"elastic": ("E", "nu"),
        "j2": ("E", "nu", "yield_stress", "hardening", "kinematic_hardening"),
        "energy": ("energy",)}
_LAW_REQUIRED = {"elastic": ("E", "nu"), "j2": ("E", "nu", "yield_stress"), "energy": ("energy",)}
CONCENTRATION_LAWS = ("constant", "linear", "exponential")


@dataclass(frozen=True)
class LawSpec:
    """A micro material: ``law`` name and its numeric ``parameters`` (UFL text for energy)."""

    law: str
    parameters: tuple[tuple[str, float], ...]
    energy: str = ""


@dataclass(frozen=True)
class MicroSettings:
    """The ``[micro]`` table: RVE mesh and discretization, micro Newton, materials."""

    rve: RVESettings
    rtol: float
    max_iterations: int
    materials: tuple[tuple[str, LawSpec], ...]
    phases: tuple[str, ...] | None  # transport: conducting phases (None: all)
    concentration: tuple[str, float]  # transport: D(c) = D·f(c), (kind, beta)

    @property
    def is_linear(self) -> bool:
        return all(spec.law in ("elastic", "diffusion") for _, spec in self.materials) and (
            self.concentration[0] == "constant")


@dataclass(frozen=True)
class BoundarySpec:
    """``[boundary.<group>]``: prescribed components (name, value) and a traction/flux."""

    group: str
    values: tuple[tuple[str, float], ...]
    load: tuple[float, ...] | float | None


@dataclass(frozen=True)
class RunConfig:
    """An FE² job read from ``path``."""

    path: Path
    description: str
    macro: RVESettings  # mesh source and field degree (bc unused)
    quadrature_degree: int | None
    physics: Physics
    boundaries: tuple[BoundarySpec, ...]
    micro: MicroSettings
    loading: LoadStepping
    newton: NewtonSettings
    balance: bool
    reaction: tuple[str, str] | None  # (group, component)
    rve_ranks: int = 1  # ranks that solve one RVE together (a distributed nonlinear RVE)

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {message}")


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate an ``fe2 run`` case.

    Raises:
        ConfigError: if the file is missing, not TOML, or any key or value is wrong.
    """
    path, raw = read_toml(path)
    reader = _RunReader(path)
    reader.keys(raw, "", _TOP, required=("macro", "physics", "boundary", "micro"))
    physics = reader.run_physics(reader.table(raw, "", "physics"))
    macro_table = reader.table(raw, "", "macro")
    macro = reader.rve(macro_table, "macro", _MACRO)
    quadrature = macro_table.get("quadrature_degree")
    if quadrature is not None:
        quadrature = reader.integer(macro_table, "macro", "quadrature_degree", 1, minimum=0)
    boundaries = reader.boundaries(reader.table(raw, "", "boundary"), physics)
    micro = reader.micro(reader.table(raw, "", "micro"), physics)
    loading = reader.dataclass(raw, "loading", LoadStepping)
    newton = reader.dataclass(raw, "newton", NewtonSettings)
    parallel = raw.get("parallel", {})
    reader.keys(parallel, "parallel", ("balance", "rve_ranks"))
    balance = parallel.get("balance", False)
    if not isinstance(balance, bool):
        raise reader.fail("parallel", f"balance must be true or false, got {balance!r}")
    rve_ranks = reader.integer(parallel, "parallel", "rve_ranks", 1, minimum=1)
    if balance and rve_ranks > 1:
        raise reader.fail("parallel", "balance = true moves single points between ranks; it "
                                      "cannot be combined with rve_ranks > 1")
    output = raw.get("output", {})
    reader.keys(output, "output", ("reaction",))
    reaction = reader.reaction(output, boundaries, physics)
    return RunConfig(path, reader.string(raw, "", "description", default=""), macro, quadrature,
                     physics, boundaries, micro, loading, newton, balance, reaction, rve_ranks)


class _RunReader(TableReader):
    def run_physics(self, table: dict[str, Any]) -> Physics:
        kind = self.string(table, "physics", "kind", ("mechanics", "transport"))
        if kind == "transport":
            self.keys(table, "physics", ("kind",))
            return Physics(kind)
        self.keys(table, "physics", ("kind", "model"), required=("model",))
        model = self.string(table, "physics", "model", MECHANICS_MODELS)
        if model not in _RUN_MODELS:
            raise self.fail("physics", f"model = {model!r}: FE² runs support "
                                       f"{', '.join(_RUN_MODELS)}")
        return Physics(kind, model=model)

    def boundaries(self, table: dict[str, Any], physics: Physics) -> tuple[BoundarySpec, ...]:
        components = ("c",) if physics.kind == "transport" else ("ux", "uy", "uz")
        load_key = "flux" if physics.kind == "transport" else "traction"
        result = []
        for group, values in table.items():
            section = f"boundary.{group}"
            if not isinstance(values, dict) or not values:
                raise self.fail("boundary", f"{group} must be a table [{section}] with keys "
                                            f"{', '.join((*components, load_key))}")
            self.keys(values, section, (*components, load_key))
            prescribed = tuple((c, self.number(values, section, c, 0.0))
                               for c in components if c in values)
            load = values.get(load_key)
            if load is not None:
                if physics.kind == "transport":
                    load = self.number(values, section, load_key, 0.0)
                elif (not isinstance(load, list) or not all(
                        isinstance(x, int | float) and not isinstance(x, bool) for x in load)):
                    raise self.fail(section, f"traction must be a list of numbers, got {load!r}")
                else:
                    load = tuple(float(x) for x in load)
            result.append(BoundarySpec(group, prescribed, load))
        if not any(spec.values for spec in result):
            raise self.fail("boundary", "no prescribed value anywhere: the problem is singular")
        return tuple(result)

    def micro(self, table: dict[str, Any], physics: Physics) -> MicroSettings:
        self.keys(table, "micro", _MICRO, required=("mesh", "materials"))
        rve = self.rve({k: v for k, v in table.items()
                        if k not in ("rtol", "max_iterations", "phases", "materials",
                                     "concentration")}, "micro")
        rtol = self.number(table, "micro", "rtol", 1e-10)
        if not 0 < rtol < 1:
            raise self.fail("micro", f"rtol = {rtol}: must lie in (0, 1)")
        materials = self.table(table, "micro", "materials")
        if not materials:
            raise self.fail("micro.materials", "no material given")
        laws = tuple((phase, self.law(values, f"micro.materials.{phase}", physics))
                     for phase, values in materials.items())
        phases = table.get("phases")
        if phases is not None and physics.kind == "transport":
            phases = tuple(phases)
        elif phases is not None:
            raise self.fail("micro", "phases is for transport only")
        concentration = ("constant", 0.0)
        if "concentration" in table:
            if physics.kind != "transport":
                raise self.fail("micro", "concentration is for transport only")
            conc = self.table(table, "micro", "concentration")
            self.keys(conc, "micro.concentration", ("law", "beta"), required=("law",))
            concentration = (self.string(conc, "micro.concentration", "law", CONCENTRATION_LAWS),
                             self.number(conc, "micro.concentration", "beta", 0.0))
        return MicroSettings(rve, rtol, self.integer(table, "micro", "max_iterations", 25,
                                                     minimum=1), laws, phases, concentration)

    def law(self, values: Any, section: str, physics: Physics) -> LawSpec:
        if not isinstance(values, dict):
            raise self.fail(section, f"must be a table, got {values!r}")
        if physics.kind == "transport":
            self.keys(values, section, ("D",), required=("D",))
            D = self.number(values, section, "D", 0.0)
            if not D > 0:
                raise self.fail(section, f"D = {D}: must be positive")
            return LawSpec("diffusion", (("D", D),))
        law = self.string(values, section, "law", tuple(LAWS), default="elastic")
        if law == "energy":
            energy = self.string(values, section, "energy")
            parameters = tuple((k, self.number(values, section, k, 0.0))
                               for k in values if k not in ("law", "energy"))
            return LawSpec(law, parameters, energy)
        self.keys(values, section, ("law", *LAWS[law]), required=_LAW_REQUIRED[law])
        spec = LawSpec(law, tuple((k, self.number(values, section, k, 0.0))
                                  for k in LAWS[law] if k in values))
        from fe2.laws import Elastic, J2Plasticity

        try:  # the laws check their own parameters
            (Elastic if law == "elastic" else J2Plasticity)(**dict(spec.parameters))
        except ValueError as error:
            raise self.fail(section, str(error)) from None
        return spec

    def dataclass(self, raw: dict[str, Any], section: str, cls):
        table = raw.get(section, {})
        names = [f.name for f in fields(cls)]
        self.keys(table, section, names)
        values = {}
        for f in fields(cls):
            if f.name in table:
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

    def reaction(self, output: dict[str, Any], boundaries, physics) -> tuple[str, str] | None:
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
