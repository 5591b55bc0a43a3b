"""The error a user fixes in a case file."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A case file is missing, is not valid TOML, has a wrong key or value, or does not fit its
    meshes or checkpoint; the message names the file, the table and the key."""
