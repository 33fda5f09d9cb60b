"""Face detectors behind one small interface, and a factory that picks one.

``create_detector("auto")`` uses RetinaFace when its weights file is present, else OpenCV's
bundled Haar cascade; it never downloads anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ml.detection.base import DEFAULT_MAX_SIDE, DetectedFace, FaceDetector
from ml.detection.opencv import OpenCVDetector
from ml.detection.retinaface import RetinaFaceDetector, default_weights_path

logger = logging.getLogger(__name__)

DETECTOR_NAMES: tuple[str, ...] = ("auto", "opencv", "retinaface")
_auto_choice_logged: set[str] = set()

__all__ = [
    "DETECTOR_NAMES",
    "DetectedFace",
    "FaceDetector",
    "OpenCVDetector",
    "RetinaFaceDetector",
    "create_detector",
    "default_weights_path",
]


def create_detector(
    name: str = "auto",
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    weights_path: str | Path | None = None,
) -> FaceDetector:
    """A detector by name: "opencv", "retinaface", or "auto" (RetinaFace if its weights exist).

    Raises:
        ValueError: unknown name.
        DetectorWeightsMissing: "retinaface" without weights (raised on first ``detect``).
    """
    if name == "opencv":
        return OpenCVDetector(max_side=max_side)
    if name == "retinaface":
        return RetinaFaceDetector(max_side=max_side, weights_path=weights_path)
    if name != "auto":
        raise ValueError(f"Expected a detector name in {DETECTOR_NAMES}, got {name!r}.")
    path = Path(weights_path) if weights_path else default_weights_path()
    if path.is_file():
        detector: FaceDetector = RetinaFaceDetector(max_side=max_side, weights_path=path)
        reason = f"weights found at {path}"
    else:
        detector = OpenCVDetector(max_side=max_side)
        reason = f"no RetinaFace weights at {path}"
    if detector.name not in _auto_choice_logged:
        _auto_choice_logged.add(detector.name)
        logger.info("Face detector: %s (%s)", detector.name, reason)
    return detector
