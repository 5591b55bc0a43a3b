"""TOML case files for ``fe2 homogenize``: strict reading into frozen dataclasses.

Every mistake is a :class:`ConfigError` that names the file, the key and what is allowed.
Relative paths are relative to the config file. The format is described in problems/README.md.
Checks that need the mesh (phases present, every phase with a material, dimension of the
model) are in :meth:`Config.check_mesh`, called once the mesh is loaded.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fe2.core.errors import ConfigError
from fe2.io.mesh import GroupNames
from fe2.rve.linear import BOUNDARY_CONDITIONS

__all__ = ["Config", "ConfigError", "RVESettings", "TableReader", "config_from_tables",
           "load_config", "read_toml"]

MESH_SUFFIXES = (".geo", ".msh")

_TOP_KEYS = ("description", "rve", "physics", "materials")
_RVE_KEYS = ("mesh", "mesh_order", "size_factor", "parameters", "mesh_dir", "groups", "degree",
             "bc")
_GEO_ONLY = ("mesh_order", "size_factor", "parameters", "mesh_dir")


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
        groups: names of physical groups by tag (``groups = { 1 = "matrix" }``), for meshes
            whose groups have no names.
        degree: polynomial degree of the fluctuation field.
        bc: boundary condition of the cell problem (fe2.rve.linear.BOUNDARY_CONDITIONS).
    """

    mesh: Path
    mesh_order: int = 1
    size_factor: float = 1.0
    parameters: tuple[tuple[str, float], ...] = ()
    mesh_dir: Path | None = None
    groups: GroupNames = GroupNames()
    degree: int = 1
    bc: str = "periodic"

    @property
    def is_geo(self) -> bool:
        return self.mesh.suffix == ".geo"


@dataclass(frozen=True)
class Config:
    """A homogenization case read from ``path``.

    ``cell`` is the physics' cell problem (the ``CELL`` of its fe2.physics module), ``options``
    what it read from ``[physics]``, ``materials`` (phase, material) pairs it read.
    """

    path: Path
    rve: RVESettings
    kind: str
    cell: Any
    options: dict[str, Any]
    materials: tuple[tuple[str, Any], ...]
    description: str = ""

    def check_mesh(self, phases: Sequence[str], tdim: int) -> tuple[str, ...]:
        """The phases that take part in the cell problem, sorted, after checking the case
        against the mesh's phases (domain groups) and dimension.

        Raises:
            ConfigError: naming the key and what the mesh offers.
        """
        try:
            return tuple(self.cell.active_phases(self.options, sorted(phases), tdim,
                                                 [name for name, _ in self.materials],
                                                 self.rve.mesh.name))
        except ValueError as error:
            raise ConfigError(f"{self.path}: {error}") from None


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
    """Read and validate a TOML case file; ``[physics] kind`` names the physics whose cell
    problem reads ``[physics]`` and ``[materials]``.

    Raises:
        ConfigError: if the file is missing, not TOML, or any key or value is wrong.
    """
    return config_from_tables(*read_toml(path))


def config_from_tables(path: Path, raw: dict[str, Any]) -> Config:
    """The Config of the parsed tables ``raw`` of the case file ``path`` (see load_config);
    other readers (e.g. fe2.app.sweep) remove their own tables first."""
    from fe2.core.definition import find_definition

    reader = TableReader(path)
    reader.keys(raw, "", _TOP_KEYS, required=("rve", "physics", "materials"))
    description = reader.string(raw, "", "description", default="")
    physics = reader.table(raw, "", "physics")
    if "kind" not in physics:
        raise reader.fail("physics", "missing key 'kind'")
    kind = reader.string(physics, "physics", "kind")
    try:  # the module of the physics may offer a linear cell problem as CELL
        cell = getattr(sys.modules[find_definition(kind).__module__], "CELL", None)
    except LookupError as error:
        raise reader.fail("physics", str(error)) from None
    if cell is None:
        raise reader.fail("physics", f"kind = {kind!r} has no cell problem to homogenize")
    options = cell.read_physics(reader, physics)
    rve = reader.rve(reader.table(raw, "", "rve"))
    materials = reader.table(raw, "", "materials")
    if not materials:
        raise reader.fail("materials", "no material given; add [materials.<phase>] tables")
    pairs = []
    for phase, values in materials.items():
        section = f"materials.{phase}"
        if not isinstance(values, dict):
            raise reader.fail("materials", f"{phase} must be a table ([{section}]) with keys "
                                           f"{', '.join(cell.material_keys)}, got {values!r}")
        reader.keys(values, section, cell.material_keys, required=cell.material_keys)
        numbers = [reader.number(values, section, key, 0.0) for key in cell.material_keys]
        try:
            pairs.append((phase, cell.material(*numbers)))
        except ValueError as error:
            raise reader.fail(section, f"phase {phase!r}: {error}") from None
    return Config(path, rve, kind, cell, options, tuple(pairs), description)


