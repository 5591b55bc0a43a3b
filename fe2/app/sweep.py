"""``fe2 sweep``: one transport homogenization case over a grid of ``.geo`` parameters.

A sweep case is a ``fe2 homogenize`` case (``[rve]`` with a ``.geo``, ``[physics]``,
``[materials]``) plus a ``[sweep]`` table::

    [sweep]
    parameters = { porosity = [0.5, 0.6, 0.7], seed = [1, 2, 3] }  # every combination
    linked = { L = [1, 2, 3], N = [16, 64, 144] }  # optional: varied together (one axis)
    spread = "seed"      # optional: the parameter whose values are samples of one population
    x = "porosity"       # "porosity" (measured ε) or a swept parameter: the x axis
    skip_failed = false  # true: a combination that cannot be meshed or solved is skipped
                         # (listed in the JSON and printed) instead of stopping the sweep

Every combination is one cell problem (meshed when out of date, as ``fe2 homogenize`` does);
the combinations are shared out over the MPI ranks, each solved on ``MPI.COMM_SELF``. Rank 0
writes ``<name>.csv`` (one row per combination: its parameters, the porosity ε of the mesh
``porosity_mesh``, D_eff/D and τ per direction; ``inf`` where the pore does not percolate),
``<name>.json`` (the fit below and the rows) and ``<name>.png``:

- ``x = "porosity"``: D_eff/D against ε with the fitted Bruggeman exponent α
  (D_eff/D = ε^α, least squares of ln(D_eff/D) = α ln ε over every percolating direction),
  fitted once per value of ``spread`` (α is their mean, its spread their standard deviation
  and range), next to Bruggeman's ε^1.5;
- otherwise: τ per direction against the parameter ``x``, one curve per value of the other
  swept parameters, mean and standard deviation over ``spread``.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from fe2.app.case import Config, TableReader, config_from_tables, read_toml
from fe2.core.errors import ConfigError, InputError

__all__ = ["Sample", "SweepConfig", "bruggeman_fit", "load_sweep", "run_sweep", "write_sweep"]

logger = logging.getLogger(__name__)
BRUGGEMAN = 1.5  # D_eff/D = ε^1.5 (Bruggeman 1935; DESIGN §6)


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: the base homogenization case and the grid of ``.geo`` parameters."""

    base: Config
    grid: tuple[tuple[str, tuple[float, ...]], ...]
    spread: str | None
    x: str
    linked: tuple[tuple[str, tuple[float, ...]], ...] = ()
    skip_failed: bool = False

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.linked + self.grid]

    def combinations(self) -> list[dict[str, float]]:
        """Every combination of the grid values, times the linked values taken together."""
        rows = list(zip(*(values for _, values in self.linked), strict=True)) or [()]
        linked = [name for name, _ in self.linked]
        grid = [name for name, _ in self.grid]
        return [dict(zip(linked, row, strict=True)) | dict(zip(grid, values, strict=True))
                for row in rows
                for values in itertools.product(*(values for _, values in self.grid))]


@dataclass(frozen=True)
class Sample:
    """One solved combination: its parameters, measured porosity ε [-], D_eff/D and τ per
    direction (None where the pore does not percolate), unknowns and time [s]."""

    parameters: dict[str, float]
    porosity: float
    relative_D_eff: tuple[float, ...]
    tortuosity: tuple[float | None, ...]
    ndofs: int
    time_s: float


