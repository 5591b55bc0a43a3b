"""Benchmark of large RVEs solved by a group of ranks (``[parallel] rve_ranks``).

Run (inside the software stack; it starts ``mpirun -n RANKS`` itself after meshing)::

    docker/env python3 bench/rve_groups.py [--sizes 10000 50000 200000] [--reps 2] [--ranks 2]

For each target size, the square fibre RVE of bench/rve_nonlinear.py (J2 matrix, elastic fibre,
periodic, P1) solves the same plastic macro strain from the virgin state twice: on one rank
(``MPI.COMM_SELF`` of rank 0, the other ranks idle) and distributed over all ranks of
COMM_WORLD (a fe2.rve.nonlinear.NonlinearRVE on the distributed mesh, as fe2.rve.group uses
it). It prints the seconds of one whole solve (micro Newton, factorizations, consistent tangent;
best of ``--reps``), the speed-up, the micro Newton iterations of both, and the relative
differences of stress and tangent (round-off only: the same discrete problem).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# Meshing runs before MPI starts (the parent process): gmsh workers are spawned processes that
# re-import this module, so nothing here may initialize MPI or PETSc at import.
ROOT = Path(__file__).resolve().parents[1]
GEO = ROOT / "meshes" / "rve_square.geo"
REFERENCE_DOFS, REFERENCE_FACTOR = 1090, 1.044  # rve_square at size factor 1.044 (P1)


def mesh_paths(sizes: list[int], out_root: Path) -> list[Path]:
    """The RVE meshed for each target number of dofs (cached per size factor)."""
    from fe2.io.meshing import MeshOptions, mesh_files

    paths = []
    for target in sizes:
        size_factor = round(REFERENCE_FACTOR * np.sqrt(REFERENCE_DOFS / target), 4)
        out = out_root / f"sf_{size_factor:.4f}"
        report = mesh_files([GEO], out, MeshOptions(size_factor=size_factor, order=1))[0]
        if not report.ok:
            sys.exit(report.error)
        paths.append(Path(report.output))
    return paths


def timed_solve(path: Path, comm, reps: int) -> dict:
    """Best seconds of one solve from the virgin state on ``comm`` and its results."""
    from mpi4py import MPI
    from rve_nonlinear import LAWS, STRAIN

    from fe2.io.mesh import load_mesh
    from fe2.rve.nonlinear import NonlinearRVE

    rve = NonlinearRVE(load_mesh(path, comm), LAWS, rtol=1e-10)
    best = np.inf
    for _ in range(reps):
        comm.barrier()
        start = time.perf_counter()
        stress, tangent, _ = rve.solve(STRAIN, rve.initial_state())
        best = min(best, comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
    record = {"dofs": comm.allreduce(rve.ndofs), "seconds": best, "stress": stress,
              "tangent": tangent, "iterations": rve.iterations}
    rve.destroy()
    return record


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def worker(paths: list[Path], reps: int, json_path: Path) -> None:
    """The timings (run under mpirun)."""
    import dolfinx.fem.petsc  # noqa: F401  (PETSc starts collectively, before rank 0 works alone)
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    rows = []
    if world.rank == 0:
        print(f"one RVE solve (plastic, from the virgin state): 1 rank vs {world.size} ranks")
        print(f"{'dofs':>8}{'1 rank s':>10}{'group s':>10}{'speed-up':>10}{'its':>8}"
              f"{'Δstress':>10}{'Δtangent':>10}")
    for path in paths:
        single = timed_solve(path, MPI.COMM_SELF, reps) if world.rank == 0 else None
        world.barrier()  # the other ranks wait idle while rank 0 solves alone
        group = timed_solve(path, world, reps)
        if world.rank == 0:
            row = {"dofs": single["dofs"], "single_s": single["seconds"],
                   "group_s": group["seconds"], "speedup": single["seconds"] / group["seconds"],
                   "iterations": [single["iterations"], group["iterations"]],
                   "stress_difference": relative(group["stress"], single["stress"]),
                   "tangent_difference": relative(group["tangent"], single["tangent"])}
            rows.append(row)
            print(f"{row['dofs']:>8d}{row['single_s']:>10.2f}{row['group_s']:>10.2f}"
                  f"{row['speedup']:>10.2f}{'/'.join(map(str, row['iterations'])):>8}"
                  f"{row['stress_difference']:>10.1e}{row['tangent_difference']:>10.1e}",
                  flush=True)
    if world.rank == 0:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"ranks": world.size, "rows": rows}, indent=1))
        print(f"wrote {json_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000, 200000],
                        help="target numbers of dofs")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--ranks", type=int, default=2, help="ranks of the group")
    parser.add_argument("--worker", type=Path, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "rve_groups.json")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.reps, args.json)
        return
    if args.ranks < 2:
        sys.exit("--ranks must be at least 2: it compares one rank with a group")
    paths = mesh_paths(args.sizes, args.json.parent / "meshes")
    command = ["mpirun", "-n", str(args.ranks), sys.executable, __file__, "--reps",
               str(args.reps), "--json", str(args.json), "--worker", *map(str, paths)]
    sys.exit(subprocess.run(command, cwd=ROOT).returncode)


if __name__ == "__main__":
    main()
