"""Load a Gmsh ``.msh`` file into dolfinx with its physical groups, and check periodicity.

The file is read on rank 0 of the given communicator and the mesh is distributed by dolfinx.
Physical group names travel with the mesh, so callers refer to phases and boundaries by name
("matrix", "left", ...) instead of by Gmsh's integer tags.
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
    "MeshData", "MeshError", "PhysicalGroup", "PERIODIC_SIDE_PAIRS", "boundary_nodes",
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


def _read_on_root(path: Path):
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
    groups = {}
    for dim, tag in gmsh.model.getPhysicalGroups():
        name = gmsh.model.getPhysicalName(dim, tag)
        if not name:
            return f"{path}: physical group {dim}:{tag} has no name; fe2 refers to groups by name"
        if name in groups:
            return f"{path}: physical group name {name!r} is used twice"
        groups[name] = PhysicalGroup(dim, tag)
    if not groups:
        return f"{path}: the mesh has no physical groups"
    z = gmsh.model.mesh.getNodes()[1].reshape(-1, 3)[:, 2]
    gdim = 3 if gmsh.model.getDimension() == 3 or np.abs(z).max(initial=0.0) > 0 else 2
    return groups, gdim


def load_mesh(path: str | Path, comm: MPI.Comm, required: Iterable[str] = ()) -> MeshData:
    """Read ``path`` (a ``.msh``) on rank 0 of ``comm`` and distribute it over ``comm``.

    Args:
        path: the Gmsh mesh file.
        comm: communicator of the mesh (``MPI.COMM_SELF`` for an RVE solved on one rank).
        required: physical group names the caller needs; any missing one is a MeshError.

    Raises:
        MeshError: on every rank, if the file is missing or unreadable or a group is missing.
    """
    import gmsh
    from dolfinx.io import gmshio

    path = Path(path)
    root = 0
    outcome = _read_on_root(path) if comm.rank == root else None
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
