"""The errors a user fixes (bad input): the command line prints their message alone and exits
with status 2 (a traceback only with ``--debug``)."""

from __future__ import annotations

__all__ = ["ConfigError", "InputError", "OutputError"]


class InputError(Exception):
    """Base of every error caused by the user's input (case, mesh, checkpoint, output folder);
    raised on every rank alike, with a message that names the file and what is allowed."""


class ConfigError(InputError, ValueError):
    """A case file is missing, is not valid TOML, has a wrong key or value, or does not fit its
    meshes or checkpoint; the message names the file, the table and the key."""


class OutputError(InputError, ValueError):
    """An output path cannot be used: it is a file where a folder is needed, it is not
    writable, or it holds the results of another run."""
