"""Off-screen pictures with pyvista: meshes with their phases coloured.

Rendering needs an X display; ``docker/env`` provides a virtual one (Xvfb) for every command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fe2.meshing import CELL_DIMENSION

__all__ = ["plot_mesh"]


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
    plotter.add_mesh(grid, scalars="phase", categories=True, show_edges=True, cmap="Set2",
                     annotations=names, scalar_bar_args={"title": "phase", "n_labels": 0})
    plotter.add_text(f"{Path(msh_path).name}: {grid.n_cells} cells, {grid.n_points} nodes",
                     font_size=10)
    if dim == 2:
        plotter.view_xy()
    else:
        plotter.view_isometric()
    Path(png_path).parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(png_path))
    plotter.close()
