"""Intercalation materials of electrode particles as named, unit-labelled parameter sets.

A set maps PyBaMM-style labels ("Young's modulus [Pa]") to values; :data:`CASE_KEYS` says
which case key (``[regions.<group>]`` of fe2.physics.chemo_mechanics) reads which label, so a
case can start from a set (``set = "ZhangShyySastry2007"``) and override single values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CASE_KEYS", "SETS", "IntercalationMaterial", "set_values"]

# case key → label of the parameter sets (units in the label)
CASE_KEYS = {
    "E": "Young's modulus [Pa]",
    "nu": "Poisson's ratio [-]",
    "D": "Lithium diffusivity [m2.s-1]",
    "Omega": "Partial molar volume [m3.mol-1]",
    "c_max": "Maximum lithium concentration [mol.m-3]",
}

SETS: dict[str, dict[str, Any]] = {
    # X. Zhang, W. Shyy, A. M. Sastry, "Numerical simulation of intercalation-induced stress in
    # Li-ion battery electrode particles", J. Electrochem. Soc. 154 (2007) A910-A916, Table I
    # (LiMn2O4 particle); also ../shared/DESIGN.md §6.
    "ZhangShyySastry2007": {
        "Young's modulus [Pa]": 10e9,
        "Poisson's ratio [-]": 0.3,
        "Lithium diffusivity [m2.s-1]": 7.08e-15,
        "Partial molar volume [m3.mol-1]": 3.497e-6,
        "Maximum lithium concentration [mol.m-3]": 2.29e4,
        "Temperature [K]": 303.0,
        "Particle radius [m]": 5e-6,
        "Surface current density [A.m-2]": 2.0,
        "Initial lithium concentration [mol.m-3]": 0.0,
        "reference": "Zhang, Shyy, Sastry, J. Electrochem. Soc. 154 (2007) A910, Table I",
    },
}


@dataclass(frozen=True)
class IntercalationMaterial:
    """An isotropic elastic host that stores lithium.

    Attributes:
        E: Young's modulus [Pa].
        nu: Poisson's ratio [-].
        D: lithium diffusivity [m²/s]; 0 with Omega = 0 and c_max = 0: a passive phase (a
            binder: elastic, no lithium).
        Omega: partial molar volume [m³/mol]: the chemical strain is (Ω/3)(c − c₀) I.
        c_max: maximum lithium concentration [mol/m³].
    """

    E: float
    nu: float
    D: float = 0.0
    Omega: float = 0.0
    c_max: float = 0.0

    def __post_init__(self) -> None:
        if not self.E > 0:
            raise ValueError(f"E = {self.E:g} Pa: Young's modulus must be positive")
        if not -1 < self.nu < 0.5:
            raise ValueError(f"nu = {self.nu:g}: Poisson's ratio must lie in (-1, 0.5)")
        lithium = (self.D, self.Omega, self.c_max)
        if any(value != 0 for value in lithium):
            for name, value, unit in (("D", self.D, "m²/s"), ("Omega", self.Omega, "m³/mol"),
                                      ("c_max", self.c_max, "mol/m³")):
                if not value > 0:
                    raise ValueError(f"{name} = {value:g} {unit}: must be positive in a phase "
                                     "that stores lithium (give D, Omega and c_max, or none "
                                     "of them for a passive phase)")

    @property
    def active(self) -> bool:
        """True if the phase stores lithium."""
        return self.D > 0

    def lame(self) -> tuple[float, float]:
        """(λ, μ) [Pa] of the 3D law."""
        lam = self.E * self.nu / ((1 + self.nu) * (1 - 2 * self.nu))
        return lam, self.E / (2 * (1 + self.nu))


def set_values(name: str) -> dict[str, float]:
    """The case keys (:data:`CASE_KEYS`) of parameter set ``name``.

    Raises:
        KeyError: with the known sets.
    """
    if name not in SETS:
        raise KeyError(f"no parameter set {name!r}; known: {', '.join(SETS)}")
    values = SETS[name]
    return {key: float(values[label]) for key, label in CASE_KEYS.items() if label in values}
