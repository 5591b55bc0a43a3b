"""The macro problem of any physics: fields, weak form, micro couplings, assembly and state.

This is where the FE² loop's data meet (the solvers of fe2.core.solvers drive it):

1. the operands of every micro coupling are evaluated at the owned quadrature points (one
   compiled Expression; ghost cells are never evaluated) and the dispatchers solve one micro
   problem per point (fe2.core.coupling, fe2.core.dispatch);
2. the answers go into quadrature Functions; the residual (the definition's UFL form plus the
   boundary fluxes) and its Jacobian (derived by UFL, micro outputs linearized by their
   derivative blocks) are compiled once and assembled; Dirichlet values enter by lifting, so
   the first iteration of a step already applies the new boundary values consistently.

Several fields live in one mixed space (one vector of unknowns; a field's dofs are an index
set for staggered solvers). Trial micro states and the fields become committed only when a step
converges (:meth:`commit`); a failed step restores both (:meth:`rollback`). Every decision is
taken on global quantities, so all ranks always take the same branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.coupling import CouplingPoints
from fe2.core.definition import Definition, Field, MicroCoupling, StepContext, WeakForm
from fe2.core.dispatch import DispatchStats
from fe2.core.quadrature import QuadratureRule

__all__ = ["Dirichlet", "Flux", "Problem", "Reaction"]


@dataclass(frozen=True)
class Dirichlet:
    """Prescribed value of a field component on facets, at load factor 1 (scaled by λ)."""

    field: str
    component: int | None  # None: the whole scalar field
    facets: NDArray
    value: float


@dataclass(frozen=True)
class Flux:
    """A boundary flux at load factor 1 doing work on ``field``'s test function: −λ∫ g·v ds."""

    field: str
    facets: NDArray
    value: tuple[float, ...] | float


@dataclass(frozen=True)
class Reaction:
    """Where the reported reaction is measured: the internal force of a field component
    summed over the dofs of ``facets`` (the force a testing machine would read)."""

    field: str
    component: int | None
    facets: NDArray


