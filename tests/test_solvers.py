"""The step solvers on a problem with a closed form and bounds: PETSc's variational-inequality
SNES (vinewtonrsls) from a field's declared bounds, through ``fe2 run``.

Obstacle problem (a membrane pushed onto the floor): minimize ∫ ½u'² + f u dx with u ≥ 0 on
0 < x < 1, u(0) = u(1) = a, f = 1. Where the membrane is free u'' = f; with a < 1/8 it lies on
the floor on [x0, 1 − x0], x0 = √(2a), and u = (x0 − x)²/2 on [0, x0] (mirror on the right):
u and u' are continuous at the contact point (Kinderlehrer & Stampacchia, An Introduction to
Variational Inequalities, ch. II).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from conftest import MESHES, run_case
from mpi4py import MPI

from fe2.core.definition import Field
from fe2.core.errors import ConfigError

A, F = 0.02, 1.0  # boundary height, load; contact on [0.2, 0.8]


class Membrane:
    """−u'' + f = 0 with u ≥ 0 (a throwaway definition for the bound-constrained solver)."""

    kind: ClassVar[str] = "membrane"
    tables: ClassVar[tuple[str, ...]] = ()
    fluxes: ClassVar[dict[str, str]] = {}

    def __init__(self, case) -> None:
        self.case = case

    @classmethod
    def from_case(cls, case):
        case.reader.keys(case.physics, "physics", ("kind",))
        return cls(case)

    def check_mesh(self, mesh_data) -> None:
        """Any mesh."""

    def fields(self, gdim):
        return (Field("u", False, ("u",), self.case.degree, bounds=(0.0, float("inf"))),)

    def quadrature_degree(self, degree):
        return 2 * degree

    def couplings(self, comm, mesh_data):
        return []

    def residual(self, weak):
        import ufl

        u, v = weak.fields["u"], weak.tests["u"]
        return ufl.dot(ufl.grad(u), ufl.grad(v)) * weak.dx + F * v * weak.dx

    def cell_outputs(self, problem):
        return {}


CASE = f"""
[macro]
mesh = "{MESHES}/rectangle.geo"
parameters = {{ L = 1.0, H = 0.02, n_x = 100, n_y = 1 }}
degree = 1
[physics]
kind = "test_solvers:Membrane"
[boundary.left]
u = {A}
[boundary.right]
u = {A}
[loading]
initial_step = 1.0
max_step = 1.0
[solver]
type = "snes"
rtol = 1e-12
atol = 1e-14
max_iterations = 50
"""


def exact(x: np.ndarray) -> np.ndarray:
    x0 = np.sqrt(2 * A / F)
    distance = np.minimum(x, 1 - x)
    return np.where(distance < x0, F * (x0 - distance) ** 2 / 2, 0.0)


def test_bounds_make_snes_solve_the_obstacle_problem(shared_tmp):
    """u ≥ 0 is kept exactly (the bound is the floor), the contact set is [0.2, 0.8] to one
    element, and u matches the closed form to 2e-5 (P1 on h = 0.01: the kink at the contact
    point costs O(h²) ≈ 1e-4 a). Newton, which cannot keep bounds, is refused."""
    comm = MPI.COMM_WORLD
    case = shared_tmp / "membrane.toml"
    if comm.rank == 0:
        case.write_text(CASE)
    comm.barrier()
    outcome = run_case(case, shared_tmp / "membrane")
    assert outcome.completed, outcome.message
    x, u = outcome.problem.owned_values("u")
    x, u = x[:, 0], u[:, 0]
    assert comm.allreduce(float(u.min(initial=np.inf)), op=MPI.MIN) >= 0.0
    error = comm.allreduce(float(np.abs(u - exact(x)).max(initial=0.0)), op=MPI.MAX)
    assert error < 2e-5, error
    touching = x[u <= 1e-12]
    lower = comm.allreduce(float(touching.min(initial=np.inf)), op=MPI.MIN)
    upper = comm.allreduce(float(touching.max(initial=-np.inf)), op=MPI.MAX)
    assert abs(lower - 0.2) <= 0.011 and abs(upper - 0.8) <= 0.011
    if comm.rank == 0:
        case.write_text(CASE.replace('type = "snes"', 'type = "newton"'))
    comm.barrier()
    with pytest.raises(ConfigError, match="have bounds: use type"):
        run_case(case, shared_tmp / "free")
