"""Problem definitions (fe2.physics.mechanics): the near-nullspace that the iterative macro
solver gives to algebraic multigrid."""

from __future__ import annotations

import pytest
from mpi4py import MPI

from fe2.physics.mechanics import rigid_body_modes, strain


@pytest.mark.parametrize("gdim", [2, 3])
def test_rigid_body_modes_are_the_kernel_of_unconstrained_elasticity(gdim):
    """Each mode m: ‖K m‖∞ ≤ 1e-10 ‖K‖_F ‖m‖∞ for the stiffness K without boundary conditions
    (rigid motions carry no strain: exact up to round-off), and the modes are orthonormal
    (1e-12). 3 modes in 2D, 6 in 3D."""
    import ufl
    from dolfinx import fem
    from dolfinx import mesh as dmesh
    from dolfinx.fem.petsc import assemble_matrix
    from petsc4py import PETSc

    comm = MPI.COMM_WORLD
    domain = (dmesh.create_unit_square(comm, 6, 5) if gdim == 2
              else dmesh.create_unit_cube(comm, 3, 3, 2))
    V = fem.functionspace(domain, ("Lagrange", 2, (gdim,)))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    K = assemble_matrix(fem.form(ufl.inner(strain(u), strain(v)) * ufl.dx))
    K.assemble()
    modes = rigid_body_modes(V).getVecs()
    assert len(modes) == (3 if gdim == 2 else 6)
    scale = K.norm(PETSc.NormType.FROBENIUS)  # ≥ ‖K‖∞ / √n: a safe scale
    for i, mode in enumerate(modes):
        product = K.createVecLeft()
        K.mult(mode, product)
        assert product.norm(PETSc.NormType.INFINITY) <= 1e-10 * scale * mode.norm(
            PETSc.NormType.INFINITY)
        for j, other in enumerate(modes):
            assert mode.dot(other) == pytest.approx(float(i == j), abs=1e-12)
        product.destroy()
    K.destroy()
