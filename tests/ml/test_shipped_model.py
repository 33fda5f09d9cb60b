"""The model shipped in ``models/default`` is the one ``make run`` serves: it must load and work."""

from pathlib import Path

import pytest

from ml.export import load_metadata
from ml.inference import Analyzer
from ml.labels import AGE_BAND_NAMES, MOODS
from ml.train_config import TrainConfig

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "default"


@pytest.fixture(scope="module")
def shipped_analyzer() -> Analyzer:
    return Analyzer.load(SHIPPED, detector="retinaface-mobilenet")


def test_the_shipped_export_holds_the_int8_model_its_onnx_form_and_metadata():
    assert sorted(p.name for p in SHIPPED.iterdir()) == [
        "metadata.json",
        "model.onnx",  # what the page runs in on-device mode
        "model_int8.tflite",
    ]
    # the shipped weights stay within 25 MB in all
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) / 1e6 <= 25


def test_the_shipped_metadata_matches_the_labels_and_preprocessing_of_ml():
    meta = load_metadata(SHIPPED)

    assert meta.moods == MOODS
    assert meta.age_bands == AGE_BAND_NAMES
    # It was trained with today's defaults: the serving detector's framing, held-out slices.
    defaults = TrainConfig(fer=Path("unused"))
    assert meta.preprocessing == defaults.preprocessing()
    assert meta.preprocessing.framing == "retinaface-mobilenet"
    assert meta.input_shape == meta.preprocessing.input_shape
    trained = meta.training["config"]
    assert trained["width"] == defaults.width
    assert trained["heldout_fraction"] == defaults.heldout_fraction > 0  # figures on unseen faces
    assert meta.mirror_average  # the card's figures are measured with mirror averaging
    assert meta.checks["onnx"]["faces"] > 0  # the ONNX form was checked against TFLite


def test_the_shipped_model_analyses_a_real_face_photo_end_to_end(shipped_analyzer, astronaut_jpeg):
    result = shipped_analyzer.analyze(astronaut_jpeg)

    assert len(result.faces) == 1
    face = result.faces[0]
    assert sum(face.emotion.values()) == pytest.approx(1.0, abs=1e-6)
    assert set(face.emotion) == set(MOODS)
    # Eileen Collins was about 40 when the photo was taken; any adult age is plausible.
    assert 18 <= face.age <= 70
    assert 0.0 <= face.female <= 1.0
    # She smiles broadly in this portrait: a working mood head says so.
    assert max(face.emotion, key=face.emotion.get) == "happy"