class TableReader:
    """Typed access to the raw TOML tables; every failure names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, section: str, message: str) -> ConfigError:
        where = f"[{section}] " if section else ""
        return ConfigError(f"{self.path}: {where}{message}")

    def keys(self, table: Mapping[str, Any], section: str, allowed: Sequence[str],
             required: Sequence[str] = ()) -> None:
        """``table`` is a table with only ``allowed`` keys and every ``required`` one."""
        if not isinstance(table, Mapping):
            raise self.fail(section, f"must be a table, got {table!r}")
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

    def mapping(self, table: Mapping[str, Any], section: str, key: str,
                example: str = "") -> dict[str, Any]:
        """The inline table ``key`` (absent: empty), e.g. ``parameters = { R = 0.2 }``."""
        value = table.get(key, {})
        if not isinstance(value, dict):
            like = f" like {example}" if example else ""
            raise self.fail(section, f"{key} must be a table{like}, got {value!r}")
        return value

    def strings(self, table: Mapping[str, Any], section: str, key: str,
                what: str = "names") -> list[str] | None:
        """A non-empty list of distinct strings (absent: None); a single string is refused
        rather than split into letters."""
        if key not in table:
            return None
        value = table[key]
        if (not isinstance(value, list) or not value
                or not all(isinstance(item, str) for item in value)):
            raise self.fail(section, f"{key} must be a non-empty list of {what}, e.g. "
                                     f"[\"a\", \"b\"], got {value!r}")
        if len(set(value)) < len(value):
            raise self.fail(section, f"{key} lists a name twice: {value}")
        return value

    def boolean(self, table: Mapping[str, Any], section: str, key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(section, f"{key} must be true or false, got {value!r}")
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

    def numbers(self, raw: Mapping[str, Any], section: str, cls, keys: Sequence[str],
                required: Sequence[str]):
        """The table ``[section]`` of numbers read into ``cls(**values)``; the table is
        required and the checks of ``cls`` (ValueError) become errors naming it."""
        if section not in raw:
            raise self.fail("", f"missing table [{section}] (keys {', '.join(keys)})")
        table = self.table(raw, "", section)
        self.keys(table, section, keys, required=required)
        try:
            return cls(**{key: self.number(table, section, key, 0.0)
                          for key in keys if key in table})
        except ValueError as error:
            raise self.fail(section, str(error)) from None

    def group_names(self, table: Mapping[str, Any], section: str) -> GroupNames:
        """``groups = { 1 = "matrix", "1:3" = "left" }``: names of physical groups by tag (a
        key ``"dim:tag"`` when groups of several dimensions share the tag)."""
        given = self.mapping(table, section, "groups", example='{ 1 = "matrix", 2 = "fibre" }')
        names = []
        for key in given:
            dim, _, tag = key.rpartition(":")
            if not (tag.isdigit() and (dim.isdigit() or not dim)):
                raise self.fail(section, f"groups: key {key!r} must be a physical tag such as 1 "
                                         f"(or \"<dim>:<tag>\" such as \"2:1\")")
            names.append((int(dim) if dim else None, int(tag),
                          self.string(given, f"{section}.groups", key)))
        twice = sorted({name for *_, name in names if [n for *_, n in names].count(name) > 1})
        if twice:
            raise self.fail(section, f"groups: the name(s) {twice} are given to several tags")
        return GroupNames(tuple(names), f"{self.path}: [{section}] groups")

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
        parameters = self.mapping(table, section, "parameters", example="{ R = 0.2 }")
        overrides = tuple((name, self.number(parameters, f"{section}.parameters", name, 0.0))
                          for name in sorted(parameters))
        mesh_dir = (self.path.parent / self.string(table, section, "mesh_dir")
                    if "mesh_dir" in table else None)
        return RVESettings(
            mesh=mesh.resolve(),
            mesh_order=self.integer(table, section, "mesh_order", 1, choices=(1, 2)),
            size_factor=size_factor,
            parameters=overrides,
            mesh_dir=mesh_dir,
            groups=self.group_names(table, section),
            degree=self.integer(table, section, "degree", 1, minimum=1),
            bc=self.string(table, section, "bc", BOUNDARY_CONDITIONS, default="periodic"),
        )
