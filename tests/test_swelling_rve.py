"""The electrode micro model of chemo-mechanics (fe2.rve.swelling): (ε, Δc) → Σ with ∂Σ/∂c."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import ufl
from conftest import MESHES, mesh_on_root
from dolfinx import fem
from mpi4py import MPI

from fe2.app.case import RVESettings
from fe2.core.micro import LinearMicroModel
from fe2.io.mesh import load_mesh
from fe2.io.meshing import MeshOptions
from fe2.laws.materials import lame
from fe2.rve.factory import MicroSpec
from fe2.rve.linear import BOUNDARY_CONDITIONS, periodic_constraint
from fe2.rve.swelling import SwellingMaterial, SwellingRVE, chemical_expansion, swelling_tangent

# Active particles (DESIGN §6, Zhang–Shyy–Sastry 2007) and a soft non-swelling binder/pore matrix.
PARTICLE = SwellingMaterial(E=10e9, nu=0.3, Omega=3.497e-6)
MATRIX = SwellingMaterial(E=0.5e9, nu=0.3, Omega=0.0)
# A second swelling phase with other E, ν, Ω (two-phase checks need distinct bulk and shear).
OTHER = SwellingMaterial(E=2e9, nu=0.2, Omega=1.2e-6)
# Electrode cells: the random disc pack cannot reach porosity 0.3 (random sequential addition
# jams near a covered fraction of 0.547, header of rve_particles2d.geo); 0.45 is reached with
# small gaps, and the square array of discs (R = √(0.7/π)) gives porosity 0.3.
ELECTRODE_RANDOM = (("porosity", 0.45), ("gap", 0.005), ("margin", 0.005))
ELECTRODE_SQUARE = (("R", float(np.sqrt(0.7 / np.pi))),)


@pytest.fixture(scope="module")
def cells(tmp_path_factory) -> dict[str, Path]:
    """The cells of this module, meshed on rank 0: name → .msh."""
    comm = MPI.COMM_WORLD
    out = Path(comm.bcast(str(tmp_path_factory.mktemp("swelling")) if comm.rank == 0 else None))
    batches = {"default": ([MESHES / f"{s}.geo" for s in ("rve_square", "rve_laminate",
                                                             "rve_random")], ()),
               "cube": ([MESHES / "rve_cube_sphere.geo"], (("h", 0.15),)),
               "electrode": ([MESHES / "rve_particles2d.geo"], ELECTRODE_RANDOM),
               "square_0.3": ([MESHES / "rve_square.geo"], ELECTRODE_SQUARE)}
    paths = {}
    for name, (sources, parameters) in batches.items():
        reports = mesh_on_root(sources, out / name, MeshOptions(parameters=parameters))
        assert all(r.ok for r in reports), [r.error for r in reports]
        paths |= {(Path(r.source).stem if name == "default" else name): Path(r.output)
                  for r in reports}
    return paths


def _swelling(path: Path, phases: dict[str, SwellingMaterial], model: str = "plane_strain",
              bc: str = "periodic", degree: int = 1) -> SwellingRVE:
    return SwellingRVE(load_mesh(path, MPI.COMM_SELF), phases, model, degree, bc)


@pytest.mark.parametrize("bc", BOUNDARY_CONDITIONS)
@pytest.mark.parametrize("cell,model,in_plane", [
    ("rve_square", "plane_strain", 1 + PARTICLE.nu), ("rve_square", "plane_stress", 1.0),
    ("cube", "3d", 1.0)])
def test_single_phase_cell_expands_freely(cells, bc, cell, model, in_plane):
    """One material in both phases: the fluctuation vanishes, so C_hom = C and α_hom is the
    phase's own expansion: Ω/3 per normal component in 3D and plane stress, (1 + ν)Ω/3 in plane
    strain (ε33 = 0, module docstring of fe2.rve.swelling). Round-off only: 1e-10 relative."""
    rve = _swelling(cells[cell], {"matrix": PARTICLE, "inclusion": PARTICLE}, model, bc)
    C = PARTICLE.stiffness(model)
    dim = 3 if model == "3d" else 2
    expected = np.zeros(len(C))
    expected[:dim] = in_plane * PARTICLE.Omega / 3
    assert np.allclose(rve.stiffness, C, rtol=0, atol=1e-10 * C[0, 0])
    assert np.allclose(rve.expansion, expected, rtol=0, atol=1e-10 * expected[0])
    # β = −C α = −(3λ + 2μ) Ω/3 on the normal components in 3D and plane strain (1e-10).
    if model != "plane_stress":
        lam, mu = lame(PARTICLE.E, PARTICLE.nu)
        beta = -(3 * lam + 2 * mu) * PARTICLE.Omega / 3 * (expected != 0)
        assert np.allclose(rve.chemical_stress, beta, rtol=0, atol=1e-10 * abs(beta[0]))


def _direct_stress(rve: SwellingRVE, phases: dict[str, SwellingMaterial],
                   strain: np.ndarray) -> np.ndarray:
    """⟨σ⟩ of (ε, Δc) from a periodic cell problem assembled and solved from scratch
    (dolfinx_mpc.LinearProblem) and integrated: independent of the static condensation."""
    import dolfinx_mpc

    cell = rve.rve
    mesh, V = cell.mesh, cell.V
    bcs, mpc = periodic_constraint(V, cell.lattice, np.zeros(mesh.geometry.dim))
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell.cell_tags)
    w, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    e = fem.Constant(mesh, strain[:-1])
    terms = [(fem.Constant(mesh, m.stiffness(rve.model)),
              e - float(strain[-1]) * fem.Constant(mesh, m.expansion(rve.model)),
              cell.phase_matrices[name][0]) for name, m in phases.items()]
    a = sum(ufl.dot(ufl.dot(C, cell.strain(w)), cell.strain(v)) * dx(tag) for C, _, tag in terms)
    L = -sum(ufl.dot(ufl.dot(C, imposed), cell.strain(v)) * dx(tag) for C, imposed, tag in terms)
    problem = dolfinx_mpc.LinearProblem(a, L, mpc, bcs=bcs, petsc_options={
        "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    wh = problem.solve()
    stress = [fem.assemble_scalar(fem.form(sum(
        ufl.dot(C, imposed + cell.strain(wh))[k] * dx(tag) for C, imposed, tag in terms)))
        for k in range(rve.n_stress)]
    return np.array(stress) / cell.volume


def test_tangent_matches_finite_differences_of_a_direct_solve(cells):
    """Two swelling phases (rve_random, P1, periodic): the tangent [C_hom | β_hom] against
    central differences of the directly solved average stress, column by column, relative 1e-5
    (issue 13); linear, so stress = tangent @ (ε, Δc) too (1e-8 relative: solver round-off)."""
    phases = {"matrix": OTHER, "inclusion": PARTICLE}
    rve = _swelling(cells["rve_random"], phases)
    assert isinstance(rve, LinearMicroModel) and rve.tangent.shape == (3, 4)
    strain = np.array([1.2e-3, -0.5e-3, 0.8e-3, 600.0])  # ε [-], Δc [mol/m³]
    steps = np.array([1e-4, 1e-4, 1e-4, 50.0])
    columns = []
    for k, h in enumerate(steps):
        step = np.zeros(4)
        step[k] = h
        columns.append((_direct_stress(rve, phases, strain + step)
                        - _direct_stress(rve, phases, strain - step)) / (2 * h))
    differences = np.array(columns).T
    for k in range(4):
        scale = np.linalg.norm(rve.tangent[:, k])
        assert np.linalg.norm(differences[:, k] - rve.tangent[:, k]) < 1e-5 * scale, k
    direct = _direct_stress(rve, phases, strain)
    assert np.linalg.norm(direct - rve.stress(strain)) < 1e-8 * np.linalg.norm(direct)
    stress, tangent, state = rve.solve(strain, rve.initial_state())
    assert np.array_equal(stress, rve.tangent @ strain) and tangent is rve.tangent
    assert state.size == rve.state_size == 0


def _laminate_expansion(f: float, a: SwellingMaterial, b: SwellingMaterial) -> np.ndarray:
    """Exact free expansion per unit Δc of a plane-strain laminate, layers normal to x2 (layer a
    of fraction f), in Mandel notation [m³/mol].

    Free cell (Σ = 0): ε11 and ε12 are the same in every layer (compatibility along the
    layers), σ22 and σ12 are uniform (equilibrium across them) and vanish with Σ. In layer p,
    with ε33 = 0, σ = λ tr ε I + 2μ ε − b I, b = (3λ + 2μ) Ω/3 Δc:
    σ12 = 0 ⇒ ε12 = 0; σ22 = 0 ⇒ ε22 = (b − λ ε11)/(λ + 2μ); then
    σ11 = 4μ(λ + μ)/(λ + 2μ) ε11 − 2μ b/(λ + 2μ), and ⟨σ11⟩ = 0 gives ε11.
    α = (ε11, ⟨ε22⟩, 0).
    """
    layers = []
    for fraction, m in ((f, a), (1 - f, b)):
        lam, mu = lame(m.E, m.nu)
        layers.append((fraction, lam, mu, (3 * lam + 2 * mu) * m.Omega / 3))
    eps11 = (sum(g * 2 * mu * b / (lam + 2 * mu) for g, lam, mu, b in layers)
             / sum(g * 4 * mu * (lam + mu) / (lam + 2 * mu) for g, lam, mu, b in layers))
    eps22 = sum(g * (b - lam * eps11) / (lam + 2 * mu) for g, lam, mu, b in layers)
    return np.array([eps11, eps22, 0.0])


@pytest.mark.parametrize("degree", [1, 2])
def test_laminate_expansion_is_exact(cells, degree):
    """The laminate's fluctuations are piecewise linear, so P1 and P2 are exact: α_hom against
    the closed form (docstring of _laminate_expansion), relative 1e-10."""
    rve = _swelling(cells["rve_laminate"], {"layer_a": PARTICLE, "layer_b": OTHER},
                    degree=degree)
    exact = _laminate_expansion(rve.volume_fractions["layer_a"], PARTICLE, OTHER)
    assert np.allclose(rve.expansion, exact, rtol=0, atol=1e-10 * np.abs(exact).max())


@pytest.mark.parametrize("bc", BOUNDARY_CONDITIONS)
def test_two_phase_expansion_obeys_levin(cells, bc):
    """Levin's theorem (exact for any two-phase cell): a uniform stress σ0 with
    (S2 − S1) σ0 = a1 − a2 strains both phases alike, so the cell's fluctuation vanishes for
    every BC (also discretely) and α_hom = a1 + (S_hom − S1)(S2 − S1)⁻¹ (a2 − a1), with S = C⁻¹
    and a the phases' expansions (plane strain, Mandel). Round-off only: 1e-10 relative."""
    rve = _swelling(cells["rve_random"], {"matrix": OTHER, "inclusion": PARTICLE}, bc=bc)
    model = "plane_strain"
    S1, S2 = (np.linalg.inv(m.stiffness(model)) for m in (OTHER, PARTICLE))
    a1, a2 = OTHER.expansion(model), PARTICLE.expansion(model)
    levin = a1 + (np.linalg.inv(rve.stiffness) - S1) @ np.linalg.solve(S2 - S1, a2 - a1)
    assert np.allclose(rve.expansion, levin, rtol=0, atol=1e-10 * np.abs(levin).max())


