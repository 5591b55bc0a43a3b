"""``make validate``: every shipped case with a published or closed-form answer, in one table.

    docker/env python3 bench/validate.py [--csv OUT] [--only particle sent ...]

Columns: case, quantity, ours, reference, relative difference, and where the reference comes
from. Each physics adds its rows to ROWS (a function per case returning its rows). The suite
(``make test``) checks coarse variants of the same cases with stated tolerances; this table is
the full-size record.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "problems"
Row = tuple[str, str, float, float, str]  # case, quantity, ours, reference, source


def _homogenize(case: Path):
    from mpi4py import MPI

    from fe2.app.case import load_config
    from fe2.app.homogenize import homogenize

    return homogenize(load_config(case), MPI.COMM_SELF)


def _run(case: Path, out: Path):
    from mpi4py import MPI

    from fe2.app.run import run
    from fe2.app.run_case import load_run_config

    return run(load_run_config(case), out, MPI.COMM_SELF, progress=False, figures=False)


def hexagonal(out: Path) -> list[Row]:
    """DESIGN §6: comet-fenicsx periodic homogenization tour (hexagonal cell, R = 0.2, P2)."""
    result = _homogenize(PROBLEMS / "mechanics" / "rve_hexagonal_periodic.toml")
    C, source = result.tensor, "comet-fenicsx periodic homogenization tour"
    name = "mechanics/rve_hexagonal_periodic"
    return [(name, "C1111", C[0, 0], 65551, source), (name, "C1122", C[0, 1], 17441, source),
            (name, "C2222", C[1, 1], 65562, source),
            (name, "C1212", C[2, 2] / 2, 24062, source),
            (name, "E", result.engineering["E"], 58235, source),
            (name, "nu", result.engineering["nu"], 0.210, source)]


def laminate(out: Path) -> list[Row]:
    """Exact laminate formulas (DESIGN §6), layers normal to x2, f = 0.5."""
    from fe2.laws.materials import lame

    result = _homogenize(PROBLEMS / "mechanics" / "rve_laminate.toml")
    f = np.array([0.5, 0.5])
    lam, mu = np.array([lame(10e3, 0.3), lame(100e3, 0.2)]).T
    C2222 = 1 / np.sum(f / (lam + 2 * mu))
    C1212 = 1 / np.sum(f / mu)
    C1122 = np.sum(f * lam / (lam + 2 * mu)) * C2222
    C1111 = np.sum(f * (lam + 2 * mu - lam ** 2 / (lam + 2 * mu))) + np.sum(
        f * lam / (lam + 2 * mu)) ** 2 * C2222
    C, name, source = result.tensor, "mechanics/rve_laminate", "exact laminate formulas"
    return [(name, "C1111", C[0, 0], C1111, source), (name, "C2222", C[1, 1], C2222, source),
            (name, "C1122", C[0, 1], C1122, source),
            (name, "C1212", C[2, 2] / 2, C1212, source)]


def heated_bar(out: Path) -> list[Row]:
    """Closed form of the bar between walls (problems/thermoelasticity/README.md)."""
    from fe2.laws.materials import lame

    outcome = _run(PROBLEMS / "thermoelasticity" / "heated_bar.toml", out / "heated_bar")
    lam, mu = lame(200e9, 0.3)
    reference = -(3 * lam + 2 * mu) * 1.2e-5 * 100.0 * 0.1 / 2
    return [("thermoelasticity/heated_bar", "wall reaction [N/m]",
             outcome.summary["steps"][-1]["reaction"], reference, "closed form")]


def transient_slab(out: Path) -> list[Row]:
    """Series solution of diffusion into a slab (Crank, eq. 4.17), c at x = L/2, t = 0.1."""
    rows = []
    for name in ("transient_slab", "transient_slab_fe2"):
        outcome = _run(PROBLEMS / "transport" / f"{name}.toml", out / name)
        problem = outcome.problem
        D = 1.0 if not problem.couplings else \
            problem.couplings[0].regions[0].dispatcher.model.D_hom[0, 0]
        x, c = problem.owned_values("c")
        middle = np.argmin(np.abs(x[:, 0] - 0.5) + np.abs(x[:, 1]))
        n = 2 * np.arange(200) + 1
        a, t = D / 0.5, 0.1
        series = 1 - np.sum(4 / (n * np.pi) * np.sin(n * np.pi * 0.5 / 2)
                            * np.exp(-(n ** 2) * np.pi ** 2 * a * t / 4))
        rows.append((f"transport/{name}", "c(L/2, t=0.1) [c1]", c[middle, 0], series,
                     "series solution, backward Euler dt = 0.005"))
    return rows


def layered_cell(out: Path) -> list[Row]:
    """Layers in series (DESIGN §6): flux = c_R / Σ L_i/D_i with the RVEs' D_eff."""
    outcome = _run(PROBLEMS / "transport" / "layered_cell_fe2.toml", out / "layered")
    D_n, D_p = (r.dispatcher.model.D_hom[0, 0] for r in outcome.problem.couplings[0].regions)
    flux = 1000.0 / (100e-6 / D_n + 25e-6 / 3e-11 + 100e-6 / D_p) * 20e-6
    return [("transport/layered_cell_fe2", "|reaction| [mol/(m s)]",
             abs(outcome.summary["steps"][-1]["reaction"]), flux, "layers in series")]


