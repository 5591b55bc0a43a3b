"""TOML case files for ``fe2 homogenize``: strict reading into frozen dataclasses.

Every mistake is a :class:`ConfigError` that names the file, the key and what is allowed.
Relative paths are relative to the config file. The format is described in problems/README.md.
Checks that need the mesh (phases present, every phase with a material, dimension of the
model) are in :meth:`Config.check_mesh`, called once the mesh is loaded.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fe2.core.errors import ConfigError
from fe2.laws.materials import MECHANICS_MODELS, Diffusivity, IsotropicElastic
from fe2.rve.linear import BOUNDARY_CONDITIONS

__all__ = ["Config", "ConfigError", "Physics", "RVESettings", "PHYSICS_KINDS", "TableReader",
           "load_config", "read_toml"]

PHYSICS_KINDS = ("mechanics", "transport")
MESH_SUFFIXES = (".geo", ".msh")

_TOP_KEYS = ("description", "rve", "physics", "materials")
_RVE_KEYS = ("mesh", "mesh_order", "size_factor", "parameters", "mesh_dir", "degree", "bc")
_GEO_ONLY = ("mesh_order", "size_factor", "parameters", "mesh_dir")
_PHYSICS_KEYS = {"mechanics": ("kind", "model"), "transport": ("kind", "phases")}
_MATERIAL_KEYS = {"mechanics": ("E", "nu"), "transport": ("D",)}


@dataclass(frozen=True)
class RVESettings:
    """The ``[rve]`` table: mesh source and cell-problem discretization.

    Attributes:
        mesh: absolute path of the ``.geo`` or ``.msh`` file.
        mesh_order: geometric element order when meshing a ``.geo`` (1 or 2).
        size_factor: Gmsh mesh size factor when meshing a ``.geo`` (< 1 refines).
        parameters: ``DefineConstant`` overrides of the ``.geo``, as (name, value).
        mesh_dir: where the ``.msh`` of a ``.geo`` goes (None: the default cache, see
            fe2.app.homogenize.mesh_target).
        degree: polynomial degree of the fluctuation field.
        bc: boundary condition of the cell problem (fe2.rve.linear.BOUNDARY_CONDITIONS).
    """

    mesh: Path
    mesh_order: int = 1
    size_factor: float = 1.0
    parameters: tuple[tuple[str, float], ...] = ()
    mesh_dir: Path | None = None
    degree: int = 1
    bc: str = "periodic"

    @property
    def is_geo(self) -> bool:
        return self.mesh.suffix == ".geo"


@dataclass(frozen=True)
class Physics:
    """The ``[physics]`` table: ``kind``; ``model`` (mechanics); ``phases`` (transport, None =
    every phase of the mesh conducts)."""

    kind: str
    model: str | None = None
    phases: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Config:
    """A homogenization case read from ``path``; materials as (phase, material) pairs."""

    path: Path
    rve: RVESettings
    physics: Physics
    materials: tuple[tuple[str, IsotropicElastic | Diffusivity], ...]
    description: str = ""

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {message}")

    def check_mesh(self, phases: Sequence[str], tdim: int) -> tuple[str, ...]:
        """Check the case against the mesh's phases (domain groups) and dimension.

        Returns:
            the phases that take part in the cell problem, sorted.

        Raises:
            ConfigError: naming the key and what the mesh offers.
        """
        phases = sorted(phases)
        model = self.physics.model
        if model is not None and (tdim == 3) != (model == "3d"):
            need = "a 3D mesh" if model == "3d" else "a 2D mesh"
            allowed = "3d" if tdim == 3 else "plane_strain, plane_stress"
            raise self.error(f"[physics] model = {model!r} needs {need}, but {self.rve.mesh.name} "
                             f"is {tdim}D; allowed for this mesh: {allowed}")
        given = [name for name, _ in self.materials]
        unknown = [name for name in given if name not in phases]
        if unknown:
            raise self.error(f"[materials] unknown phase(s) {unknown}; the phases of "
                             f"{self.rve.mesh.name} are {phases}")
        active = phases
        if self.physics.kind == "transport" and self.physics.phases is not None:
            active = sorted(self.physics.phases)
            absent = [name for name in active if name not in phases]
            if absent:
                raise self.error(f"[physics] phases: unknown phase(s) {absent}; the phases of "
                                 f"{self.rve.mesh.name} are {phases}")
            extra = [name for name in given if name not in active]
            if extra:
                raise self.error(f"[materials] phase(s) {extra} are not conducting (not in "
                                 f"[physics] phases = {active}); remove them or list them there")
        missing = [name for name in active if name not in given]
        if missing:
            what = ("every phase of the mesh needs one" if self.physics.kind == "mechanics"
                    else "every conducting phase needs one")
            raise self.error(f"[materials] missing material for phase(s) {missing} ({what}; "
                             f"add [materials.{missing[0]}] with keys "
                             f"{', '.join(_MATERIAL_KEYS[self.physics.kind])})")
        return tuple(active)

    def material_matrices(self, gdim: int) -> dict[str, np.ndarray]:
        """Phase → material matrix (Mandel stiffness or diffusivity tensor) for the RVE."""
        if self.physics.kind == "mechanics":
            return {name: m.matrix(self.physics.model) for name, m in self.materials}
        return {name: m.matrix(gdim) for name, m in self.materials}


def read_toml(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The absolute path and the parsed tables of a TOML case file.

    Raises:
        ConfigError: if the file is missing, unreadable or not TOML.
    """
    path = Path(path).resolve()
    try:
        return path, tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML case file.

    Raises:
        ConfigError: if the file is missing, not TOML, or any key or value is wrong.
    """
    path, raw = read_toml(path)
    reader = TableReader(path)
    reader.keys(raw, "", _TOP_KEYS, required=("rve", "physics", "materials"))
    description = reader.string(raw, "", "description", default="")
    physics = reader.physics(reader.table(raw, "", "physics"))
    rve = reader.rve(reader.table(raw, "", "rve"))
    materials = reader.materials(reader.table(raw, "", "materials"), physics.kind)
    return Config(path, rve, physics, materials, description)


class TableReader:
    """Typed access to the raw TOML tables; every failure names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, section: str, message: str) -> ConfigError:
        where = f"[{section}] " if section else ""
        return ConfigError(f"{self.path}: {where}{message}")

    def keys(self, table: Mapping[str, Any], section: str, allowed: Sequence[str],
             required: Sequence[str] = ()) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(section, f"unknown key {key!r}; allowed keys: "
                                         f"{', '.join(allowed)}")
        for key in required:
            if key not in table:
                what = f"table [{key}]" if not section else f"key {key!r}"
                raise self.fail(section, f"missing {what}")

    def table(self, raw: Mapping[str, Any], section: str, key: str) -> dict[str, Any]:
        value = raw[key]
        if not isinstance(value, dict):
            raise self.fail(section, f"{key} must be a table ([{key}]), got {value!r}")
        return value

    def string(self, table: Mapping[str, Any], section: str, key: str,
               choices: Sequence[str] | None = None, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(section, f"{key} must be a string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(section, f"{key} = {value!r}: unknown value; allowed: "
                                     f"{', '.join(choices)}")
        return value

    def number(self, table: Mapping[str, Any], section: str, key: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(section, f"{key} must be a number, got {value!r}")
        return float(value)

    def integer(self, table: Mapping[str, Any], section: str, key: str, default: int,
                choices: Sequence[int] | None = None, minimum: int | None = None) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(section, f"{key} must be an integer, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(section, f"{key} = {value}: allowed: "
                                     f"{', '.join(map(str, choices))}")
        if minimum is not None and value < minimum:
            raise self.fail(section, f"{key} = {value}: must be at least {minimum}")
        return value

    def rve(self, table: dict[str, Any], section: str = "rve",
            allowed: Sequence[str] = _RVE_KEYS) -> RVESettings:
        """A mesh source with its discretization; ``allowed`` keys of other tables that
        describe a mesh (e.g. the macro mesh of ``fe2 run``) are the caller's to read."""
        self.keys(table, section, allowed, required=("mesh",))
        mesh = self.path.parent / self.string(table, section, "mesh")
        if mesh.suffix not in MESH_SUFFIXES:
            raise self.fail(section, f"mesh = {str(mesh)!r}: must be a .geo or .msh file")
        if not mesh.is_file():
            raise self.fail(section, f"mesh: no such file {mesh}")
        if mesh.suffix == ".msh":
            given = [key for key in _GEO_ONLY if key in table]
            if given:
                raise self.fail(section, f"{', '.join(given)}: only for a .geo mesh source, "
                                       f"but mesh is {mesh.name}")
        size_factor = self.number(table, section, "size_factor", 1.0)
        if not size_factor > 0:
            raise self.fail(section, f"size_factor = {size_factor}: must be positive")
        parameters = table.get("parameters", {})
        if not isinstance(parameters, dict):
            raise self.fail(section, f"parameters must be a table like {{ R = 0.2 }}, "
                                   f"got {parameters!r}")
        overrides = tuple((name, self.number(parameters, f"{section}.parameters", name, 0.0))
                          for name in sorted(parameters))
        mesh_dir = table.get("mesh_dir")
        if mesh_dir is not None:
            mesh_dir = self.path.parent / self.string(table, section, "mesh_dir")
        return RVESettings(
            mesh=mesh.resolve(),
            mesh_order=self.integer(table, section, "mesh_order", 1, choices=(1, 2)),
            size_factor=size_factor,
            parameters=overrides,
            mesh_dir=mesh_dir,
            degree=self.integer(table, section, "degree", 1, minimum=1),
            bc=self.string(table, section, "bc", BOUNDARY_CONDITIONS, default="periodic"),
        )

    def physics(self, table: dict[str, Any]) -> Physics:
        if "kind" not in table:
            raise self.fail("physics", f"missing key 'kind' (allowed: {', '.join(PHYSICS_KINDS)})")
        kind = self.string(table, "physics", "kind", PHYSICS_KINDS)
        self.keys(table, "physics", _PHYSICS_KEYS[kind])
        if kind == "mechanics":
            if "model" not in table:
                raise self.fail("physics", f"missing key 'model' (allowed: "
                                           f"{', '.join(MECHANICS_MODELS)})")
            return Physics(kind, model=self.string(table, "physics", "model", MECHANICS_MODELS))
        phases = table.get("phases")
        if phases is not None:
            if (not isinstance(phases, list) or not phases
                    or not all(isinstance(p, str) for p in phases)):
                raise self.fail("physics", f"phases must be a non-empty list of phase names, "
                                           f"got {phases!r}")
            if len(set(phases)) != len(phases):
                raise self.fail("physics", f"phases lists a phase twice: {phases}")
            phases = tuple(phases)
        return Physics(kind, phases=phases)

    def materials(self, table: dict[str, Any], kind: str) -> tuple[tuple[str, Any], ...]:
        allowed = _MATERIAL_KEYS[kind]
        if not table:
            raise self.fail("materials", "no material given; add [materials.<phase>] tables")
        result = []
        for phase, values in table.items():
            section = f"materials.{phase}"
            if not isinstance(values, dict):
                raise self.fail("materials", f"{phase} must be a table ([{section}]) with "
                                             f"keys {', '.join(allowed)}, got {values!r}")
            self.keys(values, section, allowed, required=allowed)
            numbers = [self.number(values, section, key, 0.0) for key in allowed]
            try:
                material = (IsotropicElastic(*numbers) if kind == "mechanics"
                            else Diffusivity(*numbers))
            except ValueError as error:
                raise self.fail(section, f"phase {phase!r}: {error}") from None
            result.append((phase, material))
        return tuple(result)