def _relative_gap(larger: np.ndarray, smaller: np.ndarray) -> float:
    """Smallest eigenvalue of (larger − smaller), relative to ‖larger‖ (≥ 0 if ordered)."""
    return np.linalg.eigvalsh(larger - smaller).min() / np.linalg.norm(larger, 2)


def test_boundary_conditions_order_the_stiffness(cells):
    """affine ≥ periodic ≥ minimal for C_hom (DESIGN §6; −1e-10 for round-off) with β_hom finite
    and compressive (swelling particles pushed back by the cell: β11, β22 < 0)."""
    phases = {"matrix": MATRIX, "inclusion": PARTICLE}
    rves = {bc: _swelling(cells["rve_random"], phases, bc=bc) for bc in BOUNDARY_CONDITIONS}
    assert _relative_gap(rves["affine"].stiffness, rves["periodic"].stiffness) > -1e-10
    assert _relative_gap(rves["periodic"].stiffness, rves["minimal"].stiffness) > -1e-10
    for rve in rves.values():
        assert np.all(np.isfinite(rve.chemical_stress)) and np.all(rve.chemical_stress[:2] < 0)


def test_electrode_cells_from_a_micro_table(cells, shared_tmp):
    """The electrode cell built from a [micro] table (swelling_tangent: meshed from the .geo with
    its parameters, solved on rank 0, the same tangent on every rank) equals SwellingRVE on the
    same mesh (1e-12 relative). How much particle swelling reaches the electrode is printed; its
    normal mean lies between the matrix's (0) and the particles' ((1 + ν)Ω/3): Levin's theorem
    with the Reuss and Voigt bounds on the bulk compliance."""
    phases = {"pore": MATRIX, "solid": PARTICLE}
    spec = MicroSpec(rve=RVESettings(mesh=MESHES / "rve_particles2d.geo",
                                     parameters=ELECTRODE_RANDOM, mesh_dir=shared_tmp),
                     rtol=1e-10, max_iterations=25, region=None, materials=tuple(phases.items()))
    tangent = swelling_tangent(spec, shared_tmp / "case.toml", MPI.COMM_WORLD, "plane_strain")
    assert np.allclose(MPI.COMM_WORLD.allgather(tangent), tangent, rtol=0, atol=0)
    rve = _swelling(cells["electrode"], phases)
    assert np.allclose(tangent, rve.tangent, rtol=1e-12, atol=0)
    particle = PARTICLE.expansion("plane_strain")[0]
    square = _swelling(cells["square_0.3"], {"matrix": MATRIX, "inclusion": PARTICLE})
    for name, cell, solid in (("random discs, porosity 0.45", rve, "solid"),
                              ("square array, porosity 0.30", square, "inclusion")):
        share = chemical_expansion(cell.tangent) / particle
        assert 0 < share[:2].mean() < 1
        print(f"electrode ({name}, solid {cell.volume_fractions[solid]:.4f}): "
              f"α_hom/((1+ν)Ω/3) = {share}, α_hom/(Ω/3) = {share * (1 + PARTICLE.nu)}, "
              f"β_hom = {cell.chemical_stress} Pa·m³/mol")
