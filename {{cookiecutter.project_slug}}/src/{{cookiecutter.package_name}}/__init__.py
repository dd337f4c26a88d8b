"""The model's package: contract, data, training, export, registry, serving, monitoring.

Importing it is cheap on purpose; each module pulls in its own heavy libraries.
"""

__version__ = "0.1.0"
