"""One framing, camera to training: training faces are cut from the serving detector's boxes.

A face reaches the network framed the same way whether it came from a camera frame or from a
training image. Serving crops each face with ``ml.preprocessing.face_crop`` from its detector
box and landmarks; ``DetectorFramer`` runs that same detector over every training image once
(cached by the image's bytes, so a later run, or a resumed one, detects nothing twice) and crops
it with the same function. Where the detector finds no face in a training image, a default box
calibrated on the images of the same load where it did is used: the median of their boxes and
landmarks, relative to the image size.

Where the detector looks for a training face is ``Preprocessing.framing_context``:

- "padded": the image padded with grey and detected at full resolution (``detect_training_face``);
- "camera": the image pasted into a camera-sized frame as ``ml.live`` pastes evaluation faces,
  sent through the page's JPEG and detected as serving detects (``detect_in_camera_frame``), so
  training boxes are drawn from the same sizes, blur and JPEG as served ones.

Either way only the box comes from the detection: the crop is cut from the image itself.

``FixedFramer`` is the framing of models trained before this existed (a fixed box per dataset);
exports say which framing they were trained with in ``metadata.json`` (``preprocessing``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ml.frames import LIVE_SIZES, compose_frame, encode_jpeg, face_at
from ml.preprocessing import Box, Landmarks, Preprocessing, face_crop, inside_source

logger = logging.getLogger(__name__)

#: A training image is padded by this fraction of its longest side before detection: its face
#: fills it, and RetinaFace needs some context around a face to find it.
FRAMING_PAD_FRACTION = 0.25
#: Detection runs on the padded image resized so its longest side is this many pixels
#: (faces then measure 80-130 pixels, as camera faces do at FACE_DETECTION_MAX_SIDE 320).
FRAMING_DETECT_SIDE = 192
#: Grey level of the padding.
FRAMING_PAD_VALUE = 128
#: Per framing context, bumped whenever its detection step changes, so cached detections are
#: not reused (2: the MobileNet score threshold went from 0.75 to 0.5; camera 3: serving's
#: second look keeps a weak face the mirrored frame confirms; camera 4: so does its first look).
#: The padded context's single full-size pass keeps no weak face (``confirm_threshold=0``), as
#: when the shipped model was trained.
FRAMING_VERSIONS = {"padded": 2, "camera": 4}
#: In the "camera" context the image is pasted into a camera frame at a side drawn, per image,
#: from this range in pixels: from the live evaluation's far face to its near one.
FRAMING_CAMERA_SIDES = (min(LIVE_SIZES.values()), max(LIVE_SIZES.values()))
#: Cached detections are written after this many new ones, so an interrupted run loses little.
SAVE_EVERY = 2000


@dataclass(frozen=True)
class FaceFrame:
    """Where the face of one image is: box (x, y, w, h) and landmarks, in its pixels."""

    box: Box
    landmarks: dict[str, tuple[float, float]] | None

    def relative(self, height: int, width: int) -> np.ndarray:
        """Box and landmarks as fractions of the image size: float64 (4 + 2 * landmarks,)."""
        x, y, w, h = self.box
        values = [x / width, y / height, w / width, h / height]
        for px, py in (self.landmarks or {}).values():
            values += [px / width, py / height]
        return np.asarray(values, dtype=np.float64)

    @classmethod
    def from_relative(
        cls, values: np.ndarray, names: tuple[str, ...], height: int, width: int
    ) -> FaceFrame:
        x, y, w, h = values[:4]
        points = values[4:].reshape(-1, 2)
        landmarks = {
            name: (float(px * width), float(py * height))
            for name, (px, py) in zip(names, points, strict=True)
        }
        return cls(
            (float(x * width), float(y * height), float(w * width), float(h * height)),
            landmarks or None,
        )


def detect_training_face(image: np.ndarray, detector) -> FaceFrame | None:
    """The main face of a training image (BGR or gray uint8), found by ``detector``, or None.

    The image is padded and resized as described above; of the faces found, the largest is
    taken (a training image shows one face, filling it). Box and landmarks come back in the
    image's own pixels and may reach past its edges.
    """
    height, width = image.shape[:2]
    pad = round(FRAMING_PAD_FRACTION * max(height, width))
    padded = cv2.copyMakeBorder(
        image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(FRAMING_PAD_VALUE,) * 3
    )
    scale = FRAMING_DETECT_SIDE / max(padded.shape[:2])
    size = (max(1, round(padded.shape[1] * scale)), max(1, round(padded.shape[0] * scale)))
    resized = cv2.resize(
        padded, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
    )
    faces = detector.detect(resized)
    if not faces:
        return None
    face = max(faces, key=lambda f: (f.box[2] * f.box[3], f.score))
    sx, sy = resized.shape[1] / padded.shape[1], resized.shape[0] / padded.shape[0]
    return _in_image(face, origin=(pad * sx, pad * sy), scale=(sx, sy))


def detect_in_camera_frame(image: np.ndarray, detector, seed: int) -> FaceFrame | None:
    """The main face of a training image (BGR or gray uint8) found as serving finds a face, or
    None.

    The image is pasted into a room frame (``ml.frames.compose_frame``) at a side drawn from
    ``seed`` in ``FRAMING_CAMERA_SIDES``, encoded as the page encodes a frame and decoded, and
    given to ``detector``, which should be the serving one at its serving resolution. Of the
    faces found, the largest whose centre lies on the image is taken. Box and landmarks come
    back in the image's own pixels and may reach past its edges.
    """
    least, most = FRAMING_CAMERA_SIDES
    side = int(np.random.default_rng((seed, 1)).integers(least, most + 1))  # apart from the place
    frame, (x, y, w, h) = compose_frame(image, side, seed)
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(frame), np.uint8), cv2.IMREAD_COLOR)
    face = face_at(detector.detect(decoded), (x, y, w, h))
    if face is None:
        return None
    height, width = image.shape[:2]
    return _in_image(face, origin=(x, y), scale=(w / width, h / height))


def _in_image(face, origin: tuple[float, float], scale: tuple[float, float]) -> FaceFrame:
    """``face``, detected in a copy of an image whose pixel (0, 0) lies at ``origin`` and
    which is ``scale`` (x, y) times its size, in the image's own pixels."""
    (ox, oy), (sx, sy) = origin, scale
    x, y, w, h = face.box
    landmarks = None
    if face.landmarks:
        landmarks = {
            name: ((px - ox) / sx, (py - oy) / sy) for name, (px, py) in face.landmarks.items()
        }
    return FaceFrame(((x - ox) / sx, (y - oy) / sy, w / sx, h / sy), landmarks)


