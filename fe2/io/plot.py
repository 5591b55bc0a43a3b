"""Off-screen pictures: meshes with their phases coloured, RVE micro fields, macro fields
(pyvista) and load curves (matplotlib).

Rendering needs an X display; ``docker/env`` provides a virtual one (Xvfb) for every command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fe2.io.meshing import CELL_DIMENSION

__all__ = ["plot_load_curve", "plot_macro_field", "plot_mesh", "plot_rve_fields"]


def plot_mesh(msh_path: str | Path, png_path: str | Path, size: tuple[int, int] = (1000, 800)):
    """Render the cells of a Gmsh mesh coloured by physical group (phase) to a PNG."""
    import meshio
    import pyvista

    msh = meshio.read(msh_path)
    dim = max(CELL_DIMENSION[block.type] for block in msh.cells)
    blocks = [(b, t) for b, t in zip(msh.cells, msh.cell_data["gmsh:physical"], strict=True)
              if CELL_DIMENSION[b.type] == dim]
    cells = meshio.Mesh(msh.points, [(b.type, b.data) for b, _ in blocks],
                        cell_data={"phase": [t.astype(np.int32) for _, t in blocks]})
    grid = pyvista.from_meshio(cells)
    names = {int(tag): name for name, (tag, d) in msh.field_data.items() if d == dim}

    plotter = pyvista.Plotter(off_screen=True, window_size=list(size))
    _show(plotter, grid, dim, cut=False, annotations=names, **PHASE_STYLE)
    plotter.add_text(f"{Path(msh_path).name}: {grid.n_cells} cells, {grid.n_points} nodes",
                     font_size=10)
    _save(plotter, png_path)


# How phases are drawn: one categorical colour per physical group, with the mesh edges.
PHASE_STYLE = {"scalars": "phase", "categories": True, "show_edges": True, "cmap": "Set2",
               "scalar_bar_args": {"title": "phase", "n_labels": 0}}


def _save(plotter, png_path: str | Path) -> None:
    Path(png_path).parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(png_path))
    plotter.close()


def _micro_field(rve, strain: np.ndarray, model: str | None):
    """Per-phase micro field of a macro strain as a DG function on the RVE mesh.

    Mechanics: von Mises stress of σ = C_p (e + s(w)) (plane strain adds σ33 = λ_p tr ε, valid
    for the isotropic phases of fe2.laws.materials); transport: flux magnitude |D_p (e + ∇w)|.
    """
    import ufl
    from dolfinx import fem

    w = rve.fluctuation(strain)
    Q = fem.functionspace(rve.mesh, ("DG", max(rve.degree - 1, 0)))
    field = fem.Function(Q)
    macro = fem.Constant(rve.mesh, np.asarray(strain, dtype=float))
    for tag, C, matrix in rve.phase_matrices.values():
        eps = macro + rve.strain(w)
        s = ufl.dot(C, eps)
        if rve.field == "scalar":
            value = ufl.sqrt(ufl.dot(s, s))
        else:
            n = len(strain)
            normal = [s[i] for i in range(3 if n == 6 else 2)]
            if n == 3:  # out-of-plane normal stress
                normal.append(matrix[0, 1] * (eps[0] + eps[1]) if model == "plane_strain"
                              else 0.0 * s[0])
            a, b, c = normal
            shear = sum(s[i] ** 2 for i in range(3 if n == 6 else 2, n))  # = 2 Σ σ_ij², i<j
            value = ufl.sqrt(0.5 * ((a - b) ** 2 + (b - c) ** 2 + (c - a) ** 2) + 1.5 * shear)
        expression = fem.Expression(value, Q.element.interpolation_points())
        field.interpolate(expression, cells0=rve.cell_tags.find(tag))
    return field


def _grid(mesh, values=None, name: str = ""):
    """A pyvista grid of a dolfinx mesh (``values``: a DG0/DG Function or cell array)."""
    import pyvista
    from dolfinx import plot

    if values is not None and not isinstance(values, np.ndarray) and \
            values.function_space.ufl_element().degree > 0:
        grid = pyvista.UnstructuredGrid(*plot.vtk_mesh(values.function_space))
        grid.point_data[name] = values.x.array.real
        return grid
    grid = pyvista.UnstructuredGrid(*plot.vtk_mesh(mesh))
    if values is not None:
        n = mesh.topology.index_map(mesh.topology.dim).size_local
        array = values if isinstance(values, np.ndarray) else values.x.array.real
        grid.cell_data[name] = array[:n]
    return grid


def _show(plotter, grid, tdim: int, cut: bool = True, **kwargs) -> None:
    """Add a grid; with ``cut``, a 3D one is cut in half (the part y < centre) to show inside."""
    if tdim == 3 and cut:
        grid = grid.clip(normal=(0, 1, 0), origin=grid.center)
    plotter.add_mesh(grid, **kwargs)
    if tdim == 2:
        plotter.view_xy()
    else:
        plotter.view_isometric()


def plot_rve_fields(rve, png_path: str | Path, strain, model: str | None = None, data=None,
                    title: str = "", size: tuple[int, int] = (1600, 700)) -> None:
    """Two panels: the phases and the micro field of a macro ``strain`` (off-screen PNG).

    Args:
        rve: a solved fe2.rve.linear.LinearRVE.
        png_path: picture to write.
        strain: macro generalized strain (Mandel for mechanics, gradient for transport).
        model: mechanics model ("plane_strain" adds σ33 to the von Mises stress).
        data: the full fe2.io.mesh.MeshData, to show phases left out of the RVE problem too.
        title: text in the upper left corner of the phase panel.
    """
    import pyvista

    mesh = data.mesh if data is not None else rve.mesh
    tags = data.cell_tags if data is not None else rve.cell_tags
    tdim = mesh.topology.dim
    n_cells = mesh.topology.index_map(tdim).size_local
    phase = np.zeros(n_cells, dtype=np.int32)
    phase[tags.indices[tags.indices < n_cells]] = tags.values[tags.indices < n_cells]
    names = ({g.tag: n for n, g in data.groups.items() if g.dim == tdim} if data is not None
             else {tag: n for n, (tag, _, _) in rve.phase_matrices.items()})
    label = "flux magnitude |D (e + grad w)|" if rve.field == "scalar" else "von Mises stress"
    field = _micro_field(rve, np.asarray(strain, dtype=float), model)
    strain_text = ", ".join(f"{v:g}" for v in strain)

    plotter = pyvista.Plotter(off_screen=True, shape=(1, 2), window_size=list(size))
    plotter.subplot(0, 0)
    _show(plotter, _grid(mesh, phase, "phase"), tdim, annotations=names, **PHASE_STYLE)
    plotter.add_text(title or "phases", font_size=10)
    plotter.subplot(0, 1)
    _show(plotter, _grid(rve.mesh, field, label), tdim, scalars=label, cmap="viridis",
          scalar_bar_args={"title": label})
    plotter.add_text(f"macro strain [{strain_text}]", font_size=10)
    plotter.link_views()
    _save(plotter, png_path)


def _local_vtk(mesh, displacement) -> tuple[np.ndarray, ...]:
    """This rank's owned cells as VTK arrays: topology (cells, 1 + nodes), cell types,
    points (nodes, 3) and their displacement (nodes, 3)."""
    from dolfinx import fem, plot

    from fe2.io.fields import nodal_space

    gdim = mesh.geometry.dim
    # The nodes of a Lagrange space: dolfinx 0.9's vtk_mesh(mesh) dies (SIGFPE) without cells.
    space = nodal_space(mesh, (gdim,))
    topology, types, points = plot.vtk_mesh(space)
    shift = np.zeros_like(points)
    if displacement is not None:
        if displacement.ufl_shape != (gdim,):
            raise ValueError(f"the displacement must have shape ({gdim},), not "
                             f"{displacement.ufl_shape}")
        u = fem.Function(space)
        u.interpolate(displacement)
        u.x.scatter_forward()
        shift[:, :gdim] = u.x.array.reshape(-1, gdim)[: len(points)]
    nodes = space.dofmap.dof_layout.num_dofs
    return topology.reshape(-1, 1 + nodes), types, points, shift


def plot_macro_field(mesh, values: np.ndarray, displacement, path: str | Path, title: str,
                     scale: float = 1.0, size: tuple[int, int] = (1000, 800)) -> None:
    """A cell-wise macro field on the (deformed) mesh, drawn to a PNG on rank 0; collective.

    Every rank sends its owned cells, their values and the nodal displacement to rank 0.

    Args:
        mesh: the distributed dolfinx mesh (its communicator is used).
        values: one number per owned cell, e.g. von Mises stress [Pa].
        displacement: vector Lagrange Function of any degree [m], or None (undeformed).
        path: PNG to write.
        title: name of the field, with units; on the scalar bar.
        scale: displacement magnification [-].

    Raises:
        ValueError: on every rank, if any rank's input is wrong or drawing fails on rank 0.
    """
    from fe2.core.collective import first_failure, on_root  # MPI only where it is needed

    comm = mesh.comm
    n_cells = mesh.topology.index_map(mesh.topology.dim).size_local
    values = np.asarray(values, dtype=np.float64)
    try:
        if values.shape != (n_cells,):
            raise ValueError(f"{values.shape[0] if values.ndim else 0} values of shape "
                             f"{values.shape[1:]} for {n_cells} owned cells; one scalar each")
        local, error = (*_local_vtk(mesh, displacement), values), None
    except Exception as exc:  # reported to every rank below
        local, error = None, f"{type(exc).__name__}: {exc}"
    failure = first_failure(comm, error)
    if failure is not None:
        raise ValueError(f"plot_macro_field: {failure}")
    parts = comm.gather(local, root=0)

    def draw() -> None:
        try:
            _draw_macro(parts, mesh.topology.dim, path, title, scale, size)
        except Exception as exc:  # VTK and pyvista raise many kinds: one for every rank
            raise ValueError(f"drawing {path} failed: {type(exc).__name__}: {exc}") from None

    on_root(comm, draw)


def _draw_macro(parts: list, tdim: int, path, title: str, scale: float, size) -> None:
    """Rank 0: one grid from every rank's (topology, types, points, shift, values)."""
    import pyvista

    topologies, offset = [], 0
    for topology, _, points, _, _ in parts:
        topology = topology.copy()
        topology[:, 1:] += offset
        topologies.append(topology.reshape(-1))
        offset += len(points)
    points = np.vstack([p[2] for p in parts]) + scale * np.vstack([p[3] for p in parts])
    grid = pyvista.UnstructuredGrid(np.concatenate(topologies),
                                    np.concatenate([p[1] for p in parts]), points)
    grid.cell_data[title] = np.concatenate([p[4] for p in parts])
    plotter = pyvista.Plotter(off_screen=True, window_size=list(size))
    _show(plotter, grid, tdim, scalars=title, cmap="viridis", show_edges=grid.n_cells < 5000,
          scalar_bar_args={"title": title})
    moved = any(np.any(p[3]) for p in parts)
    plotter.add_text(f"{title}, displacement x {scale:g}" if moved else title, font_size=10)
    _save(plotter, path)


def plot_load_curve(steps: list[dict], path: str | Path, xlabel: str = "load factor [-]",
                    ylabel: str = "reaction", title: str = "") -> None:
    """Reaction against load factor with a marker at every converged step, to a PNG.

    Call on one rank. ``steps``: dicts with "load_factor" and "reaction" (a number, or a
    vector drawn as one line per component).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    load = np.array([s["load_factor"] for s in steps], dtype=float)
    reaction = np.array([s["reaction"] for s in steps], dtype=float)
    figure = Figure(figsize=(6, 4.5), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(load, reaction, "o-", markersize=4)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(True, alpha=0.4)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
