"""Chemo-mechanical fracture of intercalation particles: the stress-assisted diffusion of
fe2.physics.chemo_mechanics (u, c, σ_h) with an AT2 phase-field damage d [-] (0 sound, 1 broken).

    σ = g(d) ∂ψ⁺/∂ε_e + ∂ψ⁻/∂ε_e,   ε_e = ε(u) − (Ω/3)(c − c₀) I,   g(d) = (1 − d)² + k_ℓ
    ∫ [−2(1 − d) H (ℓ/G_c) q + d q + ℓ² ∇d·∇q] w dx = 0,   H = max over time of ψ⁺(ε_e)
                                                            or of Σ⟨σ̃_i⟩₊²/(2E)
    (optional) D → D g(d): cracks block the lithium flux

The elastic energy ψ(ε_e) = λ/2 (tr ε_e)² + μ ε_e:ε_e is split into a part that cracks open
(ψ⁺, degraded) and one that does not (ψ⁻): "spectral" (Miehe, Hofacker, Welschinger 2010:
ψ± = λ/2⟨tr ε_e⟩±² + μ Σ⟨ε_i⟩±² over the three principal strains; the strains of sphere_1d,
axisymmetric and plane_strain are block diagonal, so their principal values are the 2D ones of
the in-plane block and the out-of-plane entry; not for "3d"), "volumetric" (Amor, Marigo,
Maurini 2009, any 3×3 strain) or "none". The history H (fe2.physics.phase_field.HistoryMaximum,
committed per converged step, rolled back with a cut step) makes the damage irreversible and
lets it grow only where the drive exceeds its past maximum. The drive is ψ⁺ ("tensile_energy",
variational, as fe2.physics.phase_field) or Σ⟨σ̃_i⟩₊²/(2E) of the undamaged principal stresses
("principal_stress", after the tensile principal-stress criterion of Miehe, Schänzel, Ulmer
2015; block-diagonal models): the spectral ψ⁺ keeps μ⟨ε_r⟩₊² of the Poisson expansion at a
free surface under biaxial compression and so damages a charging particle's surface, the
principal-stress drive is zero wherever every stress is compressive; the damage equation is
the AT2 one of fe2.physics.phase_field divided by G_c/ℓ and weighted by the model's volume
weight w (r² sphere_1d, r axisymmetric). σ_h = tr σ/3 is the degraded hydrostatic stress.
G_c, ℓ and k_ℓ are one set for the whole mesh ([fracture]); d lives on every region.

Tables: those of chemo_mechanics with ``[physics] kind = "chemo_fracture"`` and::

    [fracture] Gc [J/m²], ell [m], k_ell (residual stiffness in (0, 1e-2], default 1e-6),
               split = "spectral" | "volumetric" | "none" (default spectral; volumetric in 3d),
               drive = "tensile_energy" | "principal_stress" (default tensile_energy),
               diffusivity = "intact" | "degraded" (D g(d)), onset = 0.5 (the damage that
               counts as a crack in the summary)

Solve staggered: ``[solver] type = "staggered"``, ``groups = [["u", "c", "sigma_h"], ["d"]]``.
Summary entry "chemo_fracture": when and where the damage first reaches ``onset`` (t, radius,
the hoop stress there, degraded and undamaged, the surface hoop stress then and when it turned
tensile); damage_profiles.csv and damage.png (d along the x axis; surface hoop stress and
largest damage over time).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.definition import Field, MicroCoupling
from fe2.laws.fracture import degradation, split_energy
from fe2.physics.chemo_mechanics import ChemoMechanics
from fe2.physics.phase_field import HistoryMaximum

__all__ = ["DEFINITION", "ChemoFracture"]

log = logging.getLogger(__name__)
SPLITS = ("spectral", "volumetric", "none")
DIFFUSIVITIES = ("intact", "degraded")
DRIVES = ("tensile_energy", "principal_stress")
_KEYS = ("Gc", "ell", "k_ell", "split", "drive", "diffusivity", "onset")
# the in-plane block (i, j) of the block-diagonal 3×3 strains and their out-of-plane entry
_BLOCKS = {"axisymmetric": ((0, 2), 1), "plane_strain": ((0, 1), 2)}


def plus(x):
    """⟨x⟩₊ (UFL)."""
    return (x + abs(x)) / 2


def minus(x):
    """⟨x⟩₋ (UFL)."""
    return (x - abs(x)) / 2


class ChemoFracture(ChemoMechanics):
    """Stress-assisted diffusion with AT2 phase-field damage (see module docstring)."""

    kind: ClassVar[str] = "chemo_fracture"
    tables: ClassVar[tuple[str, ...]] = ("regions", "fracture")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.Gc, self.ell, self.k_ell = 1.0, 1.0, 1e-6
        self.split, self.degraded_diffusivity, self.onset_level = "spectral", False, 0.5
        self.drive = "tensile_energy"
        self._damage = None  # the UFL damage field, set by residual()
        self.damage_history: list[tuple[float, float, float, float]] = []  # t, d max, r, d(R)
        self.damage_profiles: list[tuple[float, NDArray]] = []
        self.onset: dict[str, float] | None = None
        self._before: dict[str, float] | None = None
        self._hoops: list[float] = []  # σ_θ at the surface per step [Pa]
        self._stresses: dict[tuple[int, int, int], tuple[Any, tuple]] = {}

    @classmethod
    def from_case(cls, case) -> ChemoFracture:
        definition = super().from_case(case)
        reader = case.reader
        if "fracture" not in case.raw:
            raise reader.fail("", "missing table [fracture] (Gc [J/m²], ell [m], k_ell, split, "
                                  "diffusivity, onset)")
        table = reader.table(case.raw, "", "fracture")
        reader.keys(table, "fracture", _KEYS, required=("Gc", "ell"))
        Gc = reader.number(table, "fracture", "Gc", 0.0)
        ell = reader.number(table, "fracture", "ell", 0.0)
        k_ell = reader.number(table, "fracture", "k_ell", 1e-6)
        onset = reader.number(table, "fracture", "onset", 0.5)
        for name, value, ok, rule in (
                ("Gc", Gc, Gc > 0, "the fracture toughness must be positive [J/m²]"),
                ("ell", ell, ell > 0, "the length scale must be positive [m]"),
                ("k_ell", k_ell, 0 < k_ell <= 1e-2, "the residual stiffness must lie in "
                                                    "(0, 1e-2]"),
                ("onset", onset, 0 < onset < 1, "the crack damage must lie in (0, 1)")):
            if not ok:
                raise reader.fail("fracture", f"{name} = {value:g}: {rule}")
        default = "volumetric" if definition.model == "3d" else "spectral"
        split = reader.string(table, "fracture", "split", SPLITS, default=default)
        if split == "spectral" and definition.model == "3d":
            raise reader.fail("fracture", "split = \"spectral\" needs a block-diagonal strain "
                                          "(sphere_1d, axisymmetric, plane_strain); use "
                                          "\"volumetric\" in 3d")
        drive = reader.string(table, "fracture", "drive", DRIVES, default="tensile_energy")
        if drive == "principal_stress" and definition.model == "3d":
            raise reader.fail("fracture", "drive = \"principal_stress\" needs a block-diagonal "
                                          "stress (sphere_1d, axisymmetric, plane_strain)")
        definition.drive = drive
        diffusivity = reader.string(table, "fracture", "diffusivity", DIFFUSIVITIES,
                                    default="intact")
        definition.Gc, definition.ell, definition.k_ell = Gc, ell, k_ell
        definition.split, definition.onset_level = split, onset
        definition.degraded_diffusivity = diffusivity == "degraded"
        return definition

    def check_mesh(self, mesh_data) -> None:
        """As chemo_mechanics, and a warning when the smallest cells exceed ℓ/2."""
        super().check_mesh(mesh_data)
        mesh = mesh_data.mesh
        tdim = mesh.topology.dim
        cells = np.arange(mesh.topology.index_map(tdim).size_local, dtype=np.int32)
        local = float(mesh.h(tdim, cells).min()) if len(cells) else np.inf
        self.smallest_cell = mesh.comm.allreduce(local, op=MPI.MIN)
        if self.ell < 2 * self.smallest_cell and mesh.comm.rank == 0:
            log.warning("%s: ell = %g m is below 2h = %g m (smallest cells of %s): the crack is "
                        "under-resolved; refine to h <= ell/2", self.case.path, self.ell,
                        2 * self.smallest_cell, mesh_data.path.name)

    def fields(self, gdim: int) -> tuple[Field, ...]:
        return (*super().fields(gdim),
                Field("d", False, ("d",), self.case.degree, label="damage [-]"))

    def couplings(self, comm, mesh_data) -> list[MicroCoupling]:
        super().couplings(comm, mesh_data)
        return [MicroCoupling(
            "history", lambda fields: {"psi": self.driving_energy(fields["u"], fields["c"])},
            {"H": ()}, {None: HistoryMaximum()})]

    # ------------------------------------------------------------------ laws
    def elastic_strain(self, u, c):
        """ε_e = ε(u) − (Ω/3)(c − c_ref) I (3×3 UFL)."""
        import ufl

        omega = self.coefficients["Omega"]
        return self.kinematics.strain(u) - omega / 3 * (c - self.c_ref) * ufl.Identity(3)

    def energies(self, epsilon):
        """(ψ⁺, ψ⁻) [J/m³] of the elastic strain ``epsilon`` (module docstring)."""
        k = self.coefficients
        lam, mu = k["lambda"], k["mu"]
        if self.split != "spectral":
            return split_energy(epsilon, lam, mu, self.split)
        import ufl

        principal = self.principal(epsilon)
        trace = ufl.tr(epsilon)
        return (lam / 2 * plus(trace) ** 2 + mu * sum(plus(e) ** 2 for e in principal),
                lam / 2 * minus(trace) ** 2 + mu * sum(minus(e) ** 2 for e in principal))

    def principal(self, tensor) -> list:
        """The principal values of a block-diagonal 3×3 tensor of the model (UFL)."""
        import ufl

        if self.model == "sphere_1d":
            return [tensor[i, i] for i in range(3)]
        (i, j), out = _BLOCKS[self.model]
        shear = (tensor[i, j] + tensor[j, i]) / 2
        # the regularization 1e-30 is far below the square of any strain or stress here
        radius = ufl.sqrt(((tensor[i, i] - tensor[j, j]) / 2) ** 2 + shear ** 2 + 1e-30)
        mean = (tensor[i, i] + tensor[j, j]) / 2
        return [mean + radius, mean - radius, tensor[out, out]]

    def driving_energy(self, u, c):
        """What the history H keeps the maximum of [J/m³]: ψ⁺ ("tensile_energy") or
        Σ⟨σ̃_i⟩₊²/(2E) of the undamaged stress σ̃ ("principal_stress")."""
        if self.drive == "tensile_energy":
            return self.energies(self.elastic_strain(u, c))[0]
        k = self.coefficients
        lam, mu = k["lambda"], k["mu"]
        young = mu * (3 * lam + 2 * mu) / (lam + mu)
        stresses = self.principal(ChemoMechanics.stress(self, u, c))
        return sum(plus(s) ** 2 for s in stresses) / (2 * young)

    def stress(self, u, c):
        """σ = g(d) ∂ψ⁺/∂ε_e + ∂ψ⁻/∂ε_e [Pa] (undamaged before residual() set d). One UFL
        object per (u, c, d): a new ufl.variable would make every step's output expressions
        new to the compiled-expression cache."""
        import ufl

        key = (id(u), id(c), id(self._damage))
        if key not in self._stresses:
            epsilon = ufl.variable(self.elastic_strain(u, c))
            positive, negative = self.energies(epsilon)
            g = 1.0 if self._damage is None else degradation(self._damage, self.k_ell)
            self._stresses[key] = (g * ufl.diff(positive, epsilon) + ufl.diff(negative, epsilon),
                                   (u, c, self._damage))  # keeps the ids alive
        return self._stresses[key][0]

    def diffusivity(self):
        D = super().diffusivity()
        if self.degraded_diffusivity and self._damage is not None:
            return D * degradation(self._damage, self.k_ell)
        return D

    def residual(self, weak):
        import ufl

        self._damage = weak.fields["d"]
        form = super().residual(weak)
        d, q = weak.fields["d"], weak.tests["d"]
        kin = self.kinematics
        drive = weak.micro["history"]["H"] * self.ell / self.Gc
        form += (-2 * (1 - d) * drive * q + d * q + self.ell ** 2 * ufl.dot(
            kin.gradient(d), kin.gradient(q))) * kin.weight() * weak.dx
        return form

    # ------------------------------------------------------------------ outputs
    def cell_outputs(self, problem) -> dict[str, np.ndarray]:
        outputs = super().cell_outputs(problem)
        values = problem.point_values("", "", problem.fields_ufl["d"])
        outputs["damage"] = problem.cell_average(values)[:, 0]  # last: drawn in field.png
        return outputs

    def scalars(self, problem) -> dict[str, float]:
        """Those of chemo_mechanics, and the largest damage [-], its radius [m] and the mean
        damage on the surface. Records the crack onset: the first step whose largest damage
        reaches ``onset``."""
        scalars = super().scalars(problem)
        import ufl

        d = problem.fields_ufl["d"]
        u, c = problem.fields_ufl["u"], problem.fields_ufl["c"]
        _, hoop = self._stress_parts(problem)
        _, intact = self.kinematics.radial_and_hoop(ChemoMechanics.stress(self, u, c))
        at = self._at_largest(problem, ufl.as_vector([d, self.kinematics.radius(), hoop,
                                                      intact]))
        surface = self._surface_integral(d) / self.area
        t = problem.step.t
        self.damage_history.append((t, at[0], at[1], surface))
        self._hoops.append(scalars["surface_hoop_stress"])
        profile = self._damage_profile(problem)
        if problem.comm.rank == 0:
            self.damage_profiles.append((t, profile))
        if self.onset is None and at[0] >= self.onset_level:
            tensile = [s for s, h in zip(self._times(), self._surface_hoop(), strict=True)
                       if h > 0]
            self.onset = {
                "t_s": t, "previous_step_t_s": self._before["t_s"] if self._before else 0.0,
                "damage": at[0], "radius_m": at[1], "radius_over_R": at[1] / self.radius,
                "hoop_stress_Pa": at[2], "undamaged_hoop_stress_Pa": at[3],
                "surface_hoop_stress_Pa": scalars["surface_hoop_stress"],
                "previous_step": self._before,
                "surface_hoop_tensile_since_t_s": tensile[0] if tensile else None}
        self._before = {"t_s": t, "damage_max": at[0], "radius_m": at[1],
                        "surface_hoop_stress_Pa": scalars["surface_hoop_stress"],
                        "hoop_stress_max_Pa": scalars["hoop_stress_max"]}
        scalars.update(damage_max=at[0], damage_max_radius=at[1], damage_surface=surface)
        return scalars

    def events(self, problem) -> dict[str, bool]:
        return {"crack_onset": self.onset is not None}

    def _times(self) -> list[float]:
        return [t for t, *_ in self.damage_history]

    def _surface_hoop(self) -> list[float]:
        return self._hoops

    def _at_largest(self, problem, values) -> NDArray:
        """The components of ``values`` (first: the quantity to maximize) at the quadrature
        point of the lithium-storing regions where the first one is largest (all ranks)."""
        import ufl

        k = len(values)
        found = problem.point_values("", "", ufl.as_vector(
            [*(values[i] for i in range(k)), self.coefficients["active"]]))
        inside = found[found[:, k] > 0.5, :k]
        best = inside[int(np.argmax(inside[:, 0]))] if len(inside) else np.full(k, -np.inf)
        everything = problem.comm.allgather(best)
        return np.asarray(max(everything, key=lambda row: row[0]), dtype=float)

    def _damage_profile(self, problem) -> NDArray:
        """d along the x axis at the parent's profile points (rank 0; NaN where no cell)."""
        from dolfinx import fem, geometry

        if not hasattr(self, "_damage_ray"):
            mesh = problem.mesh
            space = fem.functionspace(mesh, ("DG", self.case.degree))
            radii = np.linspace(0.0, self.radius, self.settings.profile_points)
            radii[-1] *= 1 - 1e-9
            points = np.zeros((len(radii), 3))
            points[:, 0] = radii
            tree = geometry.bb_tree(mesh, mesh.topology.dim)
            colliding = geometry.compute_colliding_cells(
                mesh, geometry.compute_collisions_points(tree, points), points)
            owned = mesh.topology.index_map(mesh.topology.dim).size_local
            found, cells = [], []
            for i in range(len(points)):
                links = [cell for cell in colliding.links(i) if cell < owned]
                if links:
                    found.append(i)
                    cells.append(links[0])
            self._damage_ray = (fem.Function(space), fem.Expression(
                problem.fields_ufl["d"], space.element.interpolation_points()), radii, points,
                np.array(found, dtype=int), np.array(cells, dtype=np.int32))
        function, expression, radii, points, found, cells = self._damage_ray
        function.interpolate(expression)
        local = np.full(len(radii), np.nan)
        if len(found):
            local[found] = function.eval(points[found], cells)[:, 0]
        merged = np.nanmax(np.vstack(problem.comm.allgather(local)), axis=0)
        return np.column_stack([radii, merged])

    def report(self, problem, out: Path) -> dict[str, Any]:
        """The chemo_mechanics report, damage_profiles.csv and damage.png (rank 0) and the
        summary entry "chemo_fracture"."""
        entry = super().report(problem, out)
        peak = max(self.damage_history, key=lambda row: row[1]) if self.damage_history else None
        entry["chemo_fracture"] = {
            "Gc_J_per_m2": self.Gc, "ell_m": self.ell, "k_ell": self.k_ell, "split": self.split,
            "drive": self.drive,
            "diffusivity": "degraded" if self.degraded_diffusivity else "intact",
            "smallest_cell_m": self.smallest_cell, "onset_level": self.onset_level,
            "crack_onset": self.onset,
            "damage_max": {"value": peak[1], "t_s": peak[0], "radius_m": peak[2]}
            if peak else None,
            "damage_history": [[t, d, r, s] for t, d, r, s in self.damage_history]}
        if problem.comm.rank == 0 and self.damage_profiles:
            _write_damage(self.damage_profiles, self.damage_history, self._surface_hoop(),
                          self.onset, self.radius, out)
        return entry


