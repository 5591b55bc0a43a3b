"""Pointwise material laws against closed forms, their own invariants and finite differences.

Everything here is pointwise or lives on MPI.COMM_SELF, so every rank runs its own copy.
"""

from __future__ import annotations

import basix.ufl
import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from fe2.laws.materials import lame
from fe2.laws.pointwise import Elastic, J2Plasticity, PointLaw, UFLEnergyLaw, von_mises

E, NU, SIGMA_Y = 200e3, 0.3, 250.0  # steel-like, MPa
LAM, MU = lame(E, NU)
HARDENINGS = {  # (H_iso, H_kin) [MPa]
    "perfect": (0.0, 0.0),
    "isotropic": (10e3, 0.0),
    "kinematic": (0.0, 8e3),
    "combined": (10e3, 8e3),
}
IDENTITY = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


def _j2(name: str, **kwargs) -> J2Plasticity:
    h_iso, h_kin = HARDENINGS[name]
    return J2Plasticity(E, NU, SIGMA_Y, hardening=h_iso, kinematic_hardening=h_kin, **kwargs)


def _dev(x):
    return x - (x[..., :3].sum(axis=-1, keepdims=True) / 3) * IDENTITY


def _random_state(law: J2Plasticity, n: int, seed: int):
    """A committed plastic history and mixed 3D strains that depart from ε_p by 0.1 to 3
    yield strains σ_y/E: roughly a third of the points stay elastic."""
    rng = np.random.default_rng(seed)
    history = law.initial_history(n)
    history[:, :6] = _dev(rng.uniform(-1, 1, (n, 6)) * 2 * SIGMA_Y / E)  # deviatoric ε_p
    history[:, 6] = np.linalg.norm(history[:, :6], axis=1) * rng.uniform(1, 2, n)
    amplitude = rng.uniform(0.1, 3, n) * SIGMA_Y / E
    strain = history[:, :6] + rng.uniform(-1, 1, (n, 6)) * amplitude[:, None]
    return strain, history


def _fd_tangent(law, strain, history, h):
    """Central differences dσ_i/dε_j (n, 6, 6) of the stress, all points and directions in
    one call, and whether each perturbed evaluation (n, 6) flowed plastically (±)."""
    n = len(strain)
    step = h * np.eye(6)
    plus = (strain[:, None, :] + step).reshape(-1, 6)
    minus = (strain[:, None, :] - step).reshape(-1, 6)
    hist = np.repeat(history, 6, axis=0)
    s_plus, _, h_plus = law.update(plus, hist)
    s_minus, _, h_minus = law.update(minus, hist)
    fd = ((s_plus - s_minus) / (2 * h)).reshape(n, 6, 6).transpose(0, 2, 1)
    return fd, (h_plus[:, 6] > hist[:, 6]).reshape(n, 6), (h_minus[:, 6] > hist[:, 6]).reshape(n, 6)


def test_laws_satisfy_the_protocol():
    assert isinstance(_j2("combined"), PointLaw)
    assert isinstance(UFLEnergyLaw(lambda eps: ufl.inner(eps, eps)), PointLaw)


@pytest.mark.parametrize("kwargs", [dict(E=0), dict(nu=0.5), dict(nu=-1), dict(yield_stress=0),
                                    dict(hardening=-1), dict(kinematic_hardening=-1)])
def test_j2_rejects_invalid_parameters(kwargs):
    params = dict(E=E, nu=NU, yield_stress=SIGMA_Y) | kwargs
    with pytest.raises(ValueError):
        J2Plasticity(**params)


@pytest.mark.parametrize("hardening", HARDENINGS)
def test_j2_simple_shear_matches_the_closed_form(hardening):
    """Monotonic ε12: τ = 2μ ε12 up to τ_y = σ_y/√3, then τ = τ_y + (2/3) H ε_p12 with
    ε_p12 = (2μ ε12 − τ_y) / (2μ + (2/3) H), H = H_iso + H_kin, α = (2/√3) ε_p12 (the flow
    direction is constant, so radial return is exact for any step size)."""
    law = _j2(hardening)
    h_total = sum(HARDENINGS[hardening])
    tau_y = SIGMA_Y / np.sqrt(3)
    eps12 = np.linspace(0, 5 * tau_y / (2 * MU), 21)[1:]
    history = law.initial_history(1)
    for e12 in eps12:
        strain = np.array([[0, 0, 0, 0, 0, np.sqrt(2) * e12]])
        stress, _, history = law.update(strain, history)
        ep12 = max(2 * MU * e12 - tau_y, 0) / (2 * MU + 2 / 3 * h_total)
        tau = 2 * MU * (e12 - ep12)
        # closed form above, rel 1e-10 (rounding only)
        assert stress[0, 5] / np.sqrt(2) == pytest.approx(tau, rel=1e-10)
        assert np.abs(stress[0, :5]).max() <= 1e-10 * tau_y  # pure shear: 1e-10 of τ_y
        alpha = law.equivalent_plastic_strain(history)[0]
        assert alpha == pytest.approx(2 / np.sqrt(3) * ep12, rel=1e-10, abs=1e-16)


