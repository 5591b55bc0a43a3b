"""Minimum charging time of a LiMn2O4 particle against applied pressure and temperature, and
which process (solid diffusion or surface reaction) limits it.

    docker/env python3 problems/chemo_mechanics/charging_time.py [--out DIR] [--quick]

Runs the case ``charging_time.toml`` (1D sphere, two-way stress-assisted diffusion, Butler–Volmer
surface flux capped at the overpotential limit η_max and by a hold of the surface concentration
at c_lim) once per (p, T) of the grid, through fe2's API (fe2.app.run.build_problem and the step
solver), and stops each run when the mean concentration reaches the target state of charge.
The protocol takes at every instant the largest insertion flux both limits allow,

    j(t) = min( j_BV(η_max, c_s; k(p, T)) , κ (c_lim − c_s) ),

so the time it needs is the minimum charging time under the two limits (for the linear,
one-way diffusion problem exactly, by the comparison principle: no admissible flux history puts
more lithium into the particle at any time; for the two-way problem it is the greedy policy).
The time is split into the part the reaction limit sets (η = η_max, c_s < c_lim) and the part
the diffusion limit sets (c_s = c_lim); the process with the larger share limits the charge.

Writes ``charging_time.csv`` (one row per (p, T): charging time, shares, rate factors of D and k,
largest hoop stress) and ``charging_time.png`` (charging time against p for each T, marked by the
limiting process) into ``--out`` (default ``build/studies/charging_time``) on rank 0.
``--quick``: two pressures and two temperatures on a coarse mesh with coarse steps (tests).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASE = HERE / "charging_time.toml"
PRESSURES = (0.0, 0.1e9, 0.25e9, 0.5e9, 0.75e9, 1.0e9, 1.25e9, 1.5e9, 2.0e9)  # p [Pa]
TEMPERATURES = (273.0, 288.0, 303.0, 318.0, 333.0)  # [K]
TARGET_SOC = 0.8  # the charge ends when the mean concentration reaches 0.8 c_max
COLUMNS = ("pressure_Pa", "temperature_K", "charging_time_s", "limited_by",
           "reaction_limited_share", "diffusion_limited_share", "diffusivity_factor",
           "rate_constant_factor", "thermal_stress_Pa", "mean_current_A_per_m2",
           "hoop_stress_max_Pa", "steps")


class _Reached(Exception):
    """The mean concentration reached the target."""


def charging_time(pressure: float, temperature: float, comm, case: Path = CASE,
                  target_soc: float = TARGET_SOC, mesh: dict | None = None,
                  resolution: float = 240.0) -> dict:
    """One run of ``case`` at (p [Pa], T [K]) until the mean concentration reaches
    ``target_soc`` c_max: the row of :data:`COLUMNS` (every rank). ``mesh`` overrides
    parameters of the case's mesh (e.g. {"n": 30}); the time step is at most 1/``resolution``
    of a rough estimate of the charging time.

    Raises:
        ConfigError: T ≤ 0 or a case the run cannot use; RuntimeError if the target is not
            reached within the run's time window (every rank).
    """
    from fe2.app.run import build_problem
    from fe2.app.run_case import load_run_config
    from fe2.core.errors import ConfigError
    from fe2.core.solvers import make_solver
    from fe2.core.stepping import SteppingFailed, SteppingState, run_steps
    from fe2.laws.kinetics import FARADAY

    if not temperature > 0:
        raise ConfigError(f"temperature = {temperature:g} K: must be positive")
    config = load_run_config(case)
    definition = config.definition
    definition.temperature = temperature
    definition.kinetics = dataclasses.replace(definition.kinetics, pressure=pressure)
    if mesh:
        macro = dataclasses.replace(config.macro, parameters=tuple(
            (name, mesh.get(name, value)) for name, value in config.macro.parameters))
        config = dataclasses.replace(config, macro=macro)
    (region,) = definition.active
    c_max = definition.regions[region].c_max
    factors = definition._rate_factors(region)
    # time window from the reaction-limited estimate at the reference rate (≈ 1.5 A/m²)
    charge = (target_soc * c_max - definition.c0) * FARADAY * 5e-6 / 3  # [C/m²]
    estimate = charge / (1.5 * min(factors["rate_constant_factor"],
                                   factors["diffusivity_factor"]))
    stepping = dataclasses.replace(config.stepping, end=20 * estimate,
                                   initial_step=estimate / 2000,
                                   max_step=estimate / resolution,
                                   min_step=estimate * 1e-7)
    config = dataclasses.replace(config, stepping=stepping)
    problem = build_problem(config, comm)
    solver = make_solver(problem, config.solver)
    target = target_soc * c_max
    rows: list[tuple[float, float, dict]] = []  # (t, dt, scalars)
    last = [0.0]

    def converged(result, state) -> None:
        values = definition.scalars(problem)
        rows.append((state.position, state.position - last[0], values))
        last[0] = state.position
        if values["c_mean"] >= target:
            raise _Reached

    reached = False
    try:
        run_steps(solver, stepping, SteppingState(step=stepping.initial_step), converged)
    except _Reached:
        reached = True
    except SteppingFailed as failure:
        raise RuntimeError(f"p = {pressure:g} Pa, T = {temperature:g} K: {failure}") from None
    finally:
        solver.destroy()
    if not reached:
        raise RuntimeError(f"p = {pressure:g} Pa, T = {temperature:g} K: the mean "
                           f"concentration did not reach {target:g} mol/m³ within "
                           f"{stepping.end:.4g} s")
    (t1, dt1, last_values), before = rows[-1], rows[-2][2] if len(rows) > 1 else None
    c_before = before["c_mean"] if before else definition.c0
    fraction = (target - c_before) / (last_values["c_mean"] - c_before)
    time = t1 - dt1 * (1 - fraction)
    steps = [(dt, v["surface_limit"]) for _, dt, v in rows[:-1]] + [
        (dt1 * fraction, last_values["surface_limit"])]
    shares = {code: sum(dt for dt, limit in steps if limit == code) / time
              for code in (1.0, 2.0)}
    return {"pressure_Pa": pressure, "temperature_K": temperature,
            "charging_time_s": time,
            "limited_by": "diffusion" if shares[2.0] > shares[1.0] else "reaction",
            "reaction_limited_share": shares[1.0], "diffusion_limited_share": shares[2.0],
            "diffusivity_factor": factors["diffusivity_factor"],
            "rate_constant_factor": factors["rate_constant_factor"],
            "thermal_stress_Pa": factors["thermal_stress_Pa"],
            "mean_current_A_per_m2": (target - definition.c0) * FARADAY * definition.volume
            / definition.area / time,
            "hoop_stress_max_Pa": max(v["hoop_stress_max"] for _, _, v in rows),
            "steps": len(rows)}


def main(argv: list[str] | None = None) -> int:
    from mpi4py import MPI

    from fe2.core.collective import on_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/studies/charging_time"))
    parser.add_argument("--case", type=Path, default=CASE,
                        help="the base case (default charging_time.toml beside this script)")
    parser.add_argument("--quick", action="store_true",
                        help="two pressures, two temperatures, coarse mesh")
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD
    pressures, temperatures, mesh, resolution = PRESSURES, TEMPERATURES, None, 240.0
    if args.quick:
        pressures, temperatures, mesh, resolution = (0.0, 2.0e9), (293.0, 313.0), {"n": 30}, 60.0
    rows = [charging_time(p, t, comm, args.case, mesh=mesh, resolution=resolution)
            for t in temperatures for p in pressures]

    def write() -> None:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "charging_time.csv").open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(COLUMNS)
            writer.writerows([[row[k] if isinstance(row[k], str) else f"{row[k]:.8g}"
                               for k in COLUMNS] for row in rows])
        _plot(rows, args.out / "charging_time.png")
        for row in rows:
            print(f"T = {row['temperature_K']:g} K, p = {row['pressure_Pa'] / 1e6:g} MPa: "
                  f"t = {row['charging_time_s']:.1f} s, {row['limited_by']} limited "
                  f"(diffusion share {row['diffusion_limited_share']:.2f})")
        print(f"wrote {args.out}/charging_time.csv, .png")

    on_root(comm, write)
    return 0


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=120)
    temperatures = sorted({row["temperature_K"] for row in rows})
    for k, temperature in enumerate(temperatures):
        part = sorted((r for r in rows if r["temperature_K"] == temperature),
                      key=lambda r: r["pressure_Pa"])
        p = np.array([r["pressure_Pa"] for r in part]) / 1e9
        t = np.array([r["charging_time_s"] for r in part]) / 60
        colour = f"C{k}"
        axes[0].plot(p, t, "-", color=colour, label=f"T = {temperature:g} K")
        for x, y, r in zip(p, t, part, strict=True):
            diffusion = r["limited_by"] == "diffusion"
            axes[0].plot(x, y, "s" if diffusion else "o", color=colour,
                         mfc="none" if diffusion else colour, ms=7)
        axes[1].plot(p, [r["diffusion_limited_share"] for r in part], "o-", color=colour,
                     label=f"T = {temperature:g} K")
    axes[0].plot([], [], "ko", label="reaction limited (η = η_max)")
    axes[0].plot([], [], "ks", mfc="none", label="diffusion limited (c_s = c_lim)")
    axes[0].set(xlabel="applied pressure p [GPa]", ylabel="minimum charging time [min]",
                title="time to 80 % SOC, LiMn2O4 particle R = 5 µm")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[1].axhline(0.5, color="k", lw=0.8, ls=":")
    axes[1].set(xlabel="applied pressure p [GPa]", ylim=(-0.02, 1.02),
                ylabel="share of the charging time at c_s = c_lim [-]",
                title="diffusion-limited share (> 0.5: diffusion limits)")
    axes[1].legend(fontsize=8)
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
