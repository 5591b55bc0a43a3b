"""The ``fe2`` command line: one subcommand per task, heavy imports only when a task runs."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from fe2 import __version__
from fe2.core.errors import InputError, OutputError

__all__ = ["main"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parameter(text: str) -> tuple[str, float]:
    from fe2.io.meshing import parse_parameter

    try:
        return parse_parameter(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")\
            from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fe2", description="FE² multiscale solver on FEniCSx (dolfinx 0.9). Exit status "
                                "2 for bad input (case, mesh, checkpoint, output path), printed "
                                "as one message; --debug adds the traceback.")
    parser.add_argument("--version", action="version", version=f"fe2 {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="print the traceback of an error, not only its message")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    mesh = commands.add_parser(
        "mesh", parents=[common],
        help="mesh Gmsh .geo files into .msh (in parallel, skipping up-to-date ones)",
        description="Turn .geo files into .msh files with Gmsh. A file whose .msh is newer "
                    "and was made with the same options is skipped. Exit status 1 if any failed.")
    mesh.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".geo sources")
    mesh.add_argument("--out", type=Path, metavar="DIR",
                      help="output folder (default: beside each source)")
    mesh.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                      help="parallel processes (default: number of cores)")
    mesh.add_argument("--order", type=int, choices=(1, 2), default=1, help="element order")
    mesh.add_argument("--size-factor", type=float, default=1.0, metavar="F",
                      help="multiply all mesh sizes by F (< 1 refines)")
    mesh.add_argument("--set", type=_parameter, action="append", default=[],
                      metavar="NAME=VALUE", help="override a DefineConstant parameter")
    mesh.add_argument("--xdmf", action="store_true", help="also write XDMF files (meshio)")
    mesh.add_argument("--force", action="store_true", help="re-mesh even if up to date")
    mesh.set_defaults(run=_run_mesh)

    plot = commands.add_parser(
        "plot", parents=[common],
        help="render a .msh file with its phases coloured to a PNG (off-screen)")
    plot.add_argument("file", type=Path, metavar="MSH")
    plot.add_argument("--png", type=Path, required=True, metavar="OUT", help="PNG to write")
    plot.set_defaults(run=_run_plot)

    homogenize = commands.add_parser(
        "homogenize", parents=[common],
        help="effective stiffness or diffusivity of an RVE case (.toml)",
        description="Solve the linear cell problem of a TOML case (see problems/README.md) and "
                    "print the effective tensor and engineering constants. Under mpirun only "
                    "rank 0 prints and writes. Exit status 2 for a bad case or mesh.")
    homogenize.add_argument("config", type=Path, metavar="CONFIG.toml")
    homogenize.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON")
    homogenize.add_argument("--png", type=Path, metavar="OUT",
                            help="picture of the phases and the micro field of --strain")
    homogenize.add_argument("--strain", type=_floats, metavar="V1,V2,...",
                            help="macro strain for the picture and the printed stress, in the "
                                 "notation of the tensor (Mandel: the shear entry is sqrt2*e12; "
                                 "transport: the gradient); default: unit e11 / unit d/dx")
    homogenize.set_defaults(run=_run_homogenize)

    sweep = commands.add_parser(
        "sweep", parents=[common],
        help="a transport homogenization case over a grid of .geo parameters (.toml): CSV, "
             "PNG, fitted Bruggeman exponent",
        description="Solve the cell problem of a sweep case (see "
                    "problems/porous_electrode/README.md) for every combination of its "
                    "[sweep] parameters, shared out over the MPI ranks; rank 0 writes "
                    "<name>.csv, <name>.json and <name>.png. Exit status 2 for a bad case.")
    sweep.add_argument("config", type=Path, metavar="CONFIG.toml")
    sweep.add_argument("--out", type=Path, metavar="DIR",
                       help="output folder (default: build/sweeps/<case name>)")
    sweep.set_defaults(run=_run_sweep)

    run = commands.add_parser(
        "run", parents=[common],
        help="an FE² job (.toml): macro Newton with RVE micro models at every point",
        description="Run the FE² job of a TOML case (see problems/README.md), serially or "
                    "under mpirun. Writes fields.xdmf, summary.json, checkpoint/, "
                    "load_curve.png and field.png into the output folder. Exit status 0 when "
                    "the loading was completed, 1 when it stopped early (results so far are "
                    "kept; also after a failed write or Ctrl-C: continue with --restart), 2 "
                    "for a bad case, mesh, checkpoint or output folder.")
    run.add_argument("config", type=Path, nargs="?", metavar="CONFIG.toml")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="output folder (default: build/runs/<case name>)")
    run.add_argument("--restart", type=Path, metavar="DIR",
                     help="continue the interrupted run in DIR from its last complete "
                          "checkpoint")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the results and checkpoints of an earlier run in --out")
    run.add_argument("--max-steps", type=_positive_int, metavar="N",
                     help="stop after N converged load steps (continue with --restart)")
    run.add_argument("--quiet", action="store_true", help="no progress bar and timing table")
    run.set_defaults(run=_run_fe2)
    return parser


def _run_mesh(args: argparse.Namespace) -> int:
    from fe2.io.meshing import MeshOptions, check_collisions, mesh_files

    try:
        options = MeshOptions(args.order, args.size_factor, tuple(args.set), args.xdmf)
        check_collisions(args.files, args.out)
    except ValueError as error:
        raise InputError(str(error)) from None
    reports = mesh_files(args.files, args.out, options, jobs=min(args.jobs, len(args.files)),
                         force=args.force, on_done=lambda r: print(r.line(), flush=True))
    failed = [r for r in reports if not r.ok]
    print(f"fe2 mesh: {len(reports) - len(failed)} of {len(reports)} files ok"
          + (f", {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


def _run_plot(args: argparse.Namespace) -> int:
    from fe2.io.plot import plot_mesh

    if not args.file.is_file():
        raise InputError(f"{args.file}: no such mesh file")
    plot_mesh(args.file, args.png)
    print(f"fe2 plot: wrote {args.png}")
    return 0


def _run_homogenize(args: argparse.Namespace) -> int:
    import numpy as np
    from mpi4py import MPI

    from fe2.app.case import ConfigError, load_config
    from fe2.app.homogenize import format_result, homogenize
    from fe2.core.collective import on_root

    comm = MPI.COMM_WORLD
    for option, path in (("--json", args.json), ("--png", args.png)):
        if path is not None and path.is_dir():  # before the work, not after it
            raise OutputError(f"{option} {path}: this is a folder; give a file name")
    config = load_config(args.config)
    result = homogenize(config, comm)
    n = result.tensor.shape[0]
    strain = np.eye(n)[0] if args.strain is None else np.array(args.strain)
    if len(strain) != n:
        raise ConfigError(f"--strain has {len(strain)} values, the {result.kind} strain of "
                          f"this case has {n} ({result.notation})")
    if comm.rank == 0:
        print(format_result(result))
        if args.strain is not None:
            stress = ", ".join(f"{v:.6g}" for v in result.tensor @ strain)
            print(f"macro {result.answer_name} for strain "
                  f"[{', '.join(f'{v:g}' for v in strain)}]: [{stress}]")
    if args.json is not None:
        on_root(comm, lambda: _write(args.json, "--json", result.write_json))
    if args.png is not None:
        from fe2.io.plot import plot_rve_fields

        title = f"{config.path.name}: {config.description}".rstrip(": ")
        on_root(comm, lambda: _write(args.png, "--png", lambda path: plot_rve_fields(
            result.rve, path, strain, model=result.model, data=result.data, title=title)))
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from fe2.app.sweep import load_sweep, run_sweep, write_sweep
    from fe2.core.collective import on_root

    comm = MPI.COMM_WORLD
    sweep = load_sweep(args.config)
    out = args.out or Path("build") / "sweeps" / sweep.base.path.stem
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: this is a file; give a folder")
    samples, failed = run_sweep(sweep, comm)

    def write() -> None:
        try:
            record = write_sweep(sweep, samples, out, failed)
        except OSError as error:
            raise OutputError(f"--out {out}: cannot write it ({error.strerror or error})") \
                from None
        stem = sweep.base.path.stem
        for message in failed:
            print(f"fe2 sweep: skipped {message}")
        print(f"fe2 sweep: {len(samples)} cells in {record['time_s']:.1f} s (summed); wrote "
              f"{out / stem}.csv, .json, .png")
        if "bruggeman" in record:
            fit = record["bruggeman"]
            print(f"fe2 sweep: Bruggeman exponent alpha = {fit['alpha']:.4f} +- "
                  f"{fit['std']:.4f} (range {fit['min']:.4f} .. {fit['max']:.4f}; "
                  f"Bruggeman 1.5)")
        for row in record.get("tortuosity", []):
            taus = ", ".join("inf" if t is None else f"{t:.4f} +- {d:.4f}"
                             for t, d in zip(row["tau"], row["tau_std"], strict=True))
            where = ", ".join(f"{n} = {row[n]:g}" for n in sweep.names if n in row)
            print(f"fe2 sweep: {where}: tau = {taus}")

    on_root(comm, write, errors=(OutputError,))
    return 0


def _write(path: Path, option: str, write) -> None:
    """``write(path)`` on this rank; a path that cannot be written is the user's error."""
    try:
        write(path)
    except OSError as error:
        raise OutputError(f"{option} {path}: cannot write it ({error.strerror or error})") \
            from None
    print(f"fe2 homogenize: wrote {path}")