def _write_damage(profiles, history, hoops, onset, radius: float, out: Path) -> None:
    """damage_profiles.csv (t, r, d) and damage.png: d against r at up to six times, and the
    surface hoop stress and the largest damage against t with the crack onset marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["t_s,r_m,d"]
    for t, p in profiles:
        rows += [f"{t:.9g},{r:.9g},{d:.12g}" for r, d in p]
    (out / "damage_profiles.csv").write_text("\n".join(rows) + "\n")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    chosen = profiles if len(profiles) <= 6 else [
        profiles[int(k)] for k in np.linspace(0, len(profiles) - 1, 6)]
    for t, p in chosen:
        left.plot(p[:, 0] / radius, p[:, 1], label=f"t = {t:.4g} s")
    left.set(xlabel="r / R (x axis)", ylabel="damage d", title="damage along the radius")
    left.legend(fontsize=7)
    t = np.array([row[0] for row in history])
    right.plot(t, np.array(hoops) * 1e-6, color="C0", label="σ_θ at the surface")
    right.axhline(0.0, color="grey", lw=0.5)
    right.set(xlabel="t [s]", ylabel="σ_θ(R) [MPa]", title="surface hoop stress and damage")
    twin = right.twinx()
    twin.plot(t, [row[1] for row in history], color="C3", label="largest damage")
    twin.set_ylabel("largest damage", color="C3")
    if onset is not None:
        right.axvline(onset["t_s"], color="C3", ls="--", lw=0.8)
        right.set_title(f"crack onset t = {onset['t_s']:.4g} s at r = "
                        f"{onset['radius_over_R']:.3f} R")
    right.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "damage.png", dpi=120)
    plt.close(figure)


DEFINITION = ChemoFracture