#: What a framer's ``finish`` returns: the crops, and where each saw its image
#: (``ml.preprocessing.inside_source``), in the order the images were added.
Framed = tuple[list[np.ndarray], list[np.ndarray]]


def cut(
    image: np.ndarray, box: Box, params: Preprocessing, landmarks: Landmarks | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``face_crop`` of ``image`` and its ``inside_source`` mask."""
    return (
        face_crop(image, box, params, landmarks),
        inside_source(image.shape, box, params, landmarks),
    )


def framed(pairs: list[tuple[np.ndarray, np.ndarray]]) -> Framed:
    """``Framed`` from (crop, mask) pairs."""
    return [crop for crop, _ in pairs], [inside for _, inside in pairs]


class FixedFramer:
    """Crops each image at a fixed box (the framing of models trained before detector framing)."""

    def __init__(self, params: Preprocessing, box: Callable[[int, int], Box]) -> None:
        self.params = params
        self.box = box
        self.crops: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, image: np.ndarray, key: bytes) -> None:
        """Crop ``image`` (``key``, its bytes, is unused here)."""
        self.crops.append(cut(image, self.box(*image.shape[:2]), self.params))

    def finish(self) -> Framed:
        """The crops and their masks, in the order the images were added."""
        return framed(self.crops)


class DetectorFramer:
    """Crops each image at the box the serving detector finds in it; see the module docstring.

    Args:
        params: preprocessing; ``params.framing`` names the detector and
            ``params.framing_context`` says where it looks.
        cache_dir: where detections are cached (``detections-<detector>-v<N>.json``, with
            ``-camera`` after the detector's name in the camera context), or None.
        detector: the detector (default: ``ml.detection.create_detector(params.framing)``: in
            the camera context as serving runs it, in the padded context in one pass at full
            resolution that keeps no weak face).
        what: name of the images in log lines ("FER2013 train").
    """

    def __init__(
        self,
        params: Preprocessing,
        *,
        cache_dir: str | Path | None = None,
        detector=None,
        what: str = "images",
    ) -> None:
        if params.framing is None:
            raise ValueError("DetectorFramer needs params.framing, the name of a detector.")
        self.params = params
        self.what = what
        if detector is None:
            from ml.detection import create_detector

            camera = params.framing_context == "camera"
            detector = (
                create_detector(params.framing)
                if camera
                else create_detector(params.framing, max_side=0, confirm_threshold=0)
            )
        self.detector = detector
        context = "-camera" if params.framing_context == "camera" else ""
        version = FRAMING_VERSIONS[params.framing_context]
        self.cache_file = (
            Path(cache_dir) / f"detections-{params.framing}{context}-v{version}.json"
            if cache_dir
            else None
        )
        self.cache = self._read_cache()
        self.new = 0
        self.crops: list[tuple[np.ndarray, np.ndarray] | None] = []
        self.missed: list[tuple[int, np.ndarray]] = []
        self.found_relative: list[np.ndarray] = []
        self.landmark_names: tuple[str, ...] = ()

    def add(self, image: np.ndarray, key: bytes) -> None:
        """Find the face of ``image`` (bytes ``key`` identify it in the cache) and crop it."""
        frame = self._locate(image, key)
        if frame is None:
            self.missed.append((len(self.crops), image))
            self.crops.append(None)
            return
        height, width = image.shape[:2]
        if frame.landmarks and not self.landmark_names:
            self.landmark_names = tuple(frame.landmarks)
        if frame.landmarks and tuple(frame.landmarks) == self.landmark_names:
            self.found_relative.append(frame.relative(height, width))
        self.crops.append(cut(image, frame.box, self.params, frame.landmarks))

    def finish(self) -> Framed:
        """The crops and their masks in the order added; the images without a face get the
        calibrated box."""
        self._write_cache()
        if self.missed:
            default = self.default_relative()
            for index, image in self.missed:
                frame = FaceFrame.from_relative(default, self.landmark_names, *image.shape[:2])
                self.crops[index] = cut(image, frame.box, self.params, frame.landmarks)
        total = len(self.crops)
        logger.info(
            "Framed %d %s with %s (%s): face found in %d (%.1f %%), calibrated default box for %d",
            total,
            self.what,
            self.params.framing,
            self.params.framing_context,
            total - len(self.missed),
            100.0 * (total - len(self.missed)) / max(1, total),
            len(self.missed),
        )
        return framed([pair for pair in self.crops if pair is not None])

    def default_relative(self) -> np.ndarray:
        """Median box and landmarks of the images where a face was found, relative to size."""
        if not self.found_relative:
            raise ValueError(
                f"The {self.params.framing} detector found no face in any of the "
                f"{len(self.crops)} {self.what}; cannot calibrate a default box."
            )
        return np.median(np.stack(self.found_relative), axis=0)

    # --- the detection cache ---------------------------------------------------------------
    def _locate(self, image: np.ndarray, key: bytes) -> FaceFrame | None:
        digest = hashlib.sha256(key).hexdigest()[:24]
        if digest in self.cache:
            return self._frame_from_cache(self.cache[digest])
        if self.params.framing_context == "camera":
            frame = detect_in_camera_frame(image, self.detector, seed=int(digest, 16))
        else:
            frame = detect_training_face(image, self.detector)
        self.cache[digest] = None if frame is None else self._frame_to_cache(frame)
        self.new += 1
        if self.new % SAVE_EVERY == 0:
            self._write_cache()
        return frame

    @staticmethod
    def _frame_to_cache(frame: FaceFrame) -> dict:
        return {"box": [round(v, 3) for v in frame.box], "landmarks": frame.landmarks}

    @staticmethod
    def _frame_from_cache(entry: dict | None) -> FaceFrame | None:
        if entry is None:
            return None
        landmarks = entry.get("landmarks")
        return FaceFrame(
            tuple(entry["box"]),
            {name: (float(p[0]), float(p[1])) for name, p in landmarks.items()}
            if landmarks
            else None,
        )

    def _read_cache(self) -> dict:
        if self.cache_file is None or not self.cache_file.is_file():
            return {}
        try:
            return json.loads(self.cache_file.read_text())
        except (OSError, ValueError) as err:
            logger.warning("Ignoring unreadable detection cache %s: %s", self.cache_file, err)
            return {}

    def _write_cache(self) -> None:
        if self.cache_file is None or not self.new:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache_file.with_name(self.cache_file.name + f".{os.getpid()}.partial")
        partial.write_text(json.dumps(self.cache, separators=(",", ":")))
        os.replace(partial, self.cache_file)


def framer_for(
    params: Preprocessing,
    *,
    fixed_box: Callable[[int, int], Box],
    cache_dir: str | Path | None,
    what: str,
) -> FixedFramer | DetectorFramer:
    """The framer ``params`` asks for: the detector's (``params.framing``) or ``fixed_box``."""
    if params.framing:
        return DetectorFramer(params, cache_dir=cache_dir, what=what)
    return FixedFramer(params, fixed_box)
