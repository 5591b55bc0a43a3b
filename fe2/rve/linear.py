"""Linear RVE cell problems: effective stiffness or diffusivity by static condensation.

The generalized strain in the RVE is the macro strain ``e`` plus the strain of a fluctuation
field ``w``; phase ``p`` has the constant material matrix ``C_p`` (see fe2.laws.materials)::

    find w:   Σ_p ∫ C_p (e + s(w)) · s(v) dx = 0   for all admissible v
    K w = -F e,   C_hom = (A0 + Fᵀ W) / |Y|,   W = -K⁻¹ F,   A0 = Σ_p |Y_p| C_p

with ``s(u) = Mandel(sym ∇u)`` for mechanics and ``s(u) = ∇u`` for transport. ``K`` is assembled
and factorized once; its n_strain right-hand sides give the whole tangent, so any number of
macro strains afterwards cost a small dense product. The admissible fluctuations are set by
the boundary condition: "periodic" (dolfinx_mpc), "affine" (w = 0 on the cell boundary) or
"minimal" (∫_∂Y w ⊗ n = 0 and ∫_Y w = 0, by Lagrange multipliers).

An optional eigenstrain ``a_p`` per unit of a scalar ``c`` (e.g. the chemical expansion per unit
concentration) adds one right-hand side to the same factorization::

    σ_p = C_p (e + s(w) − a_p c),   K w_c = −F_c,   F_c = −Σ_p ∫_p C_p a_p · s(v) dx,
    ∂Σ/∂c = (−Σ_p |Y_p| C_p a_p + Fᵀ w_c) / |Y|

(the average of C_p (s(w_c) − a_p) over the cell, with ∫ C_p s(w_c) · e_k = F e_k · w_c).

Everything lives on the communicator of the given mesh, normally ``MPI.COMM_SELF``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from fe2.io.mesh import (
    PERIODIC_SIDE_PAIRS,
    MeshData,
    MeshError,
    boundary_nodes,
    periodic_mismatch,
    side_centroid,
)
from fe2.laws.mandel import mandel_strain, n_mandel

__all__ = ["BOUNDARY_CONDITIONS", "Lattice", "LinearRVE", "lattice_of", "periodic_constraint",
           "periodic_expansion"]

BOUNDARY_CONDITIONS = ("periodic", "affine", "minimal")
_ids = itertools.count()


@dataclass(frozen=True)
class Lattice:
    """The parallelepiped cell: ``origin`` and cell vectors as rows of ``vectors`` (gdim²)."""

    origin: np.ndarray
    vectors: np.ndarray

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.vectors)))

    def fractional(self, x: np.ndarray) -> np.ndarray:
        """Cell coordinates (gdim, n) in [0, 1] of points ``x`` (3, n) as dolfinx passes them."""
        gdim = len(self.origin)
        return np.linalg.solve(self.vectors.T, x[:gdim] - self.origin[:, None])

    def on_boundary(self, x: np.ndarray, tol: float = 1e-8) -> np.ndarray:
        s = self.fractional(x)
        return np.any(np.isclose(s, 0.0, atol=tol) | np.isclose(s, 1.0, atol=tol), axis=0)


def lattice_of(data: MeshData, periodic: bool = True, tol: float = 1e-8) -> Lattice:
    """The parallelepiped cell of an RVE mesh from its opposite sides (left/right, ...).

    The cell vectors join the centroids of opposite sides. With ``periodic``, the nodes of
    each side must also be the opposite side's nodes shifted by the cell vector.

    Raises:
        MeshError: if a side is missing, or (``periodic``) the nodes do not match.
    """
    gdim = data.mesh.geometry.dim
    x = data.mesh.geometry.x[:, :gdim]
    size = data.mesh.comm.allreduce(np.ptp(x, axis=0).max(initial=0.0), op=MPI.MAX)
    vectors = []
    for master, slave in PERIODIC_SIDE_PAIRS[:gdim]:
        data.group(master, data.tdim - 1), data.group(slave, data.tdim - 1)
        translation = side_centroid(data, slave) - side_centroid(data, master)
        if periodic:
            _, mismatch = periodic_mismatch(boundary_nodes(data, master),
                                            boundary_nodes(data, slave), translation)
            if mismatch > tol * size:
                raise MeshError(
                    f"{data.path}: the mesh is not periodic: nodes on {slave!r} do not match "
                    f"those on {master!r} (off by {mismatch:.3g}); mesh it with Periodic "
                    "constraints or use the affine or minimal boundary condition")
        vectors.append(translation)
    vectors = np.array(vectors)
    lowest = np.linalg.solve(vectors.T, x.T).min(axis=1, initial=np.inf)
    data.mesh.comm.Allreduce(MPI.IN_PLACE, lowest, op=MPI.MIN)
    return Lattice(origin=vectors.T @ lowest, vectors=vectors)


class LinearRVE:
    """A linear RVE: effective tangent ``C_hom`` by static condensation (see module docstring).

    Args:
        data: the RVE mesh (on ``MPI.COMM_SELF`` for FE²).
        materials: phase name → material matrix (n_strain², fe2.laws.materials). Phases of the mesh
            that are left out are not part of the problem (e.g. solid particles in a pore-space
            transport problem); their volume still counts in |Y| and in ``volume_fractions``.
        field: "vector" (mechanics, strain in Mandel notation) or "scalar" (transport,
            strain = gradient).
        degree: polynomial degree of the fluctuation field.
        bc: one of BOUNDARY_CONDITIONS.
        eigenstrains: phase name → eigenstrain per unit of a scalar load c (n_strain,), e.g.
            the chemical expansion [m³/mol] in Mandel notation; phases left out have none.
            Given, :attr:`eigen_stress` (n_strain,) is ∂Σ/∂c and :attr:`w_eigen` the
            fluctuation of a unit c, from the factorization of the tangent.
    """

    def __init__(self, data: MeshData, materials: dict[str, np.ndarray], field: str = "vector",
                 degree: int = 1, bc: str = "periodic",
                 eigenstrains: dict[str, np.ndarray] | None = None):
        if bc not in BOUNDARY_CONDITIONS:
            raise ValueError(f"unknown boundary condition {bc!r}; use one of {BOUNDARY_CONDITIONS}")
        if field not in ("vector", "scalar"):
            raise ValueError(f"field must be 'vector' or 'scalar', got {field!r}")
        start = time.perf_counter()
        self.bc, self.field, self.degree = bc, field, degree
        self.lattice = lattice_of(data, periodic=bc == "periodic")
        self.volume = self.lattice.volume
        self.comm = data.mesh.comm
        self.eigenstrains = _checked_eigenstrains(eigenstrains or {}, materials)
        self.eigen_stress: np.ndarray | None = None
        self.w_eigen: np.ndarray | None = None
        self._build(data, materials)
        self.setup_time = time.perf_counter() - start
        start = time.perf_counter()
        self.tangent = self._condense()
        self.solve_time = time.perf_counter() - start

    # ------------------------------------------------------------------ assembly
    def _build(self, data: MeshData, materials: dict[str, np.ndarray]) -> None:
        import ufl
        from dolfinx import fem

        mesh, cell_tags = _active_part(data, list(materials))
        gdim = mesh.geometry.dim
        self.mesh, self.cell_tags = mesh, cell_tags
        shape = (gdim,) if self.field == "vector" else ()
        self.V = fem.functionspace(mesh, ("Lagrange", self.degree, shape))
        self.n_strain = n_mandel(gdim) if self.field == "vector" else gdim

        def strain(u):
            return mandel_strain(u) if self.field == "vector" else ufl.grad(u)

        self.strain = strain
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell_tags)
        w, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        self.macro = fem.Constant(mesh, np.zeros(self.n_strain))
        self.eigen_load = fem.Constant(mesh, 0.0)  # c of the eigenstrain right-hand side
        self.phase_matrices = {}
        a = load = 0
        for name, matrix in materials.items():
            matrix = np.asarray(matrix, dtype=float)
            if matrix.shape != (self.n_strain, self.n_strain):
                raise ValueError(f"material of phase {name!r} has shape {matrix.shape}, "
                                 f"expected {(self.n_strain, self.n_strain)}")
            tag = data.group(name, data.tdim).tag
            C = fem.Constant(mesh, matrix)
            self.phase_matrices[name] = (tag, C, matrix)
            a += ufl.dot(ufl.dot(C, strain(w)), strain(v)) * dx(tag)
            imposed = self.macro
            if name in self.eigenstrains:
                imposed = imposed - self.eigen_load * fem.Constant(mesh, self.eigenstrains[name])
            load += ufl.dot(ufl.dot(C, imposed), strain(v)) * dx(tag)
        self.a, self.load = fem.form(a), fem.form(load)
        # Fractions of every phase of the cell, including those left out of the problem.
        self.volume_fractions = {name: volume / self.volume
                                 for name, volume in _phase_volumes(data).items()}
        self.A0 = sum(self.volume_fractions[name] * self.volume * matrix
                      for name, (_, _, matrix) in self.phase_matrices.items())
        self.ndofs = self.V.dofmap.index_map.size_global * self.V.dofmap.index_map_bs

    def _condense(self) -> np.ndarray:
        """Factorize K once, solve one right-hand side per unit strain, return C_hom; with
        eigenstrains also the unit-c right-hand side (sets :attr:`eigen_stress`)."""
        from dolfinx.fem.petsc import assemble_vector

        solver = {"periodic": _PeriodicSolver, "affine": _AffineSolver,
                  "minimal": _MinimalSolver}[self.bc](self)
        loads, fluctuations = [], []
        for unit in np.eye(self.n_strain):
            self.macro.value[:] = unit
            load = assemble_vector(self.load)  # F e_k, for the average Fᵀ W
            loads.append(load.array.copy())
            fluctuations.append(solver.solve(load))
            load.destroy()
        self.macro.value[:] = 0.0
        self.F, self.W = np.array(loads).T, np.array(fluctuations).T
        if self.eigenstrains:
            self.eigen_load.value = 1.0
            load = assemble_vector(self.load)  # F_c
            self.w_eigen = solver.solve(load)
            load.destroy()
            self.eigen_load.value = 0.0
            eigen_A0 = sum(self.volume_fractions[name] * self.volume * constant.value
                           @ self.eigenstrains[name]
                           for name, (_, constant, _) in self.phase_matrices.items()
                           if name in self.eigenstrains)
            self.eigen_stress = (-eigen_A0 + self.F.T @ self.w_eigen) / self.volume
        solver.destroy()
        return (self.A0 + self.F.T @ self.W) / self.volume

    def rescaled(self, factors: dict[str, float]) -> np.ndarray:
        """The homogenized tangent with phase p's matrix multiplied by ``factors[p]``: the cell
        problem re-assembled, re-factorized and solved (coefficients that follow the macro
        state, e.g. a concentration). :attr:`tangent`, :attr:`eigen_stress` and the stored
        fluctuations stay those of the original materials."""
        saved = self.A0, self.F, self.W, self.eigen_stress, self.w_eigen
        try:
            for name, (_, constant, matrix) in self.phase_matrices.items():
                constant.value[:] = factors[name] * matrix
            self.A0 = sum(self.volume_fractions[name] * self.volume * factors[name] * matrix
                          for name, (_, _, matrix) in self.phase_matrices.items())
            return self._condense()
        finally:
            for _, constant, matrix in self.phase_matrices.values():
                constant.value[:] = matrix
            self.A0, self.F, self.W, self.eigen_stress, self.w_eigen = saved

    # The micro-model interface (fe2.core.micro.MicroModel): linear, stateless, no solve per point.
    is_linear = True
    state_size = 0
    iterations = 0

    @property
    def n_stress(self) -> int:
        return self.n_strain

    def initial_state(self) -> np.ndarray:
        return np.zeros(0)

    def solve(self, strain: np.ndarray, state: np.ndarray,
              step=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.stress(strain), self.tangent, state

    def stress(self, strain: np.ndarray) -> np.ndarray:
        """Volume-averaged flux/stress for a macro strain (linear: tangent · strain)."""
        return self.tangent @ np.asarray(strain, dtype=float)

    def fluctuation(self, strain: np.ndarray):
        """The fluctuation field (dolfinx Function) of a macro strain."""
        from dolfinx import fem

        w = fem.Function(self.V)
        w.x.array[:] = self.W @ np.asarray(strain, dtype=float)
        return w


def _checked_eigenstrains(eigenstrains: dict[str, np.ndarray],
                          materials: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The eigenstrains per unit load as float vectors, each for a phase with a material.

    Raises:
        ValueError: for a phase without a material or a vector that does not fit it.
    """
    checked = {}
    for name, vector in eigenstrains.items():
        if name not in materials:
            raise ValueError(f"eigenstrain of phase {name!r}, which has no material "
                             f"(phases with one: {list(materials)})")
        vector = np.asarray(vector, dtype=float)
        n = len(np.asarray(materials[name]))
        if vector.shape != (n,):
            raise ValueError(f"eigenstrain of phase {name!r} has shape {vector.shape}, "
                             f"expected {(n,)}")
        checked[name] = vector
    return checked


