"""On-device analysis: what a page needs to run the detector and the network itself.

In on-device mode (``ANALYSIS_ON_DEVICE``) the page runs RetinaFace MobileNet-0.25 and the
exported network in the browser with ONNX Runtime Web, and sends only its estimates
(``emotion.estimates``). Everything it must do the way the server does comes from here, out of
the same constants the server's own code uses: the detector's decoding (``ml.detection``), the
model's preprocessing and outputs (its ``metadata.json``, ``ml.export``) and the estimates'
limits. The page's JavaScript repeats none of these numbers.

``ondevice_status`` says whether the page can run it and, when not, why: in words for the page
(no paths) and in full for the log, logged once per reason. ``ml`` is imported lazily, so a web
process that only renders the page (``page_status``) loads no image library for it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from emotion.browser_runtime import FILES, STATIC_PATH, runtime_status
from emotion.estimates import ESTIMATES_MAX_FACES

logger = logging.getLogger(__name__)

_logged_reasons: set[str] = set()


@dataclass(frozen=True)
class OnDeviceStatus:
    """Whether pages can analyze on the device; ``reason`` for the page, ``detail`` for the log."""

    available: bool
    reason: str = ""
    detail: str = ""


def ondevice_mode() -> str:
    """``ANALYSIS_ON_DEVICE``: "allowed", "only" or "off"."""
    return settings.ANALYSIS_ON_DEVICE


def model_onnx_path() -> Path:
    """The served model's ONNX form (``model.onnx`` in ``MUSICMOOD_MODEL``)."""
    from ml.export import ONNX_FILE

    return Path(settings.MUSICMOOD_MODEL) / ONNX_FILE


def detector_onnx_path() -> Path:
    """The RetinaFace MobileNet-0.25 ONNX file the server's own detector loads."""
    from ml.detection.mobilenet import mobilenet_weights_path

    configured = settings.RETINAFACE_MOBILENET_WEIGHTS
    return Path(configured) if configured else mobilenet_weights_path()


def runtime_file_paths() -> dict[str, str]:
    """The browser runtime's files by role, as paths under the static files."""
    return {role: f"{STATIC_PATH}/{name}" for role, (name, _) in FILES.items()}


@lru_cache(maxsize=4)
def _detector_checked(path: str, mtime_ns: int, size: int) -> bool:
    """Whether the file is the pinned detector; cached while the file stays the same."""
    from ml.detection.mobilenet import WEIGHTS_SHA256

    return hashlib.sha256(Path(path).read_bytes()).hexdigest() == WEIGHTS_SHA256


def detector_available(path: Path) -> bool:
    """Whether ``path`` holds the pinned RetinaFace MobileNet-0.25 weights."""
    try:
        stat = path.stat()
        return _detector_checked(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        return False


def _logged(status: OnDeviceStatus) -> OnDeviceStatus:
    if not status.available and status.detail not in _logged_reasons:
        _logged_reasons.add(status.detail)
        logger.warning("On-device analysis is unavailable: %s", status.detail)
    return status


def page_status() -> OnDeviceStatus:
    """The cheap part of ``ondevice_status`` that the page is rendered with: the mode and the
    browser runtime (no model library is imported); logs each reason once."""
    return _logged(_page_status())


def ondevice_status() -> OnDeviceStatus:
    """Whether a page can analyze on the device now, and if not why; logs each reason once."""
    status = _page_status()
    return _logged(status if not status.available else _files_status())


def _page_status() -> OnDeviceStatus:
    if ondevice_mode() == "off":
        return OnDeviceStatus(False, "this server does not offer it", "ANALYSIS_ON_DEVICE=off.")
    runtime = runtime_status()
    if not runtime.available:
        return OnDeviceStatus(
            False, "its browser runtime (ONNX Runtime Web) is not installed", runtime.reason
        )
    return OnDeviceStatus(True)


def _files_status() -> OnDeviceStatus:
    from ml.errors import IncompatibleModel, ModelNotFound
    from ml.export import load_metadata

    try:
        load_metadata(settings.MUSICMOOD_MODEL)
    except (ModelNotFound, IncompatibleModel) as err:
        return OnDeviceStatus(False, "no trained model is installed", str(err))
    if not model_onnx_path().is_file():
        return OnDeviceStatus(
            False,
            "the installed model has no form a browser can run",
            f"Expected {model_onnx_path()}: the installed model was exported without its ONNX "
            "form; export it again (ml.export writes model.onnx unless told not to).",
        )
    detector = detector_onnx_path()
    if not detector_available(detector):
        return OnDeviceStatus(
            False,
            "the face detector is not installed",
            f"Expected the RetinaFace MobileNet-0.25 weights at {detector}; run "
            "`python scripts/install_detector.py`.",
        )
    return OnDeviceStatus(True)


def file_version(path: Path) -> str:
    """A short tag that changes whenever ``path``'s file is replaced (for URLs and ETags)."""
    stat = path.stat()
    return hashlib.sha256(f"{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()[:16]


def ondevice_parameters() -> dict[str, Any]:
    """What the page's analysis needs besides the files: the model's preprocessing, outputs
    and moods, and the detector's decoding, from the constants the server's code uses.

    Raises:
        ModelNotFound, IncompatibleModel: no usable export (see ``ondevice_status``).
    """
    from ml.detection import mobilenet, priors
    from ml.export import ONNX_INPUT, load_metadata
    from ml.inference import AGE_RANGE

    metadata = load_metadata(settings.MUSICMOOD_MODEL)
    return {
        "model": {
            "version": file_version(model_onnx_path()),
            "input": ONNX_INPUT,
            "input_shape": list(metadata.input_shape),
            "outputs": list(metadata.outputs),
            "moods": list(metadata.moods),
            "preprocessing": metadata.preprocessing.to_dict(),
            "mirror_average": metadata.mirror_average,
            "age_range": list(AGE_RANGE),
        },
        "detector": {
            "version": file_version(detector_onnx_path()),
            "max_side": int(settings.FACE_DETECTION_MAX_SIDE),
            "retry_side": mobilenet.RETRY_SIDE,
            "retry_face_sides": list(mobilenet.RETRY_FACE_SIDES),
            "score_threshold": mobilenet.SCORE_THRESHOLD,
            "confirm_threshold": mobilenet.CONFIRM_THRESHOLD,
            "nms_iou": mobilenet.NMS_IOU,
            "top_candidates": mobilenet.TOP_CANDIDATES,
            "max_faces": mobilenet.MAX_FACES,
            "bgr_mean": list(mobilenet.BGR_MEAN),
            "landmarks": list(mobilenet.LANDMARK_NAMES),
            "anchor_strides": list(priors.ANCHOR_STRIDES),
            "anchor_sizes": [list(sizes) for sizes in priors.ANCHOR_SIZES],
            "center_variance": priors.CENTER_VARIANCE,
            "size_variance": priors.SIZE_VARIANCE,
        },
        "estimates": {"max_faces": ESTIMATES_MAX_FACES},
    }
