"""Micro answers as quadrature-point operators: one MicroCoupling at work on the macro mesh.

For every Newton iteration: the coupling's operands (one compiled Expression of the fields)
are evaluated at the owned quadrature points of each region, each region's dispatcher solves
its points from their committed states, and the outputs and derivative blocks are stored in
quadrature Functions S (n_stress per point) and T (n_stress × n_strain). The residual sees S;
the Jacobian is the UFL derivative of the residual with S replaced by its linearization
S + T·(operands(w) − operands₀), where operands₀ are the values just sent to the micro models:
equal to S at the current fields, with the exact derivative T·∂operands/∂w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fe2.core.definition import MicroCoupling, StepContext
from fe2.core.dispatch import Dispatcher, DispatchStats
from fe2.core.quadrature import QuadratureRule

__all__ = ["CouplingPoints", "Region"]


@dataclass
class Region:
    """The owned points of one region and the states of its micro model."""

    name: str | None
    rows: NDArray  # rows of the owned points in per-point arrays of the rule
    cells: NDArray  # owned cells (int32)
    dispatcher: Dispatcher
    committed: NDArray
    trial: NDArray

    @property
    def key(self) -> str:
        return self.name or "all"


class CouplingPoints:
    """A :class:`MicroCoupling` on the owned quadrature points of ``rule``.

    Args:
        coupling: what the definition declared.
        fields: name → UFL field (the operands are built from them).
        rule: the macro quadrature rule.
        region_cells: region name → its owned cells (None: every owned cell).
        balance: spread micro work by measured cost (fe2.core.dispatch).
    """

    def __init__(self, coupling: MicroCoupling, fields: dict, rule: QuadratureRule,
                 region_cells, balance: bool, comm) -> None:
        import ufl
        from dolfinx import fem

        self.coupling, self.rule, self.name = coupling, rule, coupling.name
        operands = coupling.operands(fields)
        entries = []
        for expression in operands.values():
            shape = ufl.shape(expression)
            entries += [expression] if shape == () else [expression[i] for i in range(shape[0])]
        self.operand_vector = ufl.as_vector(entries)
        self.n_strain, self.n_stress = len(entries), coupling.n_stress
        self.expression = rule.expression(self.operand_vector)
        self.stress = fem.Function(rule.space((self.n_stress,)), name=f"{self.name}_outputs")
        self.tangent = fem.Function(rule.space((self.n_stress, self.n_strain)))
        self.operands0 = fem.Function(rule.space((self.n_strain,)))
        self.regions: list[Region] = []
        covered = np.zeros(rule.n_cells, dtype=bool)
        for name, model in coupling.models.items():
            if (model.n_strain, model.n_stress) != (self.n_strain, self.n_stress):
                raise ValueError(
                    f"micro model of region {name or 'all'} answers (strain, stress) sizes "
                    f"{(model.n_strain, model.n_stress)}; the {self.name} coupling needs "
                    f"{(self.n_strain, self.n_stress)}")
            cells = np.arange(rule.n_cells, dtype=np.int32) if name is None else np.asarray(
                region_cells(name), dtype=np.int32)
            cells = np.sort(cells[cells < rule.n_cells])
            if np.any(covered[cells]):
                raise ValueError(f"{self.name}: region {name or 'all'} overlaps another region")
            covered[cells] = True
            rows = (cells[:, None] * rule.n_points + np.arange(rule.n_points)).ravel()
            state = np.tile(model.initial_state(), (len(rows), 1))
            self.regions.append(Region(name, rows, cells, Dispatcher(comm, model, balance),
                                       state, state.copy()))
        self.outside_cells = np.flatnonzero(~covered).astype(np.int32)

    def answers(self, linearized: bool) -> dict:
        """Output name → UFL expression of the answer (the linearization for the Jacobian)."""
        import ufl

        S = self.stress
        if linearized:
            S = S + ufl.dot(self.tangent, self.operand_vector - self.operands0)
        result, offset = {}, 0
        for name, shape in self.coupling.outputs.items():
            if shape == ():
                result[name], offset = S[offset], offset + 1
            else:
                result[name] = ufl.as_vector([S[offset + i] for i in range(shape[0])])
                offset += shape[0]
        return result

    def evaluate(self, step: StepContext) -> tuple[str, DispatchStats]:
        """Solve every owned point; ("" or the first failure message, this rank's stats).
        Collective; the message is the same on every rank."""
        rule, stats = self.rule, DispatchStats()
        stress = np.zeros((rule.n_owned_points, self.n_stress))
        tangent = np.zeros((rule.n_owned_points, self.n_stress, self.n_strain))
        operands = np.zeros((rule.n_owned_points, self.n_strain))
        message = ""
        for region in self.regions:
            strains = rule.evaluate(self.expression, self.n_strain, region.cells)
            evaluation = region.dispatcher.evaluate(strains, region.committed, step)
            for key in ("solves", "micro_iterations", "micro_time"):
                setattr(stats, key, getattr(stats, key) + getattr(evaluation.stats, key))
            if not evaluation.ok:
                message = message or evaluation.message
                continue
            operands[region.rows] = strains
            stress[region.rows], tangent[region.rows] = evaluation.stress, evaluation.tangent
            region.trial = evaluation.states
        if not message:
            rule.set_values(self.stress, stress)
            rule.set_values(self.tangent, tangent)
            rule.set_values(self.operands0, operands)
        return message, stats

    def commit(self) -> None:
        for region in self.regions:
            region.committed = region.trial

    def rollback(self) -> None:
        for region in self.regions:
            region.trial = region.committed

    def point_outputs(self) -> dict[str, NDArray]:
        """Per owned point of the covered regions: the models' own outputs (NaN elsewhere).
        Collective."""
        result: dict[str, NDArray] = {}
        for region in self.regions:
            outputs = getattr(region.dispatcher.model, "point_outputs", None)
            values = outputs(region.committed) if outputs is not None else {}
            for name, array in values.items():
                array = np.asarray(array, dtype=float)
                target = result.setdefault(name, np.full(
                    (self.rule.n_owned_points, *array.shape[1:]), np.nan))
                target[region.rows] = array
        return result

    @property
    def homogenizations(self) -> int:
        return self.coupling.homogenizations