def _phase_volumes(data: MeshData) -> dict[str, float]:
    """Volume (area in 2D) of every domain group of the mesh, in the mesh's length unit^dim."""
    import ufl
    from dolfinx import fem

    dx = ufl.Measure("dx", domain=data.mesh, subdomain_data=data.cell_tags)
    one = fem.Constant(data.mesh, 1.0)
    return {name: data.mesh.comm.allreduce(
                fem.assemble_scalar(fem.form(one * dx(data.group(name).tag))), op=MPI.SUM)
            for name in data.domain_names()}


def _active_part(data: MeshData, phases: list[str]):
    """The mesh restricted to ``phases`` (a submesh if some phases are left out) and its tags."""
    from dolfinx.mesh import create_submesh, meshtags

    known = data.domain_names()
    unknown = [p for p in phases if p not in known]
    if unknown:
        raise MeshError(f"{data.path}: unknown phase(s) {unknown}; the mesh's phases are {known}")
    if not phases:
        raise ValueError("no phase has a material")
    if sorted(phases) == known:
        return data.mesh, data.cell_tags
    cells = np.sort(np.concatenate([data.cells(p) for p in phases]))
    submesh, parent_cells, _, _ = create_submesh(data.mesh, data.tdim, cells)
    tag_of = np.zeros(data.mesh.topology.index_map(data.tdim).size_local
                      + data.mesh.topology.index_map(data.tdim).num_ghosts, dtype=np.int32)
    tag_of[data.cell_tags.indices] = data.cell_tags.values
    n_sub = submesh.topology.index_map(data.tdim).size_local
    sub_cells = np.arange(n_sub, dtype=np.int32)
    return submesh, meshtags(submesh, data.tdim, sub_cells, tag_of[parent_cells[:n_sub]])


