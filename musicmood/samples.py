"""Sample inputs for the tests and the benchmarks: a real face photo, camera frames made of it,
and a tiny real export of the model.

Development tooling: nothing here is imported by the site itself. scikit-image (for the photo)
is a test requirement, TensorFlow (for the export) is imported only to build one.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ml.frames import Placed, compose_frame
from ml.frames import encode_jpeg as encode_jpeg  # re-exported: the samples' JPEG encoder
from ml.labels import MOODS
from ml.live import sample_picture

if TYPE_CHECKING:
    import keras

#: The mood the tiny model always favours (see ``tiny_model``).
TINY_MODEL_MOOD = "happy"
#: Seed of the tiny model's initial weights (see ``tiny_model``).
TINY_MODEL_SEED = 5
#: Spread (standard deviation over inputs) of ``parity_model``'s mood logits.
PARITY_LOGIT_SPREAD = 2.0
#: Grey level of the frames around the photo.
FRAME_BACKGROUND = 90
#: The astronaut's head and shoulders in the photo, (top, left, side) in its pixels.
ASTRONAUT_HEAD = (10, 80, 360)
#: The astronaut's face in the photo, (top, left, height, width): RetinaFace's box, a little
#: more above and at the sides.
ASTRONAUT_FACE = (31, 168, 146, 114)


def astronaut_image() -> np.ndarray:
    """scikit-image's astronaut photo (one clear frontal face), as BGR uint8 (512, 512, 3)."""
    return sample_picture("astronaut")


def astronaut_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """The astronaut letterboxed into a BGR camera frame: one face, about 100 px at 640x480."""
    side = min(width, height)
    frame = np.full((height, width, 3), FRAME_BACKGROUND, np.uint8)
    x0, y0 = (width - side) // 2, (height - side) // 2
    photo = cv2.resize(astronaut_image(), (side, side), interpolation=cv2.INTER_AREA)
    frame[y0 : y0 + side, x0 : x0 + side] = photo
    return frame


def faint_face_frame(
    pixels: int, blur: float, contrast: float, side: int, seed: int
) -> tuple[np.ndarray, Placed]:
    """The astronaut's face faint in a 640x480 room frame, and where it went: a ``pixels`` px
    copy, blurred by ``blur`` (Gaussian sigma) and at ``contrast`` times its contrast, shown at
    ``side`` px where ``seed`` places it (``ml.frames.compose_frame``)."""
    top, left, height, width = ASTRONAUT_FACE
    face = astronaut_image()[top : top + height, left : left + width]
    face = cv2.resize(face, (pixels, pixels), interpolation=cv2.INTER_AREA)
    face = cv2.GaussianBlur(face, (0, 0), blur)
    face = np.clip((face.astype(np.float32) - 128) * contrast + 128, 0, 255).astype(np.uint8)
    return compose_frame(face, side, seed=seed)


def faint_far_face_frame() -> tuple[np.ndarray, Placed]:
    """A far faint face (28 px, blurred, half contrast, at 100 px): RetinaFace MobileNet scores
    it below its threshold at 320 and at 960 px; the mirrored frame's 960 px look shows it as
    well, and so it is kept (``ml.detection.mobilenet.CONFIRM_THRESHOLD``)."""
    return faint_face_frame(28, 1.5, 0.5, 100, seed=3)


def faint_near_face_frame() -> tuple[np.ndarray, Placed]:
    """A near faint face (22 px, blurred, 0.39 of its contrast, at 260 px): RetinaFace
    MobileNet scores it below its threshold at 320 px and finds nothing at 960 px; the mirrored
    frame's 320 px look shows it as well, and so it is kept."""
    return faint_face_frame(22, 1.0, 0.39, 260, seed=1)


