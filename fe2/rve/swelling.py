"""The electrode micro model of chemo-mechanics: swelling active particles in a binder/pore matrix.

Generalized macro strain ``(ε, Δc)``: ε the macro strain in Mandel notation (fe2.laws.mandel) and
``Δc = c − c_ref`` [mol/m³], where c is the lithium concentration in the active material (mol per
m³ of particle), taken uniform over the particles of the cell (gradients inside particles are a
matter of the macro or particle scale) and measured from the stress-free reference ``c_ref`` of
the macro definition. The macro hands ``Δc``, not ``c``: the model is then linear,
``Σ = tangent @ (ε, Δc)``, as the FE² core applies linear models.

Phase p is isotropic elastic (E_p, ν_p) with the chemical eigenstrain (Ω_p/3) Δc I (Ω_p the
partial molar volume [m³/mol]; 0 in the binder/pore matrix), so::

    σ_p = C_p (ε + s(w) − a_p Δc),   Σ = C_hom ε + β_hom Δc,   tangent = [C_hom | β_hom]

with ``β_hom = ∂Σ/∂c`` [Pa·m³/mol] from the same factorization as C_hom (fe2.rve.linear), and
the effective chemical expansion ``α_hom = −C_hom⁻¹ β_hom`` [m³/mol] (the macro strain of a free
cell per unit Δc). In 2D, ``a_p`` is the in-plane eigenstrain that gives the in-plane stress of
the 3D one: Ω/3 (1, 1, 0) in plane stress, (1 + ν)Ω/3 (1, 1, 0) in plane strain (ε33 = 0 holds
back the out-of-plane swelling, σ33 = −E Ω Δc/3 in a free homogeneous cell, and the in-plane
stress is C_2D ε − (3λ + 2μ) Ω/3 Δc (1, 1) = C_2D (ε − (1 + ν) Ω/3 Δc (1, 1))). So a single
phase has α_hom = a_p: Ω/3 (1, 1, 1, 0, 0, 0) in 3D, (1 + ν)Ω/3 (1, 1, 0) in plane strain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.io.mesh import MeshData
from fe2.laws.mandel import n_mandel
from fe2.laws.materials import MECHANICS_MODELS, IsotropicElastic
from fe2.rve.linear import LinearRVE

__all__ = ["SwellingMaterial", "SwellingRVE", "chemical_expansion", "swelling_tangent"]


@dataclass(frozen=True)
class SwellingMaterial:
    """A swelling isotropic elastic phase.

    Attributes:
        E: Young's modulus [Pa].
        nu: Poisson's ratio [-], in (−1, 0.5).
        Omega: partial molar volume [m³/mol]: chemical strain (Ω/3) Δc I; 0 for a phase that
            does not take lithium (binder, pore), negative for one that shrinks.
    """

    E: float
    nu: float
    Omega: float = 0.0

    def __post_init__(self) -> None:
        IsotropicElastic(self.E, self.nu)  # the checks of E and nu
        if not np.isfinite(self.Omega):
            raise ValueError(f"partial molar volume Omega must be finite, got {self.Omega}")

    def stiffness(self, model: str) -> NDArray:
        """Stiffness in Mandel notation [Pa] for a model of MECHANICS_MODELS."""
        return IsotropicElastic(self.E, self.nu).matrix(model)

    def expansion(self, model: str) -> NDArray:
        """Eigenstrain per unit Δc in Mandel notation [m³/mol] (module docstring for 2D)."""
        if model not in MECHANICS_MODELS:
            raise ValueError(f"unknown mechanics model {model!r}; use one of {MECHANICS_MODELS}")
        dim = 3 if model == "3d" else 2
        scale = (1 + self.nu) if model == "plane_strain" else 1.0
        vector = np.zeros(n_mandel(dim))
        vector[:dim] = scale * self.Omega / 3
        return vector


def chemical_expansion(tangent: NDArray) -> NDArray:
    """α_hom = −C_hom⁻¹ β_hom [m³/mol] (Mandel) from a tangent [C_hom | β_hom]."""
    tangent = np.asarray(tangent, dtype=float)
    return -np.linalg.solve(tangent[:, :-1], tangent[:, -1])


class SwellingRVE:
    """The electrode cell: generalized strain (ε, Δc) → homogenized stress (module docstring).

    Args:
        data: the RVE mesh (on ``MPI.COMM_SELF`` for FE²); every phase needs a material.
        phases: phase name → SwellingMaterial.
        model: "plane_strain", "plane_stress" (2D meshes) or "3d".
        degree: polynomial degree of the fluctuation field.
        bc: boundary condition of the cell problem (fe2.rve.linear.BOUNDARY_CONDITIONS).

    Attributes:
        stiffness: C_hom (n_mandel, n_mandel) [Pa].
        chemical_stress: β_hom = ∂Σ/∂c (n_mandel,) [Pa·m³/mol].
        expansion: α_hom = −C_hom⁻¹ β_hom (n_mandel,) [m³/mol], Mandel.
        tangent: [C_hom | β_hom] (n_mandel, n_mandel + 1).
        volume_fractions: phase → volume fraction [-].
        rve: the LinearRVE (fluctuation fields, timings).
    """

    is_linear = True
    state_size = 0
    iterations = 0

    def __init__(self, data: MeshData, phases: dict[str, SwellingMaterial], model: str,
                 degree: int = 1, bc: str = "periodic") -> None:
        dim = data.mesh.geometry.dim
        if (dim == 3) != (model == "3d"):
            raise ValueError(f"the RVE mesh {data.path.name} is {dim}D but the model is "
                             f"{model!r} (2D: plane_strain, plane_stress; 3D: 3d)")
        missing = sorted(set(data.domain_names()) - set(phases))
        if missing:
            raise ValueError(f"phase(s) {missing} of {data.path.name} have no material")
        self.model = model
        self.rve = LinearRVE(data, {p: m.stiffness(model) for p, m in phases.items()},
                             "vector", degree, bc,
                             eigenstrains={p: m.expansion(model) for p, m in phases.items()})
        self.stiffness = self.rve.tangent
        self.chemical_stress = self.rve.eigen_stress
        self.tangent = np.column_stack([self.stiffness, self.chemical_stress])
        self.expansion = chemical_expansion(self.tangent)
        self.volume_fractions = self.rve.volume_fractions
        self.n_stress, self.n_strain = self.tangent.shape

    def initial_state(self) -> NDArray:
        return np.zeros(0)

    def solve(self, strain: NDArray, state: NDArray,
              step=None) -> tuple[NDArray, NDArray, NDArray]:
        """Stress (n_mandel,) [Pa], tangent and the (empty) state for strain (ε, Δc)."""
        return self.stress(strain), self.tangent, state

    def stress(self, strain: NDArray) -> NDArray:
        """Homogenized stress [Pa] of the generalized strain (ε [-], Δc [mol/m³])."""
        return self.tangent @ np.asarray(strain, dtype=float)

    def fluctuation(self, strain: NDArray):
        """The fluctuation field (dolfinx Function) of the generalized strain (ε, Δc)."""
        strain = np.asarray(strain, dtype=float)
        w = self.rve.fluctuation(strain[:-1])
        w.x.array[:] += strain[-1] * self.rve.w_eigen
        return w


def swelling_tangent(spec, case: Path, comm: MPI.Comm, model: str) -> NDArray:
    """The tangent [C_hom | β_hom] of the cell of a ``[micro]`` table (fe2.rve.factory.MicroSpec
    whose materials are SwellingMaterial), solved once on rank 0 of ``comm`` and broadcast:
    wrap it in fe2.core.micro.HomogenizedModel for the FE² core (α_hom: chemical_expansion).

    Raises:
        ConfigError: on every rank, naming the case and table, if the materials or the model do
            not fit the mesh.
    """
    from fe2.rve.factory import check_phases, homogenized_tangent

    def tangent_of(data: MeshData) -> NDArray:
        check_phases(spec, data, data.domain_names())
        return SwellingRVE(data, dict(spec.materials), model, spec.rve.degree,
                           spec.rve.bc).tangent

    return homogenized_tangent(spec, case, comm, tangent_of)
