"""Theorem checks and reproductions of the pde topic, one module per check.

Importing this package registers every check in the atlas. Each module is built only on the public
primitives of :mod:`mathdl.pde` and :mod:`mathdl.stats`; ``TOPIC`` is the topic name they share.
"""

TOPIC = "pde"

from mathdl.pde.experiments import (  # noqa: E402, F401  (imported to register)
    bsde_published,
    deep_ritz,
    hjb,
    lq_control,
    pinn_burgers,
)