def fracture_bars(out: Path) -> list[Row]:
    """Homogeneous AT2 and AT1 bars (DESIGN §6; Pham et al. 2011): E, Gc, ℓ of the cases."""
    E, Gc, ell, H = 210.0, 2.7e-3, 0.015, 0.1
    rows = []
    for name, reference, what in (
            ("bar_at2", 3 / 16 * np.sqrt(3 * E * Gc / ell), "peak stress [kN/mm2]"),
            ("bar_at1", np.sqrt(3 * Gc * E / (8 * ell)), "elastic limit [kN/mm2]")):
        outcome = _run(PROBLEMS / "phase_field" / f"{name}.toml", out / name)
        peak = max(s["reaction"] for s in outcome.summary["steps"]) / H
        rows.append((f"phase_field/{name}", what, peak, reference, "closed form"))
    return rows


def sent(out: Path) -> list[Row]:
    """Single-edge-notched tension: peak force and its displacement against the published
    curves (Miehe et al. 2010; Ambati et al. 2015), values read off their figures."""
    steps = _run(PROBLEMS / "phase_field" / "sent.toml", out / "sent").summary["steps"]
    peak = max(steps, key=lambda s: s["reaction"])
    source = "Miehe et al. 2010 (read off the figure, approximate)"
    return [("phase_field/sent", "peak force [kN]", peak["reaction"], 0.7, source),
            ("phase_field/sent", "displacement at peak [mm]", peak["boundary_value"], 5.8e-3,
             source)]


def porous_microstructure(out: Path) -> list[Row]:
    """Porous-electrode cells (problems/porous_electrode/README.md): layered cell
    (DESIGN §6 means), straight pore (τ = 1), a long constricted pore against the 1D harmonic
    estimate, and the fitted Bruggeman exponent of the 2D packs against Bruggeman's 1.5."""
    import dataclasses

    from mpi4py import MPI

    from fe2.app.case import load_config
    from fe2.app.homogenize import homogenize
    from fe2.app.sweep import bruggeman_fit, load_sweep, run_sweep

    cases = PROBLEMS / "porous_electrode"
    D = _homogenize(cases / "layered.toml").tensor
    f, D_a, D_b = 0.3, 1.0, 0.1
    rows = [("porous_electrode/layered", "D_xx (along)", D[0, 0], f * D_a + (1 - f) * D_b,
             "arithmetic mean"),
            ("porous_electrode/layered", "D_yy (across)", D[1, 1],
             1 / (f / D_a + (1 - f) / D_b), "harmonic mean"),
            ("porous_electrode/straight_pore", "tau_x",
             _homogenize(cases / "straight_pore.toml").engineering["tortuosity"][0], 1.0,
             "straight pore")]
    config = load_config(cases / "constriction.toml")
    long = dataclasses.replace(config, rve=dataclasses.replace(
        config.rve, parameters=(("L", 4.0), ("delta", 0.5), ("h", 0.03))))
    tau = homogenize(long, MPI.COMM_SELF).engineering["tortuosity"][0]
    rows.append(("porous_electrode/constriction", "tau_x, L/w = 8, delta 0.5", tau,
                 1 / np.sqrt(1 - 0.5 ** 2), "1D harmonic mean of the width"))
    sweep = load_sweep(cases / "bruggeman_2d.toml")
    fit = bruggeman_fit(run_sweep(sweep, MPI.COMM_SELF)[0], sweep.spread)
    rows.append(("porous_electrode/bruggeman_2d", f"alpha (+-{fit.std:.3f} over seeds)",
                 fit.alpha, 1.5, "Bruggeman 1935 (3D spheres)"))
    return rows


