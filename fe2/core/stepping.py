"""Stepping in the load factor (quasi-static) or in time (transient), with automatic cutback
and regrowth of the increment.

One mechanism for both: the stepping variable s goes from 0 to ``end``. Quasi-static: s is the
load factor λ (boundary values and fluxes scale with it; t = λ, dt = Δλ). Transient: s is the
time t [s], dt = Δt reaches the residual (backward Euler) and the micro models, and λ = 1. A
``path`` of (s, λ) points makes λ a piecewise linear function of s instead (unloading and
reloading, a ramp in time).

A step that fails (the solver, a micro solve anywhere, non-finite numbers) is rolled back and
retried with ``cutback`` times the increment; a step that converges in at most
``easy_iterations`` Newton iterations (staggered: sweeps) lets the next increment grow by
``growth`` (up to ``max_step``). Below ``min_step`` the run stops: :class:`SteppingFailed` is
raised on every rank (every decision here rests on global quantities), after the converged
steps were handed to the caller, so their results are already written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fe2.core.definition import StepContext
from fe2.core.solvers import StepResult, StepSolver

__all__ = ["Stepping", "SteppingFailed", "SteppingState", "run_steps"]

VARIABLES = ("load", "time")


@dataclass(frozen=True)
class Stepping:
    """s goes from 0 to ``end`` (load factor [-] or time [s]); increments in
    [min_step, max_step]."""

    end: float = 1.0
    initial_step: float = 0.1
    min_step: float = 1e-3
    max_step: float = 0.25
    cutback: float = 0.5
    growth: float = 1.5
    easy_iterations: int = 4
    variable: str = "load"
    path: tuple[tuple[float, float], ...] = ()  # (s, λ) points: a load history, e.g. unloading

    def __post_init__(self) -> None:
        if self.variable not in VARIABLES:
            raise ValueError(f"variable = {self.variable!r}: use one of {', '.join(VARIABLES)}")
        if not self.end > 0:
            raise ValueError("the end of the stepping must be positive")
        if not 0 < self.min_step <= self.initial_step <= self.max_step:
            raise ValueError(f"need 0 < min_step <= initial_step <= max_step, got "
                             f"{self.min_step:g}, {self.initial_step:g}, {self.max_step:g} "
                             "(for N equal steps give steps = N alone)")
        if not 0 < self.cutback < 1 or self.growth < 1:
            raise ValueError("need 0 < cutback < 1 and growth >= 1")
        if self.path:
            s = [point[0] for point in self.path]
            if s[0] != 0 or np.any(np.diff(s) <= 0) or s[-1] < self.end:
                raise ValueError(f"path = {[list(p) for p in self.path]}: its first values must "
                                 f"start at 0, increase and reach end = {self.end:g}")

    def load_factor(self, position: float) -> float:
        """λ at ``position``: the path's piecewise linear value if given, else λ = s
        (quasi-static) or 1 (transient)."""
        if self.path:
            s, values = zip(*self.path, strict=True)
            return float(np.interp(position, s, values))
        return 1.0 if self.variable == "time" else position

    def context(self, position: float, increment: float) -> StepContext:
        """The step context of a step ending at ``position`` after ``increment``."""
        return StepContext(t=position, dt=increment, load_factor=self.load_factor(position))


@dataclass
class SteppingState:
    """Where the stepping is: last converged position (λ or t), next increment, steps done.
    Saved in checkpoints so that a restarted run takes exactly the same steps."""

    position: float = 0.0
    step: float = 0.1
    converged_steps: int = 0


class SteppingFailed(RuntimeError):
    """The increment fell below the minimum: the loading or time cannot be followed further."""


def run_steps(solver: StepSolver, stepping: Stepping, state: SteppingState,
              on_converged: Callable[[StepResult, SteppingState], None],
              on_attempt: Callable[[StepResult], None] = lambda result: None) -> None:
    """Advance to ``stepping.end``; ``on_converged`` runs after each commit."""
    tolerance = 1e-12 * stepping.end
    name = "t" if stepping.variable == "time" else "λ"
    while state.position < stepping.end - tolerance:
        increment = min(state.step, stepping.end - state.position)
        result = solver.solve_step(stepping.context(state.position + increment, increment))
        on_attempt(result)
        if not result.converged:
            state.step = increment * stepping.cutback
            if state.step < stepping.min_step:
                raise SteppingFailed(
                    f"step from {name} = {state.position:.6g} failed ({result.message}); "
                    f"the increment {state.step:.3g} is below the minimum {stepping.min_step:.3g}")
            continue
        solver.problem.commit()
        state.position += increment
        state.converged_steps += 1
        if result.effort <= stepping.easy_iterations:
            state.step = min(increment * stepping.growth, stepping.max_step)
        else:
            state.step = increment
        on_converged(result, state)
