"""Exceptions of the emotion app."""


class AnalysisUnavailable(Exception):
    """Frames cannot be analyzed now: no model, or no reachable analysis queue."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
