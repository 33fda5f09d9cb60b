"""Face detectors behind one small interface, and a factory that picks one.

Best first: RetinaFace MobileNet-0.25 on ONNX Runtime (the default, installed with the project),
RetinaFace ResNet-50 through the ``retina-face`` package (the accurate option, when its weights
are present), and OpenCV's bundled Haar cascade (always there). ``create_detector("auto")``
takes the first that is available, logs its choice once, and never downloads anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ml.detection.base import DEFAULT_MAX_SIDE, DetectedFace, FaceDetector
from ml.detection.mobilenet import RetinaFaceMobileNetDetector, mobilenet_weights_path
from ml.detection.opencv import OpenCVDetector
from ml.detection.retinaface import RetinaFaceDetector, default_weights_path

logger = logging.getLogger(__name__)

#: Names ``create_detector`` takes; "retinaface" is the ResNet-50 one, as in earlier releases.
DETECTOR_NAMES: tuple[str, ...] = (
    "auto",
    "retinaface-mobilenet",
    "retinaface-resnet50",
    "retinaface",
    "opencv",
)
_auto_choice_logged: set[str] = set()

__all__ = [
    "DEFAULT_MAX_SIDE",
    "DETECTOR_NAMES",
    "DetectedFace",
    "FaceDetector",
    "OpenCVDetector",
    "RetinaFaceDetector",
    "RetinaFaceMobileNetDetector",
    "create_detector",
    "default_weights_path",
    "mobilenet_weights_path",
]


def create_detector(
    name: str = "auto",
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    weights_path: str | Path | None = None,
    mobilenet_weights: str | Path | None = None,
    confirm_threshold: float | None = None,
) -> FaceDetector:
    """A detector by name (see ``DETECTOR_NAMES``); "auto" takes the best one available.

    Args:
        name: "auto", "retinaface-mobilenet", "retinaface-resnet50" (or "retinaface"), "opencv".
        max_side: longest side of the copy detection runs on.
        weights_path: the ResNet-50 ONNX file (default: the ``retina-face`` package's place).
        mobilenet_weights: the MobileNet ONNX file (default: where the install step puts it).
        confirm_threshold: the MobileNet's ``confirm_threshold`` (None: its default; 0: a
            weak face is never kept, even where the mirrored frame shows it too).

    Raises:
        ValueError: unknown name.
        DetectorWeightsMissing: a RetinaFace without its weights (raised on first ``detect``).
    """
    if name == "opencv":
        return OpenCVDetector(max_side=max_side)
    confirm = {} if confirm_threshold is None else {"confirm_threshold": confirm_threshold}
    if name == "retinaface-mobilenet":
        return RetinaFaceMobileNetDetector(
            max_side=max_side, weights_path=mobilenet_weights, **confirm
        )
    if name in ("retinaface-resnet50", "retinaface"):
        return RetinaFaceDetector(max_side=max_side, weights_path=weights_path)
    if name != "auto":
        raise ValueError(f"Expected a detector name in {DETECTOR_NAMES}, got {name!r}.")
    mobilenet = Path(mobilenet_weights) if mobilenet_weights else mobilenet_weights_path()
    resnet = Path(weights_path) if weights_path else default_weights_path()
    if mobilenet.is_file():
        detector: FaceDetector = RetinaFaceMobileNetDetector(
            max_side=max_side, weights_path=mobilenet, **confirm
        )
        reason = f"weights at {mobilenet}"
    elif resnet.is_file():
        detector = RetinaFaceDetector(max_side=max_side, weights_path=resnet)
        reason = f"no MobileNet weights at {mobilenet}; ResNet-50 weights at {resnet}"
    else:
        detector = OpenCVDetector(max_side=max_side)
        reason = f"no RetinaFace weights at {mobilenet} or {resnet}"
    if detector.name not in _auto_choice_logged:
        _auto_choice_logged.add(detector.name)
        logger.info("Face detector: %s (%s)", detector.name, reason)
    return detector
