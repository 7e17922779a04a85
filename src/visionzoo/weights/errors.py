"""Errors raised while finding, reading and loading weights."""


class WeightsError(RuntimeError):
    """Base class of every weight-loading error."""


class WeightsUnavailableError(WeightsError):
    """No source could provide the weights (offline, missing file, missing package)."""


class CorruptCheckpointError(WeightsError):
    """The file is truncated, malformed, or fails its hash check."""


class UnsafeCheckpointError(WeightsError):
    """The checkpoint holds pickled objects other than tensors and plain containers; it was not executed."""


class CheckpointMismatchError(WeightsError):
    """The checkpoint's keys or shapes do not fit the model."""
