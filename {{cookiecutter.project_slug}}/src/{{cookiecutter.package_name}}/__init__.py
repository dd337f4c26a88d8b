"""The model's package, by lifecycle stage: data -> training -> serving -> monitoring -> promotion.

Layers, each importing only those below it (checked by `make lint`):
  cli, demo                                  entry points
  training | serving | monitoring | promotion   the stages, which never import each other
  data                                       tables, the demo world, validation, fresh labels
  model, stores                              what a version carries; SQL stores and the registry
  core                                       the contract and shared statistics, no I/O
  settings, errors

Importing it is cheap on purpose; each module pulls in its own heavy libraries.
"""

import os

__version__ = "0.1.0"

# LightGBM's OpenMP threads spin while they wait; on a shared machine that burns the
# other processes' CPU (measured: 42 CPU-s for a 12 CPU-s fit). It must be set before
# any OpenMP runtime loads, hence here, and it changes no result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
