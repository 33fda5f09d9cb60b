"""Face detection with RetinaFace-ResNet50 through the ``retina-face`` package's ONNX backend.

The package picks its backend from ``DEEPFACE_BACKEND_ENGINE`` when it is first imported; its
TensorFlow backend would switch the whole process to legacy tf-keras, so this module sets
``onnx`` before importing it (and checks that it took). Weights are never fetched unless
``download=True``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.detection.base import DEFAULT_MAX_SIDE, DetectedFace, FaceDetector, box_to_full, downscale
from ml.errors import DetectorWeightsMissing

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "retinaface.onnx"
_BACKEND_ENV = "DEEPFACE_BACKEND_ENGINE"


def default_weights_path() -> Path:
    """Where ``retina-face`` keeps its ONNX weights: ``$DEEPFACE_HOME/.deepface/weights``.

    ``DEEPFACE_HOME`` defaults to the user's home folder, as in the package.
    """
    home = os.environ.get("DEEPFACE_HOME") or str(Path.home())
    return Path(home) / ".deepface" / "weights" / WEIGHTS_FILE


def _import_retinaface() -> Any:
    """Import the package on its ONNX backend; returns its ``RetinaFace`` module."""
    os.environ[_BACKEND_ENV] = "onnx"
    from retinaface import RetinaFace
    from retinaface.commons import backend_utils

    engine = backend_utils.get_backend_engine()
    if engine != "onnx":
        raise RuntimeError(
            f"retina-face was already imported on its {engine!r} backend; expected 'onnx'. "
            f"Import ml.detection before retinaface, or set {_BACKEND_ENV}=onnx."
        )
    return RetinaFace


class RetinaFaceDetector(FaceDetector):
    """RetinaFace on a copy downscaled to ``max_side``; boxes and landmarks in full pixels.

    Landmark names are the package's (the subject's eyes): "left_eye", "right_eye", "nose",
    "mouth_left", "mouth_right". The ONNX session is created lazily, once, on first ``detect``
    (or ``load``); ONNX Runtime sessions may be shared by threads.
    """

    name = "retinaface-resnet50"

    def __init__(
        self,
        *,
        max_side: int = DEFAULT_MAX_SIDE,
        threshold: float = 0.9,
        weights_path: str | Path | None = None,
        download: bool = False,
        threads: int | None = None,
    ) -> None:
        """Configure; loads nothing yet.

        Args:
            max_side: longest side in pixels of the copy detection runs on (0: full size).
                The package never upscales it (``allow_upscaling=False``).
            threshold: minimum face probability in [0, 1] kept after detection.
            weights_path: the ONNX file; default ``default_weights_path()``.
            download: let the package fetch the weights when missing (needs the internet).
            threads: ONNX Runtime intra-op threads; None lets it decide.
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}.")
        self.max_side = int(max_side)
        self.threshold = float(threshold)
        self.explicit_weights = weights_path is not None
        self.weights_path = Path(weights_path) if weights_path else default_weights_path()
        self.download = bool(download)
        self.threads = threads
        self._model: Any = None
        self._package: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Create the ONNX session now (it is otherwise created on first ``detect``)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            path = self._weights()
            package = _import_retinaface()
            import onnxruntime as ort
            from retinaface.model.retinaface_onnx_model import RetinaFace as OnnxRetinaFace

            options = ort.SessionOptions()
            options.log_severity_level = 3
            if self.threads:
                options.intra_op_num_threads = int(self.threads)
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._package = package
            self._model = OnnxRetinaFace(session)
            logger.info("Loaded RetinaFace (ONNX) from %s", path)

    def _weights(self) -> Path:
        """Path of an existing weights file, fetched when allowed; else DetectorWeightsMissing."""
        if self.weights_path.is_file():
            return self.weights_path
        if not self.download or self.explicit_weights:
            raise DetectorWeightsMissing(
                f"RetinaFace weights not found: expected {WEIGHTS_FILE} at {self.weights_path}. "
                f"Copy retinaface.onnx there (the retina-face package's ONNX weights), pass "
                f"weights_path=, or use download=True to fetch it into "
                f"{default_weights_path().parent}."
            )
        os.environ[_BACKEND_ENV] = "onnx"
        from retinaface.commons import weight_utils
        from retinaface.model.retinaface_onnx_model import WEIGHTS_URLS

        try:
            fetched = weight_utils.download_weights_if_necessary(WEIGHTS_FILE, WEIGHTS_URLS)
        except (ValueError, OSError) as err:
            raise DetectorWeightsMissing(
                f"RetinaFace weights not found at {self.weights_path} and could not be "
                f"downloaded ({err}). Copy {WEIGHTS_FILE} there by hand."
            ) from err
        return Path(fetched)

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        """Faces in a uint8 BGR (H, W, 3) or gray (H, W) image, best score first."""
        self.load()
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        small, factor = downscale(image_bgr, self.max_side)
        found = self._package.detect_faces(
            small, threshold=self.threshold, model=self._model, allow_upscaling=False
        )
        faces = []
        for face in found.values():
            x0, y0, x1, y1 = (float(v) for v in face["facial_area"])
            landmarks = {
                name: (float(point[0]) / factor, float(point[1]) / factor)
                for name, point in face.get("landmarks", {}).items()
            }
            faces.append(
                DetectedFace(
                    box=box_to_full((x0, y0, x1 - x0, y1 - y0), factor, image_bgr.shape),
                    score=float(np.clip(face["score"], 0.0, 1.0)),
                    landmarks=landmarks or None,
                )
            )
        return sorted(faces, key=lambda face: face.score, reverse=True)