@pytest.mark.parametrize("hardening", HARDENINGS)
def test_j2_uniaxial_stress_matches_the_closed_form(hardening):
    """Uniaxial stress, lateral strains found by Newton with the law's tangent:
    ε_p11 = (E ε11 − σ_y) / (E + H), σ11 = E (ε11 − ε_p11), α = ε_p11, H = H_iso + H_kin."""
    law = _j2(hardening)
    h_total = sum(HARDENINGS[hardening])
    history = law.initial_history(1)
    lateral = np.zeros(2)
    for e11 in np.linspace(0, 6 * SIGMA_Y / E, 13)[1:]:
        for _ in range(25):
            strain = np.array([[e11, *lateral, 0, 0, 0]])
            stress, tangent, new_history = law.update(strain, history)
            if np.abs(stress[0, 1:3]).max() < 1e-12 * SIGMA_Y:
                break
            lateral -= np.linalg.solve(tangent[0, 1:3, 1:3], stress[0, 1:3])
        history = new_history
        ep11 = max(E * e11 - SIGMA_Y, 0) / (E + h_total)
        # closed form above, rel 1e-10 (Newton converged to 1e-12 σ_y in the lateral stress)
        assert stress[0, 0] == pytest.approx(E * (e11 - ep11), rel=1e-10)
        assert von_mises(stress)[0] == pytest.approx(E * (e11 - ep11), rel=1e-10)
        assert law.equivalent_plastic_strain(history)[0] == pytest.approx(ep11, rel=1e-10,
                                                                          abs=1e-16)


