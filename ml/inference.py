"""Frame analysis for serving: image bytes in, per-face emotion, age and gender out.

``Analyzer.load`` reads an export once (metadata, preprocessing, runner); ``analyze`` decodes a
frame, detects faces, crops every face with ``ml.preprocessing.prepare_faces`` (the function
training uses) and runs all of them through the network in one batch. With a TFLite runtime
nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ml.analysis import FaceAnalysis, FrameAnalysis
from ml.detection import FaceDetector, create_detector
from ml.detection.base import DEFAULT_MAX_SIDE, DetectedFace
from ml.export import ExportMetadata, load_metadata
from ml.image import DEFAULT_MAX_PIXELS, decode_image
from ml.labels import MOODS, age_band
from ml.preprocessing import Preprocessing, prepare_faces
from ml.runtime import DEFAULT_THREADS, ModelRunner, load_runner

logger = logging.getLogger(__name__)

#: Ages are reported within this range of years.
AGE_RANGE: tuple[float, float] = (0.0, 100.0)


class Analyzer:
    """Detects and analyses all faces of a frame; safe to share by a small thread pool.

    Thread safety: the TFLite runner gives each thread its own interpreter and the OpenCV
    detector its own cascade, so concurrent ``analyze`` calls need no lock.
    """

    def __init__(
        self,
        runner: ModelRunner,
        detector: FaceDetector,
        preprocessing: Preprocessing,
        *,
        metadata: ExportMetadata | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.runner = runner
        self.detector = detector
        self.preprocessing = preprocessing
        self.metadata = metadata
        self.max_pixels = int(max_pixels)

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        detector: FaceDetector | str = "auto",
        runtime: str = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int = DEFAULT_THREADS,
        detector_max_side: int = DEFAULT_MAX_SIDE,
        mirror: bool | None = None,
        shift: int = 0,
    ) -> Analyzer:
        """Load an export folder once.

        Args:
            model_dir: folder written by ``ml.export.export_model``.
            detector: a detector, or a name for ``ml.detection.create_detector``.
            runtime: "auto" (int8 TFLite, else fp32, else Keras), "int8", "fp32" or "keras".
            max_pixels: larger frames are refused before decoding.
            threads: TFLite interpreter threads per calling thread.
            detector_max_side: detection resolution when ``detector`` is a name.
            mirror: average each face with its mirror image; None: as the export's
                ``mirror_average`` says (what serving does).
            shift: > 0 also averages each face with four copies moved by that many pixels
                (``ml.runtime.Shifted``; a test-time averaging to measure).

        Raises:
            ModelNotFound: no export at ``model_dir`` (the message says what was expected).
            IncompatibleModel: the export's format or labels do not match this code.
        """
        metadata = load_metadata(model_dir)
        mirror = metadata.mirror_average if mirror is None else mirror
        runner = load_runner(model_dir, runtime, threads=threads, mirror=mirror, shift=shift)
        if tuple(runner.input_shape) != metadata.input_shape:
            raise ValueError(
                f"{model_dir}: the model's input shape {runner.input_shape} differs from its "
                f"metadata's {metadata.input_shape}."
            )
        if isinstance(detector, str):
            detector = create_detector(detector, max_side=detector_max_side)
        framing = metadata.preprocessing.framing
        if framing and framing != detector.name:
            logger.warning(
                "%s was trained on faces framed by the %s detector but is served with %s: "
                "faces will be framed differently from training (serve it with %s).",
                model_dir,
                framing,
                detector.name,
                framing,
            )
        return cls(
            runner, detector, metadata.preprocessing, metadata=metadata, max_pixels=max_pixels
        )

    def analyze(self, data: bytes) -> FrameAnalysis:
        """Analyze JPEG or PNG bytes; raises ``ml.errors.InvalidImage`` for undecodable ones."""
        return self.analyze_image(decode_image(data, max_pixels=self.max_pixels))

    def analyze_image(self, image_bgr: np.ndarray) -> FrameAnalysis:
        """Analyze a uint8 BGR (H, W, 3) image: every detected face, one network call."""
        height, width = image_bgr.shape[:2]
        faces = self.detector.detect(image_bgr)
        if not faces:
            return FrameAnalysis(width=width, height=height)
        return FrameAnalysis(width=width, height=height, faces=self.analyze_faces(image_bgr, faces))

    def analyze_faces(
        self, image_bgr: np.ndarray, faces: list[DetectedFace]
    ) -> tuple[FaceAnalysis, ...]:
        """Estimates for the given detections of ``image_bgr``, in their order."""
        batch = prepare_faces(
            image_bgr,
            [face.box for face in faces],
            self.preprocessing,
            [face.landmarks for face in faces],
        )
        outputs = self.runner.predict(batch)
        return tuple(
            FaceAnalysis(
                box=face.box,
                score=float(face.score),
                emotion=emotion,
                age=age,
                age_band=age_band(age),
                female=female,
            )
            for face, emotion, age, female in zip(faces, *decode_outputs(outputs), strict=True)
        )


def decode_outputs(
    outputs: dict[str, np.ndarray],
) -> tuple[list[dict[str, float]], list[float], list[float]]:
    """Model outputs by name -> (emotion dicts summing to 1, ages in AGE_RANGE, p female)."""
    probs = np.clip(np.asarray(outputs["emotion"], dtype=np.float64), 0.0, None)
    totals = probs.sum(axis=1, keepdims=True)
    # int8 outputs are quantised and may not sum to exactly 1; renormalise, uniform if all 0.
    probs = np.where(totals > 0, probs / np.where(totals > 0, totals, 1.0), 1.0 / len(MOODS))
    ages = np.clip(np.asarray(outputs["age"], dtype=np.float64).reshape(-1), *AGE_RANGE)
    female = np.clip(np.asarray(outputs["gender"], dtype=np.float64).reshape(-1), 0.0, 1.0)
    emotions = [dict(zip(MOODS, (float(p) for p in row), strict=True)) for row in probs]
    return emotions, [float(a) for a in ages], [float(f) for f in female]