def load_sweep(path: str | Path) -> SweepConfig:
    """Read a sweep case (module docstring).

    Raises:
        ConfigError: for a wrong key or value, naming the file and the table.
    """
    path, raw = read_toml(path)
    reader = TableReader(path)
    if "sweep" not in raw:
        raise reader.fail("", "missing table [sweep] (the parameters to sweep)")
    table = reader.table(raw, "", "sweep")
    base = config_from_tables(path, {k: v for k, v in raw.items() if k != "sweep"})
    if not getattr(base.cell, "pore_constants", False):
        raise reader.fail("physics", f"kind = {base.kind!r}: fe2 sweep reports D_eff/D and τ "
                                     "of a transport cell")
    if not base.rve.is_geo:
        raise reader.fail("rve", "mesh must be a .geo file: the sweep sets its parameters")
    reader.keys(table, "sweep", ("parameters", "linked", "spread", "x", "skip_failed"),
                required=("parameters",))
    grid = _lists(reader, table, "parameters")
    if not grid:
        raise reader.fail("sweep", "parameters is empty; give e.g. { seed = [1, 2, 3] }")
    linked = _lists(reader, table, "linked") if "linked" in table else ()
    if len({len(values) for _, values in linked}) > 1:
        raise reader.fail("sweep.linked", "the linked lists must have the same length")
    names = [name for name, _ in linked + grid]
    if len(set(names)) != len(names):
        raise reader.fail("sweep", f"a parameter is both in parameters and linked: {names}")
    spread = table.get("spread")
    if spread is not None and spread not in names:
        raise reader.fail("sweep", f"spread = {spread!r} is not a swept parameter ({names})")
    x = reader.string(table, "sweep", "x", default="porosity")
    if x != "porosity" and x not in names:
        raise reader.fail("sweep", f"x = {x!r}: use 'porosity' or a swept parameter ({names})")
    skip_failed = table.get("skip_failed", False)
    if not isinstance(skip_failed, bool):
        raise reader.fail("sweep", f"skip_failed must be true or false, got {skip_failed!r}")
    return SweepConfig(base, grid, spread, x, linked, skip_failed)


def _lists(reader: TableReader, table: dict[str, Any],
           key: str) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """The ``name = [numbers]`` pairs of ``[sweep] key``, sorted by name."""
    lists = reader.table(table, "sweep", key)
    pairs = []
    for name in sorted(lists):
        values = lists[name]
        if (not isinstance(values, list) or not values or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values)):
            raise reader.fail(f"sweep.{key}", f"{name} must be a non-empty list of numbers, "
                                              f"got {values!r}")
        pairs.append((name, tuple(float(v) for v in values)))
    return tuple(pairs)


def _solve(sweep: SweepConfig, parameters: dict[str, float]) -> Sample:
    from fe2.app.homogenize import homogenize

    merged = dict(sweep.base.rve.parameters) | parameters
    config = replace(sweep.base, rve=replace(sweep.base.rve,
                                             parameters=tuple(sorted(merged.items()))))
    start = time.perf_counter()
    result = homogenize(config, MPI.COMM_SELF)
    constants = result.engineering
    return Sample(parameters, constants["porosity"], tuple(constants["relative_D_eff"]),
                  tuple(constants["tortuosity"]), result.ndofs, time.perf_counter() - start)


def run_sweep(sweep: SweepConfig, comm: MPI.Comm) -> tuple[list[Sample], list[str]]:
    """Solve every combination (shared out over the ranks of ``comm``); every rank gets all
    samples in grid order, and the combinations skipped (``skip_failed``) with their reason.

    Raises:
        InputError: on every rank, if a combination failed with a user's error (a parameter
            the .geo does not define, a packing that cannot be placed or meshed, ...) and
            ``skip_failed`` is off, or if every combination failed.
    """
    combinations = sweep.combinations()
    mine, failed = [], []
    for index in range(comm.rank, len(combinations), comm.size):
        try:
            mine.append((index, _solve(sweep, combinations[index])))
        except InputError as error:
            failed.append((index, f"parameters {combinations[index]}: {error}"))
            if not sweep.skip_failed:
                break
            logger.info("sweep: skipped %s", failed[-1][1])  # rank 0 prints the list
            continue
        logger.info("sweep %d/%d %s done", index + 1, len(combinations), combinations[index])
    failed = sorted(pair for part in comm.allgather(failed) for pair in part)
    gathered = sorted((pair for part in comm.allgather(mine) for pair in part),
                      key=lambda pair: pair[0])
    if failed and (not sweep.skip_failed or not gathered):
        raise InputError("; ".join(message for _, message in failed))
    return [sample for _, sample in gathered], [message for _, message in failed]


