"""fe2: FE² multiscale finite element solver on FEniCSx (dolfinx 0.9)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
