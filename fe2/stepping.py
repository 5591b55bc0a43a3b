"""Load stepping with automatic cutback and regrowth of the load-factor increment.

A step that fails (macro Newton, a micro solve anywhere, non-finite numbers) is rolled back and
retried with ``cutback`` times the increment; a step that converges in at most
``easy_iterations`` Newton iterations lets the next increment grow by ``growth`` (up to
``max_step``). Below ``min_step`` the run stops: :class:`SteppingFailed` is raised on every rank
(every decision here rests on global quantities), after the converged steps were handed to the
caller, so their results are already written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fe2.macro import MacroProblem, StepResult

__all__ = ["LoadStepping", "SteppingFailed", "SteppingState", "run_load_steps"]


@dataclass(frozen=True)
class LoadStepping:
    """Load factor goes from 0 to ``end`` [-]; increments in [min_step, max_step]."""

    end: float = 1.0
    initial_step: float = 0.1
    min_step: float = 1e-3
    max_step: float = 0.25
    cutback: float = 0.5
    growth: float = 1.5
    easy_iterations: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.min_step <= self.initial_step <= self.max_step:
            raise ValueError("need 0 < min_step <= initial_step <= max_step")
        if not 0 < self.cutback < 1 or self.growth < 1:
            raise ValueError("need 0 < cutback < 1 and growth >= 1")
        if not self.end > 0:
            raise ValueError("the final load factor must be positive")


@dataclass
class SteppingState:
    """Where the stepping is: last converged load factor, next increment, steps done.
    Saved in checkpoints so that a restarted run takes exactly the same steps."""

    load_factor: float = 0.0
    step: float = 0.1
    converged_steps: int = 0


class SteppingFailed(RuntimeError):
    """The increment fell below the minimum: the loading cannot be followed further."""


def run_load_steps(problem: MacroProblem, stepping: LoadStepping, state: SteppingState,
                   on_converged: Callable[[StepResult, SteppingState], None],
                   on_attempt: Callable[[StepResult], None] = lambda result: None) -> None:
    """Advance ``problem`` to ``stepping.end``; ``on_converged`` runs after each commit."""
    tolerance = 1e-12 * stepping.end
    while state.load_factor < stepping.end - tolerance:
        increment = min(state.step, stepping.end - state.load_factor)
        result = problem.solve_step(state.load_factor + increment)
        on_attempt(result)
        if not result.converged:
            state.step = increment * stepping.cutback
            if state.step < stepping.min_step:
                raise SteppingFailed(
                    f"load step from λ = {state.load_factor:.6g} failed ({result.message}); "
                    f"the increment {state.step:.3g} is below the minimum {stepping.min_step:.3g}")
            continue
        problem.commit()
        state.load_factor += increment
        state.converged_steps += 1
        if result.iterations <= stepping.easy_iterations:
            state.step = min(increment * stepping.growth, stepping.max_step)
        else:
            state.step = increment
        on_converged(result, state)
