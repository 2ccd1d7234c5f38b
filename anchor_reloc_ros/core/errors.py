"""User-facing error types. Messages always name the problem and the file involved."""
from __future__ import annotations


class AnchorRelocError(Exception):
    """Base class: the CLIs print these as one line and exit non-zero."""


class CheckpointError(AnchorRelocError):
    """A weights file is missing, corrupt, truncated or incompatible."""


class DatasetError(AnchorRelocError):
    """A dataset folder, list file, pose file or image is missing or malformed."""


class ConfigError(AnchorRelocError):
    """An option or parameter has an invalid value."""


class DeviceError(AnchorRelocError):
    """The requested compute device is not available."""


class InvalidImageError(AnchorRelocError):
    """An image handed to the Localizer is not HxWx3 (or BxHxWx3) uint8."""
