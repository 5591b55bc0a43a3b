"""Published transport properties of LiPF6 electrolytes as functions of the salt
concentration c_e [mol/m³] (isothermal, at the temperature of the fit).

Each :class:`Electrolyte` gives the diffusivity D(c) [m²/s], the ionic conductivity κ(c)
[S/m] and their derivatives, the cation transference number t⁺ [-] and the thermodynamic
factor 1 + d ln f±/d ln c [-] (constant here). The functions take numpy arrays or UFL
expressions alike (only +, −, ×, powers and exp), so the macro weak form and the micro models
use the same code. The fits are written from the formulas of the papers cited; x = c/c_ref
with c_ref = 1000 mol/m³ (x in mol/L).

- ``Nyman2008``: LiPF6 in EC:EMC (3:7 by weight), Nyman, Behm, Lindbergh, Electrochim. Acta
  53 (2008) 6356–6365, as used by the Chen 2020 parameter set (Chen et al., J. Electrochem.
  Soc. 167 (2020) 080534): D = 8.794e-11 x² − 3.972e-10 x + 4.862e-10 m²/s,
  κ = 0.1297 x³ − 2.51 x^1.5 + 3.329 x S/m, t⁺ = 0.2594, thermodynamic factor 1.
- ``Capiglia1999``: LiPF6 in EC:DMC as used by the Marquis 2019 parameter set (Marquis et
  al., J. Electrochem. Soc. 166 (2019) A3693; fits from Capiglia et al., J. Power Sources
  81–82 (1999) 859–862, at 298.15 K): D = 5.34e-10 exp(−0.65 x) m²/s,
  κ = 0.0911 + 1.9101 x − 1.052 x² + 0.1554 x³ S/m, t⁺ = 0.4, thermodynamic factor 1.
- ``constant``: D, κ, t⁺ and the thermodynamic factor given in the case (checks, analytic
  solutions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ELECTROLYTES", "Electrolyte", "capiglia1999", "constant", "nyman2008"]

C_REF = 1000.0  # [mol/m³]: x = c/C_REF is the concentration in mol/L of the fits


def _exp(value: Any) -> Any:
    """exp of a number, numpy array or UFL expression."""
    import numpy as np

    if isinstance(value, int | float) or hasattr(value, "dtype"):
        return np.exp(value)
    import ufl

    return ufl.exp(value)


@dataclass(frozen=True)
class Electrolyte:
    """A binary electrolyte: functions of c [mol/m³] and constants (units in the names).

    Attributes:
        name: the fit's name (the source is in the module docstring).
        D, dD: diffusivity [m²/s] and dD/dc [m⁵/(mol s)].
        kappa, dkappa: ionic conductivity [S/m] and dκ/dc [S m²/mol].
        t_plus: cation transference number [-].
        thermodynamic_factor: 1 + d ln f±/d ln c [-].
    """

    name: str
    D: Callable[[Any], Any]
    dD: Callable[[Any], Any]
    kappa: Callable[[Any], Any]
    dkappa: Callable[[Any], Any]
    t_plus: float
    thermodynamic_factor: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.t_plus <= 1.0:
            raise ValueError(f"t_plus = {self.t_plus}: a transference number lies in [0, 1]")
        if not self.thermodynamic_factor > 0:
            raise ValueError(f"thermodynamic_factor = {self.thermodynamic_factor}: must be "
                             "positive")


def nyman2008() -> Electrolyte:
    """LiPF6 in EC:EMC 3:7, Nyman et al. 2008 (as in the Chen 2020 parameter set)."""
    return Electrolyte(
        "Nyman2008",
        D=lambda c: 8.794e-11 * (c / C_REF) ** 2 - 3.972e-10 * (c / C_REF) + 4.862e-10,
        dD=lambda c: (2 * 8.794e-11 * (c / C_REF) - 3.972e-10) / C_REF,
        kappa=lambda c: (0.1297 * (c / C_REF) ** 3 - 2.51 * (c / C_REF) ** 1.5
                         + 3.329 * (c / C_REF)),
        dkappa=lambda c: (3 * 0.1297 * (c / C_REF) ** 2 - 1.5 * 2.51 * (c / C_REF) ** 0.5
                          + 3.329) / C_REF,
        t_plus=0.2594)


def capiglia1999() -> Electrolyte:
    """LiPF6 in EC:DMC, Capiglia et al. 1999 (as in the Marquis 2019 parameter set)."""
    return Electrolyte(
        "Capiglia1999",
        D=lambda c: 5.34e-10 * _exp(-0.65 * c / C_REF),
        dD=lambda c: -0.65 / C_REF * 5.34e-10 * _exp(-0.65 * c / C_REF),
        kappa=lambda c: (0.0911 + 1.9101 * (c / C_REF) - 1.052 * (c / C_REF) ** 2
                         + 0.1554 * (c / C_REF) ** 3),
        dkappa=lambda c: (1.9101 - 2 * 1.052 * (c / C_REF) + 3 * 0.1554 * (c / C_REF) ** 2)
        / C_REF,
        t_plus=0.4)


def constant(D: float, kappa: float, t_plus: float,
             thermodynamic_factor: float = 1.0) -> Electrolyte:
    """Constant D [m²/s] and κ [S/m].

    Raises:
        ValueError: for D ≤ 0, κ ≤ 0, t⁺ outside [0, 1] or a thermodynamic factor ≤ 0.
    """
    if not D > 0:
        raise ValueError(f"D = {D}: the diffusivity must be positive")
    if not kappa > 0:
        raise ValueError(f"kappa = {kappa}: the conductivity must be positive")
    return Electrolyte("constant", D=lambda c: D + 0 * c, dD=lambda c: 0 * c,
                       kappa=lambda c: kappa + 0 * c, dkappa=lambda c: 0 * c, t_plus=t_plus,
                       thermodynamic_factor=thermodynamic_factor)


ELECTROLYTES = {"Nyman2008": nyman2008, "Capiglia1999": capiglia1999}
