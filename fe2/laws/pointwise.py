"""Pointwise material laws at the micro quadrature points, vectorized over all points at once.

Every law works in 3D Mandel notation (6 components, fe2.laws.mandel): a plane-strain RVE embeds its
in-plane strain with ε33 = ε13 = ε23 = 0 and keeps the in-plane block of stress and tangent, so
out-of-plane plastic flow is accounted for. A law maps strain (n, 6) and history (n, n_history)
to stress (n, 6), consistent tangent dσ/dε (n, 6, 6) and the new history; it never changes its
inputs in place (the FE² core keeps the committed history until a macro step converges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from fe2.laws.materials import IsotropicElastic, lame

__all__ = ["PointLaw", "Elastic", "J2Plasticity", "UFLEnergyLaw", "von_mises"]

# Mandel identity I and deviatoric projector I_dev; the basis is orthonormal, so traces, norms
# and outer products of Mandel vectors are those of the tensors.
_IDENTITY = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
_DEVIATORIC = np.eye(6) - np.outer(_IDENTITY, _IDENTITY) / 3
_SQRT2 = np.sqrt(2.0)
_SQRT23 = np.sqrt(2.0 / 3.0)


def _dev(x: NDArray) -> NDArray:
    """Deviatoric part of Mandel vectors (n, 6)."""
    return x - (x[:, :3].sum(axis=1) / 3)[:, None] * _IDENTITY


def von_mises(stress: NDArray) -> NDArray:
    """Von Mises equivalent stress √(3/2)‖dev σ‖ of Mandel stresses (n, 6) [stress unit], (n,)."""
    return np.sqrt(1.5) * np.linalg.norm(_dev(np.atleast_2d(stress)), axis=1)


@runtime_checkable
class PointLaw(Protocol):
    """A material law evaluated at n points at once (3D Mandel notation).

    ``update`` of most laws takes any number of points (the points of many RVEs stacked); a
    law whose ``update`` only takes the points of the cells it was bound to sets
    ``fixed_rows = True`` (the batched RVE Newton then calls it once per RVE).

    Optional: ``committed_tangent(strain, history) -> (n, 6, 6)``, the consistent tangent of
    the update that returned ``history`` at ``strain``. A law with branches (elastic or
    plastic) provides it so that an RVE's micro Newton starts from the last converged tangent
    (fe2.rve.nonlinear); a law without it starts from its tangent at the trial strain.

    Optional: ``reduced_tangent = True`` says that ``update`` and ``committed_tangent`` take
    ``components`` (Mandel indices, k of them) and then return only those rows and columns of
    the tangent, (n, k, k); the batched plane-strain RVE (3 of 6) uses it to skip building
    the out-of-plane ones.
    """

    n_history: int  # history variables per point
    is_linear: bool  # constant tangent and no history

    def bind(self, Q, cells: NDArray) -> None:
        """Attach to the RVE's scalar quadrature space ``Q``; rows of ``update`` are the points
        of ``cells`` in order (row r = cells[r // nqp], point r % nqp). Most laws ignore it."""
        ...

    def initial_history(self, n: int) -> NDArray:
        """History of n virgin points, shape (n, n_history)."""
        ...

    def update(self, strain: NDArray, history: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """Stress (n, 6), tangent (n, 6, 6), new history (n, n_history) for total strain."""
        ...


@dataclass(frozen=True)
class Elastic:
    """Isotropic linear elasticity: Young's modulus ``E`` [stress unit], ``nu`` [-]."""

    E: float
    nu: float
    n_history = 0
    is_linear = True

    def __post_init__(self) -> None:
        IsotropicElastic(self.E, self.nu)  # validates E and nu

    @property
    def stiffness(self) -> NDArray:
        """The 6 × 6 Mandel stiffness."""
        return IsotropicElastic(self.E, self.nu).matrix("3d")

    def bind(self, Q, cells: NDArray) -> None:
        pass

    def initial_history(self, n: int) -> NDArray:
        return np.zeros((n, self.n_history))

    def update(self, strain: NDArray, history: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        C = self.stiffness
        return strain @ C, np.broadcast_to(C, (len(strain), 6, 6)), history


@dataclass(frozen=True)
class J2Plasticity(Elastic):
    """Small-strain von Mises plasticity, radial return with the consistent tangent.

    ``E`` [stress unit], ``nu`` [-], initial ``yield_stress`` σ_y [stress unit], linear isotropic
    ``hardening`` H_iso and linear Prager ``kinematic_hardening`` H_kin [stress unit]; the back
    stress is β = (2/3) H_kin ε_p. History per point: plastic strain ε_p (6, Mandel), the
    equivalent plastic strain α = ∫√(2/3)‖dε_p‖ (1) and the plastic multiplier Δγ of the update
    that produced it (1; 0: elastic), from which ``committed_tangent`` rebuilds that update's
    consistent tangent. Simo & Hughes (1998), Box 3.1 and 3.2.
    """

    yield_stress: float
    hardening: float = 0.0
    kinematic_hardening: float = 0.0
    n_history = 8
    is_linear = False
    reduced_tangent = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.yield_stress > 0:
            raise ValueError(f"yield stress must be positive, got {self.yield_stress}")
        for name in ("hardening", "kinematic_hardening"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")

    @staticmethod
    def plastic_strain(history: NDArray) -> NDArray:
        """Plastic strain ε_p (n, 6, Mandel) of a history array (n, 7)."""
        return np.array(history[:, :6])

    @staticmethod
    def equivalent_plastic_strain(history: NDArray) -> NDArray:
        """Equivalent plastic strain α (n,) of a history array (n, 7)."""
        return np.array(history[:, 6])

    def update(self, strain: NDArray, history: NDArray, components: NDArray | None = None
               ) -> tuple[NDArray, NDArray, NDArray]:
        """Stress (n, 6), tangent (n, 6, 6), or (n, k, k) for the Mandel ``components`` (k),
        and new history (n, 8) for total strain (n, 6)."""
        strain, history = self._checked(strain, history)
        lam, mu = lame(self.E, self.nu)
        kappa = lam + 2 * mu / 3
        h_iso, h_kin = self.hardening, self.kinematic_hardening
        eps_p, alpha = history[:, :6], history[:, 6]

        elastic_dev = _dev(strain - eps_p)
        s_trial = 2 * mu * elastic_dev - (2 / 3) * h_kin * eps_p
        norm = np.sqrt(np.einsum("ij,ij->i", s_trial, s_trial))
        f_trial = norm - _SQRT23 * (self.yield_stress + h_iso * alpha)
        plastic = f_trial > 0
        safe_norm = np.where(plastic, norm, 1.0)
        dgamma = np.where(plastic, f_trial, 0.0) / (2 * mu + (2 / 3) * (h_iso + h_kin))
        normal = np.where(plastic[:, None], s_trial / safe_norm[:, None], 0.0)

        flow = dgamma[:, None] * normal
        new_history = np.empty_like(history)
        new_history[:, :6] = eps_p + flow
        new_history[:, 6] = alpha + _SQRT23 * dgamma
        new_history[:, 7] = dgamma
        stress = kappa * strain[:, :3].sum(axis=1)[:, None] * _IDENTITY
        stress += 2 * mu * (elastic_dev - flow)
        return stress, self._tangent(plastic, dgamma, safe_norm, normal, components), new_history

    def committed_tangent(self, strain: NDArray, history: NDArray,
                          components: NDArray | None = None) -> NDArray:
        """The consistent tangent (n, 6, 6), or (n, k, k) for ``components``, of the update
        that returned ``history`` at ``strain`` (the last converged tangent), rebuilt from its
        Δγ: elastic where Δγ = 0, whatever side of the yield surface round-off puts the point
        on now.

        Radial return: the relative stress ξ = 2μ dev(ε − ε_p) − (2/3) H_kin ε_p at the end of
        the update is parallel to the trial one, ‖ξ_trial‖ = ‖ξ‖ + (2μ + (2/3) H_kin) Δγ.
        """
        strain, history = self._checked(strain, history)
        mu = lame(self.E, self.nu)[1]
        eps_p, dgamma = history[:, :6], history[:, 7]
        xi = 2 * mu * _dev(strain - eps_p) - (2 / 3) * self.kinematic_hardening * eps_p
        plastic = dgamma > 0
        norm = np.linalg.norm(xi, axis=1)
        safe_norm = np.where(plastic, norm, 1.0)
        normal = np.where(plastic[:, None], xi / safe_norm[:, None], 0.0)
        trial_norm = np.where(plastic, norm + (2 * mu + (2 / 3) * self.kinematic_hardening)
                              * dgamma, 1.0)
        return self._tangent(plastic, dgamma, trial_norm, normal, components)

    def _checked(self, strain: NDArray, history: NDArray) -> tuple[NDArray, NDArray]:
        strain, history = np.asarray(strain, dtype=float), np.asarray(history, dtype=float)
        if strain.ndim != 2 or strain.shape[1] != 6 or history.shape != (len(strain), 8):
            raise ValueError(f"expected strain (n, 6) and history (n, 8), got {strain.shape} "
                             f"and {history.shape}")
        return strain, history

    def _tangent(self, plastic: NDArray, dgamma: NDArray, trial_norm: NDArray,
                 normal: NDArray, components: NDArray | None = None) -> NDArray:
        """Consistent tangent (n, 6, 6) of the radial return with multiplier Δγ, trial norm
        ‖ξ_trial‖ (1 where elastic) and flow direction (0 where elastic); only the rows and
        columns ``components`` if given (n, k, k: the same values as the full one's)."""
        c = slice(None) if components is None else np.asarray(components)
        deviatoric, identity, normal = _DEVIATORIC[c][:, c], _IDENTITY[c], normal[:, c]
        lam, mu = lame(self.E, self.nu)
        kappa = lam + 2 * mu / 3
        theta = 1 - 2 * mu * dgamma / trial_norm
        theta_bar = np.where(plastic, 1 / (1 + (self.hardening + self.kinematic_hardening)
                                           / (3 * mu)) - (1 - theta), 0.0)
        # In place, one (n, 6, 6) temporary: this is most of the law's time.
        tangent = np.multiply.outer(2 * mu * theta, deviatoric)
        tangent += kappa * np.outer(identity, identity)
        scaled = (2 * mu * theta_bar)[:, None] * normal
        tangent -= np.einsum("ni,nj->nij", scaled, normal)
        return tangent


class UFLEnergyLaw:
    """A hyperelastic-type law from a strain-energy density written in UFL.

    ``energy(eps)`` maps the symmetric 3 × 3 UFL small-strain tensor to the energy density
    ψ(ε) [stress unit]; stress ∂ψ/∂ε and tangent ∂²ψ/∂ε² come from UFL differentiation with
    respect to the Mandel strain vector, which needs no extra factors since the Mandel basis is
    orthonormal. ``bind`` compiles both into one dolfinx Expression at the quadrature points of
    the RVE; ``update`` evaluates it for all points at once. The ``n_history`` history entries
    per point are carried through unchanged.
    """

    is_linear = False
    fixed_rows = True  # update takes exactly the points of the bound cells

    def __init__(self, energy: Callable, n_history: int = 0) -> None:
        if not callable(energy):
            raise TypeError("energy must be a callable eps -> UFL scalar")
        if n_history < 0:
            raise ValueError(f"n_history must be non-negative, got {n_history}")
        self.energy = energy
        self.n_history = int(n_history)
        self._bound = None

    def bind(self, Q, cells: NDArray) -> None:
        import basix.ufl
        import ufl
        from dolfinx import fem

        mesh = Q.mesh
        Qv = fem.functionspace(mesh, basix.ufl.blocked_element(Q.ufl_element(), shape=(6,)))
        strain = fem.Function(Qv)
        e = ufl.variable(strain)
        r = 1 / _SQRT2
        eps = ufl.as_matrix([[e[0], r * e[5], r * e[4]],
                             [r * e[5], e[1], r * e[3]],
                             [r * e[4], r * e[3], e[2]]])
        psi = self.energy(eps)
        if psi.ufl_shape != ():
            raise ValueError(f"energy must return a UFL scalar, got shape {psi.ufl_shape}")
        stress = ufl.diff(psi, e)
        tangent = ufl.diff(stress, e)
        values = ufl.as_vector([stress[i] for i in range(6)]
                               + [tangent[i, j] for i in range(6) for j in range(6)])
        expression = fem.Expression(values, Q.element.interpolation_points(), comm=mesh.comm)
        cells = np.asarray(cells, dtype=np.int32)
        dofs = Qv.dofmap.list[cells]  # (n_cells, nqp), cell-contiguous quadrature dofs
        index = (dofs[:, :, None] * 6 + np.arange(6)).reshape(-1)
        self._bound = (mesh, cells, strain, expression, index)

    def initial_history(self, n: int) -> NDArray:
        return np.zeros((n, self.n_history))

    def update(self, strain: NDArray, history: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        if self._bound is None:
            raise RuntimeError("UFLEnergyLaw.update called before bind(Q, cells)")
        mesh, cells, function, expression, index = self._bound
        strain = np.asarray(strain, dtype=float)
        if strain.shape != (len(index) // 6, 6):
            raise ValueError(f"expected strain of shape {(len(index) // 6, 6)} for the bound "
                             f"cells, got {strain.shape}")
        function.x.array[index] = strain.reshape(-1)
        values = expression.eval(mesh, cells).reshape(len(strain), 42)
        return values[:, :6], values[:, 6:].reshape(-1, 6, 6), np.array(history)
