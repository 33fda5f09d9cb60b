"""The process's analyzer: one ``ml.inference.Analyzer``, loaded lazily from settings.

The web process loads it in inline mode, a Celery worker in celery mode. It is built from
``MUSICMOOD_MODEL`` and the detection and frame settings (``analyzer_settings``); when any of
them changes, the next frame loads it again, and a missing model is looked for again on every
frame, so a model copied in later is picked up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from emotion.errors import AnalysisUnavailable
from ml.errors import IncompatibleModel, ModelNotFound

if TYPE_CHECKING:  # the model runtime comes with the analyzer, not with this module
    from ml.analysis import FrameAnalysis
    from ml.inference import Analyzer

logger = logging.getLogger(__name__)

#: What the listener is told when no model can be served; the details (paths) go to the log.
MODEL_UNAVAILABLE_MESSAGE = "Mood analysis is unavailable: no trained model is installed."

_analyzer: Analyzer | None = None
_analyzer_key: tuple | None = None  # the analyzer_settings() it was loaded with
_analyzer_lock = threading.Lock()


def analyzer_settings() -> tuple:
    """Every setting the analyzer is built from: a change to any of them reloads it."""
    return (
        str(settings.MUSICMOOD_MODEL),
        str(settings.FACE_DETECTOR),
        int(settings.FACE_DETECTION_MAX_SIDE),
        str(settings.RETINAFACE_WEIGHTS),
        str(settings.RETINAFACE_MOBILENET_WEIGHTS),
        int(settings.FRAME_MAX_PIXELS),
    )


def analyzer_get() -> Analyzer:
    """The process's analyzer for the current settings, loaded on first use.

    Raises:
        AnalysisUnavailable: the model folder is missing or unusable (code
            ``model_unavailable``); tried again on the next call.
    """
    global _analyzer, _analyzer_key
    key = analyzer_settings()
    analyzer = _analyzer
    if analyzer is not None and _analyzer_key == key:
        return analyzer
    with _analyzer_lock:
        if _analyzer is None or _analyzer_key != key:
            _analyzer = _analyzer_load()
            _analyzer_key = key
        return _analyzer


def analyzer_loaded() -> bool:
    """Whether the analyzer for the current settings is already loaded."""
    return _analyzer is not None and _analyzer_key == analyzer_settings()


def _analyzer_load() -> Analyzer:
    model_dir = Path(settings.MUSICMOOD_MODEL)
    if not model_available(model_dir):
        logger.warning(
            "No exported model in %s: train one (manage.py train_model) and install it "
            "(manage.py install_model), or set MUSICMOOD_MODEL.",
            model_dir,
        )
        raise AnalysisUnavailable("model_unavailable", MODEL_UNAVAILABLE_MESSAGE)
    from ml.detection import create_detector  # imports the model runtime: lazily
    from ml.inference import Analyzer

    started = time.perf_counter()
    try:
        detector = create_detector(
            settings.FACE_DETECTOR,
            max_side=settings.FACE_DETECTION_MAX_SIDE,
            weights_path=settings.RETINAFACE_WEIGHTS or None,
            mobilenet_weights=settings.RETINAFACE_MOBILENET_WEIGHTS or None,
        )
        analyzer = Analyzer.load(model_dir, detector=detector, max_pixels=settings.FRAME_MAX_PIXELS)
    except (ModelNotFound, IncompatibleModel) as err:
        logger.error("The model in %s cannot be served: %s", model_dir, err)
        raise AnalysisUnavailable("model_unavailable", MODEL_UNAVAILABLE_MESSAGE) from err
    logger.info("Loaded model %s in %.1f s", model_dir, time.perf_counter() - started)
    return analyzer


def model_available(model_dir: str | Path | None = None) -> bool:
    """Whether ``model_dir`` (default: ``settings.MUSICMOOD_MODEL``) holds an export.

    A cheap check on the folder only: it never imports the model's runtime.
    """
    from ml.export import METADATA_FILE  # inline mode only: the runtime follows anyway

    path = Path(settings.MUSICMOOD_MODEL if model_dir is None else model_dir)
    return path.is_dir() and (path / METADATA_FILE).is_file()


def frame_analyze(*, data: bytes) -> FrameAnalysis:
    """Analyze one frame's JPEG/PNG bytes with the process's analyzer.

    Raises:
        AnalysisUnavailable: no model (``model_unavailable``).
        ml.errors.InvalidImage: the bytes do not decode to an acceptable image.
    """
    return analyzer_get().analyze(data)
