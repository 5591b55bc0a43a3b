"""Restart checkpoints: every field stored as (point coordinates, values), matched back by
coordinates, so a run can restart on any number of ranks and any mesh partition.

The last ``keep`` (default 2) complete checkpoints are kept, each verified on reading by the
size and SHA-256 checksum of every file; a damaged newest one is skipped with a warning and
the one before it is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from mpi4py import MPI
from numpy.typing import NDArray

from fe2.core.collective import first_failure, on_root
from fe2.core.errors import InputError
from fe2.io.records import replace_atomic, write_json_atomic

__all__ = ["Checkpoint", "CheckpointError", "load_checkpoint", "load_meta", "open_checkpoint",
           "save_checkpoint"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "fe2-checkpoint-2"
KEEP = 2  # complete checkpoints kept
_VERSION = re.compile(r"checkpoint-(\d+)$")


class CheckpointError(InputError, RuntimeError):
    """A checkpoint cannot be written, found or matched; raised on every rank alike."""


class Checkpoint(NamedTuple):
    """One complete checkpoint: its folder and its verified meta.json."""

    folder: Path
    info: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        """The run state stored with it (the ``meta`` given to save_checkpoint)."""
        return self.info["meta"]


def _collective(comm: MPI.Comm, what: str, action, *args):
    """Run ``action(*args)`` on every rank; if it fails anywhere, raise CheckpointError on all
    (naming the lowest failing rank)."""
    try:
        result, error = action(*args), None
    except Exception as exc:  # reported to every rank below, then raised there
        result, error = None, f"rank {comm.rank}: {type(exc).__name__}: {exc}"
    failure = first_failure(comm, error)
    if failure is not None:
        raise CheckpointError(f"{what} failed on {failure}")
    return result


def _versions(directory: Path) -> list[tuple[int, Path]]:
    """Checkpoint folders ``checkpoint-N`` in ``directory``, newest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir()
             if p.is_dir() and (m := _VERSION.match(p.name))]
    return sorted(found, reverse=True)


def _check_complete(folder: Path) -> dict:
    """The full meta.json of a checkpoint folder; CheckpointError if it is not complete."""
    try:
        info = json.loads((folder / "meta.json").read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no meta.json (the write did not finish)") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder}/meta.json is unreadable: {exc}") from None
    if info.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{folder}/meta.json: not a {CHECKPOINT_FORMAT} checkpoint")
    for name, expected in info["files"].items():
        file = folder / name
        if not file.is_file() or file.stat().st_size != expected["size"]:
            raise CheckpointError(f"{folder}: {name} is missing or has the wrong size")
        if _sha256(file) != expected["sha256"]:
            raise CheckpointError(f"{folder}: {name} is damaged (its checksum differs)")
    return info


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _latest(directory: Path) -> tuple[Path, dict]:
    """The newest complete checkpoint in ``directory``: (folder, full meta)."""
    problems = []
    for _, folder in _versions(directory):
        try:
            info = _check_complete(folder)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            log.warning("skipping a damaged or incomplete checkpoint: %s; using %s", problem,
                        folder.name)
        return folder, info
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise CheckpointError(f"{directory}: no complete checkpoint{detail}")


def _check_fields(fields: Mapping[str, tuple]) -> dict[str, tuple]:
    """Validate the fields of one rank: name -> (coords (n, d) float64, values (n, ...)[,
    hints (n, d)])."""
    checked = {}
    for name, (coords, values, *hints) in fields.items():
        if not name or "/" in name:
            raise ValueError(f"bad field name {name!r}")
        coords, values = np.asarray(coords, dtype=np.float64), np.asarray(values)
        if coords.ndim != 2 or values.ndim < 1 or len(values) != len(coords):
            raise ValueError(f"field {name!r}: coords {coords.shape} and values {values.shape} "
                             "do not describe the same n points (coords must be (n, gdim))")
        hints = [np.asarray(h, dtype=np.float64) for h in hints]
        if any(h.shape != coords.shape for h in hints):
            raise ValueError(f"field {name!r}: hints must have the shape of coords")
        checked[name] = coords, values, *hints
    return checked


def _write_rank_file(folder: Path, rank: int, fields: dict[str, tuple]) -> tuple[str, dict, dict]:
    """Write ``rank{rank}.npz``; return its name, {size, sha256} and a summary of each
    field."""
    name = f"rank{rank}.npz"
    tmp = folder / f".{name}.tmp"
    arrays = {}
    summary = {}
    for field, (coords, values, *hints) in fields.items():
        arrays[f"{field}.coords"], arrays[f"{field}.values"] = coords, values
        if hints:
            arrays[f"{field}.hints"] = hints[0]
        lower = coords.min(axis=0) if len(coords) else np.full(coords.shape[1], np.inf)
        upper = coords.max(axis=0) if len(coords) else np.full(coords.shape[1], -np.inf)
        summary[field] = (len(coords), coords.shape[1], values.shape[1:], str(values.dtype),
                          lower, upper)
    with open(tmp, "wb") as stream:
        np.savez(stream, **arrays)
        stream.flush()
        os.fsync(stream.fileno())
    check = {"size": tmp.stat().st_size, "sha256": _sha256(tmp)}
    replace_atomic(tmp, folder / name)
    return name, check, summary


