"""The exception hierarchy of edgellm.

Every error a user can cause is an ``EdgeLLMError``; the CLI prints its message on one line and exits
with ``exit_code`` (2 for bad input or an unsupported model, 1 for a failed validation).
A message says what failed, what was seen, what is allowed, and what to do next.
"""

from __future__ import annotations


class EdgeLLMError(Exception):
    """Base class of every error edgellm raises on purpose."""

    exit_code = 2


class ConfigError(EdgeLLMError, ValueError):
    """A config value or CLI flag is out of range or inconsistent with the model."""


class ModelFileError(EdgeLLMError):
    """A model folder or file is missing, incomplete or corrupt."""


class UnsupportedArchitectureError(EdgeLLMError):
    """The model_type, or the task asked of it, is not supported."""


class UnsupportedOpError(EdgeLLMError):
    """The model uses an op the converter or the runtime cannot handle."""


class CalibrationError(EdgeLLMError):
    """Calibration data is missing, empty, unreadable or produced non-finite values."""


class ValidationError(EdgeLLMError):
    """The converted model does not match the reference within the recipe's tolerance."""

    exit_code = 1


class InsufficientMemoryError(EdgeLLMError, MemoryError):
    """The export needs more memory than the machine has available; the message names the size it needs."""


class MissingDependencyError(EdgeLLMError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def config_fields(cls, data):
    """``data`` checked for ``cls(**data)`` (a config dataclass's ``from_dict``): a dict of its field names, else
    a ConfigError naming the unknown keys and the known ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}.from_dict takes a dict; got {type(data).__name__}")
    unknown = sorted(set(data) - set(cls.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys {', '.join(map(repr, unknown))}; known: "
                          f"{', '.join(cls.__dataclass_fields__)}")
    return data


def require(module: str, extra: str):
    """Import ``module`` or raise MissingDependencyError naming the pip extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{module} is not installed; it comes with the '{extra}' extra: pip install 'edgellm[{extra}]'"
        ) from e