class _LUSolver:
    """A PETSc direct solver (MUMPS LU) for one assembled matrix, factorized once."""

    def __init__(self, A, comm) -> None:
        from petsc4py import PETSc

        self.A = A
        self.size = A.getSize()[0]
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOptionsPrefix(f"fe2_rve_{next(_ids)}_")
        self.ksp.setOperators(A)
        self.ksp.setType("preonly")
        self.ksp.getPC().setType("lu")
        self.ksp.getPC().setFactorSolverType("mumps")
        self.ksp.setFromOptions()
        self.ksp.setUp()  # the factorization
        self.x, self.b = A.createVecs()

    def solve_vec(self, b) -> np.ndarray:
        """Solve with the factorized operator for the PETSc vector ``b``."""
        self.ksp.solve(b, self.x)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise RuntimeError(f"RVE linear solve failed (PETSc reason {reason})")
        return self.x.array.copy()

    def destroy(self) -> None:
        for obj in (self.ksp, self.A, self.x, self.b):
            obj.destroy()


def _zero(rve: LinearRVE):
    return np.zeros(rve.mesh.geometry.dim) if rve.field == "vector" else np.float64(0.0)


class _AffineSolver(_LUSolver):
    """w = 0 on the outer cell boundary."""

    def __init__(self, rve: LinearRVE) -> None:
        from dolfinx import fem
        from dolfinx.fem.petsc import assemble_matrix

        dofs = fem.locate_dofs_geometrical(rve.V, rve.lattice.on_boundary)
        self.bcs = [fem.dirichletbc(_zero(rve), dofs, rve.V)]
        A = assemble_matrix(rve.a, bcs=self.bcs)
        A.assemble()
        super().__init__(A, rve.comm)

    def solve(self, load) -> np.ndarray:
        from dolfinx.fem.petsc import set_bc

        self.b.array[:] = -load.array
        set_bc(self.b, self.bcs)
        return self.solve_vec(self.b)