@dataclass(frozen=True)
class Fit:
    """Bruggeman exponent α (D_eff/D = ε^α): mean over the ``spread`` groups, their standard
    deviation (0 for one group), range, and the α of every group."""

    alpha: float
    std: float
    low: float
    high: float
    groups: dict[float | str, float]


def bruggeman_fit(samples: list[Sample], spread: str | None) -> Fit:
    """Least squares of ln(D_eff/D) = α ln ε per ``spread`` group (all percolating
    directions of all its samples with 0 < ε < 1)."""
    groups: dict[float | str, list[tuple[float, float]]] = {}
    for sample in samples:
        key = sample.parameters[spread] if spread is not None else "all"
        for relative, tau in zip(sample.relative_D_eff, sample.tortuosity, strict=True):
            if tau is not None and 0 < sample.porosity < 1:
                groups.setdefault(key, []).append((np.log(sample.porosity), np.log(relative)))
    if not groups:
        raise ConfigError("no sample with 0 < porosity < 1 and a percolating direction to fit")
    alphas = {}
    for key, points in groups.items():
        a, b = np.array(points).T
        alphas[key] = float(a @ b / (a @ a))
    values = np.array(list(alphas.values()))
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return Fit(float(values.mean()), std, float(values.min()), float(values.max()), alphas)


def _cell(value: float | None) -> str:
    return "inf" if value is None else f"{value:.10g}"


def write_sweep(sweep: SweepConfig, samples: list[Sample], out: Path,
                failed: list[str] = ()) -> dict[str, Any]:
    """Write ``<name>.csv``, ``<name>.json`` and ``<name>.png`` into ``out`` (call on one
    rank); returns the JSON record."""
    out.mkdir(parents=True, exist_ok=True)
    stem = sweep.base.path.stem
    names = sweep.names
    dim = len(samples[0].relative_D_eff)
    axes = "xyz"[:dim]
    with (out / f"{stem}.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(names + ["porosity_mesh"] + [f"D_eff/D_{a}" for a in axes]
                        + [f"tau_{a}" for a in axes] + ["ndofs", "time_s"])
        for s in samples:
            writer.writerow([f"{s.parameters[n]:g}" for n in names] + [_cell(s.porosity)]
                            + [_cell(v) for v in s.relative_D_eff]
                            + [_cell(v) for v in s.tortuosity] + [s.ndofs, f"{s.time_s:.3f}"])
    record: dict[str, Any] = {
        "config": str(sweep.base.path), "x": sweep.x, "spread": sweep.spread,
        "samples": len(samples), "failed": list(failed),
        "time_s": sum(s.time_s for s in samples),
        "rows": [{"parameters": s.parameters, "porosity": s.porosity,
                  "relative_D_eff": list(s.relative_D_eff), "tortuosity": list(s.tortuosity)}
                 for s in samples]}
    if sweep.x == "porosity":
        fit = bruggeman_fit(samples, sweep.spread)
        record["bruggeman"] = {"alpha": fit.alpha, "std": fit.std, "min": fit.low,
                               "max": fit.high, "reference": BRUGGEMAN,
                               "per_group": {str(k): v for k, v in fit.groups.items()}}
        _plot_bruggeman(sweep, samples, fit, out / f"{stem}.png")
    else:
        record["tortuosity"] = _tortuosity_table(sweep, samples)
        _plot_tortuosity(sweep, record["tortuosity"], out / f"{stem}.png")
    (out / f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def _tortuosity_table(sweep: SweepConfig, samples: list[Sample]) -> list[dict[str, Any]]:
    """Per value of ``x`` and of the other swept parameters (``spread`` aside): mean and
    standard deviation of τ per direction over ``spread`` (None: blocked)."""
    others = [n for n in sweep.names if n not in (sweep.x, sweep.spread)]
    groups: dict[tuple[float, ...], list[Sample]] = {}
    for sample in samples:
        key = tuple(sample.parameters[n] for n in [sweep.x, *others])
        groups.setdefault(key, []).append(sample)
    table = []
    for key, group in groups.items():
        taus = np.array([[np.inf if t is None else t for t in s.tortuosity] for s in group])
        mean = taus.mean(axis=0)
        std = taus.std(axis=0, ddof=1) if len(group) > 1 else np.zeros(len(mean))
        table.append({**dict(zip([sweep.x, *others], key, strict=True)),
                      "samples": len(group),
                      "porosity": float(np.mean([s.porosity for s in group])),
                      "tau": [None if not np.isfinite(m) else float(m) for m in mean],
                      "tau_std": [None if not np.isfinite(m) else float(d)
                                  for m, d in zip(mean, std, strict=True)]})
    return table


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(6.4, 4.8), dpi=120)