def two_face_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """Two copies of the astronaut's head side by side in a BGR frame: two faces of about
    90 px at 640x480, each more than twice the model's input, as two people at a laptop."""
    top, left, size = ASTRONAUT_HEAD
    side = min(width // 2, height)
    head = astronaut_image()[top : top + size, left : left + size]
    head = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), FRAME_BACKGROUND, np.uint8)
    y0 = (height - side) // 2
    frame[y0 : y0 + side, :side] = head
    frame[y0 : y0 + side, side : 2 * side] = head
    return frame


def tiny_model(seed: int = TINY_MODEL_SEED) -> keras.Model:
    """A real 1/16-width model, 48x48 gray, whose emotion head favours TINY_MODEL_MOOD.

    The network is untrained, so left alone its emotion head would give near-uniform
    probabilities that never reach MOOD_MIN_CONFIDENCE, and no test could see a mood being
    announced. The emotion layer's kernel is shrunk and its bias set so that "happy" wins
    clearly (about 0.95) whatever the face: tests then check the path (frame -> analysis ->
    smoothed mood -> message), not the accuracy of a model nobody trained.

    Its initial weights are drawn from ``seed``, so every run of the suite tests the same
    network (Keras seeds each initialiser from Python's ``random``; its state is put back).
    """
    from ml.model import build_model

    state = random.getstate()
    random.seed(seed)
    try:
        model = build_model(input_size=48, channels=1, width=0.0625, head_units=16)
    finally:
        random.setstate(state)
    emotion = model.get_layer("emotion")
    kernel, bias = emotion.get_weights()
    bias = np.zeros_like(bias)
    bias[MOODS.index(TINY_MODEL_MOOD)] = 4.0
    emotion.set_weights([kernel * 0.01, bias])
    return model


def parity_model(
    probe: np.ndarray | None = None, *, spread: float = PARITY_LOGIT_SPREAD, seed: int = 11
) -> keras.Model:
    """A tiny model whose mood, not only its age and gender, changes from face to face.

    ``tiny_model`` favours one mood whatever the face, so two runtimes could never disagree on
    its mood. Here the emotion layer is drawn at random (seeded) and fitted to ``probe``, model
    inputs (N, 48, 48, 1) float32 of the faces it will see (random pixels when None): its
    logits spread by about ``spread`` over them and are centred, so every mood wins on some
    faces, by different margins, as with a trained model, and a crop framed differently shows.
    Its features are tiny, so its logits are far from what int8 keeps: compare it between
    float runtimes.
    """
    import keras

    model = tiny_model()
    emotion = model.get_layer("emotion")
    kernel, _ = emotion.get_weights()
    rng = np.random.default_rng(seed)
    if probe is None:
        probe = rng.random((64, *model.input_shape[1:]), dtype=np.float32)
    features = keras.Model(model.inputs, emotion.input).predict_on_batch(probe)
    features = features - features.mean(axis=0)  # what differs from face to face
    drawn = rng.normal(0.0, 1.0, kernel.shape).astype(np.float32)
    logits = features @ drawn
    drawn *= spread / max(float(logits.std(axis=0).mean()), 1e-12)
    raw = keras.Model(model.inputs, emotion.input).predict_on_batch(probe) @ drawn
    emotion.set_weights([drawn, -raw.mean(axis=0).astype(np.float32)])
    return model


def export_tiny_model(model: keras.Model, out: Path) -> Path:
    """Export ``tiny_model()`` (or another model of its shape) to ``out``: Keras, TFLite fp32
    and int8, ONNX (the form a page runs on the device), metadata."""
    from ml.export import export_model
    from ml.preprocessing import Preprocessing

    preprocessing = Preprocessing(input_size=48, color="gray")
    rng = np.random.default_rng(7)
    calibration = rng.random((16, *preprocessing.input_shape), dtype=np.float32)
    return export_model(
        model,
        out,
        preprocessing=preprocessing,
        calibration=calibration,
        training={"note": "untrained test model, emotion bias favours " + TINY_MODEL_MOOD},
        metrics={},
    )


def build_tiny_model(out: Path) -> Path:
    """``tiny_model()`` exported to ``out``."""
    return export_tiny_model(tiny_model(), out)