class _PeriodicSolver(_LUSolver):
    """w periodic (dolfinx_mpc); w = 0 at one interior node removes the translation."""

    def __init__(self, rve: LinearRVE) -> None:
        import dolfinx_mpc
        from dolfinx import fem

        self.bcs, self.mpc = periodic_constraint(rve.V, rve.lattice, _zero(rve))
        self.rve = rve
        self.function = fem.Function(self.mpc.function_space)
        A = dolfinx_mpc.assemble_matrix(rve.a, self.mpc, bcs=self.bcs)
        super().__init__(A, rve.comm)

    def solve(self, load) -> np.ndarray:
        import dolfinx_mpc
        from dolfinx.fem.petsc import set_bc

        # The load reduced onto the master dofs (Pᵀ F) by dolfinx_mpc, for the current strain.
        dolfinx_mpc.assemble_vector(self.rve.load, self.mpc, b=self.b)
        self.b.scale(-1.0)
        set_bc(self.b, self.bcs)
        self.function.x.array[:] = self.solve_vec(self.b)
        self.mpc.backsubstitution(self.function)
        return self.function.x.array.copy()


def periodic_constraint(V, lattice: Lattice, zero):
    """The periodic constraint of a cell problem: ([pin condition], finalized dolfinx_mpc
    MultiPointConstraint).

    Dofs on the sides opposite the origin ("right", "top", "front") are slaves of their images
    shifted back by the cell vectors. The translation is removed by ``w = zero`` at the owned
    interior dof nearest the cell centre over all ranks of V's mesh (ties: lowest global index);
    inside, so it is nobody's master (dolfinx_mpc would add slave rows into its row). Works on
    one rank and on a mesh distributed over several (collective then). ``zero=None``: no pin
    (a field whose equation fixes its level, e.g. damage).
    """
    from dolfinx import fem

    gdim = len(lattice.origin)

    def slave(x):
        return np.any(np.isclose(lattice.fractional(x), 1.0, atol=1e-8), axis=0)

    def to_master(x):  # shift back by every cell vector whose side the point is on
        on_far_side = np.isclose(lattice.fractional(x), 1.0, atol=1e-8)
        y = x.copy()
        y[:gdim] -= lattice.vectors.T @ on_far_side.astype(float)
        return y

    if zero is None:
        return [], _finalized_constraint(V, slave, to_master, [])
    index_map = V.dofmap.index_map
    owned = index_map.size_local
    points = V.tabulate_dof_coordinates()[:owned].T
    centre = lattice.origin + lattice.vectors.sum(axis=0) / 2
    distance = np.linalg.norm(points[:gdim] - centre[:, None], axis=0)
    distance[lattice.on_boundary(points)] = np.inf
    mine = int(np.argmin(distance)) if owned else 0
    candidate = (float(distance[mine]) if owned else np.inf,
                 int(index_map.local_to_global(np.array([mine], dtype=np.int32))[0])
                 if owned else np.iinfo(np.int64).max)
    _, pin = V.mesh.comm.allreduce(candidate, op=MPI.MIN)
    every = index_map.local_to_global(np.arange(owned + index_map.num_ghosts, dtype=np.int32))
    blocks = np.flatnonzero(every == pin).astype(np.int32)  # the owned or a ghost copy
    bcs = [fem.dirichletbc(zero, blocks, V)]
    return bcs, _finalized_constraint(V, slave, to_master, bcs)


