"""The model's package: contract, data, training, export, registry, serving, monitoring.

Importing it is cheap on purpose; each module pulls in its own heavy libraries.
"""

import os

__version__ = "0.1.0"

# LightGBM's OpenMP threads spin while they wait; on a shared machine that burns the
# other processes' CPU (measured: 42 CPU-s for a 12 CPU-s fit). It must be set before
# any OpenMP runtime loads, hence here, and it changes no result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
