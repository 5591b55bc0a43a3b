"""Constriction study: the tortuosity along a pore of varying width against the 1D estimates.

    docker/env python3 problems/porous_electrode/constriction_study.py [--out DIR] [--quick]
    docker/env mpirun -n 2 python3 problems/porous_electrode/constriction_study.py

Runs the sweep ``constriction_sweep.toml`` (the channel ``meshes/rve_channel2d.geo`` of width
w(x) = w (1 + δ cos 2πx/L) in a cell of height H, pore phase only) and compares τ_x of the cell
problem with the two 1D estimates of a channel made of thin slices across it:

- slices in series (each carries the same flux): D_eff = D (1/H) <1/w>⁻¹, the harmonic mean of
  the width, i.e. τ = <w> <1/w> = 1/√(1 − δ²) for this profile;
- slices side by side (arithmetic mean of the width): τ = 1.

Writes ``constriction_study.csv`` (δ, L, L/w, ε, τ_x, harmonic τ, relative difference) and
``constriction_study.png`` (τ_x against L/w with the harmonic estimates) into ``--out`` (default
``build/sweeps/constriction_study``) on rank 0. ``--quick``: two lengths, P1 on a coarse mesh
(h = 0.05; for the tests).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def harmonic_tortuosity(delta: float) -> float:
    """τ of slices in series for w(x) = w (1 + δ cos 2πx/L): <w><1/w> = 1/√(1 − δ²)."""
    return 1.0 / np.sqrt(1.0 - delta ** 2)


def main(argv: list[str] | None = None) -> int:
    from mpi4py import MPI

    from fe2.app.sweep import load_sweep, run_sweep
    from fe2.core.collective import on_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/sweeps/constriction_study"))
    parser.add_argument("--quick", action="store_true", help="two lengths, coarse mesh")
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD
    sweep = load_sweep(HERE / "constriction_sweep.toml")
    if args.quick:
        grid = tuple((name, (0.5, 4.0) if name == "L" else values) for name, values in sweep.grid)
        coarse = tuple((n, 0.05 if n == "h" else v) for n, v in sweep.base.rve.parameters)
        rve = dataclasses.replace(sweep.base.rve, degree=1, parameters=coarse)
        sweep = dataclasses.replace(sweep, grid=grid,
                                    base=dataclasses.replace(sweep.base, rve=rve))
    samples, _ = run_sweep(sweep, comm)
    base = dict(sweep.base.rve.parameters)
    rows = []
    for sample in samples:
        delta, length = sample.parameters["delta"], sample.parameters["L"]
        reference = harmonic_tortuosity(delta)
        tau = sample.tortuosity[0]
        rows.append((delta, length, length / base["w"], sample.porosity, tau, reference,
                     (tau - reference) / reference))

    def write() -> None:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "constriction_study.csv").open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["delta", "L", "L_over_w", "porosity_mesh", "tau_x", "tau_harmonic",
                             "relative_difference"])
            writer.writerows([[f"{v:.10g}" for v in row] for row in rows])
        _plot(rows, args.out / "constriction_study.png")
        for row in rows:
            print(f"delta = {row[0]:g}, L/w = {row[2]:g}: tau_x = {row[4]:.4f}, harmonic "
                  f"{row[5]:.4f} ({100 * row[6]:+.2f} %)")
        print(f"wrote {args.out}/constriction_study.csv, .png")

    on_root(comm, write)
    return 0


def _plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    data = np.array(rows)
    for k, delta in enumerate(np.unique(data[:, 0])):
        part = data[data[:, 0] == delta]
        colour = f"C{k}"
        axes.plot(part[:, 2], part[:, 4], "o-", color=colour, label=f"cell problem, δ = {delta:g}")
        axes.axhline(harmonic_tortuosity(delta), color=colour, ls="--", lw=1)
    axes.axhline(1.0, color="k", ls=":", lw=1, label="arithmetic mean of the width (τ = 1)")
    axes.plot([], [], "k--", lw=1, label="harmonic mean of the width, 1/√(1 − δ²)")
    axes.set_xscale("log")
    axes.set_xlabel("channel length per constriction / mean width, L/w [-]")
    axes.set_ylabel("τ_x = ε D / D_eff,x [-]")
    axes.set_title("pore with a constriction: w(x) = w (1 + δ cos 2πx/L)", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
