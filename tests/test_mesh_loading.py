"""Loading .msh files into dolfinx and the periodicity of every shipped RVE mesh."""

from __future__ import annotations

import meshio
import numpy as np
import pytest
from conftest import RVE_GEO, SHIPPED_GEO, mesh_on_root
from mpi4py import MPI

from fe2.io.mesh import PERIODIC_SIDE_PAIRS, MeshError, boundary_nodes, load_mesh, periodic_mismatch
from fe2.io.meshing import CELL_DIMENSION, MeshOptions

# Physical groups each shipped geometry must define (the names problem configs refer to).
EXPECTED_GROUPS = {
    "dns_fibre_grid": {"matrix", "inclusion", "left", "right", "bottom", "top"},
    "rve_square": {"matrix", "inclusion", "left", "right", "bottom", "top"},
    "rve_hexagonal": {"matrix", "inclusion", "left", "right", "bottom", "top"},
    "rve_cube_sphere": {"matrix", "inclusion", "left", "right", "bottom", "top", "back", "front"},
    "rve_laminate": {"layer_a", "layer_b", "left", "right", "bottom", "top"},
    "rve_random": {"matrix", "inclusion", "left", "right", "bottom", "top"},
    "rve_porous_electrode": {"particles", "electrolyte", "left", "right", "bottom", "top"},
    "rve_particles2d": {"pore", "solid", "left", "right", "bottom", "top"},
    "rve_spheres3d": {"pore", "solid", "left", "right", "bottom", "top", "back", "front"},
    "rve_channel2d": {"pore", "solid", "left", "right", "bottom", "top"},
    "plate_hole": {"domain", "left", "right", "bottom", "top", "hole"},
    "sen_specimen": {"domain", "left", "right", "bottom", "top", "notch"},
    "rectangle": {"body", "left", "right", "bottom", "top"},
    "sphere_radial": {"particle", "centre", "surface"},
    "sphere_axisymmetric": {"particle", "axis", "equator", "surface"},
    "sphere_octant": {"particle", "symmetry_x", "symmetry_y", "symmetry_z", "surface"},
    "electrode_sandwich": {"negative_electrode", "separator", "positive_electrode",
                           "negative_current_collector", "positive_current_collector",
                           "bottom", "top"},
}


def test_every_expected_geometry_is_shipped():
    assert {p.stem for p in SHIPPED_GEO} == set(EXPECTED_GROUPS)


def _global_cells(data) -> int:
    imap = data.mesh.topology.index_map(data.tdim)
    return data.mesh.comm.allreduce(imap.size_local, op=MPI.SUM)


@pytest.mark.parametrize("stem", sorted(EXPECTED_GROUPS))
def test_loader_returns_physical_groups_and_all_cells(meshed, stem):
    """Every cell of the .msh arrives exactly once (global count on any number of ranks)."""
    data = load_mesh(meshed[stem], MPI.COMM_WORLD, required=EXPECTED_GROUPS[stem])
    assert set(data.groups) == EXPECTED_GROUPS[stem]
    # Reference: the cells of the top dimension that meshio reads from the same file.
    reference = meshio.read(meshed[stem])
    n_cells = sum(len(b.data) for b in reference.cells if CELL_DIMENSION[b.type] == data.tdim)
    assert _global_cells(data) == n_cells
    # The domain groups partition the cells: each owned cell is in exactly one phase.
    owned = data.mesh.topology.index_map(data.tdim).size_local
    in_phases = np.concatenate([data.cells(name) for name in data.domain_names()])
    assert np.array_equal(np.sort(in_phases[in_phases < owned]), np.arange(owned))
    for name in data.boundary_names():
        assert data.mesh.comm.allreduce(len(data.facets(name))) > 0, name


def test_missing_physical_group_is_a_clear_error(meshed):
    with pytest.raises(MeshError, match=r"missing physical group\(s\) \['fibre'\].*matrix"):
        load_mesh(meshed["rve_square"], MPI.COMM_WORLD, required=["matrix", "fibre"])
    data = load_mesh(meshed["rve_square"], MPI.COMM_WORLD)
    with pytest.raises(MeshError, match="no boundary group named 'matrix'"):
        data.facets("matrix")


