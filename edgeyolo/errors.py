"""Errors raised by edgeyolo.

Every error a user can cause is an :class:`EdgeYoloError`. Its message is one line that says what was
given, what is valid, and the fix; the CLI prints it without a traceback. Subclasses also derive from the
matching builtin so callers can catch either.
"""

from __future__ import annotations


class EdgeYoloError(Exception):
    """Base class of every error a user can cause."""


class ConfigError(EdgeYoloError, ValueError):
    """A configuration value (profile key, option, YAML field) is wrong."""


class UnknownNameError(EdgeYoloError, LookupError):
    """A name (profile, format, runtime, model) is not known."""


class DatasetError(EdgeYoloError, ValueError):
    """A dataset is missing, unreadable or malformed."""


class WeightsNotFoundError(EdgeYoloError, FileNotFoundError):
    """Model weights are not on disk (edgeyolo never downloads weights)."""


class BackendUnavailableError(EdgeYoloError, ImportError):
    """An optional package needed for a format or runtime is not installed."""


class ExportError(EdgeYoloError, RuntimeError):
    """An export failed or produced an artifact that does not meet its contract."""


class ArtifactError(EdgeYoloError, ValueError):
    """An artifact directory or its manifest is missing or malformed."""


class ResultsError(EdgeYoloError, ValueError):
    """A benchmark results file is missing or malformed."""


class CheckpointError(EdgeYoloError, ValueError):
    """A training checkpoint (last.pt) cannot be read."""


class SourceError(DatasetError):
    """A camera or network stream cannot be opened, or its URL is malformed."""
