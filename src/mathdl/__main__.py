"""``python -m mathdl`` is the ``mathdl`` command."""

from mathdl.cli import main

main()
