"""Load a Gmsh ``.msh`` file into dolfinx with its physical groups, and check periodicity.

The file is read on rank 0 of the given communicator and the mesh is distributed by dolfinx.
Physical group names travel with the mesh, so callers refer to phases and boundaries by name
("matrix", "left", ...) instead of by Gmsh's integer tags. A case may name groups by tag
(:class:`GroupNames`) where the mesh gives them no name (or another one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from mpi4py import MPI

from fe2.core.errors import InputError

__all__ = [
    "GroupNames", "MeshData", "MeshError", "PhysicalGroup", "PERIODIC_SIDE_PAIRS",
    "boundary_nodes",
    "load_mesh", "periodic_mismatch", "side_centroid",
]

# Opposite sides of an RVE, (master, slave): the slave is the master translated by a cell vector.
PERIODIC_SIDE_PAIRS = (("left", "right"), ("bottom", "top"), ("back", "front"))


class MeshError(InputError, ValueError):
    """A mesh file is missing, unreadable, or lacks what the caller needs."""


class PhysicalGroup(NamedTuple):
    """A named Gmsh physical group: topological dimension and integer tag."""

    dim: int
    tag: int


@dataclass(frozen=True)
class GroupNames:
    """Names given to physical groups by tag, e.g. from ``groups = { 1 = "matrix" }`` of a case.

    Attributes:
        names: (dimension or None for any, tag, name); a tag used by groups of several
            dimensions needs its dimension.
        where: the file, table and key that gave them, named in errors.
    """

    names: tuple[tuple[int | None, int, str], ...] = ()
    where: str = ""

    def apply(self, groups: dict[tuple[int, int], str], path: Path) -> str | None:
        """Name ``groups`` ((dim, tag) → name, "" if unnamed) in place; an error text if a
        tag is absent or ambiguous."""
        listing = _listing(groups)  # as in the file
        for dim, tag, name in self.names:
            key = f"{dim}:{tag}" if dim is not None else str(tag)
            found = [group for group in groups if group[1] == tag and dim in (None, group[0])]
            if not found:
                return (f"{self.where}: {key} = {name!r}: {path.name} has no physical group "
                        f"{key}; its groups are {listing}")
            if len(found) > 1:
                return (f"{self.where}: {key} = {name!r}: {path.name} has groups of tag {tag} "
                        f"in dimensions {sorted(d for d, _ in found)}; write \"<dim>:{tag}\", "
                        f"e.g. \"{found[-1][0]}:{tag}\"")
            groups[found[0]] = name
        return None


def _listing(groups: dict[tuple[int, int], str]) -> str:
    return ", ".join(f"{dim}:{tag} {name or '(unnamed)'}"
                     for (dim, tag), name in sorted(groups.items()))


@dataclass(frozen=True)
class MeshData:
    """A distributed dolfinx mesh with its cell and facet tags and physical group names."""

    mesh: object  # dolfinx.mesh.Mesh
    cell_tags: object  # dolfinx.mesh.MeshTags
    facet_tags: object  # dolfinx.mesh.MeshTags
    groups: dict[str, PhysicalGroup]
    path: Path

    @property
    def tdim(self) -> int:
        return self.mesh.topology.dim

    def group(self, name: str, dim: int | None = None) -> PhysicalGroup:
        """The physical group ``name`` (of dimension ``dim`` if given); MeshError if absent."""
        found = self.groups.get(name)
        if found is None or (dim is not None and found.dim != dim):
            kind = {self.tdim: "domain", self.tdim - 1: "boundary"}.get(dim, "physical")
            raise MeshError(f"{self.path}: no {kind} group named {name!r}; the mesh defines "
                            f"{_describe(self.groups, self.tdim)}")
        return found

    def cells(self, name: str) -> np.ndarray:
        """Local indices of the cells in the domain group ``name``."""
        return self.cell_tags.find(self.group(name, self.tdim).tag)

    def facets(self, name: str) -> np.ndarray:
        """Local indices of the facets in the boundary group ``name``."""
        return self.facet_tags.find(self.group(name, self.tdim - 1).tag)

    def domain_names(self) -> list[str]:
        """Names of the groups of cells (phases), sorted."""
        return sorted(n for n, g in self.groups.items() if g.dim == self.tdim)

    def boundary_names(self) -> list[str]:
        """Names of the groups of facets, sorted."""
        return sorted(n for n, g in self.groups.items() if g.dim == self.tdim - 1)


def _describe(groups: dict[str, PhysicalGroup], tdim: int) -> str:
    domains = sorted(n for n, g in groups.items() if g.dim == tdim)
    boundaries = sorted(n for n, g in groups.items() if g.dim == tdim - 1)
    return f"domains {domains} and boundaries {boundaries}"


def _read_on_root(path: Path, names: GroupNames):
    """On the reading rank: open the file in gmsh; return (groups, gdim) or an error text."""
    import gmsh

    if not path.is_file():
        return f"{path}: no such mesh file (make it with `fe2 mesh`)"
    if not gmsh.isInitialized():
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add(path.stem)
    try:
        gmsh.merge(str(path))
    except Exception as error:
        return f"{path}: Gmsh cannot read it: {error}"
    named = {(dim, tag): gmsh.model.getPhysicalName(dim, tag)
             for dim, tag in gmsh.model.getPhysicalGroups()}
    error = names.apply(named, path)
    if error:
        return error
    given = f" (with {names.where})" if names.names else ""
    groups = {}
    for (dim, tag), name in sorted(named.items()):
        if not name:
            return (f"{path}: physical group {dim}:{tag} has no name; fe2 refers to groups by "
                    f"name: name it in the mesh table of the case, e.g. groups = {{ {tag} = "
                    f"\"matrix\" }}{given}; the groups are {_listing(named)}")
        if name in groups:
            return f"{path}: physical group name {name!r} is used twice{given}: {_listing(named)}"
        groups[name] = PhysicalGroup(dim, tag)
    if not groups:
        return f"{path}: the mesh has no physical groups"
    x = gmsh.model.mesh.getNodes()[1].reshape(-1, 3)
    extent = np.abs(x).max(axis=0, initial=0.0)
    dimension = gmsh.model.getDimension()
    if dimension == 3 or extent[2] > 0:
        gdim = 3
    else:  # a line along x stays one-dimensional (radial or through-thickness problems)
        gdim = 1 if dimension == 1 and extent[1] == 0 else 2
    return groups, gdim


def load_mesh(path: str | Path, comm: MPI.Comm, required: Iterable[str] = (),
              names: GroupNames = GroupNames()) -> MeshData:
    """Read ``path`` (a ``.msh``) on rank 0 of ``comm`` and distribute it over ``comm``.

    Args:
        path: the Gmsh mesh file.
        comm: communicator of the mesh (``MPI.COMM_SELF`` for an RVE solved on one rank).
        required: physical group names the caller needs; any missing one is a MeshError.
        names: names for groups by tag (from the case), before the names are checked.

    Raises:
        MeshError: on every rank, if the file is missing or unreadable or a group is missing.
    """
    import gmsh
    from dolfinx.io import gmshio

    path = Path(path)
    root = 0
    outcome = _read_on_root(path, names) if comm.rank == root else None
    outcome = comm.bcast(outcome, root=root)
    if isinstance(outcome, str):
        if comm.rank == root and gmsh.isInitialized():
            gmsh.model.remove()
        raise MeshError(outcome)
    groups, gdim = outcome
    try:
        mesh, cell_tags, facet_tags = gmshio.model_to_mesh(gmsh.model, comm, root, gdim=gdim)
    finally:
        if comm.rank == root:
            gmsh.model.remove()
    data = MeshData(mesh, cell_tags, facet_tags, groups, path)
    missing = [name for name in required if name not in groups]
    if missing:
        raise MeshError(f"{path}: missing physical group(s) {missing}; the mesh defines "
                        f"{_describe(groups, data.tdim)}")
    return data


def periodic_mismatch(master: np.ndarray, slave: np.ndarray,
                      translation: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """How far two point sets are from being translates of each other.

    Each slave point is paired with its nearest translated master point. Without a given
    translation, the difference of the point centroids is used (exact for matching sets).

    Args:
        master, slave: node coordinates (n, gdim) on two opposite sides of a cell.
        translation: the cell vector from master to slave side, if known.

    Returns:
        (translation, largest distance of a slave point to its translated master partner);
        ``inf`` if the sets differ in size.
    """
    if translation is None:
        translation = slave.mean(axis=0) - master.mean(axis=0)
    if len(master) != len(slave) or len(master) == 0:
        return translation, float("inf")
    moved = master + translation
    worst = 0.0
    for start in range(0, len(slave), 512):  # bounded memory for large faces
        chunk = slave[start:start + 512]
        distance = np.linalg.norm(chunk[:, None, :] - moved[None, :, :], axis=2).min(axis=1)
        worst = max(worst, float(distance.max()))
    return translation, worst


def _facet_nodes(data: MeshData, name: str) -> np.ndarray:
    """Coordinates (facets, nodes per facet, 3) of the local facets of boundary ``name``.

    The facet's vertices come first in each row, then its higher-order nodes.
    """
    from dolfinx.mesh import entities_to_geometry

    mesh, fdim = data.mesh, data.tdim - 1
    mesh.topology.create_connectivity(fdim, data.tdim)
    facets = data.facets(name)
    if not len(facets):  # dolfinx 0.9 divides by zero on an empty facet list (SIGFPE)
        return np.empty((0, 0, 3))
    return mesh.geometry.x[entities_to_geometry(mesh, fdim, facets, False)]


def side_centroid(data: MeshData, name: str) -> np.ndarray:
    """Geometric centroid of the (straight) facets of boundary ``name``, on every rank."""
    gdim, fdim = data.mesh.geometry.dim, data.tdim - 1
    corners = _facet_nodes(data, name)[:, : fdim + 1]
    moments = np.zeros(gdim + 1)  # Σ measure·midpoint, Σ measure
    if len(corners):
        edges = corners[:, 1:] - corners[:, :1]
        measure = (np.linalg.norm(edges[:, 0], axis=1) if fdim == 1
                   else 0.5 * np.linalg.norm(np.cross(edges[:, 0], edges[:, 1]), axis=1))
        moments[:-1] = (measure[:, None] * corners.mean(axis=1)).sum(axis=0)[:gdim]
        moments[-1] = measure.sum()
    moments = data.mesh.comm.allreduce(moments, op=MPI.SUM)
    return moments[:-1] / moments[-1]


def boundary_nodes(data: MeshData, name: str) -> np.ndarray:
    """Unique coordinates (n, gdim) of all geometry nodes on boundary ``name``, on every rank."""
    gdim = data.mesh.geometry.dim
    local = _facet_nodes(data, name).reshape(-1, 3)[:, :gdim]
    gathered = np.vstack(data.mesh.comm.allgather(local))
    return np.unique(gathered.round(decimals=12), axis=0)
