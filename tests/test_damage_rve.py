"""The damaging RVE (fe2/rve/damage.py) and FE² with it (problems/phase_field/composite_fe2.toml):
a homogeneous cell against the closed-form AT2 solution, the consistent tangent of a fibre cell
against finite differences before and after its crack, irreversibility under unloading, and the
FE² strip whose ellipticity indicator turns negative after the homogenized peak, not before
(serial = 2 ranks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import MESHES, REPO, case_copy, mesh_on_root, run_case
from mpi4py import MPI

from fe2.core.errors import ConfigError
from fe2.laws.fracture import FractureMaterial
from fe2.laws.materials import IsotropicElastic

MATRIX = FractureMaterial(E=3.0, nu=0.35, Gc=5e-4, ell=0.1, k_ell=1e-6)  # kN/mm², kN/mm, mm
FIBRE = IsotropicElastic(E=70.0, nu=0.2)
COMPOSITE = REPO / "problems" / "phase_field" / "composite_fe2.toml"
COARSE = [("parameters = { R = 0.25, h = 0.025 }", "parameters = { R = 0.25, h = 0.05 }"),
          ("n_x = 2, n_y = 1", "n_x = 1, n_y = 1"),
          ("[loading]\n", "[loading]\nend = 0.5\n")]


@pytest.fixture(scope="module")
def cell_mesh(tmp_path_factory):
    """The fibre cell of the composite case (R = 0.25, h = 0.05 = ℓ/2), meshed on rank 0."""
    from fe2.io.meshing import MeshOptions

    comm = MPI.COMM_WORLD
    out = comm.bcast(str(tmp_path_factory.mktemp("cell")) if comm.rank == 0 else None)
    reports = mesh_on_root([MESHES / "rve_square.geo"], Path(out), MeshOptions(
        parameters=(("R", 0.25), ("h", 0.05))))
    assert reports[0].ok, reports[0].line()
    return reports[0].output


def damage_rve(path, phases):
    from fe2.io.mesh import load_mesh
    from fe2.rve.damage import DamageRVE

    return DamageRVE(load_mesh(path, MPI.COMM_SELF), phases)


def finite_difference_tangent(rve, strain, state, step=1e-7):
    return np.column_stack([(rve.solve(strain + step * unit, state)[0]
                             - rve.solve(strain - step * unit, state)[0]) / (2 * step)
                            for unit in np.eye(len(strain))])


@pytest.mark.serial
def test_homogeneous_cell_follows_the_closed_form_at2_solution(cell_mesh):
    """Both phases of one fracturing material: the periodic solution stays uniform with
    d = 2Hℓ/(G_c + 2Hℓ), H = ψ(ε), σ = g(d) C ε and the tangent
    g C − 2(1 − d) · 2ℓG_c/(G_c + 2Hℓ)² (Cε)⊗(Cε) (the local AT2 law; relative 1e-8)."""
    rve = damage_rve(cell_mesh, {"matrix": MATRIX, "inclusion": MATRIX})
    C = IsotropicElastic(MATRIX.E, MATRIX.nu).matrix("plane_strain")
    state = rve.initial_state()
    for scale in (0.5, 1.0, 2.0):  # before, near and past the local peak
        strain = scale * np.array([0.02, -0.004, 0.006])  # Mandel
        stress, tangent, new = rve.solve(strain, state)
        psi = strain @ C @ strain / 2
        d = 2 * psi * MATRIX.ell / (MATRIX.Gc + 2 * psi * MATRIX.ell)
        g = (1 - d) ** 2 + MATRIX.k_ell
        assert np.abs(rve.damage(new) - d).max() < 1e-8 * d
        assert np.allclose(stress, g * C @ strain, rtol=1e-8, atol=1e-8 * np.abs(stress).max())
        slope = 2 * MATRIX.ell * MATRIX.Gc / (MATRIX.Gc + 2 * psi * MATRIX.ell) ** 2
        expected = g * C - 2 * (1 - d) * slope * np.outer(C @ strain, C @ strain)
        assert np.allclose(tangent, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
        state = new


@pytest.mark.serial
def test_fibre_cell_tangent_matches_finite_differences_before_and_after_the_crack(cell_mesh):
    """The consistent tangent with the damage's contribution equals central differences of
    the homogenized stress (step 1e-7; relative 1e-6, the issue asks 1e-4) on the rising
    branch, and again once the matrix has cracked through; the peak lies between."""
    rve = damage_rve(cell_mesh, {"matrix": MATRIX, "inclusion": FIBRE})
    direction = np.array([1.0, 0.2, 0.1])
    state, stresses = rve.initial_state(), []
    for e in (0.004, 0.008, 0.012, 0.016, 0.02, 0.024, 0.03):
        strain = e * direction
        stress, tangent, new = rve.solve(strain, state)
        stresses.append(stress[0])
        if e in (0.004, 0.012, 0.03):
            reference = finite_difference_tangent(rve, strain, state)
            assert np.abs(tangent - reference).max() < 1e-6 * np.abs(reference).max(), e
        state = new
    peak = int(np.argmax(stresses))
    assert 0 < peak < len(stresses) - 1  # rises, peaks, softens
    assert stresses[-1] < 0.1 * stresses[peak]  # cracked through
    assert rve.damage(state).max() > 0.99


@pytest.mark.serial
def test_damage_is_irreversible_and_reloading_retraces(cell_mesh):
    """With the committed history, unloading to a fifth of the strain keeps every damage
    value (to 1e-10: the damage equation sees H = H_n) and reloading returns the same stress
    (relative 1e-8); ``solve`` never changes the state it is given."""
    rve = damage_rve(cell_mesh, {"matrix": MATRIX, "inclusion": FIBRE})
    strain = np.array([0.012, 0.0, 0.0])
    stress, _, loaded = rve.solve(strain, rve.initial_state())
    kept = loaded.copy()
    _, _, unloaded = rve.solve(strain / 5, loaded)
    assert np.array_equal(loaded, kept)
    assert rve.damage(loaded).max() > 0.1
    assert np.abs(rve.damage(unloaded) - rve.damage(loaded)).max() < 1e-10
    again, _, _ = rve.solve(strain, unloaded)
    assert np.allclose(again, stress, rtol=1e-8, atol=1e-12)


def test_fe2_strip_loses_ellipticity_after_the_homogenized_peak_not_before(shared_tmp):
    """composite_fe2.toml (coarse cell, h = ℓ/2 = 0.05 mm, to λ = 0.5): the reaction peaks and
    softens; the ellipticity indicator is positive up to and including the peak step and
    summary.json records its loss at a later step; the cell-averaged damage is an output."""
    outcome = run_case(case_copy(COMPOSITE, shared_tmp, "composite", COARSE),
                       shared_tmp / "composite")
    assert outcome.completed, outcome.message
    steps = outcome.summary["steps"]
    reactions = [s["reaction"] for s in steps]
    peak = int(np.argmax(reactions))
    assert 0 < peak < len(steps) - 1 and reactions[-1] < reactions[peak]
    assert all(s["scalars"]["ellipticity_min"] > 0 for s in steps[: peak + 1])
    lost = outcome.summary["events"]["loss_of_ellipticity"]
    assert lost["step"] > steps[peak]["step"]
    assert steps[lost["step"] - 1]["scalars"]["ellipticity_min"] <= 0
    assert "damage" in outcome.problem.point_outputs("rve")


@pytest.mark.skipif(MPI.COMM_WORLD.size == 1, reason="compares a parallel with a serial run")
def test_fe2_strip_on_two_ranks_equals_serial(shared_tmp):
    """The reaction curve of 2 ranks equals the serial one (relative 1e-6)."""
    from fe2.app.run_case import load_run_config
    from fe2.io.meshing import prepare_mesh

    comm = MPI.COMM_WORLD
    case = case_copy(COMPOSITE, shared_tmp, "composite", COARSE)
    config = load_run_config(case)
    prepare_mesh(config.macro, case, comm)
    parallel = run_case(case, shared_tmp / "parallel", comm)
    serial = run_case(case, shared_tmp / f"serial{comm.rank}", MPI.COMM_SELF)
    a = np.array([s["reaction"] for s in parallel.summary["steps"]])
    b = np.array([s["reaction"] for s in serial.summary["steps"]])
    assert a.shape == b.shape
    assert np.allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(b).max())


@pytest.mark.serial
@pytest.mark.parametrize("edit, message", [
    (('law = "elastic"', 'law = "j2"\nyield_stress = 1.0'),
     'combines with "elastic" phases only'),
    (('split = "none"', 'split = "sideways"'), "split = 'sideways'"),
    (("Gc = 5e-4", "Gc = -1.0"), "the fracture toughness must be positive"),
])
def test_bad_damaging_rve_inputs_are_clear_errors(shared_tmp, edit, message):
    from fe2.app.run_case import load_run_config

    case = case_copy(COMPOSITE, shared_tmp, "bad", [edit])
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_run_config(case)
