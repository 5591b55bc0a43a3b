"""Does a phase (e.g. the pore space) percolate across a cell, and along which directions?

A transport cell problem restricted to a phase gives D_eff = 0 along a direction in which the
phase does not connect a side of the cell to its opposite side: the tortuosity there is
infinite, not a (round-off) number. The answer is topological, so it is decided on the mesh:

- the cells of the phase are joined through shared facets into connected *pieces*;
- periodic cell: a piece leaving through a facet of a far side (x = 1 in cell coordinates)
  enters the piece behind the matching facet of the near side in the next cell image. Joining
  pieces with these integer image offsets, a cluster that meets itself in another image
  *wraps* with that offset (a lattice vector). The cluster conducts along the span of its
  wrap vectors, so a Cartesian direction percolates iff some wrap vector has a component
  along it;
- non-periodic cell (affine or minimal BC): a piece that touches a side and its opposite side
  wraps along that cell vector.

Clusters that wrap in no direction are isolated pores (dead ends): they carry no flux and, in
the periodic cell problem with one pinned node, make the operator singular.

Works on a mesh held by one process (an RVE on ``MPI.COMM_SELF``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fe2.core.errors import InputError

__all__ = ["Percolation", "PercolationError", "check_percolation", "percolation"]


class PercolationError(InputError, ValueError):
    """The conducting phase of a cell does not percolate (or falls apart into isolated parts)."""


@dataclass(frozen=True)
class Percolation:
    """What connects across a cell.

    Attributes:
        directions: per Cartesian axis (x, y[, z]), True if the phase conducts along it.
        clusters: connected parts of the phase (in the periodic cell, images identified).
        isolated: clusters that wrap in no direction (dead-end pores).
        wraps: lattice offsets (integer rows) along which some cluster wraps.
    """

    directions: tuple[bool, ...]
    clusters: int
    isolated: int
    wraps: np.ndarray

    @property
    def blocked(self) -> list[str]:
        """Names of the axes along which the phase does not percolate."""
        return ["xyz"[i] for i, ok in enumerate(self.directions) if not ok]


class _Offsets:
    """Union-find over pieces with the integer image offset of every piece to its root."""

    def __init__(self, n: int, dim: int) -> None:
        self.parent = list(range(n))
        self.offset = np.zeros((n, dim), dtype=np.int64)  # offset of a piece from its parent
        self.wraps: dict[int, list[np.ndarray]] = {}

    def find(self, a: int) -> tuple[int, np.ndarray]:
        shift = np.zeros(self.offset.shape[1], dtype=np.int64)
        while self.parent[a] != a:
            shift += self.offset[a]
            a = self.parent[a]
        return a, shift

    def join(self, a: int, b: int, step: np.ndarray) -> None:
        """Record that piece b lies at offset ``step`` from piece a."""
        root_a, off_a = self.find(a)
        root_b, off_b = self.find(b)
        if root_a == root_b:
            wrap = off_a + step - off_b
            if wrap.any():
                self.wraps.setdefault(root_a, []).append(wrap)
            return
        self.parent[root_b] = root_a
        self.offset[root_b] = off_a + step - off_b
        self.wraps.setdefault(root_a, []).extend(self.wraps.pop(root_b, []))


def percolation(data, phases: list[str], lattice, periodic: bool = True,
                tol: float = 1e-8) -> Percolation:
    """Which directions the union of ``phases`` of the RVE mesh ``data`` percolates along.

    Args:
        data: fe2.io.mesh.MeshData of the whole cell, on one process.
        phases: the conducting phases (domain group names).
        lattice: fe2.rve.linear.Lattice of the cell.
        periodic: pair the facets of opposite sides (periodic mesh) or not (see module doc).
        tol: tolerance in cell coordinates for facets on a side and for matching facets.
    """
    import scipy.sparse
    from dolfinx.mesh import compute_midpoints
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    mesh, tdim = data.mesh, data.tdim
    gdim = mesh.geometry.dim
    n_cells = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    active = np.zeros(n_cells, dtype=bool)
    for phase in phases:
        active[data.cells(phase)] = True
    mesh.topology.create_connectivity(tdim - 1, tdim)
    f2c = mesh.topology.connectivity(tdim - 1, tdim)
    counts = np.diff(f2c.offsets)
    first = f2c.array[f2c.offsets[:-1]]
    second = np.where(counts == 2, f2c.array[np.minimum(f2c.offsets[:-1] + 1,
                                                        len(f2c.array) - 1)], -1)
    inner = (counts == 2) & active[first] & active[np.maximum(second, 0)]
    graph = scipy.sparse.coo_matrix(
        (np.ones(inner.sum()), (first[inner], second[inner])), shape=(n_cells, n_cells))
    _, piece = connected_components(graph, directed=False)
    used = np.unique(piece[active])
    index = np.full(piece.max() + 1, -1)
    index[used] = np.arange(len(used))
    pieces = _Offsets(len(used), gdim)

    outer = np.flatnonzero((counts == 1) & active[first])
    midpoints = compute_midpoints(mesh, tdim - 1, outer.astype(np.int32))
    fractional = lattice.fractional(midpoints.T)
    for axis in range(gdim):
        near = np.flatnonzero(np.abs(fractional[axis]) < tol)
        far = np.flatnonzero(np.abs(fractional[axis] - 1) < tol)
        step = np.eye(gdim, dtype=np.int64)[axis]
        if periodic:
            if not len(near) or not len(far):
                continue
            tree = cKDTree(fractional[:, near].T)
            image = fractional[:, far].T - step
            distance, match = tree.query(image)
            for f, m in zip(far[distance < tol], match[distance < tol], strict=True):
                pieces.join(index[piece[first[outer[f]]]], index[piece[first[outer[near[m]]]]],
                            step)
        else:
            both = (np.intersect1d(piece[first[outer[near]]], piece[first[outer[far]]]))
            for p in both:
                pieces.wraps.setdefault(pieces.find(index[p])[0], []).append(step)
    roots = {pieces.find(i)[0] for i in range(len(used))}
    wraps = [w for root in roots for w in pieces.wraps.get(root, [])]
    wraps = np.array(wraps, dtype=np.int64).reshape(-1, gdim)
    cartesian = wraps @ lattice.vectors  # rows: wrap vectors in x, y(, z)
    size = np.abs(lattice.vectors).max()
    directions = tuple(bool(np.any(np.abs(cartesian[:, i]) > tol * size)) for i in range(gdim))
    isolated = sum(1 for root in roots if not pieces.wraps.get(root))
    return Percolation(directions, len(roots), isolated, wraps)


def check_percolation(data, phases: list[str], periodic: bool = True) -> Percolation:
    """The percolation of ``phases`` in the RVE ``data``; PercolationError if the phases
    percolate along no direction (D_eff = 0, tortuosity infinite everywhere), or, in a
    periodic cell, fall apart into several clusters (the cell problem would be singular)."""
    from fe2.rve.linear import lattice_of

    found = percolation(data, phases, lattice_of(data, periodic=periodic), periodic)
    names = " + ".join(phases)
    if not any(found.directions):
        raise PercolationError(
            f"{data.path}: the conducting phase ({names}) does not percolate across the cell: no "
            "connected path joins a side to the opposite side, so D_eff = 0 and the tortuosity "
            "is infinite in every direction")
    if periodic and found.clusters > 1:
        raise PercolationError(
            f"{data.path}: the conducting phase ({names}) falls apart into {found.clusters} "
            f"disconnected clusters ({found.isolated} of them isolated pores that cross no "
            "side); the periodic cell problem needs one connected phase: make the isolated "
            "pores part of the solid or mesh the cell so that the pore space is connected")
    return found