class Problem:
    """A macro problem of ``definition`` on a mesh (collective over the mesh's communicator).

    Args:
        mesh_data: the macro mesh with its tags (fe2.io.mesh.MeshData).
        definition: the physics (fe2.core.definition.Definition).
        couplings: its micro couplings (already built; [] for a single-scale problem).
        quadrature_degree: the one rule of micro answers and forms (None: the definition's).
        dirichlet, fluxes: boundary conditions at load factor 1.
        reaction: where the reported reaction is measured (None: not reported).
        balance: spread micro work over the ranks by measured cost.
    """

    def __init__(self, mesh_data, definition: Definition, couplings: Sequence[MicroCoupling],
                 quadrature_degree: int | None = None, dirichlet: Sequence[Dirichlet] = (),
                 fluxes: Sequence[Flux] = (), reaction: Reaction | None = None,
                 balance: bool = False) -> None:
        import ufl
        from dolfinx import fem

        mesh = mesh_data.mesh
        self.mesh, self.mesh_data, self.definition = mesh, mesh_data, definition
        self.comm: MPI.Comm = mesh.comm
        gdim = mesh.geometry.dim
        self.fields: tuple[Field, ...] = tuple(definition.fields(gdim))
        self.field_names = [f.name for f in self.fields]
        self.V = self._space()
        self._layouts: dict[str, tuple] = {}
        self._hints: dict[str, NDArray] = {}
        self.w = fem.Function(self.V, name=self.fields[0].name)
        self.w_previous = fem.Function(self.V)
        for f in self.fields:
            if f.initial:
                self.w.x.array[self._layout(f.name)[1]] = f.initial
        self.w_previous.x.array[:] = self.w.x.array
        degree = max(f.degree for f in self.fields)
        if quadrature_degree is None:
            quadrature_degree = definition.quadrature_degree(degree)
        self.rule = QuadratureRule(mesh, quadrature_degree)
        self.t, self.dt, self.load_factor = (fem.Constant(mesh, 0.0) for _ in range(3))
        self.step = StepContext()
        current, previous = self._split(self.w), self._split(self.w_previous)
        self.fields_ufl = current
        tests = self._split(ufl.TestFunction(self.V))
        self.couplings = [CouplingPoints(c, current, self.rule, mesh_data.cells, balance,
                                         self.comm) for c in couplings]
        dx, dx_outside = self._measures()

        def weak(linearized: bool) -> WeakForm:
            return WeakForm(mesh, current, previous, tests, self.t, self.dt, self.load_factor,
                            dx, dx_outside,
                            {c.name: c.answers(linearized) for c in self.couplings})

        internal = definition.residual(weak(False))
        external = self._flux_work(fluxes, tests)
        self._residual = fem.form(internal - external)
        linearized = definition.residual(weak(True)) - external
        self._jacobian = fem.form(ufl.derivative(linearized, self.w, ufl.TrialFunction(self.V)))
        self._bcs, self._bc_values = self._dirichlet(dirichlet)
        self._bcs += self._region_pins()
        self._reaction = self._reaction_forms(reaction, internal)
        self._create_vectors()

    # ------------------------------------------------------------------ set-up
    def _space(self):
        import basix.ufl
        from dolfinx import fem

        mesh = self.mesh
        elements = [basix.ufl.element("Lagrange", mesh.basix_cell(), f.degree,
                                      shape=(mesh.geometry.dim,) if f.vector else ())
                    for f in self.fields]
        if len(elements) == 1:
            return fem.functionspace(mesh, elements[0])
        return fem.functionspace(mesh, basix.ufl.mixed_element(elements))

    def _split(self, function) -> dict:
        import ufl

        if len(self.fields) == 1:
            return {self.fields[0].name: function}
        return dict(zip(self.field_names, ufl.split(function), strict=True))

    def subspace(self, name: str, component: int | None = None):
        """The (sub)space of a field, or of one component of a vector field."""
        field = self.field(name)
        space = self.V if len(self.fields) == 1 else self.V.sub(self.field_names.index(name))
        if component is None or not field.vector or space.num_sub_spaces == 0:
            return space  # (a vector of one component, on a 1D mesh, has no subspaces)
        return space.sub(component)

    def field(self, name: str) -> Field:
        return self.fields[self.field_names.index(name)]

    def _measures(self):
        """(dx, dx over the owned cells that no micro model covers). Both carry the same cell
        tags (1: outside every micro region), as dolfinx wants one subdomain data per form."""
        from dolfinx import mesh as dmesh

        if not self.couplings:
            return self.rule.dx, self.rule.dx
        outside = np.arange(self.rule.n_cells, dtype=np.int32)
        for coupling in self.couplings:
            outside = np.intersect1d(outside, coupling.outside_cells)
        tdim = self.mesh.topology.dim
        tags = dmesh.meshtags(self.mesh, tdim, outside, np.ones(len(outside), np.int32))
        dx = self.rule.dx(subdomain_data=tags)
        return dx, dx(1)

    def _dirichlet(self, specs: Sequence[Dirichlet]):
        from dolfinx import fem

        fdim = self.mesh.topology.dim - 1
        bcs, values = [], []
        for spec in specs:
            space = self.subspace(spec.field, spec.component)
            dofs = fem.locate_dofs_topological(space, fdim, spec.facets)
            value = fem.Constant(self.mesh, 0.0)
            bcs.append(fem.dirichletbc(value, dofs, space))
            values.append((value, spec.value))
        return bcs, values

    def _region_pins(self) -> list:
        """Dirichlet conditions holding each field with ``regions`` at its initial value on
        the dofs that no cell of those regions holds. Collective: a dof on a rank boundary is
        free if a cell of the regions holds it on any rank."""
        from dolfinx import fem
        from dolfinx.la import InsertMode

        pins = []
        for f in self.fields:
            if f.regions is None:
                continue
            collapsed, dofs = self._layout(f.name)
            cells = np.concatenate([self.mesh_data.cells(name) for name in f.regions]
                                   or [np.zeros(0, np.int32)])
            marker = fem.Function(collapsed)
            marker.x.array[collapsed.dofmap.list[cells].ravel()] = 1.0
            marker.x.scatter_reverse(InsertMode.add)
            marker.x.scatter_forward()
            held = fem.Function(self.V)
            held.x.array[dofs] = f.initial
            outside = dofs[marker.x.array == 0].astype(np.int32)
            pins.append(fem.dirichletbc(held, outside))
        return pins

    def _facet_measure(self, facet_sets: Sequence[NDArray]):
        """ds with facet set i tagged i + 1."""
        import ufl
        from dolfinx import mesh as dmesh

        fdim = self.mesh.topology.dim - 1
        facets = np.concatenate([np.asarray(f, np.int32) for f in facet_sets] or
                                [np.zeros(0, np.int32)])
        tags = np.concatenate([np.full(len(f), i + 1, np.int32)
                               for i, f in enumerate(facet_sets)] or [np.zeros(0, np.int32)])
        order = np.argsort(facets, kind="stable")
        marker = dmesh.meshtags(self.mesh, fdim, facets[order], tags[order])
        return ufl.Measure("ds", domain=self.mesh, subdomain_data=marker)

    def _flux_work(self, specs: Sequence[Flux], tests: dict):
        import ufl

        if not specs:
            return 0
        ds = self._facet_measure([s.facets for s in specs])
        work = 0
        for i, spec in enumerate(specs):
            value = ufl.as_vector(spec.value) if np.ndim(spec.value) else spec.value
            work += self.load_factor * ufl.inner(value, tests[spec.field]) * ds(i + 1)
        return work

    def _reaction_forms(self, reaction: Reaction | None, internal):
        """The internal force on the reaction dofs: the residual's action on a probe that is 1
        on the measured component of the boundary dofs; and the mean boundary value."""
        import ufl
        from dolfinx import fem

        if reaction is None:
            return None
        fdim = self.mesh.topology.dim - 1
        space = self.subspace(reaction.field, reaction.component)
        dofs = fem.locate_dofs_topological(space, fdim, reaction.facets)
        probe = fem.Function(self.V)
        fem.dirichletbc(fem.Constant(self.mesh, 1.0), dofs, space).set(probe.x.array)
        force = fem.form(ufl.replace(internal, {ufl.TestFunction(self.V): probe}))
        ds = self._facet_measure([reaction.facets])
        value = self._split(self.w)[reaction.field]
        if reaction.component is not None and self.field(reaction.field).vector:
            value = value[reaction.component]
        mean = (fem.form(value * ds(1)), fem.form(fem.Constant(self.mesh, 1.0) * ds(1)))
        return force, mean

    def _create_vectors(self) -> None:
        from dolfinx.fem.petsc import create_matrix, create_vector, set_bc

        self.A = create_matrix(self._jacobian)
        self.b = create_vector(self._residual)
        # 1 on free dofs, 0 on Dirichlet dofs: residual norms ignore the rows that only
        # carry prescribed values (their scale is that of the field, not of the forces).
        mask = self.b.duplicate()
        mask.set(1.0)
        set_bc(mask, self._bcs, alpha=0.0)
        self.free = mask.array.copy()
        mask.destroy()

    # ------------------------------------------------------------------ one iteration
    def set_step(self, step: StepContext) -> None:
        """Time, increment and load factor of the step being solved (boundary values scale
        with the load factor)."""
        self.step = step
        self.t.value, self.dt.value, self.load_factor.value = step.t, step.dt, step.load_factor
        for value, target in self._bc_values:
            value.value = step.load_factor * target

    def evaluate_micro(self) -> tuple[str, DispatchStats]:
        """Every micro coupling at the current fields: ("" or the failure message, this rank's
        stats). The message is the same on every rank."""
        stats, message = DispatchStats(), ""
        for coupling in self.couplings:
            failure, part = coupling.evaluate(self.step)
            message = message or failure
            for key in ("solves", "micro_iterations", "micro_time"):
                setattr(stats, key, getattr(stats, key) + getattr(part, key))
        return message, stats

    def assemble_residual(self, b=None, x=None) -> float:
        """Residual of the current fields into ``b`` (default: :attr:`b`) with Dirichlet rows
        x − g; returns the norm over the free dofs (collective)."""
        from dolfinx.fem.petsc import apply_lifting, assemble_vector, set_bc
        from petsc4py import PETSc

        b = self.b if b is None else b
        x = self.w.x.petsc_vec if x is None else x
        with b.localForm() as local:
            local.set(0.0)
        assemble_vector(b, self._residual)
        apply_lifting(b, [self._jacobian], bcs=[self._bcs], x0=[x], alpha=-1.0)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        set_bc(b, self._bcs, x, -1.0)
        return self.norm(b.array * self.free)

    def assemble_jacobian(self, A=None) -> None:
        from dolfinx.fem.petsc import assemble_matrix

        A = self.A if A is None else A
        A.zeroEntries()
        assemble_matrix(A, self._jacobian, bcs=self._bcs)
        A.assemble()

    def norm(self, owned: NDArray) -> float:
        """The Euclidean norm of owned vector entries over all ranks."""
        return float(np.sqrt(self.comm.allreduce(float(np.sum(owned ** 2)), op=MPI.SUM)))

    def field_dofs(self, names: Sequence[str]) -> NDArray:
        """Owned local indices (into the unknown vector) of the dofs of the named fields."""
        n_owned = len(self.free)
        parts = [dofs[dofs < n_owned] for dofs in (self._layout(name)[1] for name in names)]
        return np.sort(np.concatenate(parts))

    def _layout(self, name: str):
        """(space of field ``name`` alone, its dofs in the unknown vector, owned and ghost,
        block-unrolled): the collapse of a mixed space, done once per field."""
        layout = self._layouts.get(name)
        if layout is None:
            space = self.subspace(name)
            if len(self.fields) == 1:
                layout = space, np.arange(len(self.w.x.array), dtype=np.int32)
            else:
                collapsed, dofs = space.collapse()
                layout = collapsed, np.asarray(dofs, dtype=np.int32)
            self._layouts[name] = layout
        return layout

    # ------------------------------------------------------------------ state
    def commit(self) -> None:
        """Accept the converged step: fields and micro states become the committed ones."""
        self.w_previous.x.array[:] = self.w.x.array
        for coupling in self.couplings:
            coupling.commit()

    def rollback(self) -> None:
        """Return to the last committed fields (micro states were never overwritten)."""
        self.w.x.array[:] = self.w_previous.x.array
        for coupling in self.couplings:
            coupling.rollback()

    def field_function(self, name: str):
        """A Function holding field ``name`` alone (a collapsed copy for a mixed space)."""
        if len(self.fields) == 1:
            return self.w
        function = self.w.sub(self.field_names.index(name)).collapse()
        function.name = name
        return function

    def owned_values(self, name: str) -> tuple[NDArray, NDArray]:
        """(coordinates (n, gdim), values (n, components)) of field ``name``'s owned dofs."""
        collapsed, dofs = self._layout(name)
        n = collapsed.dofmap.index_map.size_local
        bs = collapsed.dofmap.index_map_bs
        gdim = self.mesh.geometry.dim
        coords = collapsed.tabulate_dof_coordinates()[:n, :gdim]
        return coords, self.w.x.array[dofs[: n * bs]].reshape(n, bs)

    def owned_hints(self, name: str) -> NDArray:
        """Per owned dof of field ``name`` (as :meth:`owned_values`): the mean centre of the
        local cells that hold it. It tells apart dofs at the same point (the two faces of a
        slit) when a checkpoint is matched by coordinates. Computed once per field."""
        if name in self._hints:
            return self._hints[name]
        collapsed, _ = self._layout(name)
        mesh, tdim = self.mesh, self.mesh.topology.dim
        n_cells = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(
            tdim).num_ghosts
        nodes = mesh.geometry.dofmap[:n_cells]
        centres = mesh.geometry.x[nodes].mean(axis=1)[:, : mesh.geometry.dim]
        cell_dofs = collapsed.dofmap.list[:n_cells]
        n_dofs = collapsed.dofmap.index_map.size_local + collapsed.dofmap.index_map.num_ghosts
        sums = np.zeros((n_dofs, mesh.geometry.dim))
        counts = np.zeros(n_dofs)
        np.add.at(sums, cell_dofs.ravel(), np.repeat(centres, cell_dofs.shape[1], axis=0))
        np.add.at(counts, cell_dofs.ravel(), 1.0)
        n = collapsed.dofmap.index_map.size_local
        self._hints[name] = sums[:n] / np.maximum(counts[:n], 1.0)[:, None]
        return self._hints[name]

    def restore_values(self, name: str, values: NDArray) -> None:
        """Set and commit the owned dofs of field ``name`` (as from :meth:`owned_values`)."""
        dofs = self._layout(name)[1][: values.size]
        self.w.x.array[dofs] = np.asarray(values).reshape(-1)
        self.w.x.scatter_forward()
        self.w_previous.x.array[:] = self.w.x.array

    def reaction(self) -> tuple[float, float]:
        """(reaction force, mean boundary value of the measured component) at the current
        fields and micro answers; NaN if no reaction boundary was given."""
        from dolfinx import fem

        if self._reaction is None:
            return float("nan"), float("nan")
        force, (integral, length) = self._reaction
        total = [self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM)
                 for f in (force, integral, length)]
        return total[0], total[1] / total[2]

    def coupling(self, name: str) -> CouplingPoints | None:
        return next((c for c in self.couplings if c.name == name), None)

    def point_values(self, coupling: str, output: str, closed_form=None) -> NDArray:
        """Per owned point: micro output ``output`` of ``coupling`` where a micro model
        answers, the UFL ``closed_form`` elsewhere (NaN where neither applies)."""
        import ufl

        points = self.rule.n_owned_points
        found = self.coupling(coupling)
        if found is not None:
            offset = 0
            for name, shape in found.coupling.outputs.items():
                size = shape[0] if shape else 1
                if name == output:
                    break
                offset += size
            all_values = self.stress_values(found)
            values = np.full((points, size), np.nan)
            for region in found.regions:
                values[region.rows] = all_values[region.rows, offset:offset + size]
            outside = found.outside_cells
        else:
            size = int(np.prod(ufl.shape(closed_form))) if closed_form is not None else 1
            values = np.full((points, size), np.nan)
            outside = np.arange(self.rule.n_cells, dtype=np.int32)
        if closed_form is not None and len(outside):
            rows = (outside[:, None] * self.rule.n_points + np.arange(self.rule.n_points)).ravel()
            values[rows] = self.rule.evaluate(self.rule.expression(closed_form), size, outside)
        return values

    def stress_values(self, coupling: CouplingPoints) -> NDArray:
        """The stored micro answers of ``coupling`` at the owned points (n, n_stress)."""
        n = self.rule.n_owned_points * coupling.n_stress
        return coupling.stress.x.array[:n].reshape(-1, coupling.n_stress)

    def point_outputs(self, coupling: str) -> dict[str, NDArray]:
        """The micro models' own per-point outputs of ``coupling`` ({} if none). Collective."""
        found = self.coupling(coupling)
        return {} if found is None else found.point_outputs()

    def cell_average(self, values: NDArray) -> NDArray:
        """Mean over each owned cell's quadrature points of per-point values (n_points, ...)."""
        shaped = values.reshape(self.rule.n_cells, self.rule.n_points, *values.shape[1:])
        return shaped.mean(axis=1)

    def destroy(self) -> None:
        """Free the PETSc objects of the problem and of its micro models."""
        self.A.destroy()
        self.b.destroy()
        for coupling in self.couplings:
            for region in coupling.regions:
                destroy = getattr(region.dispatcher.model, "destroy", None)
                if destroy is not None:
                    destroy()