def _finalized_constraint(V, slave, to_master, bcs):
    import dolfinx_mpc

    mpc = dolfinx_mpc.MultiPointConstraint(V)
    mpc.create_periodic_constraint_geometrical(V, slave, to_master, bcs)
    mpc.finalize()
    return mpc


def periodic_expansion(mpc, V):
    """P (scipy CSR, owned dofs × global dofs): w = P x expands values x on the master dofs
    (slave entries of x ignored) to every owned dof of ``V`` through the constraint ``mpc``."""
    import scipy.sparse

    index_map = mpc.function_space.dofmap.index_map
    bs = mpc.function_space.dofmap.index_map_bs
    if index_map.local_range != V.dofmap.index_map.local_range:
        raise RuntimeError("the constrained space does not keep the owned dof numbering")
    n = index_map.size_local * bs
    masters = mpc.masters
    coefficients, _ = mpc.coefficients()
    offsets = masters.offsets[: n + 1]
    counts = np.diff(offsets)
    local = masters.array[: offsets[-1]]
    blocks = index_map.local_to_global(np.asarray(local // bs, dtype=np.int32))
    first = index_map.local_range[0] * bs
    is_slave = counts > 0
    rows = np.concatenate([np.flatnonzero(~is_slave), np.repeat(np.arange(n), counts)])
    columns = np.concatenate([first + np.flatnonzero(~is_slave), blocks * bs + local % bs])
    values = np.concatenate([np.ones(np.count_nonzero(~is_slave)),
                             coefficients[: offsets[-1]]])
    P = scipy.sparse.csr_matrix((values, (rows, columns)),
                                shape=(n, index_map.size_global * bs))
    P.sort_indices()
    return P


class _MinimalSolver(_LUSolver):
    """Minimal kinematic BC: ∫_∂Y w ⊗ n ds = 0 and ∫_Y w dx = 0 by Lagrange multipliers
    (``constraints``: their columns B, dofs × multipliers, in [[K, B], [Bᵀ, 0]])."""

    def __init__(self, rve: LinearRVE) -> None:
        import scipy.sparse
        import ufl
        from dolfinx import fem, mesh
        from dolfinx.fem.petsc import assemble_matrix, assemble_vector
        from petsc4py import PETSc

        msh = rve.mesh
        tdim = msh.topology.dim
        facets = mesh.locate_entities_boundary(msh, tdim - 1, rve.lattice.on_boundary)
        outer = mesh.meshtags(msh, tdim - 1, facets, np.ones_like(facets))
        ds = ufl.Measure("ds", domain=msh, subdomain_data=outer)
        v = ufl.TestFunction(rve.V)
        vv = v if rve.field == "vector" else ufl.as_vector([v])
        k, gdim = vv.ufl_shape[0], msh.geometry.dim
        G = fem.Constant(msh, np.zeros((k, gdim)))
        t = fem.Constant(msh, np.zeros(k))
        n = ufl.FacetNormal(msh)
        form = fem.form(ufl.dot(vv, ufl.dot(G, n)) * ds(1) + ufl.dot(vv, t) * ufl.dx(domain=msh))
        columns = []
        for unit in np.eye(k * gdim + k):
            G.value[:] = unit[: k * gdim].reshape(k, gdim)
            t.value[:] = unit[k * gdim:]
            b = assemble_vector(form)
            columns.append(b.array.copy())
            b.destroy()
        C = self.constraints = scipy.sparse.csr_matrix(np.array(columns).T)
        K = assemble_matrix(rve.a)
        K.assemble()
        indptr, indices, values = K.getValuesCSR()
        K_csr = scipy.sparse.csr_matrix((values, indices, indptr), shape=K.getSize())
        K.destroy()
        augmented = scipy.sparse.bmat([[K_csr, C], [C.T, None]], format="csr")
        self.n, self.m = K_csr.shape[0], C.shape[1]
        A = PETSc.Mat().createAIJ(augmented.shape, comm=rve.comm,
                                  csr=(augmented.indptr, augmented.indices, augmented.data))
        A.assemble()
        super().__init__(A, rve.comm)

    def solve(self, load) -> np.ndarray:
        self.b.array[: self.n] = -load.array
        self.b.array[self.n:] = 0.0
        return self.solve_vec(self.b)[: self.n]
