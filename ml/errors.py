"""Exceptions raised by ``ml``; callers translate them at their own edge."""


class InvalidImage(ValueError):
    """The bytes given are not a decodable image of an acceptable size."""


class ModelNotFound(FileNotFoundError):
    """No usable exported model at the given path."""


class DetectorWeightsMissing(FileNotFoundError):
    """A face detector's weights file is missing and could not be fetched."""


class DatasetError(ValueError):
    """A dataset folder or file is not in any layout the loaders understand."""


class IncompatibleModel(ValueError):
    """An exported model's metadata does not match this code (format, version or labels)."""
