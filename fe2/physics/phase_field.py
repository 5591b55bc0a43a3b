"""Phase-field fracture, single scale: displacement u [mm] and damage d [-] (0 sound, 1 broken).

    ∫ [g(d) ∂ψ⁺/∂ε + ∂ψ⁻/∂ε] : ε(v) dx − λ ∫ t · v ds = 0,        g(d) = (1 − d)² + k_ℓ
    AT2: ∫ −2(1 − d) H q + G_c (d q/ℓ + ℓ ∇d·∇q) dx = 0,             H = max over time of ψ⁺
    AT1: ∫ −2(1 − d) ψ⁺ q + (3G_c/8)(q/ℓ + 2ℓ ∇d·∇q) dx ≥ 0,        d_prev ≤ d ≤ 1

(Miehe, Hofacker, Welschinger 2010 for AT2 with the history field H; Pham, Amor, Marigo, Maurini
2011 for AT1 with the bound constraint.) Energy split of ψ = ψ⁺ + ψ⁻: "none" (ψ⁺ = ψ),
"volumetric" (Amor et al. 2009: ψ⁺ = K/2⟨tr ε⟩₊² + μ dev ε : dev ε) or "spectral" (Miehe et al.
2010: ψ⁺ = λ/2⟨tr ε⟩₊² + μ Σ⟨εᵢ⟩₊², 2D). AT2's history is a pointwise micro model at the
quadrature points (committed with the step, rolled back with a cut step, checkpointed); AT1's
irreversibility is the lower bound d_prev, kept by PETSc's variational-inequality SNES. Tables::

    [physics]  kind = "phase_field", model = "plane_strain" | "plane_stress" | "3d",
               variant = "AT2" | "AT1", split = "none" | "volumetric" | "spectral"
    [material] E [kN/mm²], nu, Gc [kN/mm], ell [mm], k_ell (residual stiffness, in (0, 1e-2])
    [boundary.<group>] ux, uy, uz, d, traction = [...]

Solve with ``[solver] type = "staggered"``, ``groups = [["u"], ["d"]]`` (alternate
minimization; its sweeps are recorded per step and a scheme that does not converge cuts the
step).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.definition import Field, MicroCoupling
from fe2.core.errors import ConfigError
from fe2.laws.fracture import SPLITS, FractureMaterial, degradation, split_energy

__all__ = ["DEFINITION", "FractureMaterial", "HistoryMaximum", "PhaseField"]

log = logging.getLogger(__name__)
MODELS = ("plane_strain", "plane_stress", "3d")
VARIANTS = ("AT2", "AT1")
_KEYS = ("E", "nu", "Gc", "ell", "k_ell")


class HistoryMaximum:
    """H = max(H_committed, ψ⁺) at every quadrature point (AT2 irreversibility), vectorized.

    Generalized strain: ψ⁺ (1); answer: H (1) with ∂H/∂ψ⁺ = 1 while loading, 0 otherwise;
    state: the committed H.
    """

    n_strain = n_stress = state_size = 1
    is_linear = False
    iterations = 0

    def initial_state(self) -> NDArray:
        return np.zeros(1)

    def solve(self, strain: NDArray, state: NDArray, step=None):
        stress, tangent, new = self.solve_batch(strain[None], state[None], step)
        return stress[0], tangent[0], new[0]

    def solve_batch(self, strains: NDArray, states: NDArray, step=None):
        loading = strains[:, 0] > states[:, 0]
        history = np.where(loading, strains[:, 0], states[:, 0])[:, None]
        return history, loading.astype(float)[:, None, None], history.copy()


class PhaseField:
    """The phase-field fracture definition (see module docstring)."""

    kind: ClassVar[str] = "phase_field"
    tables: ClassVar[tuple[str, ...]] = ("material",)
    fluxes: ClassVar[dict[str, str]] = {"traction": "u"}

    def __init__(self, case, model: str, variant: str, split: str,
                 material: FractureMaterial) -> None:
        self.case, self.model, self.variant, self.split = case, model, variant, split
        self.material = material
        self._energy_forms = None

    @classmethod
    def from_case(cls, case) -> PhaseField:
        reader, physics = case.reader, case.physics
        reader.keys(physics, "physics", ("kind", "model", "variant", "split"),
                    required=("model",))
        model = reader.string(physics, "physics", "model", MODELS)
        variant = reader.string(physics, "physics", "variant", VARIANTS, default="AT2")
        split = reader.string(physics, "physics", "split", SPLITS, default="none")
        if model == "plane_stress" and split != "none":
            raise reader.fail("physics", "plane_stress supports split = \"none\" only")
        if model == "3d" and split == "spectral":
            raise reader.fail("physics", "split = \"spectral\" is implemented in 2D")
        material = reader.numbers(case.raw, "material", FractureMaterial, _KEYS,
                                  ("E", "nu", "Gc", "ell"))
        return cls(case, model, variant, split, material)

    # ------------------------------------------------------------------ the core's view
    def check_mesh(self, mesh_data) -> None:
        mesh = mesh_data.mesh
        gdim = mesh.geometry.dim
        if (gdim == 3) != (self.model == "3d"):
            raise ConfigError(f"{self.case.path}: [physics] model = {self.model!r} does not fit "
                              f"the {gdim}D macro mesh {mesh_data.path.name}")
        tdim = mesh.topology.dim
        cells = np.arange(mesh.topology.index_map(tdim).size_local, dtype=np.int32)
        local = float(mesh.h(tdim, cells).min()) if len(cells) else np.inf
        h = mesh.comm.allreduce(local, op=MPI.MIN)
        if self.material.ell < 2 * h and mesh.comm.rank == 0:
            log.warning("%s: ell = %g mm is below 2h = %g mm (smallest cells of %s): the crack "
                        "is under-resolved; refine to h <= ell/2", self.case.path,
                        self.material.ell, 2 * h, mesh_data.path.name)
        self.smallest_cell = h

    def fields(self, gdim: int) -> tuple[Field, ...]:
        degree = self.case.degree
        bounds = ("previous", 1.0) if self.variant == "AT1" else None
        return (Field("u", True, ("ux", "uy", "uz"), degree, label="displacement [mm]"),
                Field("d", False, ("d",), degree, bounds=bounds, label="damage [-]"))

    def quadrature_degree(self, degree: int) -> int:
        return 2 * degree

    def couplings(self, comm, mesh_data) -> list[MicroCoupling]:
        if self.variant != "AT2":
            return []
        return [MicroCoupling("history", lambda fields: {"psi": self.energies(fields["u"])[0]},
                              {"H": ()}, {None: HistoryMaximum()})]

    def residual(self, weak):
        import ufl

        u, d = weak.fields["u"], weak.fields["d"]
        v, q = weak.tests["u"], weak.tests["d"]
        m = self.material
        epsilon = ufl.variable(ufl.sym(ufl.grad(u)))
        positive, negative = self._split_energy(epsilon)
        stress = (degradation(d, m.k_ell) * ufl.diff(positive, epsilon)
                  + ufl.diff(negative, epsilon))
        form = ufl.inner(stress, ufl.sym(ufl.grad(v))) * weak.dx
        if self.variant == "AT2":
            drive = weak.micro["history"]["H"]
            form += (-2 * (1 - d) * drive * q
                     + m.Gc * (d * q / m.ell + m.ell * ufl.dot(ufl.grad(d), ufl.grad(q)))) * weak.dx
        else:
            drive = self.energies(u)[0]
            form += (-2 * (1 - d) * drive * q + 3 * m.Gc / 8 * (
                q / m.ell + 2 * m.ell * ufl.dot(ufl.grad(d), ufl.grad(q)))) * weak.dx
        return form

    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        d = problem.fields_ufl["d"]
        values = problem.point_values("", "", d)
        return {"damage": problem.cell_average(values)[:, 0]}

    def scalars(self, problem) -> dict[str, float]:
        """Elastic energy ∫ g(d)ψ⁺ + ψ⁻ and dissipated energy (AT2: ∫ Gc/2 (d²/ℓ + ℓ|∇d|²),
        AT1: ∫ 3Gc/8 (d/ℓ + ℓ|∇d|²)) [kN·mm, per mm thickness in 2D]; the largest damage."""
        from dolfinx import fem

        if self._energy_forms is None:
            import ufl

            u, d = problem.fields_ufl["u"], problem.fields_ufl["d"]
            m = self.material
            positive, negative = self.energies(u)
            elastic = degradation(d, m.k_ell) * positive + negative
            gradient = ufl.dot(ufl.grad(d), ufl.grad(d))
            if self.variant == "AT2":
                dissipated = m.Gc / 2 * (d ** 2 / m.ell + m.ell * gradient)
            else:
                dissipated = 3 * m.Gc / 8 * (d / m.ell + m.ell * gradient)
            self._energy_forms = {name: fem.form(value * problem.rule.dx) for name, value in
                                  (("elastic_energy", elastic),
                                   ("dissipated_energy", dissipated))}
        scalars = {name: problem.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)
                   for name, form in self._energy_forms.items()}
        _, damage = problem.owned_values("d")
        scalars["damage_max"] = problem.comm.allreduce(float(damage.max(initial=0.0)),
                                                       op=MPI.MAX)
        return scalars

    # ------------------------------------------------------------------ energies
    def energies(self, u):
        """(ψ⁺, ψ⁻) of the displacement ``u`` [kN/mm²]."""
        import ufl

        return self._split_energy(ufl.sym(ufl.grad(u)))

    def _split_energy(self, epsilon):
        lam, mu = self.material.lame(self.model)
        return split_energy(epsilon, lam, mu, self.split)


DEFINITION = PhaseField
