"""Batch meshing of Gmsh ``.geo`` sources into ``.msh`` files with the gmsh Python API.

Each file is meshed in its own worker process: gmsh keeps global state, and a crash or a hang
in one geometry must not affect the others. A ``<name>.msh.json`` record beside each output
keeps the absolute path of its source, a hash of the source text and the options, and its
statistics: an output is reused instead of re-meshed only if it is newer than its source and
was made from the same file with the same text and options (two sources of one name never
take each other's mesh).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mpi4py is not imported at run time: spawned gmsh workers must not init MPI
    from mpi4py import MPI

__all__ = ["MeshOptions", "MeshReport", "check_collisions", "mesh_file", "mesh_files",
           "mesh_target", "parse_parameter", "prepare_mesh"]

REPO = Path(__file__).resolve().parents[2]

# Topological dimension of the meshio cell types fe2 meshes contain.
CELL_DIMENSION = {
    "vertex": 0,
    "line": 1, "line3": 1,
    "triangle": 2, "triangle6": 2, "quad": 2, "quad9": 2,
    "tetra": 3, "tetra10": 3, "hexahedron": 3, "hexahedron27": 3,
}


@dataclass(frozen=True)
class MeshOptions:
    """How to mesh a ``.geo`` file.

    Attributes:
        order: geometric order of the elements (1 or 2).
        size_factor: multiplies every mesh size (``Mesh.MeshSizeFactor``); < 1 refines.
        parameters: overrides of the file's ``DefineConstant`` parameters, as (name, value).
        xdmf: also write ``<name>.xdmf`` (cells) and ``<name>_facets.xdmf`` via meshio.
    """

    order: int = 1
    size_factor: float = 1.0
    parameters: tuple[tuple[str, float], ...] = ()
    xdmf: bool = False

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise ValueError(f"element order must be 1 or 2, got {self.order}")
        if not self.size_factor > 0:
            raise ValueError(f"size factor must be positive, got {self.size_factor}")


@dataclass(frozen=True)
class MeshReport:
    """Outcome of meshing one file: ``status`` is "meshed", "up to date" or "failed"."""

    source: str
    output: str
    status: str
    cells: int = 0
    nodes: int = 0
    groups: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        """One summary line for the terminal."""
        name = Path(self.source).name
        if not self.ok:
            return f"{name:<28} FAILED      {self.error}"
        groups = ", ".join(self.groups)
        return (f"{name:<28} {self.status:<11} {self.cells:>8} cells {self.nodes:>8} nodes "
                f"{self.seconds:6.2f} s  groups: {groups}")


def parse_parameter(text: str) -> tuple[str, float]:
    """Parse a ``NAME=VALUE`` command-line override of a ``.geo`` parameter."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(f"value of {name} must be a number, got {value!r}") from None


def output_path(source: Path, out_dir: Path | None) -> Path:
    """Where the ``.msh`` of ``source`` goes: ``out_dir`` or beside the source."""
    return (out_dir if out_dir is not None else source.parent) / (source.stem + ".msh")


def _record_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def _source_key(source: Path, options: MeshOptions) -> dict[str, str]:
    """What identifies the mesh of ``source``: its absolute path and a hash of its text and
    the options."""
    digest = hashlib.sha256(source.read_bytes())
    digest.update(json.dumps(asdict(options), sort_keys=True).encode())
    return {"source": str(source.resolve()), "sha256": digest.hexdigest()}


def _up_to_date(source: Path, output: Path, options: MeshOptions) -> MeshReport | None:
    """The stored report if ``output`` is newer than ``source`` and was made from this source
    file, with this text and ``options``."""
    record = _record_path(output)
    if not (output.exists() and record.exists()):
        return None
    if output.stat().st_mtime < source.stat().st_mtime:
        return None
    try:
        stored = json.loads(record.read_text())
        if stored.get("key") != _source_key(source, options):
            return None
        report = stored["report"]
        report.update(status="up to date", seconds=0.0, groups=tuple(report["groups"]))
        return MeshReport(**report)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mesh_file(source: Path, out_dir: Path | None, options: MeshOptions,
              force: bool = False) -> MeshReport:
    """Mesh one ``.geo`` file into ``.msh`` (run it in a fresh process: gmsh is global).

    Never raises for a bad input file: the report carries the error, named after the file
    and with Gmsh's own message.
    """
    source = Path(source)
    output = output_path(source, out_dir)
    failed = MeshReport(str(source), str(output), "failed")
    if not source.is_file():
        return _replace(failed, error=f"no such file: {source}")
    if not force and (stored := _up_to_date(source, output, options)) is not None:
        return stored
    start = time.perf_counter()
    try:
        report = _run_gmsh(source, output, options)
    except Exception as error:  # a worker must report, not die: the batch goes on
        return _replace(failed, error=f"{source}: {error}".replace("\n", " "))
    report = _replace(report, seconds=time.perf_counter() - start)
    if options.xdmf:
        _write_xdmf(output)
    _record_path(output).write_text(json.dumps(
        {"key": _source_key(source, options), "options": asdict(options),
         "report": asdict(report)}, indent=1))
    return report


