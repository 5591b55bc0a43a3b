"""Loss of ellipticity of a tangent: the acoustic tensor test for localization.

A (homogenized) tangent C admits a localized band with normal n when the acoustic tensor
A(n)_ik = n_j C_ijkl n_l is singular (Rice 1976). Past that point an RVE no longer represents
the material point (the response localizes at the macro scale). The indicator here is

    min over n of det A(n)  /  max over n of det A(n)      (dimensionless, ≤ 1)

which is 1 for an isotropic elastic tangent and ≤ 0 once the tangent has lost ellipticity.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fe2.laws.mandel import MANDEL_PAIRS

__all__ = ["ellipticity", "mandel_to_tensor"]


def mandel_to_tensor(tangents: NDArray) -> NDArray:
    """Mandel tangents (n, m, m) → 4th-order tensors (n, d, d, d, d) with minor symmetries."""
    tangents = np.asarray(tangents, dtype=float)
    m = tangents.shape[-1]
    dim = {3: 2, 6: 3}[m]
    pairs = MANDEL_PAIRS[dim]
    weights = np.array([1.0 if i == j else np.sqrt(2.0) for i, j in pairs])
    scaled = tangents / np.outer(weights, weights)
    tensor = np.zeros((len(tangents), dim, dim, dim, dim))
    for a, (i, j) in enumerate(pairs):
        for b, (k, m) in enumerate(pairs):
            for p, q in {(i, j), (j, i)}:
                for r, s in {(k, m), (m, k)}:
                    tensor[:, p, q, r, s] = scaled[:, a, b]
    return tensor


def ellipticity(tangents: NDArray, directions: int = 180) -> NDArray:
    """The indicator (module docstring) per point of Mandel tangents (n, m, m); 2D: normals
    at ``directions`` angles in [0, π), 3D: ``4 × directions`` normals spread over the sphere
    (Fibonacci lattice)."""
    tensor = mandel_to_tensor(tangents)
    dim = tensor.shape[1]
    if dim == 2:
        angles = np.linspace(0.0, np.pi, directions, endpoint=False)
        normals = np.column_stack([np.cos(angles), np.sin(angles)])
    else:
        count = 4 * directions
        k = np.arange(count) + 0.5
        polar, azimuth = np.arccos(1 - k / count), np.pi * (1 + 5 ** 0.5) * k
        normals = np.column_stack([np.cos(azimuth) * np.sin(polar),
                                   np.sin(azimuth) * np.sin(polar), np.cos(polar)])
    acoustic = np.einsum("pijkl,nj,nl->pnik", tensor, normals, normals)
    determinants = np.linalg.det(acoustic)
    largest = determinants.max(axis=1)
    return determinants.min(axis=1) / np.where(largest > 0, largest, 1.0)
