"""Published parameter sets of lithium-ion cells for the Doyle–Fuller–Newman (DFN) model.

A set is named, unit-labelled data (PyBaMM-style labels, "Negative electrode thickness [m]")
in :data:`SETS`; :func:`cell_parameters` turns a set (optionally with overridden labels) into a
typed :class:`CellParameters` and names every missing label. Functions of the sets (open-circuit
potentials U(θ) [V], exchange-current densities) take numpy arrays or UFL expressions alike, so
the macro weak form and checks use the same code; for numbers, a stoichiometry θ outside [0, 1]
raises ValueError.

Sources (values checked against PyBaMM's parameter files of the same names, which cite them):

- ``Marquis2019``: Kokam SLPB78205130H graphite/LiCoO2 cell, S. G. Marquis, V. Sulzer,
  R. Timms, C. P. Please, S. J. Chapman, "An asymptotic derivation of a single particle model
  with electrolyte", J. Electrochem. Soc. 166 (2019) A3693–A3706, and references therein. Its
  graphite (MCMB 2528) and LiCoO2 OCP fits, solid diffusivities and rate constants are those of
  J. Newman's Dualfoil (1998) code (the LiCoO2 fit with the stoichiometry stretched by 1.062);
  electrolyte LiPF6 in EC:DMC (Capiglia et al. 1999, fe2.physics.electrolytes).
- ``Chen2020``: LG M50 graphite-SiOx/NMC811 cell, C.-H. Chen, F. Brosa Planella, K. O'Regan,
  D. Gastol, W. D. Widanage, E. Kendrick, "Development of experimental techniques for
  parameterization of multi-scale lithium-ion battery models", J. Electrochem. Soc. 167 (2020)
  080534 (Table VII; OCP fits eqs. 8 and 9); electrolyte LiPF6 in EC:EMC (Nyman et al. 2008).

Kinetics (both sets): i₀ = m_ref·exp(E_r/R (1/T_ref − 1/T))·c_e^½·c_s^½·(c_max − c_s)^½ [A/m²]
with m_ref in (A/m²)(m³/mol)^1.5; Arrhenius factors of D_s likewise. Specific surface area
a = 3 ε_s / R_p [1/m] (spheres).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fe2.laws.kinetics import GAS_CONSTANT
from fe2.physics.electrolytes import Electrolyte, capiglia1999, nyman2008

__all__ = ["SETS", "CellParameters", "ElectrodeParameters", "SeparatorParameters",
           "cell_parameters", "check_stoichiometry", "graphite_chen2020",
           "graphite_mcmb2528_dualfoil", "lco_dualfoil", "nmc811_chen2020"]


# ------------------------------------------------------------------ OCP fits U(θ) [V]

def _functions(x: Any) -> tuple[Callable, Callable]:
    """(exp, tanh) for a number/numpy array or a UFL expression."""
    if isinstance(x, int | float | np.ndarray | np.generic):
        return np.exp, np.tanh
    import ufl

    return ufl.exp, ufl.tanh


def check_stoichiometry(theta: Any, what: str) -> None:
    """Raise ValueError if a numeric stoichiometry θ leaves [0, 1] (UFL input is not checked;
    complex θ, for complex-step derivatives, is checked on its real part).

    Args:
        theta: stoichiometry c_s/c_max [-], number or array.
        what: the function's name for the message.
    """
    if not isinstance(theta, int | float | np.ndarray | np.generic):
        return
    values = np.real(np.asarray(theta))  # (complex θ: the complex-step derivative)
    if values.size and not (np.all(values >= 0.0) and np.all(values <= 1.0)):
        raise ValueError(f"{what}: stoichiometry outside [0, 1] (min {values.min():.6g}, "
                         f"max {values.max():.6g})")


def graphite_mcmb2528_dualfoil(theta: Any) -> Any:
    """Graphite (MCMB 2528) OCP [V] of the Marquis 2019 set (Dualfoil 1998 fit)."""
    check_stoichiometry(theta, "graphite_mcmb2528_dualfoil")
    exp, tanh = _functions(theta)
    terms = ((0.0351, 0.286, 0.083), (-0.0045, 0.849, 0.119), (-0.035, 0.9233, 0.05),
             (-0.0147, 0.5, 0.034), (-0.102, 0.194, 0.142), (-0.022, 0.9, 0.0164),
             (-0.011, 0.124, 0.0226), (0.0155, 0.105, 0.029))
    value = 0.194 + 1.5 * exp(-120.0 * theta)
    for amplitude, centre, width in terms:
        value = value + amplitude * tanh((theta - centre) / width)
    return value


def lco_dualfoil(theta: Any) -> Any:
    """LiCoO2 OCP [V] of the Marquis 2019 set (Dualfoil 1998 fit, θ stretched by 1.062)."""
    check_stoichiometry(theta, "lco_dualfoil")
    _, tanh = _functions(theta)
    s = 1.062 * theta
    return (2.16216 + 0.07645 * tanh(30.834 - 54.4806 * s) + 2.1581 * tanh(52.294 - 50.294 * s)
            - 0.14169 * tanh(11.0923 - 19.8543 * s) + 0.2051 * tanh(1.4684 - 5.4888 * s)
            + 0.2531 * tanh((0.56478 - s) / 0.1316) - 0.02167 * tanh((s - 0.525) / 0.006))


def graphite_chen2020(theta: Any) -> Any:
    """LG M50 graphite-SiOx OCP [V], Chen et al. 2020 eq. (8)."""
    check_stoichiometry(theta, "graphite_chen2020")
    exp, tanh = _functions(theta)
    return (1.9793 * exp(-39.3631 * theta) + 0.2482 - 0.0909 * tanh(29.8538 * (theta - 0.1234))
            - 0.04478 * tanh(14.9159 * (theta - 0.2769))
            - 0.0205 * tanh(30.4444 * (theta - 0.6103)))


def nmc811_chen2020(theta: Any) -> Any:
    """LG M50 NMC811 OCP [V], Chen et al. 2020 eq. (9)."""
    check_stoichiometry(theta, "nmc811_chen2020")
    _, tanh = _functions(theta)
    return (-0.8090 * theta + 4.4875 - 0.0428 * tanh(18.5138 * (theta - 0.5542))
            - 17.7326 * tanh(15.7890 * (theta - 0.3117))
            + 17.5842 * tanh(15.9308 * (theta - 0.3120)))


OCP_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "graphite_mcmb2528_dualfoil": graphite_mcmb2528_dualfoil,
    "lco_dualfoil": lco_dualfoil,
    "graphite_chen2020": graphite_chen2020,
    "nmc811_chen2020": nmc811_chen2020,
}

# ------------------------------------------------------------------ the sets (labelled data)

_ELECTRODE_LABELS = {  # field of ElectrodeParameters → label after "Negative "/"Positive "
    "thickness": "electrode thickness [m]",
    "porosity": "electrode porosity [-]",
    "active_fraction": "electrode active material volume fraction [-]",
    "bruggeman_electrolyte": "electrode Bruggeman coefficient (electrolyte) [-]",
    "bruggeman_electrode": "electrode Bruggeman coefficient (electrode) [-]",
    "conductivity": "electrode conductivity [S.m-1]",
    "particle_radius": "particle radius [m]",
    "c_max": "maximum lithium concentration [mol.m-3]",
    "initial_concentration": "initial lithium concentration [mol.m-3]",
    "diffusivity": "particle diffusivity at the reference temperature [m2.s-1]",
    "diffusivity_activation_energy": "particle diffusivity activation energy [J.mol-1]",
    "rate_constant": "reaction rate constant [A.m-2.(m3.mol-1)1.5]",
    "rate_activation_energy": "reaction activation energy [J.mol-1]",
    "charge_transfer_coefficient": "electrode charge transfer coefficient [-]",
    "ocp": "electrode OCP function [V]",
}

SETS: dict[str, dict[str, Any]] = {
    # Marquis et al. 2019 (module docstring); Dualfoil values for the particles and kinetics.
    "Marquis2019": {
        "reference": "Marquis, Sulzer, Timms, Please, Chapman, J. Electrochem. Soc. 166 (2019) "
                     "A3693; particle/kinetic fits from Newman's Dualfoil (1998)",
        "Negative electrode thickness [m]": 100e-6,
        "Separator thickness [m]": 25e-6,
        "Positive electrode thickness [m]": 100e-6,
        "Negative current collector thickness [m]": 25e-6,
        "Positive current collector thickness [m]": 25e-6,
        "Electrode height [m]": 0.137,
        "Electrode width [m]": 0.207,
        "Nominal cell capacity [A.h]": 0.680616,
        "Current function [A]": 0.680616,
        "Negative electrode porosity [-]": 0.3,
        "Negative electrode active material volume fraction [-]": 0.6,
        "Negative electrode Bruggeman coefficient (electrolyte) [-]": 1.5,
        "Negative electrode Bruggeman coefficient (electrode) [-]": 1.5,
        "Negative electrode conductivity [S.m-1]": 100.0,
        "Negative particle radius [m]": 10e-6,
        "Negative maximum lithium concentration [mol.m-3]": 24983.2619938437,
        "Negative initial lithium concentration [mol.m-3]": 19986.609595075,  # θ = 0.8
        "Negative particle diffusivity at the reference temperature [m2.s-1]": 3.9e-14,
        "Negative particle diffusivity activation energy [J.mol-1]": 42770.0,
        "Negative reaction rate constant [A.m-2.(m3.mol-1)1.5]": 2e-5,
        "Negative reaction activation energy [J.mol-1]": 37480.0,
        "Negative electrode charge transfer coefficient [-]": 0.5,
        "Negative electrode OCP function [V]": "graphite_mcmb2528_dualfoil",
        "Separator porosity [-]": 1.0,
        "Separator Bruggeman coefficient (electrolyte) [-]": 1.5,
        "Positive electrode porosity [-]": 0.3,
        "Positive electrode active material volume fraction [-]": 0.5,
        "Positive electrode Bruggeman coefficient (electrolyte) [-]": 1.5,
        "Positive electrode Bruggeman coefficient (electrode) [-]": 1.5,
        "Positive electrode conductivity [S.m-1]": 10.0,
        "Positive particle radius [m]": 10e-6,
        "Positive maximum lithium concentration [mol.m-3]": 51217.9257309275,
        "Positive initial lithium concentration [mol.m-3]": 30730.7554385565,  # θ = 0.6
        "Positive particle diffusivity at the reference temperature [m2.s-1]": 1e-13,
        "Positive particle diffusivity activation energy [J.mol-1]": 18550.0,
        "Positive reaction rate constant [A.m-2.(m3.mol-1)1.5]": 6e-7,
        "Positive reaction activation energy [J.mol-1]": 39570.0,
        "Positive electrode charge transfer coefficient [-]": 0.5,
        "Positive electrode OCP function [V]": "lco_dualfoil",
        "Electrolyte": "Capiglia1999",
        "Electrolyte diffusivity activation energy [J.mol-1]": 37040.0,
        "Electrolyte conductivity activation energy [J.mol-1]": 34700.0,
        "Initial electrolyte concentration [mol.m-3]": 1000.0,
        "Reference temperature [K]": 298.15,
        "Lower voltage cut-off [V]": 3.105,
        "Upper voltage cut-off [V]": 4.1,
    },
    # Chen et al. 2020, Table VII (module docstring).
    "Chen2020": {
        "reference": "Chen, Brosa Planella, O'Regan, Gastol, Widanage, Kendrick, "
                     "J. Electrochem. Soc. 167 (2020) 080534",
        "Negative electrode thickness [m]": 85.2e-6,
        "Separator thickness [m]": 12e-6,
        "Positive electrode thickness [m]": 75.6e-6,
        "Negative current collector thickness [m]": 12e-6,
        "Positive current collector thickness [m]": 16e-6,
        "Electrode height [m]": 0.065,
        "Electrode width [m]": 1.58,
        "Nominal cell capacity [A.h]": 5.0,
        "Current function [A]": 5.0,
        "Negative electrode porosity [-]": 0.25,
        "Negative electrode active material volume fraction [-]": 0.75,
        "Negative electrode Bruggeman coefficient (electrolyte) [-]": 1.5,
        "Negative electrode Bruggeman coefficient (electrode) [-]": 0.0,
        "Negative electrode conductivity [S.m-1]": 215.0,
        "Negative particle radius [m]": 5.86e-6,
        "Negative maximum lithium concentration [mol.m-3]": 33133.0,
        "Negative initial lithium concentration [mol.m-3]": 29866.0,
        "Negative particle diffusivity at the reference temperature [m2.s-1]": 3.3e-14,
        "Negative particle diffusivity activation energy [J.mol-1]": 0.0,
        "Negative reaction rate constant [A.m-2.(m3.mol-1)1.5]": 6.48e-7,
        "Negative reaction activation energy [J.mol-1]": 35000.0,
        "Negative electrode charge transfer coefficient [-]": 0.5,
        "Negative electrode OCP function [V]": "graphite_chen2020",
        "Separator porosity [-]": 0.47,
        "Separator Bruggeman coefficient (electrolyte) [-]": 1.5,
        "Positive electrode porosity [-]": 0.335,
        "Positive electrode active material volume fraction [-]": 0.665,
        "Positive electrode Bruggeman coefficient (electrolyte) [-]": 1.5,
        "Positive electrode Bruggeman coefficient (electrode) [-]": 0.0,
        "Positive electrode conductivity [S.m-1]": 0.18,
        "Positive particle radius [m]": 5.22e-6,
        "Positive maximum lithium concentration [mol.m-3]": 63104.0,
        "Positive initial lithium concentration [mol.m-3]": 17038.0,
        "Positive particle diffusivity at the reference temperature [m2.s-1]": 4e-15,
        "Positive particle diffusivity activation energy [J.mol-1]": 0.0,
        "Positive reaction rate constant [A.m-2.(m3.mol-1)1.5]": 3.42e-6,
        "Positive reaction activation energy [J.mol-1]": 17800.0,
        "Positive electrode charge transfer coefficient [-]": 0.5,
        "Positive electrode OCP function [V]": "nmc811_chen2020",
        "Electrolyte": "Nyman2008",
        "Electrolyte diffusivity activation energy [J.mol-1]": 0.0,
        "Electrolyte conductivity activation energy [J.mol-1]": 0.0,
        "Initial electrolyte concentration [mol.m-3]": 1000.0,
        "Reference temperature [K]": 298.15,
        "Lower voltage cut-off [V]": 2.5,
        "Upper voltage cut-off [V]": 4.2,
    },
}

_ELECTROLYTES = {"Capiglia1999": capiglia1999, "Nyman2008": nyman2008}


# ------------------------------------------------------------------ typed parameters

@dataclass(frozen=True)
class ElectrodeParameters:
    """One porous electrode (units in the labels of :data:`_ELECTRODE_LABELS`).

    Attributes: thickness [m], porosity ε [-], active_fraction ε_s [-], Bruggeman exponents
    [-] (electrolyte: D_eff = D ε^b; electrode: σ_eff = σ ε_s^b), conductivity σ [S/m],
    particle_radius R_p [m], c_max and initial_concentration [mol/m³], diffusivity D_s at
    T_ref [m²/s] and its activation energy [J/mol], rate_constant m_ref
    [(A/m²)(m³/mol)^1.5] and its activation energy [J/mol], charge_transfer_coefficient α [-],
    ocp U(θ) [V].
    """

    name: str
    thickness: float
    porosity: float
    active_fraction: float
    bruggeman_electrolyte: float
    bruggeman_electrode: float
    conductivity: float
    particle_radius: float
    c_max: float
    initial_concentration: float
    diffusivity: float
    diffusivity_activation_energy: float
    rate_constant: float
    rate_activation_energy: float
    charge_transfer_coefficient: float
    ocp: Callable[[Any], Any]

    def __post_init__(self) -> None:
        for key in ("thickness", "particle_radius", "c_max", "diffusivity", "rate_constant",
                    "conductivity"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{self.name} electrode: {key} = {getattr(self, key)} must be "
                                 "positive")
        if not (0 < self.porosity < 1 and 0 < self.active_fraction < 1
                and self.porosity + self.active_fraction <= 1 + 1e-12):
            raise ValueError(f"{self.name} electrode: porosity {self.porosity} and active "
                             f"fraction {self.active_fraction} must lie in (0, 1) and sum ≤ 1")
        check_stoichiometry(self.initial_concentration / self.c_max,
                            f"{self.name} electrode initial concentration")

    @property
    def surface_area(self) -> float:
        """Specific surface area a = 3 ε_s / R_p [1/m] of spherical particles."""
        return 3.0 * self.active_fraction / self.particle_radius

    @property
    def initial_stoichiometry(self) -> float:
        """θ₀ = c₀ / c_max [-]."""
        return self.initial_concentration / self.c_max

    @property
    def effective_conductivity(self) -> float:
        """σ_eff = σ ε_s^b [S/m]."""
        return self.conductivity * self.active_fraction ** self.bruggeman_electrode

    def particle_diffusivity(self, temperature: float) -> float:
        """D_s(T) [m²/s] (Arrhenius about the set's reference temperature 298.15 K)."""
        return self.diffusivity * math.exp(self.diffusivity_activation_energy / GAS_CONSTANT
                                           * (1 / 298.15 - 1 / temperature))

    def exchange_current(self, c_e: Any, c_s: Any, temperature: float = 298.15) -> Any:
        """i₀ = m_ref k(T) c_e^½ c_s^½ (c_max − c_s)^½ [A/m²] (module docstring)."""
        arrhenius = math.exp(self.rate_activation_energy / GAS_CONSTANT
                             * (1 / 298.15 - 1 / temperature))
        return (self.rate_constant * arrhenius * c_e ** 0.5 * c_s ** 0.5
                * (self.c_max - c_s) ** 0.5)


@dataclass(frozen=True)
class SeparatorParameters:
    """Thickness [m], porosity [-], Bruggeman exponent (electrolyte) [-]."""

    thickness: float
    porosity: float
    bruggeman: float


@dataclass(frozen=True)
class CellParameters:
    """A cell: electrodes, separator, electrolyte and operating data (units in the names).

    Attributes:
        name, reference: the set and its publication.
        negative, separator, positive: the layers.
        electrolyte: fe2.physics.electrolytes.Electrolyte (at the reference temperature).
        c_e0: initial electrolyte concentration [mol/m³].
        temperature_ref: reference temperature [K].
        area: electrode area (height × width) [m²].
        capacity_Ah: nominal capacity [A h]; current_1C: the set's current function [A].
        v_min, v_max: voltage cut-offs [V].
        values: the labelled data the parameters were built from.
    """

    name: str
    reference: str
    negative: ElectrodeParameters
    separator: SeparatorParameters
    positive: ElectrodeParameters
    electrolyte: Electrolyte
    c_e0: float
    temperature_ref: float
    area: float
    capacity_Ah: float
    current_1C: float
    v_min: float
    v_max: float
    values: Mapping[str, Any]

    def open_circuit_voltage(self, theta_n: Any, theta_p: Any) -> Any:
        """U_p(θ_p) − U_n(θ_n) [V]."""
        return self.positive.ocp(theta_p) - self.negative.ocp(theta_n)

    def current_density(self, c_rate: float) -> float:
        """Applied current density [A/m²] of a C-rate (nominal current / electrode area)."""
        return c_rate * self.current_1C / self.area


def _required(values: Mapping[str, Any], labels: list[str], name: str) -> None:
    missing = [label for label in labels if label not in values]
    if missing:
        raise KeyError(f"parameter set {name!r} lacks: {'; '.join(missing)}")


def _electrode(values: Mapping[str, Any], side: str) -> ElectrodeParameters:
    kwargs: dict[str, Any] = {}
    for key, label in _ELECTRODE_LABELS.items():
        value = values[f"{side} {label}"]
        if key == "ocp":
            if value not in OCP_FUNCTIONS:
                raise KeyError(f"{side} OCP {value!r}: known {', '.join(OCP_FUNCTIONS)}")
            value = OCP_FUNCTIONS[value]
        else:
            value = float(value)
        kwargs[key] = value
    return ElectrodeParameters(name=side.lower(), **kwargs)


def cell_parameters(name: str, overrides: Mapping[str, Any] | None = None) -> CellParameters:
    """The parameters of set ``name`` of :data:`SETS`, with some labels replaced.

    Raises:
        KeyError: for an unknown set or OCP name, or with every missing label.
        ValueError: for values out of range (e.g. an initial stoichiometry outside [0, 1]).
    """
    if name not in SETS:
        raise KeyError(f"no cell parameter set {name!r}; known: {', '.join(SETS)}")
    values = dict(SETS[name])
    for label, value in (overrides or {}).items():
        if value is None:
            values.pop(label, None)
        else:
            values[label] = value
    labels = [f"{side} {label}" for side in ("Negative", "Positive")
              for label in _ELECTRODE_LABELS.values()]
    labels += ["Separator thickness [m]", "Separator porosity [-]",
               "Separator Bruggeman coefficient (electrolyte) [-]", "Electrolyte",
               "Initial electrolyte concentration [mol.m-3]", "Reference temperature [K]",
               "Electrode height [m]", "Electrode width [m]", "Nominal cell capacity [A.h]",
               "Current function [A]", "Lower voltage cut-off [V]",
               "Upper voltage cut-off [V]"]
    _required(values, labels, name)
    electrolyte = values["Electrolyte"]
    if electrolyte not in _ELECTROLYTES:
        raise KeyError(f"electrolyte {electrolyte!r}: known {', '.join(_ELECTROLYTES)}")
    return CellParameters(
        name=name, reference=str(values.get("reference", "")),
        negative=_electrode(values, "Negative"),
        separator=SeparatorParameters(
            float(values["Separator thickness [m]"]), float(values["Separator porosity [-]"]),
            float(values["Separator Bruggeman coefficient (electrolyte) [-]"])),
        positive=_electrode(values, "Positive"),
        electrolyte=_ELECTROLYTES[electrolyte](),
        c_e0=float(values["Initial electrolyte concentration [mol.m-3]"]),
        temperature_ref=float(values["Reference temperature [K]"]),
        area=float(values["Electrode height [m]"]) * float(values["Electrode width [m]"]),
        capacity_Ah=float(values["Nominal cell capacity [A.h]"]),
        current_1C=float(values["Current function [A]"]),
        v_min=float(values["Lower voltage cut-off [V]"]),
        v_max=float(values["Upper voltage cut-off [V]"]),
        values=values)
