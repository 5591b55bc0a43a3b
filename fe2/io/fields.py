"""Field series for ParaView: one XDMF file (+ its HDF5 data) that stays readable after every
step, and a reader for checks and post-processing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.collective import on_root

__all__ = ["FieldWriter", "XdmfSeries", "nodal_space", "read_xdmf"]


def nodal_space(mesh, shape: tuple[int, ...] = ()):
    """Lagrange space of the mesh's geometry degree with value ``shape``: what XDMF writes."""
    from dolfinx import fem

    return fem.functionspace(mesh, ("Lagrange", mesh.geometry.cmap.degree, shape))


class FieldWriter:
    """A series of fields over load steps in one XDMF file (``path``, data in ``path.h5``).

    The mesh is written once; every :meth:`write` adds one time ``t`` (the load factor) with
    nodal Functions (any Lagrange degree; interpolated to the geometry degree that XDMF needs)
    and cell-wise fields given as arrays over the owned cells (written as DG0 Functions).

    Robustness: dolfinx keeps the HDF5 file open and flushes its data only on close, so a run
    killed with an open file leaves an unreadable ``.h5`` (verified: "bad object header").
    The file is therefore opened in append mode and closed again within each :meth:`write`:
    everything written by completed calls stays readable if the run dies later. A kill
    *during* a write can leave that last time step referenced in the XML but absent from HDF5.

    Every time ``t`` must be new (HDF5 datasets are named after it); all methods are
    collective over ``comm``, which must be the mesh's communicator.
    """

    def __init__(self, path: str | Path, mesh, comm: MPI.Comm):
        from dolfinx import io

        self.path, self.mesh, self.comm = Path(path), mesh, comm
        if self.path.suffix != ".xdmf":
            raise ValueError(f"{self.path}: a FieldWriter file must end in .xdmf")
        on_root(comm, lambda: self.path.parent.mkdir(parents=True, exist_ok=True))
        with io.XDMFFile(comm, self.path, "w") as xdmf:
            xdmf.write_mesh(mesh)
        self.times: list[float] = []
        self._functions: dict[str, object] = {}  # output Functions, one per field name
        self._closed = False

    def _output(self, name: str, family: str, degree: int, shape: tuple[int, ...]):
        """The output Function of field ``name`` (created on first use, same space after)."""
        from dolfinx import fem

        function = self._functions.get(name)
        if function is None:
            space = fem.functionspace(self.mesh, (family, degree, shape))
            function = self._functions[name] = fem.Function(space, name=name)
        elif function.ufl_shape != shape:
            raise ValueError(f"field {name!r} changed its shape to {shape}")
        return function

    def _cell_function(self, name: str, values: NDArray):
        n_cells = self.mesh.topology.index_map(self.mesh.topology.dim).size_local
        values = np.asarray(values, dtype=np.float64)
        if len(values) != n_cells:
            raise ValueError(f"cell field {name!r}: {len(values)} values for {n_cells} owned "
                             "cells")
        shape = values.shape[1:]
        if shape == (1,):  # dolfinx 0.9 writes a (1,) DG0 field as a 3-wide "Scalar"
            shape = ()
        function = self._output(name, "DG", 0, shape)
        dofs = function.function_space.dofmap.list[:n_cells, 0]
        block = function.function_space.dofmap.bs
        function.x.array.reshape(-1, block)[dofs] = values.reshape(n_cells, block)
        function.x.scatter_forward()
        return function

    def _nodal_function(self, name: str, source):
        shape = source.ufl_shape
        function = self._output(name, "Lagrange", self.mesh.geometry.cmap.degree, shape)
        function.interpolate(source)
        function.x.scatter_forward()
        return function

    def write(self, t: float, nodal: Mapping[str, object] | None = None,
              cells: Mapping[str, NDArray] | None = None) -> None:
        """Add time ``t`` (load factor [-]) with the given fields; collective.

        Args:
            t: the time value of the step; must differ from every earlier one.
            nodal: name -> dolfinx Lagrange Function (scalar or vector, any degree).
            cells: name -> array (owned cells, ...) of cell values, scalar, vector or tensor.
        """
        from dolfinx import io

        if self._closed:
            raise ValueError(f"{self.path}: the FieldWriter is closed")
        t = float(t)
        if t in self.times:
            raise ValueError(f"{self.path}: time {t} was written already")
        nodal, cells = dict(nodal or {}), dict(cells or {})
        if set(nodal) & set(cells):
            raise ValueError(f"field names used twice: {sorted(set(nodal) & set(cells))}")
        functions = [self._nodal_function(n, f) for n, f in nodal.items()]
        functions += [self._cell_function(n, v) for n, v in cells.items()]
        with io.XDMFFile(self.comm, self.path, "a") as xdmf:
            for function in functions:
                xdmf.write_function(function, t)
        self.times.append(t)

    def close(self) -> None:
        """Finish the series (the file is complete after every write; this frees memory)."""
        self._closed = True
        self._functions.clear()

    def __enter__(self) -> FieldWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class XdmfSeries(NamedTuple):
    """What :func:`read_xdmf` returns: mesh nodes, cells and each field's (t, values) steps."""

    points: NDArray  # (nodes, gdim)
    cells: NDArray  # (cells, nodes per cell)
    fields: dict[str, list[tuple[float, NDArray]]]


def read_xdmf(path: str | Path) -> XdmfSeries:
    """Read a FieldWriter file on one process (h5py), e.g. to check or post-process it.

    Values are as dolfinx stores them: 2D vectors padded to 3 components, 2×2 tensors to 3×3
    (9 columns); nodal values follow ``points``, cell values follow ``cells``.
    """
    import h5py

    path = Path(path)
    root = ET.parse(path).getroot().find("Domain")

    def dataset(item: ET.Element) -> NDArray:
        file, _, key = item.text.strip().partition(":")
        with h5py.File(path.parent / file, "r") as h5:
            return h5[key][()]

    mesh = root.find("Grid[@GridType='Uniform']")
    points = dataset(mesh.find("Geometry/DataItem"))
    cells = dataset(mesh.find("Topology/DataItem"))
    fields: dict[str, list[tuple[float, NDArray]]] = {}
    for collection in root.findall("Grid[@GridType='Collection']"):
        for grid in collection.findall("Grid"):
            t = float(grid.find("Time").get("Value"))
            attribute = grid.find("Attribute")
            fields.setdefault(attribute.get("Name"), []).append(
                (t, dataset(attribute.find("DataItem"))))
    return XdmfSeries(points, cells, fields)