def _run_fe2(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from fe2.app.run import restart, run
    from fe2.app.run_case import load_run_config

    comm = MPI.COMM_WORLD
    if (args.config is None) == (args.restart is None):
        raise InputError("give either CONFIG.toml or --restart DIR")
    if args.restart is not None and (args.out is not None or args.overwrite):
        raise InputError("--restart DIR continues the run in DIR: no --out or --overwrite")
    if args.restart is not None:
        outcome = restart(args.restart, comm, progress=not args.quiet, max_steps=args.max_steps)
    else:
        config = load_run_config(args.config)
        out = args.out or Path("build") / "runs" / config.path.stem
        outcome = run(config, out, comm, overwrite=args.overwrite, progress=not args.quiet,
                      max_steps=args.max_steps)
    if comm.rank == 0:
        if outcome.completed:
            print(f"fe2 run: completed; results in {outcome.out}")
        else:
            print(f"fe2 run: stopped: {outcome.message}\nfe2 run: results of the converged "
                  f"steps are in {outcome.out}", file=sys.stderr)
    return 0 if outcome.completed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fe2`` console script; returns the exit status: 2 for bad input
    (one message on rank 0; the traceback too with ``--debug``)."""
    args = _build_parser().parse_args(argv)
    try:
        return args.run(args)
    except InputError as error:  # raised on every rank alike
        if _rank() == 0:
            if args.debug:
                traceback.print_exc()
            print(f"fe2 {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a run's steps (those stop cleanly)
        print(f"fe2 {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        _abort_other_ranks()
        raise


def _rank() -> int:
    """This process's rank in COMM_WORLD (0 if MPI was never imported)."""
    if "mpi4py.MPI" not in sys.modules:
        return 0
    from mpi4py import MPI

    return MPI.COMM_WORLD.rank


def _abort_other_ranks() -> None:
    """An unexpected error on one MPI rank must not leave the others waiting forever in a
    collective call: print it and abort the whole job (serial runs just raise it)."""
    if "mpi4py.MPI" not in sys.modules:
        return
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.size > 1:
        print(f"fe2: unexpected error on rank {comm.rank}; aborting all ranks", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        comm.Abort(1)
