"""What a physics tells the core: its fields, its weak form, its micro couplings, its outputs.

A problem definition (one module per physics in fe2.physics, or any class named by
``[physics] kind = "package.module:Class"``) implements :class:`Definition`. The core
(fe2.core.problem) builds the function space from :meth:`Definition.fields`, evaluates the
operands of every :class:`MicroCoupling` at the owned quadrature points, hands them to the
coupling's micro models (one per cell region) and gives the answers back to the definition's
residual as UFL expressions (:class:`WeakForm`). The Jacobian is derived by UFL from that
residual with each micro output linearized by its derivative blocks (the external-operator
pattern), so a definition writes only its residual. The core never asks which physics it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from fe2.core.micro import MicroModel

__all__ = ["Definition", "Field", "MicroCoupling", "StepContext", "WeakForm", "find_definition"]

Bound = float | str  # a number, or "previous" (the field's last committed value)


@dataclass(frozen=True)
class Field:
    """One macro unknown.

    Attributes:
        name: its name in forms, outputs and checkpoints ("u", "c", "T").
        vector: True for a vector field with one component per space dimension.
        components: names of its components for boundary conditions, at least gdim of them
            for a vector field ("ux", "uy", "uz"); one name for a scalar field ("c").
        degree: Lagrange degree.
        bounds: (lower, upper) for bound-constrained solvers (a number, ±inf or "previous");
            None: unbounded.
        label: what it is, with units, for pictures and files.
        initial: its uniform value at the start of a run (and the first Newton guess), e.g.
            a concentration whose logarithm the weak form takes.
        regions: the domain groups the field lives on (None: everywhere; (): nowhere).
            Its dofs outside them keep ``initial``; the definition integrates the field's
            equation over these regions only (e.g. lithium in the particles, not the binder).
    """

    name: str
    vector: bool
    components: tuple[str, ...]
    degree: int = 1
    bounds: tuple[Bound, Bound] | None = None
    label: str = ""
    initial: float = 0.0
    regions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.regions is not None and self.vector:
            raise ValueError(f"field {self.name!r}: regions are supported for scalar fields")

    def component_names(self, gdim: int) -> tuple[str, ...]:
        return self.components[:gdim] if self.vector else self.components[:1]


@dataclass(frozen=True)
class StepContext:
    """Where a step goes: time t [s], its increment dt [s] and the load factor λ [-]."""

    t: float = 0.0
    dt: float = 0.0
    load_factor: float = 0.0


@dataclass
class MicroCoupling:
    """Micro models answering at the quadrature points of some cell regions.

    The generalized strain of a point is the concatenation of ``operands`` (UFL expressions of
    the fields, each a scalar or a vector) and the micro model returns the concatenation of
    ``outputs`` (name → shape, () or (n,)) with the tangent (n_outputs × n_operands) holding every
    derivative block. ``models`` maps a cell region (a domain physical group of the macro mesh)
    to its model; the key None means every cell. Points outside these regions are not
    evaluated: the definition's residual uses its own closed-form law there
    (``WeakForm.dx_outside``).
    """

    name: str
    operands: Callable[[Mapping[str, Any]], Mapping[str, Any]]  # fields → {name: UFL expr}
    outputs: Mapping[str, tuple[int, ...]]
    models: Mapping[str | None, MicroModel]
    homogenizations: int = 0  # RVE cell problems solved while building the models

    @property
    def n_stress(self) -> int:
        return sum(shape[0] if shape else 1 for shape in self.outputs.values())


@dataclass
class WeakForm:
    """What a definition's residual is written with (all UFL, from the core).

    Attributes:
        mesh: the macro mesh.
        fields, previous, tests: name → the field, its last committed value, its test function.
        t, dt, load_factor: dolfinx Constants of the step being solved.
        dx: the measure of the one quadrature rule (micro outputs live at its points).
        dx_outside: that measure restricted to the cells no micro model covers (0 if none).
        micro: coupling name → output name → UFL expression of the micro answer.
    """

    mesh: Any
    fields: dict[str, Any]
    previous: dict[str, Any]
    tests: dict[str, Any]
    t: Any
    dt: Any
    load_factor: Any
    dx: Any
    dx_outside: Any
    micro: dict[str, dict[str, Any]] = field(default_factory=dict)


@runtime_checkable
class Definition(Protocol):
    """A physics: the core's only view of it.

    ``tables`` are the top-level case tables the definition reads itself (e.g. "micro"), next
    to the generic ones (macro, physics, boundary, loading/time, solver, parallel, output).
    ``fluxes`` maps a boundary key (e.g. "traction", "flux") to the field whose test function
    it does work on: ``[boundary.<group>] traction = [...]`` adds −λ∫ t·v ds.
    """

    kind: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    fluxes: ClassVar[Mapping[str, str]]

    @classmethod
    def from_case(cls, case) -> Definition:
        """Read and validate ``[physics]`` and the definition's own tables from ``case``
        (fe2.app.run_case.CaseInput; errors through ``case.reader.fail``)."""
        ...

    def check_mesh(self, mesh_data) -> None:
        """Raise ConfigError if the macro mesh does not fit (e.g. its dimension)."""
        ...

    def fields(self, gdim: int) -> tuple[Field, ...]:
        """The unknowns, in the order of the (mixed) function space."""
        ...

    def quadrature_degree(self, degree: int) -> int:
        """Default quadrature degree for macro fields of Lagrange ``degree``."""
        ...

    def couplings(self, comm, mesh_data) -> list[MicroCoupling]:
        """Build the micro models (collective over the macro ``comm``); [] for single scale."""
        ...

    def residual(self, weak: WeakForm):
        """The residual form (without boundary fluxes, which the core adds)."""
        ...

    def cell_outputs(self, problem) -> dict[str, Any]:
        """Name → (owned cells, ...) values written with the fields after each step."""
        ...

    # Optional: ``scalars(problem) -> {name: float}``, global numbers recorded per step in
    # summary.json and steps.csv (e.g. energies); collective.
    # Optional: ``events(problem) -> {name: bool}``, conditions (the same on every rank) whose
    # first converged step (step, t, load factor) summary.json records under "events", e.g.
    # the loss of ellipticity.
    # Optional: ``report(problem, out) -> {name: value}``, called once at the end of a run
    # (collective): the definition writes its own files into the folder ``out`` (rank 0) and
    # returns entries for summary.json (e.g. effective properties, profiles over time).


def find_definition(kind: str) -> type:
    """The definition class of ``kind``: a module of fe2.physics (``"mechanics"``) or
    ``"package.module:Class"`` for a definition outside fe2.

    Raises:
        LookupError: with what is available.
    """
    if ":" in kind:
        module_name, _, attribute = kind.partition(":")
    else:
        module_name, attribute = f"fe2.physics.{kind}", "DEFINITION"
    try:
        module = importlib.import_module(module_name)
        definition = getattr(module, attribute)
    except (ImportError, AttributeError) as error:
        from fe2.physics import KINDS

        raise LookupError(f"kind = {kind!r}: no such physics ({error}); built in: "
                          f"{', '.join(KINDS)}, or 'package.module:Class'") from None
    return definition
