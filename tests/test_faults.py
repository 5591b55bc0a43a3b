"""Fault injection (issue 16): nothing lost, nothing hangs.

Every test names the fault it injects and what the user must see and keep. Faults that could
hang run the command in a subprocess under a timeout; the others run in-process on
COMM_WORLD (serially and under mpirun -n 2), where a failure on one rank only must become the
same outcome on every rank. They use a linear micro model (homogenized once: fast); restarts
of nonlinear micro states are checked in test_fe2_run.py.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import MESHES, REPO
from mpi4py import MPI
from test_fe2_run import ELASTIC, _case, _reactions, _run

import fe2.app.recorder
import fe2.io.checkpoint
from fe2.app.run import restart
from fe2.core.errors import ConfigError, OutputError

WORLD = MPI.COMM_WORLD
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
TIMEOUT = 300  # [s] a hang fails the test instead of blocking the suite


def cli(*args, timeout: float = TIMEOUT, ranks: int = 0) -> subprocess.CompletedProcess:
    """``fe2 ARGS`` (under ``mpirun -n ranks`` if ranks) as a user runs it, with a timeout."""
    command = [sys.executable, "-m", "fe2", *map(str, args)]
    if ranks:
        command = ["mpirun", "-n", str(ranks), "--oversubscribe", *command]
    return subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _on_rank(rank: int, count_from: int, error: BaseException):
    """A replacement that raises ``error`` on ``rank`` from call number ``count_from`` on
    (earlier calls and other ranks do the real work): a fault on one rank only."""
    calls = [0]

    def inject(real):
        def faulty(*args, **kwargs):
            calls[0] += 1
            if WORLD.rank == rank % WORLD.size and calls[0] >= count_from:
                raise error
            return real(*args, **kwargs)
        return faulty
    return inject


# A 1 x 1 square of two triangles, clamped left, pulled right past first yield of its J2 RVEs
# (RVE mesh size h, load factor steps of size step).
TWO_CELLS = """
[macro]
mesh = "{meshes}/rectangle.geo"
parameters = {{ n_x = 1, n_y = 1, H = 1.0 }}
[physics]
kind = "mechanics"
model = "plane_strain"
[boundary.left]
ux = 0.0
uy = 0.0
[boundary.right]
ux = {ux}
[micro]
mesh = "{meshes}/rve_square.geo"
parameters = {{ h = {h} }}
[micro.materials.matrix]
law = "j2"
E = 70e3
nu = 0.33
yield_stress = 150.0
hardening = 2e3
[micro.materials.inclusion]
law = "elastic"
E = 400e3
nu = 0.2
[loading]
initial_step = {step}
max_step = {step}
"""


# ---------------------------------------------------------------- hangs (subprocess + timeout)
@pytest.mark.serial
def test_out_naming_a_file_is_one_error_on_two_ranks(shared_tmp):
    """`touch f; mpirun -n 2 fe2 run CASE --out f`: before, rank 0 failed in mkdir while
    rank 1 waited at a barrier (hang, later an abort with a traceback). Now: exit 2 at once
    with one message, before the case is set up; the file is untouched."""
    case = _case(shared_tmp, "file_out", matrix=ELASTIC, step=0.5)
    target = shared_tmp / "f"
    target.write_text("mine")
    done = cli("run", case, "--out", target, "--quiet", ranks=2, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "this is a file" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert target.read_text() == "mine"


@pytest.mark.serial
def test_ranks_without_cells_finish_the_run_and_its_figures(shared_tmp):
    """`mpirun -n 3` on a 2-cell macro mesh with a nonlinear (J2) micro model: one rank owns
    no cell. Before: the steps finished, then the figures failed on the empty rank (reshape of
    an empty array) and the run aborted. Now: exit 0 with both figures."""
    case = shared_tmp / "two_cells.toml"
    case.write_text(TWO_CELLS.format(meshes=MESHES, ux=0.004, h=0.3, step=0.5))
    out = shared_tmp / "two_cells"
    done = cli("run", case, "--out", out, "--quiet", ranks=3)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = _summary(out)
    assert summary["ranks"] == 3 and summary["status"] == "completed"
    assert summary["quadrature_points"] >= 2 and len(summary["steps"]) == 2
    assert (out / "field.png").is_file() and (out / "load_curve.png").is_file()


# ---------------------------------------------------------------- output folders
def test_new_run_into_a_used_folder_is_refused_and_overwrite_clears_it(shared_tmp):
    """A second run into a folder holding another run: before, it overwrote the first
    silently (and a restart could continue the other case's checkpoint). Now: OutputError on
    every rank naming --restart, --overwrite and --out, with the first run untouched;
    --overwrite clears the old checkpoints (numbering starts again, none of the other case)."""
    first = _case(shared_tmp, "first", matrix=ELASTIC, step=0.25)
    second = _case(shared_tmp, "second", matrix=ELASTIC, step=0.5)
    out = shared_tmp / "used"
    _run(first, out)
    with pytest.raises(OutputError, match="--restart.*--overwrite.*another --out"):
        _run(second, out)
    assert Path(_summary(out)["config"]) == first.resolve()  # untouched
    outcome = _run(second, out, overwrite=True)
    assert outcome.completed and Path(_summary(out)["config"]) == second.resolve()
    # Exact: two steps of 0.5, the last two checkpoints kept, all written by this run.
    folders = sorted(p.name for p in (out / "checkpoint").iterdir())
    assert folders == ["checkpoint-0", "checkpoint-1"]
    assert fe2.io.checkpoint.load_meta(out / "checkpoint", WORLD)["summary_steps"] == 2


def _edit_on_root(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in a shared file (rank 0 writes; every rank waits)."""
    if WORLD.rank == 0:
        text = path.read_text()
        assert old in text, f"{old!r} is not in {path.name}"
        path.write_text(text.replace(old, new))
    WORLD.barrier()


def test_restart_of_a_changed_case_is_refused(shared_tmp):
    """--restart after the case file was edited: the checkpoint belongs to another case (the
    config hash in summary.json differs). ConfigError on every rank, nothing written."""
    case = _case(shared_tmp, "edited", matrix=ELASTIC, step=0.25)
    out = shared_tmp / "edited_run"
    _run(case, out, max_steps=1)
    _edit_on_root(case, "E = 400e3", "E = 300e3")
    with pytest.raises(ConfigError, match="changed since the run"):
        restart(out, WORLD, progress=False, figures=False)
    assert len(_summary(out)["steps"]) == 1


def test_restart_after_the_rve_geometry_changed_is_refused(shared_tmp):
    """The RVE .geo named by the case was edited between run and restart. Before: the
    restart went on silently with the new RVE and the old micro states. Now: the case hash
    covers the mesh files the case names: ConfigError on every rank."""
    geo = shared_tmp / "cell.geo"
    case = _case(shared_tmp, "own_rve", matrix=ELASTIC, step=0.25)
    if WORLD.rank == 0:
        geo.write_text((MESHES / "rve_square.geo").read_text())
    _edit_on_root(case, str(MESHES / "rve_square.geo"), str(geo))
    out = shared_tmp / "own_rve_run"
    _run(case, out, max_steps=1)
    _edit_on_root(geo, "R = {0.25", "R = {0.3")
    with pytest.raises(ConfigError, match="or a mesh file it names changed"):
        restart(out, WORLD, progress=False, figures=False)


def test_restart_with_checkpoints_of_another_case_is_refused(shared_tmp):
    """The checkpoints in a run folder were written by another case (e.g. copied or left
    over): each checkpoint carries its case's hash, so --restart is a CheckpointError on every
    rank instead of continuing the other case's state."""
    import shutil

    from fe2.io.checkpoint import CheckpointError

    mine = _case(shared_tmp, "mine", matrix=ELASTIC, step=0.25)
    other = _case(shared_tmp, "other", matrix=ELASTIC, step=0.5)
    _run(mine, shared_tmp / "mine_run", max_steps=1)
    _run(other, shared_tmp / "other_run", max_steps=1)
    if WORLD.rank == 0:
        shutil.rmtree(shared_tmp / "mine_run" / "checkpoint")
        shutil.copytree(shared_tmp / "other_run" / "checkpoint",
                        shared_tmp / "mine_run" / "checkpoint")
    WORLD.barrier()
    with pytest.raises(CheckpointError, match="written by another case"):
        restart(shared_tmp / "mine_run", WORLD, progress=False, figures=False)


# ---------------------------------------------------------------- write failures
def test_full_disk_on_one_rank_while_checkpointing_stops_every_rank(shared_tmp, monkeypatch):
    """ENOSPC on the last rank while it writes the checkpoint of step 2. Before: a
    CheckpointError left the run as 'bad input' (exit 2). Now: the run stops on every rank
    (outcome not completed: exit 1) with a message naming the disk error and --restart; the
    checkpoint of step 1 stays valid and a restart (disk freed) ends like an uninterrupted
    run (relative 1e-10)."""
    case = _case(shared_tmp, "full_disk", matrix=ELASTIC, step=0.25)
    whole = _run(case, shared_tmp / "full_disk_whole")
    out = shared_tmp / "full_disk"
    inject = _on_rank(-1, 2, OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(fe2.io.checkpoint, "_write_rank_file",
                        inject(fe2.io.checkpoint._write_rank_file))
    stopped = _run(case, out)
    monkeypatch.undo()
    assert not stopped.completed and "No space left on device" in stopped.message
    assert "--restart" in stopped.message and len(stopped.summary["steps"]) == 1
    assert fe2.io.checkpoint.load_meta(out / "checkpoint", WORLD)["summary_steps"] == 1
    assert _summary(out)["status"] == "stopped"
    done = restart(out, WORLD, progress=False, figures=False)
    assert done.completed
    a, b = _reactions(whole.summary), _reactions(done.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-10, atol=0)


def test_unwritable_summary_on_rank_zero_stops_every_rank(shared_tmp, monkeypatch):
    """summary.json cannot be written (rank 0 only writes it) at step 2. Before: rank 0
    raised while the other ranks went on into the next step (hang, then abort). Now: every
    rank stops with the same message; the checkpoint of step 2 is complete, so a restart
    records step 2 from it and ends like an uninterrupted run (relative 1e-10)."""
    case = _case(shared_tmp, "summary_fails", matrix=ELASTIC, step=0.25)
    whole = _run(case, shared_tmp / "summary_fails_whole")
    out = shared_tmp / "summary_fails"
    inject = _on_rank(0, 2, OSError(errno.EROFS, "Read-only file system"))
    monkeypatch.setattr(fe2.app.recorder, "write_json_atomic",
                        inject(fe2.app.recorder.write_json_atomic))
    stopped = _run(case, out)
    monkeypatch.undo()
    assert not stopped.completed and "Read-only file system" in stopped.message
    assert WORLD.allgather(stopped.message) == [stopped.message] * WORLD.size
    assert len(_summary(out)["steps"]) == 1  # the summary of step 1 is what is on disk
    done = restart(out, WORLD, progress=False, figures=False)
    assert done.completed
    a, b = _reactions(whole.summary), _reactions(done.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-10, atol=0)


# ---------------------------------------------------------------- kills and damage
class Killed(BaseException):
    """Stands for SIGKILL: nothing in fe2 catches it (every rank dies at the same point)."""


def test_kill_between_checkpoint_and_summary_loses_no_step(shared_tmp, monkeypatch):
    """The run dies after the checkpoint of step 2 but before its fields and summary. Before:
    step 2 was missing from summary.json, the field files and the load curve for good. Now:
    --restart records it from the checkpoint (summary and fields) and the run ends with every
    step of an uninterrupted run (reactions relative 1e-10)."""
    from fe2.io.fields import read_xdmf

    case = _case(shared_tmp, "killed", matrix=ELASTIC, step=0.25)
    whole = _run(case, shared_tmp / "killed_whole")
    out = shared_tmp / "killed"
    monkeypatch.setattr(fe2.app.recorder.Recorder, "write_fields", _killed_everywhere(2))
    with pytest.raises(Killed):
        _run(case, out)
    monkeypatch.undo()
    assert len(_summary(out)["steps"]) == 1
    done = restart(out, WORLD, progress=False, figures=False)
    assert done.completed and len(done.summary["steps"]) == len(whole.summary["steps"])
    a, b = _reactions(whole.summary), _reactions(done.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-10, atol=0)
    if WORLD.rank == 0:  # every step is in a field file once (step 2 in the restart series)
        times = [t for name in done.summary["field_files"]
                 for t, _ in read_xdmf(out / name).fields["u"]]
        assert sorted(times) == pytest.approx([s["load_factor"] for s in whole.summary["steps"]])


def _killed_everywhere(count_from: int):
    """Recorder.write_fields that raises Killed on every rank from call ``count_from`` on."""
    real = fe2.app.recorder.Recorder.write_fields
    calls = [0]

    def faulty(self, state):
        calls[0] += 1
        if calls[0] >= count_from:
            raise Killed
        return real(self, state)
    return faulty


def test_damaged_latest_checkpoint_falls_back_with_a_warning(shared_tmp, caplog):
    """The newest checkpoint's data file is damaged (same size, other bytes). Before: only
    the newest checkpoint existed and --restart failed. Now: the previous one is used with a
    warning and the run ends like an uninterrupted one (relative 1e-10)."""
    case = _case(shared_tmp, "damaged_latest", matrix=ELASTIC, step=0.25)
    whole = _run(case, shared_tmp / "damaged_latest_whole")
    out = shared_tmp / "damaged_latest"
    _run(case, out, max_steps=2)
    if WORLD.rank == 0:
        newest = max((out / "checkpoint").iterdir(), key=lambda p: int(p.name.split("-")[1]))
        data = bytearray((newest / "rank0.npz").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (newest / "rank0.npz").write_bytes(bytes(data))
    WORLD.barrier()
    with caplog.at_level("WARNING"):
        done = restart(out, WORLD, progress=False, figures=False)
    if WORLD.rank == 0:
        assert "is damaged" in caplog.text and "using checkpoint-0" in caplog.text
    assert done.completed
    a, b = _reactions(whole.summary), _reactions(done.summary)
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-10, atol=0)


@pytest.mark.serial
@pytest.mark.parametrize("signal_name, ranks", [("SIGINT", 0), ("SIGUSR1", 2)])
def test_ctrl_c_stops_cleanly_and_restart_continues(shared_tmp, signal_name, ranks):
    """SIGINT (Ctrl-C) during a serial `fe2 run`, SIGUSR1 to `mpirun -n 2` (Open MPI kills
    its ranks on Ctrl-C but forwards SIGUSR1). Before: a KeyboardInterrupt traceback or a
    kill, summary.json left "running". Now: the current step is finished on every rank, exit
    1 with a message naming --restart, summary status "interrupted"; --restart then does the
    remaining steps: every load factor 0.125, 0.25, ..., 1 once (exact)."""
    case = shared_tmp / "ctrl_c.toml"  # 8 steps of about 0.5 s each on 2 ranks
    case.write_text(TWO_CELLS.format(meshes=MESHES, ux=0.01, h=0.15, step=0.125))
    out = shared_tmp / f"ctrl_c_{ranks}"
    command = [sys.executable, "-m", "fe2", "run", str(case), "--out", str(out), "--quiet"]
    if ranks:
        command = ["mpirun", "-n", str(ranks), "--oversubscribe", *command]
    process = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and process.poll() is None:
        if (out / "summary.json").is_file() and _summary(out)["steps"]:
            process.send_signal(getattr(signal, signal_name))
            break
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 1, stderr
    assert f"interrupted by {signal_name}" in stderr and "--restart" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    summary = _summary(out)
    assert summary["status"] == "interrupted" and 1 <= len(summary["steps"]) < 8
    done = cli("run", "--restart", out, "--quiet", ranks=ranks)
    assert done.returncode == 0, done.stderr
    factors = [step["load_factor"] for step in _summary(out)["steps"]]
    assert factors == [0.125 * k for k in range(1, 9)]


# ---------------------------------------------------------------- bad input: exit 2
@pytest.mark.serial
def test_bad_paths_are_one_message_with_exit_2(shared_tmp):
    """Each bad path is one message and exit 2, no traceback (before: tracebacks, exit 1);
    --debug adds the traceback."""
    laminate = REPO / "problems" / "mechanics" / "rve_laminate.toml"
    folder = shared_tmp / "a_folder"
    folder.mkdir()
    cases = [
        (("homogenize", laminate, "--json", folder), "this is a folder; give a file name"),
        (("plot", shared_tmp / "missing.msh", "--png", shared_tmp / "x.png"),
         "no such mesh file"),
        (("run", "--restart", shared_tmp / "nothing"), "not the output folder of an fe2 run"),
    ]
    for args, message in cases:
        done = cli(*args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
    debug = cli("plot", shared_tmp / "missing.msh", "--png", shared_tmp / "x.png", "--debug")
    assert debug.returncode == 2 and "Traceback" in debug.stderr, debug.stderr


@pytest.mark.serial
def test_phases_given_as_a_string_is_an_error(shared_tmp):
    """`phases = "matrix"` where a list is expected: an error naming the key (exit 2), not a
    split into letters."""
    source = REPO / "problems" / "transport" / "porous_electrode_transport.toml"
    case = shared_tmp / "phases.toml"
    text = source.read_text().replace('"../../meshes/', f'"{MESHES}/')
    case.write_text(text.replace('phases = ["electrolyte"]', 'phases = "electrolyte"'))
    done = cli("homogenize", case)
    assert done.returncode == 2, done.stderr
    assert "phases must be a non-empty list" in done.stderr, done.stderr


def test_unwritable_out_is_one_error_on_every_rank(shared_tmp, monkeypatch):
    """A read-only --out (injected EROFS on rank 0's probe file: as root, permission bits do
    not stop writes). OutputError on every rank before the case is set up."""
    import fe2.app.outdir

    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system")

    case = _case(shared_tmp, "read_only", matrix=ELASTIC, step=0.5)
    if WORLD.rank == 0:
        monkeypatch.setattr(fe2.app.outdir.Path, "write_bytes", read_only)
    with pytest.raises(OutputError, match="cannot write there .Read-only file system"):
        _run(case, shared_tmp / "read_only")