def _merge_summaries(summaries: list[dict]) -> dict:
    """Per-field totals over ranks; ValueError if ranks disagree on names or shapes."""
    names = set(summaries[0])
    merged = {}
    for rank, summary in enumerate(summaries):
        if set(summary) != names:
            raise ValueError(f"rank {rank} has fields {sorted(summary)}, rank 0 {sorted(names)}")
    for name in sorted(names):
        entries = [s[name] for s in summaries]
        if len({(d, shape, dtype) for _, d, shape, dtype, _, _ in entries}) != 1:
            raise ValueError(f"field {name!r}: ranks disagree on the point dimension or the "
                             "shape or type of the values")
        _, dim, shape, dtype, _, _ = entries[0]
        merged[name] = {
            "points": sum(e[0] for e in entries), "dim": dim, "shape": list(shape),
            "dtype": dtype,
            "lower": np.min([e[4] for e in entries], axis=0).tolist(),
            "upper": np.max([e[5] for e in entries], axis=0).tolist(),
        }
    return merged


def save_checkpoint(directory: str | Path, comm: MPI.Comm,
                    fields: Mapping[str, tuple[NDArray, NDArray]], meta: Mapping,
                    keep: int = KEEP) -> Path:
    """Write a restart checkpoint of point fields; collective over ``comm``.

    Layout: ``directory/checkpoint-N/`` holds one ``rank{r}.npz`` per rank (each written to a
    temporary name, flushed and renamed) and ``meta.json``, written by rank 0 last, atomically,
    after every rank file is in place: a checkpoint counts only once its meta.json exists and
    lists every rank file with its size and checksum. Each save goes to a new folder N+1;
    only after its meta.json is in place are older folders deleted, all but the ``keep`` - 1
    newest complete ones. So a crash at any moment leaves a complete checkpoint: before
    meta.json N+1 exists the loader ignores folder N+1 and finds N; afterwards N+1 is
    complete; and a newest one damaged later (disk errors) still has N behind it. Leftovers
    of a crashed save are removed by the next save.

    Args:
        directory: folder of the checkpoints of one run (created if needed).
        comm: the communicator of the fields; every rank calls this with the same names.
        fields: name -> (coordinates (n, gdim) of this rank's points, values (n, ...)[, hints
            (n, gdim)]); the points must be unique over all ranks (store owned dofs or owned
            cells only), except coincident points that carry distinct hints (e.g. the nodes of
            the two faces of a slit, each hinted by the centre of its cells).
        meta: JSON-serializable run state (step index, load factor [-], step size, ...).
        keep: how many complete checkpoints to keep (at least 1).

    Returns:
        The folder of the new checkpoint.

    Raises:
        CheckpointError: on every rank, if any rank fails (bad input, disk full, ...).
    """
    directory = Path(directory)

    def create_folder() -> Path | None:
        if comm.rank != 0:
            return None
        versions = _versions(directory)
        folder = directory / f"checkpoint-{(versions[0][0] + 1) if versions else 0}"
        folder.mkdir(parents=True)
        return folder

    folder = Path(comm.bcast(_collective(comm, "creating the checkpoint folder", create_folder)))
    written = _collective(comm, f"writing {folder}",
                          lambda: _write_rank_file(folder, comm.rank, _check_fields(fields)))
    written = comm.gather(written, root=0)

    def finish() -> None:
        if comm.rank != 0:
            return
        files = {name: size for name, size, _ in written}
        info = {"format": CHECKPOINT_FORMAT, "ranks": comm.size, "files": files,
                "fields": _merge_summaries([summary for _, _, summary in written]),
                "meta": dict(meta)}
        write_json_atomic(folder / "meta.json", info)
        kept = 1
        for _, old in _versions(directory):
            if old == folder:
                continue
            if kept < keep and (old / "meta.json").is_file():
                kept += 1
            else:
                shutil.rmtree(old, ignore_errors=True)

    _collective(comm, f"completing {folder}", finish)
    return folder


def load_meta(directory: str | Path, comm: MPI.Comm | None = None) -> dict:
    """The ``meta`` dict of the newest complete checkpoint in ``directory``.

    With ``comm``, rank 0 reads and broadcasts (every rank gets the same answer or the same
    error); without, the calling process reads on its own.

    Raises:
        CheckpointError: if ``directory`` holds no complete checkpoint.
    """
    if comm is None:
        return _latest(Path(directory))[1]["meta"]
    return open_checkpoint(directory, comm).meta


