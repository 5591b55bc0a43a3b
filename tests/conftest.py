"""Shared test fixtures; the suite runs serially and again under ``mpirun -n 2``."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest
from mpi4py import MPI

REPO = Path(__file__).resolve().parents[1]
MESHES = REPO / "meshes"
SHIPPED_GEO = sorted(MESHES.glob("*.geo"))
RVE_GEO = [p for p in SHIPPED_GEO if p.stem.startswith("rve_")]


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Under mpirun only rank 0 reports progress; other ranks print their failures only."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if MPI.COMM_WORLD.rank > 0 and reporter is not None:
        from _pytest._io import TerminalWriter  # pytest has no public way to mute a reporter

        reporter._tw = TerminalWriter(open(os.devnull, "w"))  # noqa: SIM115 (lives with run)


def pytest_runtest_logreport(report):
    if MPI.COMM_WORLD.rank > 0 and report.failed:
        print(f"[rank {MPI.COMM_WORLD.rank}] FAILED {report.nodeid} ({report.when})\n"
              f"{report.longreprtext}", file=sys.__stdout__, flush=True)


@pytest.fixture(autouse=True)
def _collective_cleanup():
    """PETSc objects are destroyed collectively: collect garbage and sync after each test."""
    yield
    gc.collect()
    MPI.COMM_WORLD.barrier()


@pytest.fixture
def shared_tmp(tmp_path_factory) -> Path:
    """A temporary folder that is the same on every rank (made on rank 0, broadcast)."""
    comm = MPI.COMM_WORLD
    path = str(tmp_path_factory.mktemp("shared")) if comm.rank == 0 else None
    return Path(comm.bcast(path, root=0))


def mesh_on_root(sources, out: Path, options=None) -> list:
    """Mesh files on rank 0 only (gmsh is serial); every rank gets the reports."""
    from fe2.io.meshing import MeshOptions, mesh_files

    comm = MPI.COMM_WORLD
    reports = None
    if comm.rank == 0:
        reports = mesh_files(sources, out, options or MeshOptions(), jobs=2)
    return comm.bcast(reports, root=0)


@pytest.fixture(scope="session")
def meshed(tmp_path_factory) -> dict[str, Path]:
    """Every shipped .geo meshed once per session: stem -> .msh path."""
    comm = MPI.COMM_WORLD
    out = comm.bcast(str(tmp_path_factory.mktemp("meshes")) if comm.rank == 0 else None)
    reports = mesh_on_root(SHIPPED_GEO, Path(out))
    failed = [r.line() for r in reports if not r.ok]
    assert not failed, "\n".join(failed)
    return {Path(r.source).stem: Path(r.output) for r in reports}


def case_copy(source: Path, folder: Path, name: str, replacements=()) -> Path:
    """A copy of a shipped case in ``folder`` (written on rank 0; every rank gets the path)
    with its relative mesh paths made absolute and ``(old, new)`` text replacements applied."""
    path = folder / f"{name}.toml"
    if MPI.COMM_WORLD.rank == 0:
        text = source.read_text().replace('"../../meshes/', f'"{MESHES}/')
        for old, new in replacements:
            assert old in text, f"{old!r} is not in {source.name}"
            text = text.replace(old, new)
        path.write_text(text)
    MPI.COMM_WORLD.barrier()
    return path


def run_case(case: Path, out: Path, comm=None, **options):
    """``fe2 run`` of a case file in this process, without progress output or figures."""
    from fe2.app.run import run
    from fe2.app.run_case import load_run_config

    options = {"progress": False, "figures": False, **options}
    return run(load_run_config(case), out, comm or MPI.COMM_WORLD, **options)
