"""The seam for physics: a definition written here, outside fe2, runs through ``fe2 run``.

ReactionDiffusion: −D c'' + k c = 0 on a strip 0 < x < L, c(0) = 1, no flux at x = L, with the
reaction rate k c answered by a pointwise micro model at the quadrature points of the region
"body" (solved per point: it says it is nonlinear). Closed form: c = cosh(m(L − x))/cosh(mL),
m = √(k/D). Nothing in fe2/ knows this physics; the case names it as "test_seam:ReactionDiffusion".
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import ClassVar

import numpy as np
import pytest
from conftest import MESHES, REPO, run_case
from mpi4py import MPI

from fe2.core.definition import Field, MicroCoupling

D, K, L = 1.0, 16.0, 1.0  # m = 4: the profile falls to 1/cosh(4) ≈ 0.037 at x = L


class PointReaction:
    """Micro model: rate r = k c, ∂r/∂c = k, stateless (solved at every point)."""

    n_strain = n_stress = 1
    state_size = iterations = 0
    is_linear = False

    def __init__(self, k: float) -> None:
        self.k = k

    def initial_state(self):
        return np.zeros(0)

    def solve(self, strain, state, step=None):
        self.last_step = step
        return self.k * strain, np.array([[self.k]]), state


class ReactionDiffusion:
    kind: ClassVar[str] = "reaction_diffusion"
    tables: ClassVar[tuple[str, ...]] = ("reaction",)
    fluxes: ClassVar[dict[str, str]] = {"flux": "c"}

    def __init__(self, case, D: float, k: float) -> None:
        self.case, self.D, self.k = case, D, k

    @classmethod
    def from_case(cls, case):
        case.reader.keys(case.physics, "physics", ("kind", "D"), required=("D",))
        table = case.reader.table(case.raw, "", "reaction")
        case.reader.keys(table, "reaction", ("k",), required=("k",))
        return cls(case, case.reader.number(case.physics, "physics", "D", 0.0),
                   case.reader.number(table, "reaction", "k", 0.0))

    def check_mesh(self, mesh_data) -> None:
        """Any mesh."""

    def fields(self, gdim):
        return (Field("c", False, ("c",), self.case.degree),)

    def quadrature_degree(self, degree):
        return 2 * degree

    def couplings(self, comm, mesh_data):
        return [MicroCoupling("reaction", lambda fields: {"c": fields["c"]}, {"rate": ()},
                              {"body": PointReaction(self.k)})]

    def residual(self, weak):
        import ufl

        c, v = weak.fields["c"], weak.tests["c"]
        return (self.D * ufl.dot(ufl.grad(c), ufl.grad(v)) * weak.dx
                + weak.micro["reaction"]["rate"] * v * weak.dx)

    def cell_outputs(self, problem):
        return {"rate": problem.cell_average(problem.point_values("reaction", "rate"))}


CASE = f"""
[macro]
mesh = "{MESHES}/rectangle.geo"
parameters = {{ L = {L}, H = 0.05, n_x = 40, n_y = 1 }}
degree = 2
[physics]
kind = "test_seam:ReactionDiffusion"
D = {D}
[reaction]
k = {K}
[boundary.left]
c = 1.0
[loading]
initial_step = 1.0
max_step = 1.0
"""


def exact(x: np.ndarray) -> np.ndarray:
    m = np.sqrt(K / D)
    return np.cosh(m * (L - x)) / np.cosh(m * L)


def test_a_physics_outside_fe2_runs_through_the_core(shared_tmp):
    """The closed form to 2e-4 (P2 on h = 1/40: O(h³ m³) ≈ 1e-4 at the steep end), micro
    solves at every point of the region (one per point and residual evaluation) with the step
    context, written fields and summary like any built-in physics."""
    case = shared_tmp / "seam.toml"
    if MPI.COMM_WORLD.rank == 0:
        case.write_text(CASE)
    MPI.COMM_WORLD.barrier()
    outcome = run_case(case, shared_tmp / "seam")
    assert outcome.completed, outcome.message
    coordinates, values = outcome.problem.owned_values("c")
    error = np.abs(values[:, 0] - exact(coordinates[:, 0])).max(initial=0.0)
    assert MPI.COMM_WORLD.allreduce(float(error), op=MPI.MAX) < 2e-4
    step = outcome.summary["steps"][0]
    assert step["rve_solves"] == [outcome.summary["quadrature_points"]] * len(step["residuals"])
    assert outcome.summary["physics"] == "reaction_diffusion"
    # The step context reaches the micro model (one load step from λ = 0 to 1).
    model = outcome.problem.couplings[0].regions[0].dispatcher.model
    assert (model.last_step.t, model.last_step.dt, model.last_step.load_factor) == (1, 1, 1)


@pytest.mark.serial
def test_the_command_line_runs_it_and_reports_a_bad_kind(shared_tmp):
    """``fe2 run`` as a user types it (the definition's module on PYTHONPATH) exits 0; an
    unknown kind exits 2 naming the built-in physics."""
    case = shared_tmp / "seam.toml"
    case.write_text(CASE)
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}:{REPO}"}
    done = subprocess.run([sys.executable, "-m", "fe2", "run", str(case), "--quiet", "--out",
                           str(shared_tmp / "cli")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert (shared_tmp / "cli" / "field.png").is_file()
    case.write_text(CASE.replace("test_seam:ReactionDiffusion", "reaction_diffusion"))
    done = subprocess.run([sys.executable, "-m", "fe2", "run", str(case), "--quiet"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "mechanics, transport" in done.stderr, done.stderr