def _replace(report: MeshReport, **changes) -> MeshReport:
    return MeshReport(**{**asdict(report), **changes})


def _run_gmsh(source: Path, output: Path, options: MeshOptions) -> MeshReport:
    """Mesh with the gmsh API; raise RuntimeError with Gmsh's messages on any error."""
    import gmsh

    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.logger.start()

        def check(stage: str) -> None:
            errors = [m for m in gmsh.logger.get() if m.startswith("Error")]
            if errors:
                raise RuntimeError(f"{stage}: " + " | ".join(errors))

        try:
            gmsh.open(str(source))
        except Exception as error:
            check("Gmsh could not read the file")
            raise RuntimeError(f"Gmsh could not read the file: {error}") from None
        check("Gmsh could not read the file")
        if options.parameters:
            # DefineConstant takes its value from ONELAB when the parameter is already there:
            # set the overrides under the names the first reading revealed, then read again.
            for name, value in _onelab_names(gmsh, options.parameters).items():
                gmsh.onelab.setNumber(name, [value])
            gmsh.open(str(source))
            check("Gmsh could not read the file with the overrides")

        dim = gmsh.model.getDimension()
        physical = gmsh.model.getPhysicalGroups()
        if dim < 1 or not any(d == dim for d, _ in physical):
            raise RuntimeError(f"no physical group of dimension {dim}: fe2 needs the domain "
                               "(phases) as named physical groups")
        names = tuple(sorted(gmsh.model.getPhysicalName(d, t) or f"{d}:{t}" for d, t in physical))

        gmsh.option.setNumber("Mesh.MeshSizeFactor", options.size_factor)
        gmsh.model.mesh.generate(dim)
        if options.order == 2:
            gmsh.model.mesh.setOrder(2)
        check("meshing failed")

        cells = sum(len(tags) for tags in gmsh.model.mesh.getElements(dim)[1])
        nodes = len(gmsh.model.mesh.getNodes()[0])
        if cells == 0:
            raise RuntimeError("meshing produced no cells")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.{os.getpid()}.msh")
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.write(str(partial))
        check("writing failed")
        os.replace(partial, output)  # readers never see a half-written file
        return MeshReport(str(source), str(output), "meshed", cells, nodes, names)
    finally:
        gmsh.logger.stop()
        gmsh.finalize()