def _variant(case: Path, out: Path, replacements: list[tuple[str, str]]) -> Path:
    """A copy of a shipped case in ``out`` with text replaced (mesh paths made absolute)."""
    text = case.read_text().replace('"../../meshes/', f'"{ROOT / "meshes"}/')
    for old, new in replacements:
        if old not in text:
            raise ValueError(f"{old!r} is not in {case.name}")
        text = text.replace(old, new)
    out.mkdir(parents=True, exist_ok=True)
    path = out / case.name
    path.write_text(text)
    return path


def _profile(out: Path, t: float) -> np.ndarray:
    """Rows (r, c, σ_r, σ_θ) of a chemo-mechanics run's profiles.csv at time t."""
    data = np.loadtxt(out / "profiles.csv", delimiter=",", skiprows=1)
    return data[np.isclose(data[:, 0], t)][:, 1:]


def particle(out: Path) -> list[Row]:
    """Charging particle (problems/chemo_mechanics/README.md; DESIGN §6, Zhang, Shyy, Sastry
    2007): one-way 1D against the quasi-steady S(1 − r²/R²), S(1 − 2r²/R²) at 1000 s and
    against the closed form from its own c(r) at 500 s; the 2D axisymmetric and 3D octant
    particles (two-way) against the 1D radial one at the same times."""
    E, nu, omega, D, R, current = 10e9, 0.3, 3.497e-6, 7.08e-15, 5e-6, 2.0
    S = omega * E * (current / 96485.33212) * R / (15 * (1 - nu) * D)
    cases = PROBLEMS / "chemo_mechanics"
    one_way = out / "sphere_one_way"
    _run(_variant(cases / "sphere_charge.toml", one_way,
                  [('coupling = "two_way"', 'coupling = "one_way"')]), one_way)
    late = _profile(one_way, 1000.0)
    r, c, radial, _ = _profile(one_way, 500.0).T
    average = c.copy()  # c̄(r) of the piecewise linear c, exactly
    slope = np.diff(c) / np.diff(r)
    pieces = ((c[:-1] - slope * r[:-1]) * np.diff(r ** 3) / 3 + slope * np.diff(r ** 4) / 4)
    average[1:] = 3 * np.cumsum(pieces) / r[1:] ** 3
    closed = 2 * omega * E / (9 * (1 - nu)) * (average[-1] - average[0])
    name = "chemo_mechanics/sphere (1-way)"
    rows = [(name, "sigma_r(0), 1000 s [MPa]", late[0, 2] / 1e6, S / 1e6, "quasi-steady S"),
            (name, "sigma_t(R), 1000 s [MPa]", late[-1, 3] / 1e6, -S / 1e6, "quasi-steady -S"),
            (name, "sigma_r(0), 500 s [MPa]", radial[0] / 1e6, closed / 1e6,
             "closed form from c(r)")]
    runs = {}
    for case in ("sphere_charge", "sphere_axisymmetric", "sphere_octant"):
        runs[case] = out / case
        _run(cases / f"{case}.toml", runs[case])
    for case in ("sphere_axisymmetric", "sphere_octant"):
        t = 1000.0
        ours, radial_1d = _profile(runs[case], t), _profile(runs["sphere_charge"], t)
        for label, column, at in (("sigma_r(0)", 2, 0), ("sigma_t(R)", 3, -1)):
            rows.append((f"chemo_mechanics/{case}", f"{label}, {t:g} s [MPa]",
                         ours[at, column] / 1e6, radial_1d[at, column] / 1e6, "1D radial model"))
    return rows


ROWS: list[Callable[[Path], list[Row]]] = [hexagonal, laminate, heated_bar, transient_slab,
                                           layered_cell, fracture_bars, sent,
                                           porous_microstructure, particle]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    parser.add_argument("--only", nargs="+", choices=[f.__name__ for f in ROWS],
                        help="only these groups of rows")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for make_rows in ROWS:
            if args.only is None or make_rows.__name__ in args.only:
                rows += make_rows(Path(folder))
    header = f"{'case':<38}{'quantity':<26}{'ours':>14}{'reference':>14}{'difference':>12}  source"
    print(header)
    print("-" * len(header))
    for case, quantity, ours, reference, source in rows:
        difference = (ours - reference) / abs(reference) if reference else ours
        print(f"{case:<38}{quantity:<26}{ours:>14.6g}{reference:>14.6g}{difference:>12.2e}  "
              f"{source}")
    if args.csv:
        with args.csv.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["case", "quantity", "ours", "reference", "source"])
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
