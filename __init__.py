"""smsgw: a self-hosted SMS gateway and high-throughput dispatch server."""

__version__ = "0.1.0"
__all__ = ["__version__"]