def _save(plt, figure, axes, path: Path) -> None:
    """Grid, legend and the PNG at ``path``; the figure is closed."""
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_bruggeman(sweep: SweepConfig, samples: list[Sample], fit: Fit, path: Path) -> None:
    plt, figure, axes = _figure()
    dim = len(samples[0].relative_D_eff)
    for i, marker in zip(range(dim), "o^s", strict=False):
        points = [(s.porosity, s.relative_D_eff[i]) for s in samples
                  if s.tortuosity[i] is not None]
        if points:
            eps, rel = np.array(points).T
            axes.plot(eps, rel, marker, ms=4, alpha=0.7, label=f"cells, direction {'xyz'[i]}")
    eps = np.linspace(min(s.porosity for s in samples) * 0.95, 1.0, 100)
    axes.plot(eps, eps ** fit.alpha, "k-",
              label=f"fit ε^α, α = {fit.alpha:.3f} ± {fit.std:.3f}")
    axes.fill_between(eps, eps ** (fit.alpha + fit.std), eps ** (fit.alpha - fit.std),
                      color="k", alpha=0.15, lw=0)
    axes.plot(eps, eps ** BRUGGEMAN, "r--", label="Bruggeman ε^1.5")
    axes.set_xlabel("porosity ε [-]")
    axes.set_ylabel("D_eff / D [-]")
    spread = f", spread over {sweep.spread}" if sweep.spread else ""
    axes.set_title(f"{sweep.base.path.stem}: {len(samples)} cells{spread}", fontsize=10)
    _save(plt, figure, axes, path)


def _plot_tortuosity(sweep: SweepConfig, table: list[dict[str, Any]], path: Path) -> None:
    plt, figure, axes = _figure()
    others = [n for n in sweep.names if n not in (sweep.x, sweep.spread)]
    curves: dict[tuple[float, ...], list[dict[str, Any]]] = {}
    for row in table:
        curves.setdefault(tuple(row[n] for n in others), []).append(row)
    for key, rows in curves.items():
        label = ", ".join(f"{n} = {v:g}" for n, v in zip(others, key, strict=True))
        for i in range(len(rows[0]["tau"])):
            points = [(row[sweep.x], row["tau"][i], row["tau_std"][i]) for row in rows
                      if row["tau"][i] is not None]
            if points:
                x, tau, std = np.array(points).T
                axes.errorbar(x, tau, yerr=std, marker="o", capsize=3,
                              label=f"τ_{'xyz'[i]}" + (f" ({label})" if label else ""))
    axes.set_xlabel(sweep.x)
    axes.set_ylabel("tortuosity τ = ε D / D_eff [-]")
    spread = f"; mean ± std over {sweep.spread}" if sweep.spread else ""
    axes.set_title(f"{sweep.base.path.stem}{spread}", fontsize=10)
    _save(plt, figure, axes, path)