def open_checkpoint(directory: str | Path, comm: MPI.Comm) -> Checkpoint:
    """The newest complete, verified checkpoint in ``directory``, chosen by rank 0 (a damaged
    newer one is skipped with a warning); every rank gets the same one or the same error.

    Raises:
        CheckpointError: if ``directory`` holds no complete checkpoint.
    """
    return Checkpoint(*on_root(comm, lambda: _latest(Path(directory)), errors=(CheckpointError,)))


def _match_file(file: Path, name: str, coords: NDArray, tol: float, values: NDArray,
                count: NDArray, hints: NDArray | None, best: NDArray) -> None:
    """Copy the values of ``name`` in one rank file to the points within ``tol``; count hits.
    With ``hints``, of several stored points within ``tol`` the one whose stored hint is
    nearest wins (``best``: the hint distance of the value taken so far)."""
    with np.load(file, allow_pickle=False) as data:
        stored = data[f"{name}.coords"]
        if not len(stored) or not len(coords):
            return
        from scipy.spatial import cKDTree

        # Two neighbours: a second stored point within tol makes the match ambiguous.
        distance, index = cKDTree(stored).query(coords, k=2, distance_upper_bound=tol)
        count += (distance <= tol).sum(axis=1)
        stored_values = data[f"{name}.values"]
        stored_hints = data[f"{name}.hints"] if f"{name}.hints" in data.files else None
        for k in range(2):
            hit = distance[:, k] <= tol
            if hints is None or stored_hints is None:
                if k == 0:
                    values[hit] = stored_values[index[hit, 0]]
                continue
            rows = np.flatnonzero(hit)
            gap = np.linalg.norm(stored_hints[index[rows, k]] - hints[rows], axis=1)
            better = gap < best[rows]
            values[rows[better]] = stored_values[index[rows[better], k]]
            best[rows[better]] = gap[better]


def load_checkpoint(source: str | Path | Checkpoint, comm: MPI.Comm, name: str,
                    coords: NDArray, rtol: float = 1e-8, hints: NDArray | None = None) -> NDArray:
    """Values of field ``name`` of the newest complete checkpoint at this rank's ``coords``.

    Collective. Every rank reads every rank file (one at a time) and takes, for each of its
    points, the stored point within ``rtol`` × (diagonal of the stored points' bounding box);
    the ranks and partition of the run that wrote the checkpoint do not matter.

    Args:
        source: the folder given to :func:`save_checkpoint` (its newest complete checkpoint
            is read), or a Checkpoint from :func:`open_checkpoint` (read several fields of
            one checkpoint without verifying it again).
        comm: communicator of the reading run.
        name: field name.
        coords: (m, gdim) coordinates of this rank's points.
        rtol: matching tolerance relative to the size of the domain [-].
        hints: (m, gdim) hints of this rank's points; where several stored points lie within
            tolerance, the one with the nearest stored hint is taken.

    Returns:
        Values (m, ...) in the order of ``coords``, with the stored shape and type.

    Raises:
        CheckpointError: on every rank, if there is no complete checkpoint, no such field,
            or some point (on any rank) has no stored point or more than one within tolerance.
    """
    folder, info = source if isinstance(source, Checkpoint) else open_checkpoint(source, comm)
    field = info["fields"].get(name)
    if field is None:
        raise CheckpointError(f"{folder}: no field {name!r}; it has {sorted(info['fields'])}")
    if field["points"]:
        diagonal = np.linalg.norm(np.subtract(field["upper"], field["lower"]))
    else:
        diagonal = 0.0
    tol = rtol * (diagonal if diagonal > 0 else 1.0)  # a single point: rtol is absolute

    def read_all() -> tuple[NDArray, NDArray, NDArray]:
        points = np.asarray(coords, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != field["dim"]:
            raise ValueError(f"field {name!r} has {field['dim']}-dimensional points, got "
                             f"coordinates of shape {points.shape}")
        values = np.zeros((len(points), *field["shape"]), dtype=field["dtype"])
        count = np.zeros(len(points), dtype=np.int64)
        best = np.full(len(points), np.inf)
        for file in sorted(info["files"]):
            _match_file(folder / file, name, points, tol, values, count, hints, best)
        return points, values, count, best

    points, values, count, best = _collective(comm, f"reading {folder}", read_all)
    # Coincident points (e.g. the two faces of a slit) are told apart by their hints.
    missing, ambiguous = count == 0, (count > 1) & ~np.isfinite(best)
    totals = comm.allreduce(np.array([missing.sum(), ambiguous.sum()]), op=MPI.SUM)
    if totals.any():
        examples = comm.allgather(points[missing | ambiguous][:1])
        example = next(e[0] for e in examples if len(e))
        raise CheckpointError(
            f"{folder}, field {name!r}: {totals[0]} point(s) have no stored point and "
            f"{totals[1]} more than one within {tol:.3g} (rtol {rtol:g} of the domain "
            f"diagonal {diagonal:.3g}), e.g. at {example.tolist()}; was the checkpoint written "
            "for another mesh?")
    return values
