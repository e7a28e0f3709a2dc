"""mathdl: the mathematics of deep learning, executable.

Primitives live in one package per mathematical topic (``mathdl.approximation``, ``mathdl.stats``,
...); the theorem atlas (``mathdl.atlas``) ties experiments to the results they check.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