def _onelab_names(gmsh, parameters: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Map each override to the ONELAB name of the file's ``DefineConstant`` parameter."""
    defined = {name.rsplit("/", 1)[-1]: name for name in gmsh.onelab.getNames()
               if not name.startswith(("Gmsh/", "ONELAB/"))}
    unknown = [name for name, _ in parameters if name not in defined]
    if unknown:
        raise RuntimeError(f"unknown parameter(s) {', '.join(unknown)}; the file defines: "
                           f"{', '.join(sorted(defined)) or 'none'}")
    return {defined[name]: value for name, value in parameters}


def _write_xdmf(output: Path) -> None:
    """Write cells and facets (with their physical tags) as XDMF for ParaView."""
    import meshio

    msh = meshio.read(output)
    tags = msh.cell_data["gmsh:physical"]
    dim = max(CELL_DIMENSION[block.type] for block in msh.cells)
    for suffix, wanted in (("", dim), ("_facets", dim - 1)):
        blocks = [(b, t) for b, t in zip(msh.cells, tags, strict=True)
                  if CELL_DIMENSION[b.type] == wanted]
        if not blocks:
            continue
        points = msh.points[:, :2] if dim == 2 and not msh.points[:, 2].any() else msh.points
        meshio.write(output.with_name(output.stem + suffix + ".xdmf"), meshio.Mesh(
            points, [(b.type, b.data) for b, _ in blocks],
            cell_data={"physical": [t for _, t in blocks]}))


def mesh_files(sources: Iterable[Path], out_dir: Path | None, options: MeshOptions,
               jobs: int = 1, force: bool = False,
               on_done: Callable[[MeshReport], None] | None = None) -> list[MeshReport]:
    """Mesh many files in ``jobs`` parallel processes; reports come back in input order.

    Raises:
        ValueError: if two different sources would write the same ``.msh`` (same name into one
            ``out_dir``), before anything is meshed.
    """
    sources = [Path(s) for s in sources]
    check_collisions(sources, out_dir)
    context = multiprocessing.get_context("spawn")  # never fork a process that may hold MPI
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context,
                             max_tasks_per_child=1) as pool:
        futures = [pool.submit(mesh_file, s, out_dir, options, force) for s in sources]
        reports = []
        for source, future in zip(sources, futures, strict=True):
            try:
                report = future.result()
            except Exception as error:  # the worker process itself died (e.g. gmsh crashed)
                report = MeshReport(str(source), str(output_path(source, out_dir)), "failed",
                                    error=f"{source}: gmsh worker died: {error}")
            if on_done is not None:
                on_done(report)
            reports.append(report)
    return reports


def check_collisions(sources: Sequence[Path], out_dir: Path | None) -> None:
    """ValueError naming the files if two different sources have the same output."""
    first: dict[Path, Path] = {}
    clashes = []
    for source in sources:
        output = output_path(source, out_dir).resolve()
        other = first.setdefault(output, source)
        if other.resolve() != source.resolve():
            clashes.append(f"{other} and {source} both mesh into {output}")
    if clashes:
        raise ValueError("; ".join(clashes) + " (rename one or mesh them into different "
                                              "--out folders)")


def mesh_target(source) -> tuple[Path, MeshOptions | None]:
    """The ``.msh`` a config's mesh source uses and, for a ``.geo``, the MeshOptions to make it.

    ``source`` has ``mesh`` (a .geo or .msh path), ``mesh_order``, ``size_factor``,
    ``parameters`` and ``mesh_dir`` (e.g. fe2.app.case.RVESettings). A ``.geo`` is meshed into
    ``mesh_dir`` if given, else into ``build/meshes`` of this repository for the shipped
    ``meshes/*.geo``, else into ``build/meshes`` beside the ``.geo`` (a case folder's own
    geometry never shares a folder with another one of the same name).
    Non-default options get their own sub-folder (e.g. ``order2_R0.3``) so that cases with
    different options never overwrite each other's mesh.
    """
    rve = source
    if not rve.is_geo:
        return rve.mesh, None
    options = MeshOptions(rve.mesh_order, rve.size_factor, rve.parameters)
    if rve.mesh_dir is not None:
        out = rve.mesh_dir
    elif rve.mesh.is_relative_to(REPO / "meshes") and (REPO / "pyproject.toml").is_file():
        out = REPO / "build" / "meshes"
    else:
        out = rve.mesh.parent / "build" / "meshes"
    tags = ([f"order{rve.mesh_order}"] if rve.mesh_order != 1 else []) + (
        [f"size{rve.size_factor:g}"] if rve.size_factor != 1 else []) + [
        f"{name}{value:g}" for name, value in rve.parameters]
    if tags:
        out = out / "_".join(tags)
    return output_path(rve.mesh, out), options


def prepare_mesh(source, config: Path, comm: MPI.Comm) -> Path:
    """The ``.msh`` of a config's mesh source, meshed on rank 0 of ``comm`` if out of date
    (the others wait); ``config`` is the config file, named in errors.

    Raises:
        MeshError: on every rank, with Gmsh's message, if meshing failed.
    """
    from fe2.core.collective import on_root
    from fe2.io.mesh import MeshError

    target, options = mesh_target(source)
    if options is None:
        return target

    def make() -> None:
        try:
            report = mesh_files([source.mesh], target.parent, options)[0]
            error = None if report.ok else report.error
        except Exception as failure:  # every rank must learn it, or the others wait forever
            error = f"{type(failure).__name__}: {failure}"
        if error is not None:
            raise MeshError(f"{config}: meshing {source.mesh.name} failed: {error}")

    on_root(comm, make, errors=(MeshError,))
    return target
