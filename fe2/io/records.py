"""Machine-readable records: JSON files written atomically (a reader never sees half a file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["replace_atomic", "write_json_atomic"]


def _to_builtin(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def replace_atomic(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` (already written and flushed) over ``path`` and make the rename durable."""
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see the old or the new file, whole.

    The text goes to a temporary file in the same folder, is flushed to disk and renamed over
    ``path``. Numpy scalars and arrays are converted to numbers and lists. Call on one rank only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as stream:
            json.dump(data, stream, indent=2, default=_to_builtin)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        replace_atomic(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