@pytest.mark.parametrize("hardening", HARDENINGS)
def test_j2_return_mapping_ends_on_the_yield_surface(hardening):
    law = _j2(hardening)
    h_iso, h_kin = HARDENINGS[hardening]
    strain, history = _random_state(law, 2000, seed=1)
    stress, _, new = law.update(strain, history)
    plastic = new[:, 6] > history[:, 6]
    assert 0.2 < plastic.mean() < 1  # the sample holds plastic and elastic points
    eps_p, alpha = law.plastic_strain(new), law.equivalent_plastic_strain(new)
    f = (np.linalg.norm(_dev(stress) - 2 / 3 * h_kin * eps_p, axis=1)
         - np.sqrt(2 / 3) * (SIGMA_Y + h_iso * alpha))
    # consistency f = 0 at plastic points (Simo & Hughes Box 3.1), 1e-10 of σ_y
    assert np.abs(f[plastic]).max() <= 1e-10 * SIGMA_Y
    assert f[~plastic].max() <= 0  # elastic points stay inside
    # elastic points keep their history bit for bit
    assert np.array_equal(new[~plastic], history[~plastic])
    # plastic incompressibility tr ε_p = 0: rounding of O(1e-16) on entries of O(1e-2)
    assert np.abs(eps_p[:, :3].sum(axis=1)).max() <= 1e-15
    # the plastic increment has the length √(3/2) Δα: rounding, rel 1e-12
    assert np.allclose(np.linalg.norm(eps_p - history[:, :6], axis=1),
                       np.sqrt(1.5) * (alpha - history[:, 6]), rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("hardening", HARDENINGS)
def test_j2_committed_tangent_is_that_of_the_update(hardening):
    """committed_tangent(ε, new history) rebuilds the consistent tangent update(ε, history)
    returned (issue 15: the first Jacobian of a step), also at points that a perturbation of
    the strain by round-off (1e-14) would move to the other side of the yield surface."""
    law = _j2(hardening)
    strain, history = _random_state(law, 2000, seed=4)
    _, tangent, new = law.update(strain, history)
    plastic = new[:, 7] > 0
    assert 0.2 < plastic.mean() < 1
    committed = law.committed_tangent(strain, new)
    # elastic points: the same arithmetic, bit for bit
    assert np.array_equal(committed[~plastic], tangent[~plastic])
    # plastic points: the trial norm and normal rebuilt from ξ at the end of the return differ
    # by rounding, 1e-12 of E (1e-16 observed)
    assert np.abs(committed - tangent).max() <= 1e-12 * E
    # At the converged state the point is on its yield surface: re-evaluating it picks either
    # branch by round-off (the tangents differ by O(E)), the committed tangent does not care.
    again = law.update(strain[plastic] * (1 + 1e-14), new[plastic])[1]
    assert np.abs(again - tangent[plastic]).max() > 1e-3 * E
    assert np.abs(law.committed_tangent(strain[plastic] * (1 + 1e-14), new[plastic])
                  - tangent[plastic]).max() <= 1e-12 * E


@pytest.mark.parametrize("hardening", HARDENINGS)
def test_j2_unloading_from_a_plastic_state_is_elastic(hardening):
    law = _j2(hardening)
    strain, history = _random_state(law, 500, seed=2)
    stress, _, loaded = law.update(strain, history)
    plastic = loaded[:, 6] > history[:, 6]
    # step back by 10 % of the way into the surface along the loading direction: elastic
    back = strain[plastic] - 0.1 * (strain[plastic] - law.plastic_strain(loaded)[plastic])
    back_stress, tangent, unloaded = law.update(back, loaded[plastic])
    # ε_p and α untouched, exact; the multiplier Δγ of this (elastic) update is 0
    assert np.array_equal(unloaded[:, :7], loaded[plastic][:, :7])
    assert not np.any(unloaded[:, 7])
    # σ_back − σ = C_el (ε_back − ε): rounding, 1e-10 of σ_y
    expected = stress[plastic] + (back - strain[plastic]) @ law.stiffness
    assert np.abs(back_stress - expected).max() <= 1e-10 * SIGMA_Y
    assert np.allclose(tangent, law.stiffness, rtol=1e-13, atol=1e-13 * E)  # rounding


@pytest.mark.parametrize("hardening", HARDENINGS)
def test_j2_tangent_matches_finite_differences(hardening):
    """Central differences with h = 1e-7. The stress is smooth on either side of the yield
    surface; the FD error then scales as h² (measured max 1.5e-5, 1.5e-7, 1.5e-9 relative to
    the stiffness for h = 1e-5, 1e-6, 1e-7) while cancellation, O(1e-16 ε/h) with ε ~ 1e-3,
    takes over below h ~ 1e-8: h = 1e-7 leaves a margin of 1000 on the 1e-6 tolerance. Only
    points whose state (elastic or plastic) is the same for all 12 perturbations count."""
    law = _j2(hardening)
    h = 1e-7
    strain, history = _random_state(law, 400, seed=3)
    _, tangent, new = law.update(strain, history)
    fd, plus_plastic, minus_plastic = _fd_tangent(law, strain, history, h)
    plastic = new[:, 6] > history[:, 6]
    same_state = np.where(plastic, plus_plastic.all(axis=1) & minus_plastic.all(axis=1),
                          ~plus_plastic.any(axis=1) & ~minus_plastic.any(axis=1))
    assert plastic[same_state].sum() > 100 and (~plastic).sum() > 50
    error = np.abs(fd - tangent).max(axis=(1, 2))[same_state]
    # consistent tangent (Simo & Hughes Box 3.2, combined hardening) vs FD: rel 1e-6
    assert error.max() <= 1e-6 * np.abs(tangent).max()
    # elastic points: the elastic stiffness (rounding, 1e-13 relative)
    assert np.allclose(tangent[~plastic], law.stiffness, rtol=1e-13, atol=1e-13 * E)
    # associated flow: the consistent tangent is symmetric (rounding, 1e-13 relative)
    assert np.allclose(tangent, tangent.transpose(0, 2, 1), rtol=0, atol=1e-13 * E)


def test_j2_with_a_huge_yield_stress_is_elastic():
    law = J2Plasticity(E, NU, yield_stress=1e30, hardening=1e3, kinematic_hardening=1e3)
    strain, _ = _random_state(law, 100, seed=4)
    history = law.initial_history(100)
    stress, tangent, new = law.update(strain, history)
    ref_stress, ref_tangent, _ = Elastic(E, NU).update(strain, np.zeros((100, 0)))
    # same formulas up to the order of floating-point operations: 1e-13 relative
    assert np.allclose(stress, ref_stress, rtol=0, atol=1e-13 * np.abs(ref_stress).max())
    assert np.allclose(tangent, ref_tangent, rtol=0, atol=1e-13 * E)
    assert np.array_equal(new, history)  # no plastic flow, exact


def test_j2_does_not_modify_its_inputs():
    law = _j2("combined")
    strain, history = _random_state(law, 50, seed=5)
    copies = strain.copy(), history.copy()
    strain.setflags(write=False)
    history.setflags(write=False)  # any in-place write would raise
    _, _, new = law.update(strain, history)
    assert np.array_equal(strain, copies[0]) and np.array_equal(history, copies[1])
    assert not np.shares_memory(new, history)


# --- UFLEnergyLaw --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quadrature_space():
    """Scalar degree-2 quadrature space on a small triangle mesh (3 points per cell)."""
    msh = mesh.create_unit_square(MPI.COMM_SELF, 2, 2)
    element = basix.ufl.quadrature_element(msh.basix_cell(), scheme="default", degree=2)
    return fem.functionspace(msh, element)


CELLS = np.array([5, 0, 3, 7], dtype=np.int32)  # unordered on purpose: rows follow CELLS
N_POINTS = len(CELLS) * 3


def _quadratic(eps):
    return 0.5 * LAM * ufl.tr(eps) ** 2 + MU * ufl.inner(eps, eps)


BETA = 1e9  # [MPa]: the quartic term dominates the stiffness at strains ~1e-2


def _quartic(eps):
    return _quadratic(eps) + BETA * ufl.inner(ufl.dev(eps), ufl.dev(eps)) ** 2


def _quartic_stress(strain):
    """σ = λ tr ε I + 2μ ε + 4β (dev ε : dev ε) dev ε, in Mandel notation."""
    dev = _dev(strain)
    return (LAM * strain[:, :3].sum(axis=1)[:, None] * IDENTITY + 2 * MU * strain
            + 4 * BETA * (dev * dev).sum(axis=1)[:, None] * dev)


def test_ufl_law_update_before_bind_raises():
    law = UFLEnergyLaw(_quadratic)
    with pytest.raises(RuntimeError, match="before bind"):
        law.update(np.zeros((3, 6)), law.initial_history(3))


def test_ufl_quadratic_energy_is_the_elastic_law(quadrature_space):
    law = UFLEnergyLaw(_quadratic, n_history=2)
    law.bind(quadrature_space, CELLS)
    rng = np.random.default_rng(6)
    strain = rng.uniform(-1, 1, (N_POINTS, 6)) * 1e-2  # a different strain at every row
    history = rng.uniform(size=(N_POINTS, 2))
    copies = strain.copy(), history.copy()
    stress, tangent, new = law.update(strain, history)
    ref_stress, ref_tangent, _ = Elastic(E, NU).update(strain, np.zeros((N_POINTS, 0)))
    # exact up to rounding, 1e-12 relative; row order = (cell of CELLS, quadrature point)
    assert np.allclose(stress, ref_stress, rtol=0, atol=1e-12 * np.abs(ref_stress).max())
    assert np.allclose(tangent, ref_tangent, rtol=0, atol=1e-12 * E)
    # history carried through unchanged, as a new array; inputs untouched (exact)
    assert np.array_equal(new, history) and not np.shares_memory(new, history)
    assert np.array_equal(strain, copies[0]) and np.array_equal(history, copies[1])


def test_ufl_nonlinear_energy_stress_and_tangent(quadrature_space):
    """Quartic energy: stress against its closed form, tangent against central differences
    with h = 1e-7 (strains O(1e-2), cubic stress: truncation h²·24β/6 ~ 1e-10 and
    cancellation O(1e-16 σ/h) ~ 1e-11 relative to the stiffness, tolerance 1e-6)."""
    law = UFLEnergyLaw(_quartic)
    law.bind(quadrature_space, CELLS)
    strain = np.random.default_rng(7).uniform(-1, 1, (N_POINTS, 6)) * 1e-2
    history = law.initial_history(N_POINTS)
    stress, tangent, _ = law.update(strain, history)
    expected = _quartic_stress(strain)
    # closed form above, rounding: 1e-12 relative
    assert np.allclose(stress, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert np.abs(tangent).max() > 1.5 * np.abs(Elastic(E, NU).stiffness).max()  # nonlinear
    h = 1e-7
    fd = np.empty_like(tangent)
    for j in range(6):
        step = h * np.eye(6)[j]
        fd[:, :, j] = (law.update(strain + step, history)[0]
                       - law.update(strain - step, history)[0]) / (2 * h)
    scale = np.abs(tangent).max()
    assert np.abs(fd - tangent).max() <= 1e-6 * scale  # FD, rel 1e-6 (see docstring)
    # second derivatives of a potential commute: symmetric up to rounding, 1e-12 relative
    assert np.abs(tangent - tangent.transpose(0, 2, 1)).max() <= 1e-12 * scale
