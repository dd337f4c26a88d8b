"""The project's error types: each carries a one-line message meant for a person.

The command-line interface prints these without a traceback and exits non-zero;
anything else escaping is a bug and keeps its traceback.
"""


class ProjectError(Exception):
    """Base for errors caused by input, configuration or the environment, not by a bug."""


class ContractError(ProjectError):
    """contract.yaml is invalid, or the data does not match it."""


class DataError(ProjectError):
    """A data file is missing, empty, unreadable or lacks a required column."""


class ValidationFailed(ProjectError):
    """The data failed its Great Expectations suite."""


class ParityError(ProjectError):
    """The ONNX export does not reproduce the trained model within tolerance."""


class RegistryError(ProjectError):
    """A model registry operation was refused (missing alias, failed gate, ...)."""


class SettingsError(ProjectError):
    """An environment variable (or `.env` key) with the project's prefix names no setting,
    or holds a value the setting refuses."""


class ComputeError(ProjectError):
    """The compute engine (a Dask scheduler or LocalCluster) cannot be reached or started."""
