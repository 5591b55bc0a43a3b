"""Linear RVE homogenization against exact solutions, published numbers and bounds.

Every RVE is solved on MPI.COMM_SELF, as in FE²; under mpirun each rank solves its own copy
and the results must agree across ranks.
"""

from __future__ import annotations

import numpy as np
import pytest
import ufl
from conftest import MESHES, mesh_on_root
from dolfinx import fem
from mpi4py import MPI

from fe2.core.micro import MicroModel
from fe2.io.mesh import MeshError, load_mesh
from fe2.io.meshing import MeshOptions
from fe2.laws.materials import Diffusivity, IsotropicElastic, lame
from fe2.rve.linear import BOUNDARY_CONDITIONS, LinearRVE

MATRIX, FIBRE = IsotropicElastic(50e3, 0.2), IsotropicElastic(210e3, 0.3)  # DESIGN §6


def _rve(path, materials, bc="periodic", degree=1, field="vector"):
    return LinearRVE(load_mesh(path, MPI.COMM_SELF), materials, field, degree, bc)


def _plane_strain(**phases):
    return {name: law.matrix("plane_strain") for name, law in phases.items()}


def _hashin_shtrikman_2d(f_inc: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """2D (plane strain, transverse) HS bounds on bulk k = λ+μ and shear μ, stiff inclusion."""
    (lm, mm), (li, mi) = lame(MATRIX.E, MATRIX.nu), lame(FIBRE.E, FIBRE.nu)
    km, ki, fm = lm + mm, li + mi, 1 - f_inc
    k_lo = km + f_inc / (1 / (ki - km) + fm / (km + mm))
    k_hi = ki + fm / (1 / (km - ki) + f_inc / (ki + mi))
    m_lo = mm + f_inc / (1 / (mi - mm) + fm * (km + 2 * mm) / (2 * mm * (km + mm)))
    m_hi = mi + fm / (1 / (mm - mi) + f_inc * (ki + 2 * mi) / (2 * mi * (ki + mi)))
    return (k_lo, k_hi), (m_lo, m_hi)


def test_hexagonal_cell_matches_published_tensor_and_lies_within_hs_bounds(meshed):
    rve = _rve(meshed["rve_hexagonal"], _plane_strain(matrix=MATRIX, inclusion=FIBRE), degree=2)
    C = rve.tangent
    # Published (comet-fenicsx periodic homogenization tour, DESIGN §6), engineering shear
    # C1212 = 24062 is Mandel C33/2. Tolerance 0.5 % per entry; zeros relative to C11.
    published = np.array([[65551, 17441, 0], [17441, 65562, 0], [0, 0, 2 * 24062]])
    nonzero = published != 0
    assert np.allclose(C[nonzero], published[nonzero], rtol=5e-3, atol=0)
    assert np.abs(C[~nonzero]).max() < 5e-3 * C[0, 0]
    # Hashin–Shtrikman (2D) with the meshed inclusion fraction: k = (C11+C12)/2, μ = C33/2.
    (k_lo, k_hi), (m_lo, m_hi) = _hashin_shtrikman_2d(rve.volume_fractions["inclusion"])
    assert k_lo <= (C[0, 0] + C[0, 1]) / 2 <= k_hi
    assert m_lo <= C[2, 2] / 2 <= m_hi


def _laminate_exact(f: float, a: IsotropicElastic, b: IsotropicElastic) -> np.ndarray:
    """Exact plane-strain laminate stiffness, layers normal to x2 (DESIGN §6), Mandel."""
    (la, ma), (lb, mb) = lame(a.E, a.nu), lame(b.E, b.nu)

    def mean(fa, fb):
        return f * fa + (1 - f) * fb

    c2222 = 1 / mean(1 / (la + 2 * ma), 1 / (lb + 2 * mb))
    c1212 = 1 / mean(1 / ma, 1 / mb)
    ratio = mean(la / (la + 2 * ma), lb / (lb + 2 * mb))
    c1111 = mean(la + 2 * ma - la**2 / (la + 2 * ma), lb + 2 * mb - lb**2 / (lb + 2 * mb))
    c1111 += ratio**2 * c2222
    return np.array([[c1111, ratio * c2222, 0], [ratio * c2222, c2222, 0], [0, 0, 2 * c1212]])


def test_laminate_reproduces_the_exact_formulas(meshed):
    """The exact fluctuation is piecewise linear, so P1 is exact: 1e-6 relative (DESIGN §6)."""
    rve = _rve(meshed["rve_laminate"], _plane_strain(layer_a=MATRIX, layer_b=FIBRE))
    exact = _laminate_exact(rve.volume_fractions["layer_a"], MATRIX, FIBRE)
    assert np.allclose(rve.tangent, exact, rtol=1e-6, atol=1e-6 * exact[0, 0])


@pytest.mark.parametrize("bc", BOUNDARY_CONDITIONS)
@pytest.mark.parametrize("stem,model", [("rve_square", "plane_strain"),
                                        ("rve_square", "plane_stress"), ("rve_cube_sphere", "3d")])
def test_homogeneous_cell_returns_its_own_stiffness(meshed, bc, stem, model):
    """Both phases of one material: the fluctuation vanishes, C_hom = C to round-off (1e-10)."""
    C = MATRIX.matrix(model)
    rve = _rve(meshed[stem], {"matrix": C, "inclusion": C}, bc)
    assert np.allclose(rve.tangent, C, rtol=0, atol=1e-10 * C[0, 0])


def _average_stress_by_integration(rve: LinearRVE, strain: np.ndarray) -> np.ndarray:
    """⟨C_p (e + s(w))⟩ integrated from the fluctuation field, independent of Fᵀ W."""
    w = rve.fluctuation(strain)
    dx = ufl.Measure("dx", domain=rve.mesh, subdomain_data=rve.cell_tags)
    e = fem.Constant(rve.mesh, strain)
    total = np.zeros(rve.n_strain)
    for k in range(rve.n_strain):
        integrand = sum(ufl.dot(C, e + rve.strain(w))[k] * dx(tag)
                        for tag, C, _ in rve.phase_matrices.values())
        total[k] = fem.assemble_scalar(fem.form(integrand))
    return total / rve.volume


@pytest.mark.parametrize("bc", BOUNDARY_CONDITIONS)
def test_tangent_is_symmetric_and_gives_the_averaged_stress(meshed, bc):
    rve = _rve(meshed["rve_random"], _plane_strain(matrix=MATRIX, inclusion=FIBRE), bc)
    C = rve.tangent
    # Static condensation of a symmetric operator: symmetric to round-off (1e-10 relative).
    assert np.abs(C - C.T).max() < 1e-10 * np.abs(C).max()
    assert np.all(np.linalg.eigvalsh(C) > 0)
    strain = np.array([1.3e-3, -0.4e-3, 0.9e-3])
    # Averaged micro stress of the solved field equals tangent · strain (linearity), 1e-8.
    averaged = _average_stress_by_integration(rve, strain)
    assert np.allclose(averaged, C @ strain, rtol=1e-8, atol=1e-8 * np.abs(C @ strain).max())
    # The FE² micro-model interface returns the same stress and tangent.
    assert isinstance(rve, MicroModel) and rve.n_stress == rve.n_strain == 3
    stress, tangent, state = rve.solve(strain, rve.initial_state())
    assert np.array_equal(tangent, C) and np.array_equal(stress, C @ strain)
    assert rve.is_linear and state.size == rve.state_size == 0


def _relative_gap(larger: np.ndarray, smaller: np.ndarray) -> float:
    """Smallest eigenvalue of (larger − smaller), relative to ‖larger‖ (≥ 0 if ordered)."""
    return np.linalg.eigvalsh(larger - smaller).min() / np.linalg.norm(larger, 2)


def test_energy_ordering_of_boundary_conditions_and_shrinking_gap(meshed, shared_tmp):
    """affine ≥ periodic ≥ minimal as quadratic forms (DESIGN §6); the spread shrinks with size.

    The large cell (L = 2, 24 inclusions) has the same inclusion radius and density.
    """
    source = [MESHES / "rve_random.geo"]
    [big] = mesh_on_root(source, shared_tmp, MeshOptions(parameters=(("L", 2.0), ("N", 24.0))))
    assert big.ok, big.error
    spreads = []
    for path in (meshed["rve_random"], big.output):
        data = load_mesh(path, MPI.COMM_SELF)
        materials = _plane_strain(matrix=MATRIX, inclusion=FIBRE)
        C = {bc: LinearRVE(data, materials, "vector", 1, bc).tangent for bc in BOUNDARY_CONDITIONS}
        # Ordering holds for any cell: tolerance −1e-10 for round-off only.
        assert _relative_gap(C["affine"], C["periodic"]) > -1e-10
        assert _relative_gap(C["periodic"], C["minimal"]) > -1e-10
        spreads.append(np.linalg.norm(C["affine"] - C["minimal"], 2)
                       / np.linalg.norm(C["periodic"], 2))
    assert spreads[1] < spreads[0], f"spread affine–minimal did not shrink: {spreads}"


@pytest.mark.parametrize("bc", BOUNDARY_CONDITIONS)
def test_transport_through_layers_gives_harmonic_and_arithmetic_means(meshed, bc):
    """1D layered medium (DESIGN §6): across = harmonic mean; along = arithmetic mean (1e-10).

    The periodic BC is exact in both directions (piecewise-linear fields, P1 exact). The affine
    BC (fixed boundary values) is exact along the layers and above the harmonic mean across;
    the minimal BC (uniform boundary flux) is exact across and below the arithmetic mean along.
    """
    Da, Db = 2.0, 0.5
    rve = _rve(meshed["rve_laminate"], {"layer_a": Diffusivity(Da).matrix(2),
                                        "layer_b": Diffusivity(Db).matrix(2)}, bc, field="scalar")
    f = rve.volume_fractions["layer_a"]
    along, across = f * Da + (1 - f) * Db, 1 / (f / Da + (1 - f) / Db)
    D_xx, D_yy = rve.tangent[0, 0], rve.tangent[1, 1]
    assert abs(rve.tangent[0, 1]) < 1e-10 and abs(rve.tangent[1, 0]) < 1e-10
    if bc == "minimal":
        assert D_xx < along * (1 - 1e-3)
    else:
        assert D_xx == pytest.approx(along, rel=1e-10)
    if bc == "affine":
        assert D_yy > across * (1 + 1e-3)
    else:
        assert D_yy == pytest.approx(across, rel=1e-10)


def test_straight_channel_has_unit_tortuosity(meshed):
    """Transport in one layer only (a straight channel along x): D_eff = ε D, so τ = 1 (1e-10)."""
    D = 1.7
    rve = _rve(meshed["rve_laminate"], {"layer_a": Diffusivity(D).matrix(2)}, field="scalar")
    porosity = rve.volume_fractions["layer_a"]
    assert porosity == pytest.approx(0.5, rel=1e-12)
    assert porosity * D / rve.tangent[0, 0] == pytest.approx(1.0, rel=1e-10)


def test_packed_particles_are_tortuous(meshed):
    """Pore space between particles: τ = ε D / D_eff > 1 in both directions.

    Bruggeman (τ = ε^-0.5) is printed for the record, not asserted: it is a 3D sphere-packing law.
    """
    D = 1.0
    rve = _rve(meshed["rve_porous_electrode"], {"electrolyte": Diffusivity(D).matrix(2)},
               field="scalar")
    porosity = rve.volume_fractions["electrolyte"]
    tortuosity = porosity * D / np.diag(rve.tangent)
    assert np.all(tortuosity > 1.0)
    print(f"porous electrode: porosity {porosity:.4f}, D_eff/D {np.diag(rve.tangent)}, "
          f"tau {tortuosity}, Bruggeman D_eff/D {porosity**1.5:.4f} (tau {porosity**-0.5:.4f})")


def test_periodic_bc_on_a_non_periodic_mesh_is_a_clear_error(shared_tmp):
    geo = shared_tmp / "lopsided.geo"
    if MPI.COMM_WORLD.rank == 0:
        geo.write_text('SetFactory("OpenCASCADE");\nRectangle(1) = {0, 0, 0, 1, 1};\n'
                       "MeshSize{ PointsOf{ Surface{1}; } } = 0.2;\n"
                       "MeshSize{ 2, 3 } = 0.05;\n"
                       'Physical Surface("matrix") = {1};\n'
                       'Physical Curve("bottom") = {1};\nPhysical Curve("right") = {2};\n'
                       'Physical Curve("top") = {3};\nPhysical Curve("left") = {4};\n')
    [report] = mesh_on_root([geo], shared_tmp)
    assert report.ok, report.error
    data = load_mesh(report.output, MPI.COMM_SELF)
    with pytest.raises(MeshError, match="not periodic"):
        LinearRVE(data, {"matrix": MATRIX.matrix("plane_strain")})
    rve = LinearRVE(data, {"matrix": MATRIX.matrix("plane_strain")}, bc="affine")
    assert np.allclose(rve.tangent, MATRIX.matrix("plane_strain"), rtol=1e-10)


def test_unknown_phase_and_wrong_material_shape_are_clear_errors(meshed):
    data = load_mesh(meshed["rve_square"], MPI.COMM_SELF)
    with pytest.raises(MeshError, match=r"unknown phase\(s\) \['fibre'\]"):
        LinearRVE(data, {"matrix": MATRIX.matrix("plane_strain"),
                         "fibre": FIBRE.matrix("plane_strain")})
    with pytest.raises(ValueError, match="expected \\(3, 3\\)"):
        LinearRVE(data, {"matrix": MATRIX.matrix("3d"), "inclusion": MATRIX.matrix("3d")})


def test_every_rank_gets_the_same_tangent(meshed):
    """RVEs on COMM_SELF: identical results on every rank of COMM_WORLD (to 1e-12)."""
    rve = _rve(meshed["rve_hexagonal"], _plane_strain(matrix=MATRIX, inclusion=FIBRE), degree=2)
    tangents = MPI.COMM_WORLD.allgather(rve.tangent)
    for other in tangents:
        assert np.allclose(other, tangents[0], rtol=0, atol=1e-12 * np.abs(tangents[0]).max())
