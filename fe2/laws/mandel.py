"""Mandel notation for symmetric second-order tensors (numpy and UFL).

A symmetric tensor ε maps to the vector [ε11, ε22, √2 ε12] in 2D and
[ε11, ε22, ε33, √2 ε23, √2 ε13, √2 ε12] in 3D. With this scaling ε:σ equals the dot product of
the vectors and a fourth-order tensor with both symmetries becomes a symmetric matrix.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MANDEL_PAIRS", "mandel_strain", "mandel_to_matrix", "n_mandel", "ufl_mandel"]

SQRT2 = np.sqrt(2.0)

# (row, column) of the tensor entry behind each Mandel component.
MANDEL_PAIRS = {
    2: ((0, 0), (1, 1), (0, 1)),
    3: ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)),
}


def n_mandel(dim: int) -> int:
    """Number of independent components of a symmetric dim × dim tensor."""
    return len(MANDEL_PAIRS[dim])


def _weights(dim: int) -> np.ndarray:
    return np.array([1.0 if i == j else SQRT2 for i, j in MANDEL_PAIRS[dim]])


def mandel_to_matrix(vector: np.ndarray) -> np.ndarray:
    """Mandel vector (3 or 6 entries) → the symmetric dim × dim tensor."""
    vector = np.asarray(vector, dtype=float)
    dim = {3: 2, 6: 3}[len(vector)]
    tensor = np.zeros((dim, dim))
    for value, weight, (i, j) in zip(vector, _weights(dim), MANDEL_PAIRS[dim], strict=True):
        tensor[i, j] = tensor[j, i] = value / weight
    return tensor


def ufl_mandel(tensor):
    """Symmetric UFL tensor expression → UFL Mandel vector."""
    import ufl

    dim = tensor.ufl_shape[0]
    return ufl.as_vector([w * tensor[i, j]
                          for w, (i, j) in zip(_weights(dim), MANDEL_PAIRS[dim], strict=True)])


def mandel_strain(u):
    """The small strain sym(∇u) of a UFL vector field as a Mandel vector: the one definition
    used by macro mechanics and by every cell problem."""
    import ufl

    return ufl_mandel(ufl.sym(ufl.grad(u)))
