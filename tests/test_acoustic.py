"""The ellipticity indicator (fe2/laws/acoustic.py): exact values for tangents with known
acoustic tensors, and the FE² plate (J2 with hardening, never localizing) stays elliptic."""

from __future__ import annotations

import numpy as np
import pytest

from fe2.laws.acoustic import ellipticity, mandel_to_tensor
from fe2.laws.materials import IsotropicElastic, lame


@pytest.mark.parametrize("model", ["plane_strain", "3d"])
def test_isotropic_elastic_tangent_is_fully_elliptic(model):
    """det A(n) = μ^(d−1)(λ + 2μ) for every n (A = μI + (λ+μ) n⊗n), so min/max = 1 (1e-10)."""
    C = IsotropicElastic(70e3, 0.3).matrix(model)
    assert ellipticity(C[None])[0] == pytest.approx(1.0, abs=1e-10)


def test_mandel_tensor_has_the_lame_entries():
    """C_1111 = λ + 2μ, C_1122 = λ, C_1212 = C_1221 = μ from the Mandel matrix (exact)."""
    lam, mu = lame(70e3, 0.3)
    tensor = mandel_to_tensor(IsotropicElastic(70e3, 0.3).matrix("plane_strain")[None])[0]
    assert tensor[0, 0, 0, 0] == pytest.approx(lam + 2 * mu)
    assert tensor[0, 0, 1, 1] == pytest.approx(lam)
    assert tensor[0, 1, 0, 1] == pytest.approx(mu) and tensor[0, 1, 1, 0] == pytest.approx(mu)


def test_softening_tangent_loses_ellipticity_at_the_analytic_normal():
    """An orthotropic tangent with C_1111 = −k < 0: along n = e1 the acoustic tensor is
    diag(C_1111, C_1212), det = −k μ < 0, while along e2 it is diag(μ, C_2222) > 0: the indicator
    is negative; with C_1111 = +k it is positive."""
    mu, k, c22 = 10.0, 5.0, 30.0
    for c11, sign in ((-k, -1), (k, 1)):
        C = np.array([[c11, 0.0, 0.0], [0.0, c22, 0.0], [0.0, 0.0, 2 * mu]])
        assert np.sign(ellipticity(C[None])[0]) == sign
