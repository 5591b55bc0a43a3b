"""Outputs and restarts: atomic JSON, partition-independent checkpoints, XDMF series, PNGs.

Everything runs on MPI.COMM_WORLD (serially and under mpirun -n 2) unless marked serial.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import basix
import matplotlib.image
import numpy as np
import pytest
import ufl
from conftest import REPO
from dolfinx import fem, mesh
from mpi4py import MPI

import fe2.io.checkpoint
from fe2.io.checkpoint import CheckpointError, load_checkpoint, load_meta, save_checkpoint
from fe2.io.fields import FieldWriter, read_xdmf
from fe2.io.plot import plot_load_curve, plot_macro_field
from fe2.io.records import write_json_atomic

WORLD = MPI.COMM_WORLD
LENGTH, HEIGHT = 3.0, 2.0  # rectangle [0, 3] x [0, 2] [m]


def _rectangle(comm, n=6):
    return mesh.create_rectangle(comm, [[0.0, 0.0], [LENGTH, HEIGHT]], [n, n])


def _owned_dofs(msh, degree=2):
    """Displacement-like field: (coordinates of owned P2 dofs (n, 3), the space)."""
    V = fem.functionspace(msh, ("Lagrange", degree, (2,)))
    n = V.dofmap.index_map.size_local
    return V.tabulate_dof_coordinates()[:n], V


def _owned_quadrature_points(msh, degree=2):
    """Coordinates (cells × points, 3) of a degree-2 rule in the owned cells, cell by cell."""
    points, _ = basix.make_quadrature(basix.CellType.triangle, degree)
    cells = np.arange(msh.topology.index_map(2).size_local, dtype=np.int32)
    x = fem.Expression(ufl.SpatialCoordinate(msh), points).eval(msh, cells)
    return np.column_stack([x.reshape(-1, 2), np.zeros(x.size // 2)])


def _fields(msh, step=1):
    """Random values (a different stream per rank and step) at dof and quadrature points."""
    rng = np.random.default_rng(100 * step + WORLD.rank)
    dofs, _ = _owned_dofs(msh)
    qps = _owned_quadrature_points(msh)
    return {"u": (dofs, rng.standard_normal((len(dofs), 2))),
            "state": (qps, rng.standard_normal((len(qps), 5)))}


def _everything(fields, name):
    """All ranks' stored (coords, values) of one field on every rank: the test's oracle."""
    coords, values = fields[name]
    return np.vstack(WORLD.allgather(coords)), np.vstack(WORLD.allgather(values))


def _nearest(points, stored):
    """Brute-force nearest stored point (independent of the cKDTree in fe2.io.checkpoint)."""
    return np.linalg.norm(points[:, None, :] - stored[None, :, :], axis=2).argmin(axis=1)


def test_json_is_written_atomically_with_numpy_values(shared_tmp):
    path = shared_tmp / "out" / "summary.json"
    if WORLD.rank == 0:
        write_json_atomic(path, {"a": np.float64(0.5), "n": np.int32(3), "v": np.arange(3)})
        write_json_atomic(path, {"a": np.float64(1.5), "n": np.int64(4), "v": np.ones((2, 2))})
    WORLD.barrier()
    # Exact: the last write wins whole and no temporary file is left.
    assert json.loads(path.read_text()) == {"a": 1.5, "n": 4, "v": [[1.0, 1.0], [1.0, 1.0]]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["summary.json"]


def test_checkpoint_round_trip_on_any_partition(shared_tmp):
    msh = _rectangle(WORLD)
    fields = _fields(msh)
    meta = {"step": np.int64(3), "load_factor": np.float64(0.375), "step_size": 0.125}
    folder = save_checkpoint(shared_tmp, WORLD, fields, meta)
    # Exact: meta goes through JSON unchanged; one rank file per writing rank.
    assert load_meta(shared_tmp) == {"step": 3, "load_factor": 0.375, "step_size": 0.125}
    assert load_meta(shared_tmp, WORLD) == load_meta(shared_tmp)
    assert sorted(p.name for p in folder.iterdir()) == \
        ["meta.json"] + sorted(f"rank{r}.npz" for r in range(WORLD.size))

    # Read back on the writing partition and on a whole copy of the mesh per rank (COMM_SELF:
    # another rank count and partition). The points are the same, in another order.
    for comm in (WORLD, MPI.COMM_SELF):
        other = _rectangle(comm)
        for name, points in (("u", _owned_dofs(other)[0]),
                             ("state", _owned_quadrature_points(other))):
            stored, stored_values = _everything(fields, name)
            values = load_checkpoint(shared_tmp, comm, name, points)
            # Exact: each value is the stored one of the (brute-force) nearest stored point,
            # which lies within round-off (1e-12 m) of the query point.
            nearest = _nearest(points, stored)
            assert np.abs(stored[nearest] - points).max(initial=0.0) < 1e-12
            assert np.array_equal(values, stored_values[nearest])
            total = comm.allreduce(len(points), op=MPI.SUM)
            assert total == len(stored)  # every stored point was asked for once


def test_checkpoint_without_meta_is_a_clear_error_on_every_rank(shared_tmp):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load_meta(shared_tmp / "nothing", WORLD)
    msh = _rectangle(WORLD, 3)
    fields = _fields(msh)
    folder = save_checkpoint(shared_tmp, WORLD, fields, {"step": 1})
    WORLD.barrier()
    if WORLD.rank == 0:
        (folder / "meta.json").unlink()  # a write that died before its last file
    WORLD.barrier()
    with pytest.raises(CheckpointError, match="no meta.json"):
        load_meta(shared_tmp)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load_checkpoint(shared_tmp, WORLD, "u", fields["u"][0])


def test_truncated_rank_file_is_detected(shared_tmp):
    msh = _rectangle(WORLD, 3)
    folder = save_checkpoint(shared_tmp, WORLD, _fields(msh), {"step": 1})
    WORLD.barrier()
    if WORLD.rank == 0:
        data = (folder / "rank0.npz").read_bytes()
        (folder / "rank0.npz").write_bytes(data[: len(data) // 2])
    WORLD.barrier()
    with pytest.raises(CheckpointError, match="rank0.npz is missing or has the wrong size"):
        load_meta(shared_tmp, WORLD)


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_overwrite_keeps_a_loadable_checkpoint(shared_tmp, monkeypatch):
    """The last two complete checkpoints are kept (issue 16); a save that dies before its
    meta.json leaves the previous one loadable; the next save clears the broken one."""
    msh = _rectangle(WORLD, 4)
    step1, step2, step3 = _fields(msh, 1), _fields(msh, 2), _fields(msh, 3)
    save_checkpoint(shared_tmp, WORLD, _fields(msh, 0), {"step": 0})
    save_checkpoint(shared_tmp, WORLD, step1, {"step": 1})
    save_checkpoint(shared_tmp, WORLD, step2, {"step": 2})
    assert load_meta(shared_tmp, WORLD) == {"step": 2}
    assert _names(shared_tmp) == ["checkpoint-1", "checkpoint-2"]  # step 0 removed
    points = step2["u"][0]
    # Exact: the rank reads its own points back.
    assert np.array_equal(load_checkpoint(shared_tmp, WORLD, "u", points), step2["u"][1])

    # Step 3 dies after every rank file is written, while rank 0 writes meta.json.
    def disk_full(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(fe2.io.checkpoint, "write_json_atomic", disk_full)
    with pytest.raises(CheckpointError, match="No space left"):  # on every rank
        save_checkpoint(shared_tmp, WORLD, step3, {"step": 3})
    monkeypatch.undo()
    WORLD.barrier()
    assert _names(shared_tmp) == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    assert load_meta(shared_tmp, WORLD) == {"step": 2}  # the previous one, still complete
    assert np.array_equal(load_checkpoint(shared_tmp, WORLD, "u", points), step2["u"][1])

    # The next save completes and clears the oldest and the broken folder.
    save_checkpoint(shared_tmp, WORLD, step3, {"step": 3})
    assert _names(shared_tmp) == ["checkpoint-2", "checkpoint-4"]
    assert np.array_equal(load_checkpoint(shared_tmp, WORLD, "u", points), step3["u"][1])


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(shared_tmp, caplog):
    """A newest checkpoint whose data changed but kept its size (bit rot, a disk error) fails
    its checksum; loading warns and uses the checkpoint before it (issue 16). Before: only
    sizes were checked and only the newest checkpoint was kept."""
    msh = _rectangle(WORLD, 3)
    step1, step2 = _fields(msh, 1), _fields(msh, 2)
    save_checkpoint(shared_tmp, WORLD, step1, {"step": 1})
    folder = save_checkpoint(shared_tmp, WORLD, step2, {"step": 2})
    if WORLD.rank == 0:
        data = bytearray((folder / "rank0.npz").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "rank0.npz").write_bytes(bytes(data))
    WORLD.barrier()
    with caplog.at_level("WARNING", logger="fe2.io.checkpoint"):
        assert load_meta(shared_tmp, WORLD) == {"step": 1}
    if WORLD.rank == 0:  # rank 0 chooses and warns
        assert "rank0.npz is damaged" in caplog.text
    # Exact: the values of step 1 come back.
    assert np.array_equal(load_checkpoint(shared_tmp, WORLD, "u", step1["u"][0]), step1["u"][1])


def test_unmatched_or_ambiguous_points_raise_on_every_rank(shared_tmp):
    msh = _rectangle(WORLD, 3)
    fields = _fields(msh)
    coords, values = fields["u"]
    save_checkpoint(shared_tmp, WORLD, fields, {"step": 1})
    # Only rank 0 asks for a moved point: 1e-6 of the diagonal √13 m is far beyond rtol 1e-8.
    moved = coords.copy()
    if WORLD.rank == 0:
        moved[0, 0] += 1e-6 * np.sqrt(13.0)
    with pytest.raises(CheckpointError, match="1 point.s. have no stored point"):
        load_checkpoint(shared_tmp, WORLD, "u", moved)
    with pytest.raises(CheckpointError, match="no field 'p'"):
        load_checkpoint(shared_tmp, WORLD, "p", coords)
    # A duplicated stored point (e.g. ghosts stored too) cannot be matched unambiguously.
    twice = {"u": (np.vstack([coords, coords[:1]]), np.vstack([values, values[:1]]))}
    save_checkpoint(shared_tmp, WORLD, twice, {"step": 2})
    with pytest.raises(CheckpointError, match="more than one"):
        load_checkpoint(shared_tmp, WORLD, "u", coords)


def _displacement(x):
    """A linear field [m]: a P2 function of it interpolates to P1 exactly."""
    return np.vstack([0.01 * x[0] + 0.02 * x[1], -0.03 * x[0] + 0.005])


def _midpoints(points, cells):
    return points[cells].mean(axis=1)


def _write_two_steps(path, comm):
    """Steps t = 0.5 and 1 of a P2 displacement t·_displacement and cell fields."""
    msh = _rectangle(comm, 4)
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 2, (2,))))
    n = msh.topology.index_map(2).size_local
    midpoints = fem.Expression(ufl.SpatialCoordinate(msh), np.array([[1 / 3, 1 / 3]]))
    centre = midpoints.eval(msh, np.arange(n, dtype=np.int32)).reshape(n, 2)
    writer = FieldWriter(path, msh, comm)
    for t in (0.5, 1.0):
        u.interpolate(lambda x, t=t: t * _displacement(x))
        writer.write(t, nodal={"displacement": u},
                     cells={"damage": t * (centre[:, 0] + 2 * centre[:, 1]),
                            "stress": t * np.column_stack([centre, centre.sum(axis=1)])})
    return writer


def _check_series(path):
    series = read_xdmf(path)
    assert set(series.fields) == {"displacement", "damage", "stress"}
    mid = _midpoints(series.points, series.cells)
    for t_expected, (t, u), (_, d), (_, s) in zip(
            (0.5, 1.0), *(series.fields[k] for k in ("displacement", "damage", "stress")),
            strict=True):
        assert t == t_expected  # exact: dolfinx writes t with 17 digits
        # Interpolating a linear field (P2 -> P1) and DG0 copies are exact up to round-off.
        assert np.allclose(u[:, :2], t * _displacement(series.points.T).T, atol=1e-14, rtol=0)
        assert np.all(u[:, 2] == 0)  # 2D vectors padded to 3 components
        assert np.allclose(d.ravel(), t * (mid[:, 0] + 2 * mid[:, 1]), atol=1e-13, rtol=0)
        stress = t * np.column_stack([mid, mid.sum(axis=1)])
        assert np.allclose(s, stress, atol=1e-13, rtol=0)


def test_field_writer_series_reads_back_before_close(shared_tmp):
    path = shared_tmp / "fields.xdmf"
    writer = _write_two_steps(path, WORLD)
    WORLD.barrier()
    if WORLD.rank == 0:
        _check_series(path)  # readable while the writer is still open
    WORLD.barrier()
    with pytest.raises(ValueError, match="written already"):  # same on every rank
        writer.write(1.0, cells={"damage": np.zeros(1)})
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(2.0)


@pytest.mark.serial  # runs a Python subprocess that dies without closing its file
def test_field_writer_file_survives_a_killed_run(tmp_path):
    path = tmp_path / "killed.xdmf"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        from mpi4py import MPI
        from test_io import _write_two_steps
        _write_two_steps({str(path)!r}, MPI.COMM_WORLD)
        os._exit(0)  # like a kill: no close, no flush, no finalization
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    _check_series(path)


def _distinct_colours(png) -> int:
    pixels = matplotlib.image.imread(png)[..., :3].reshape(-1, 3)
    return len(np.unique((pixels * 255).astype(np.uint8), axis=0))


@pytest.mark.parametrize("deformed", [False, True])
def test_macro_field_png(shared_tmp, deformed):
    msh = _rectangle(WORLD, 8)
    n = msh.topology.index_map(2).size_local
    centre = fem.Expression(ufl.SpatialCoordinate(msh), np.array([[1 / 3, 1 / 3]]))
    x = centre.eval(msh, np.arange(n, dtype=np.int32)).reshape(n, 2)
    u = None
    if deformed:
        u = fem.Function(fem.functionspace(msh, ("Lagrange", 2, (2,))))
        u.interpolate(lambda p: np.vstack([0.1 * p[1] ** 2, 0.05 * p[0]]))
    path = shared_tmp / f"field_{deformed}.png"
    plot_macro_field(msh, np.sin(x[:, 0]) * x[:, 1], u, path, "stress [Pa]", scale=2.0)
    if WORLD.rank == 0:
        assert path.stat().st_size > 5000  # a real picture, not an empty frame
        assert _distinct_colours(path) > 50  # colour map, edges, text (not one colour)
    with pytest.raises(ValueError, match="owned cells"):  # wrong length: raised everywhere
        plot_macro_field(msh, np.zeros(n + 1), None, path, "bad")


def test_load_curve_png(tmp_path):
    steps = [{"load_factor": s, "reaction": 2e3 * s * (1 - 0.3 * s)} for s in np.linspace(0, 1, 9)]
    path = tmp_path / "curve.png"
    plot_load_curve(steps, path, "load factor [-]", "reaction [N]")
    assert path.stat().st_size > 5000  # a real picture (axes, labels, curve)
    assert _distinct_colours(path) > 10  # not blank


def _all_cells_on_rank_0(comm, n_parts, cell_types, cells):
    """A partitioner that leaves every other rank without cells (triangles: 3 vertices)."""
    from dolfinx import graph

    return graph.adjacencylist(np.zeros(len(cells[0]) // 3, dtype=np.int32))


def test_a_rank_without_cells(shared_tmp):
    msh = mesh.create_rectangle(WORLD, [[0.0, 0.0], [LENGTH, HEIGHT]], [4, 4],
                                partitioner=_all_cells_on_rank_0)
    n = msh.topology.index_map(2).size_local
    total = WORLD.allreduce(n, op=MPI.SUM)
    assert n == (total if WORLD.rank == 0 else 0)  # exact: the partitioner's choice
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 2, (2,))))
    u.interpolate(_displacement)
    fields = _fields(msh)
    save_checkpoint(shared_tmp / "restart", WORLD, fields, {"step": 1})
    for name, (coords, values) in fields.items():  # exact: own points read back
        assert np.array_equal(load_checkpoint(shared_tmp / "restart", WORLD, name, coords),
                              values)
    with FieldWriter(shared_tmp / "fields.xdmf", msh, WORLD) as writer:
        writer.write(1.0, nodal={"displacement": u}, cells={"damage": np.ones(n)})
    path = shared_tmp / "field.png"
    plot_macro_field(msh, np.arange(n, dtype=float), u, path, "cell index [-]")
    if WORLD.rank == 0:
        series = read_xdmf(shared_tmp / "fields.xdmf")
        assert series.fields["damage"][0][1].shape == (32, 1)  # all 2·4·4 cells, exact
        assert path.stat().st_size > 5000  # a real picture