def test_missing_mesh_file_is_a_clear_error_on_every_rank(shared_tmp):
    with pytest.raises(MeshError, match="no such mesh file"):
        load_mesh(shared_tmp / "absent.msh", MPI.COMM_WORLD)


def _assert_periodic(path, tolerance=1e-10):
    """Nodes on each side are the opposite side's nodes shifted by one cell vector."""
    data = load_mesh(path, MPI.COMM_WORLD)
    pairs = [(a, b) for a, b in PERIODIC_SIDE_PAIRS if a in data.groups and b in data.groups]
    assert len(pairs) == data.tdim, f"{path.name}: periodic side pairs {pairs}"
    for master, slave in pairs:
        translation, mismatch = periodic_mismatch(boundary_nodes(data, master),
                                                  boundary_nodes(data, slave))
        assert np.linalg.norm(translation) > 0.1
        # Matching nodes agree to round-off (tolerance 1e-10 for cells of size ~1).
        assert mismatch < tolerance, f"{path.name} {master}/{slave}: mismatch {mismatch:.3e}"


@pytest.mark.parametrize("geo", RVE_GEO, ids=[p.stem for p in RVE_GEO])
def test_rve_mesh_is_periodic(meshed, geo):
    _assert_periodic(meshed[geo.stem])


def test_second_order_rve_mesh_is_periodic(shared_tmp):
    """Mid-side nodes of curved P2 elements must match too (hexagonal cell of DESIGN §6)."""
    source = [p for p in RVE_GEO if p.stem == "rve_hexagonal"]
    [report] = mesh_on_root(source, shared_tmp, MeshOptions(order=2))
    assert report.ok, report.error
    _assert_periodic(shared_tmp / "rve_hexagonal.msh")


def test_periodicity_check_detects_a_non_periodic_mesh(shared_tmp):
    """Negative control: the same kind of cell meshed without Periodic constraints fails."""
    geo = shared_tmp / "not_periodic.geo"
    if MPI.COMM_WORLD.rank == 0:
        geo.write_text(
            'SetFactory("OpenCASCADE");\nRectangle(1) = {0, 0, 0, 1, 1};\n'
            "Disk(2) = {0.3, 0.6, 0, 0.2};\n"
            "BooleanFragments{ Surface{1}; Delete; }{ Surface{2}; Delete; }\n"
            "MeshSize{ PointsOf{ Surface{:}; } } = 0.07;\n"
            "right() = Curve In BoundingBox{0.9, -0.1, -1, 1.1, 1.1, 1};\n"
            "MeshSize{ PointsOf{ Curve{right()}; } } = 0.03;\n"
            'Physical Surface("domain") = {Surface{:}};\n'
            'Physical Curve("left") = Curve In BoundingBox{-0.1, -0.1, -1, 0.1, 1.1, 1};\n'
            'Physical Curve("right") = right();\n')
    [report] = mesh_on_root([geo], shared_tmp)
    assert report.ok, report.error
    data = load_mesh(shared_tmp / "not_periodic.msh", MPI.COMM_WORLD)
    _, mismatch = periodic_mismatch(boundary_nodes(data, "left"), boundary_nodes(data, "right"))
    assert mismatch > 1e-3


def test_periodic_mismatch_measures_the_worst_node():
    """Unit check: exact translates give round-off, one moved node gives its displacement."""
    rng = np.random.default_rng(1)
    master = rng.random((300, 3))
    shift = np.array([1.0, 0.0, 0.0])
    translation, mismatch = periodic_mismatch(master, master + shift)
    assert np.allclose(translation, shift, atol=1e-14) and mismatch < 1e-14
    slave = master + shift
    slave[17, 1] += 1e-6
    _, mismatch = periodic_mismatch(master, rng.permutation(slave))
    # The moved node also shifts the centroid by 1e-6/300: hence rel=1e-2.
    assert mismatch == pytest.approx(1e-6, rel=1e-2)
