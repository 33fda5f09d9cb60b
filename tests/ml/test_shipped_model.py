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
    return Analyzer.load(SHIPPED, detector="opencv")


def test_the_shipped_export_holds_only_the_int8_model_and_its_metadata():
    assert sorted(p.name for p in SHIPPED.iterdir()) == ["metadata.json", "model_int8.tflite"]
    size_mb = (SHIPPED / "model_int8.tflite").stat().st_size / 1e6
    assert size_mb <= 25


def test_the_shipped_metadata_matches_the_labels_and_preprocessing_of_ml():
    meta = load_metadata(SHIPPED)

    assert meta.moods == MOODS
    assert meta.age_bands == AGE_BAND_NAMES
    # Every parameter is one today's training can produce (framing and margin changed since).
    trained = TrainConfig(
        fer=Path("unused"),
        margin=meta.preprocessing.margin,
        framing=meta.preprocessing.framing,
    )
    assert meta.preprocessing == trained.preprocessing()
    assert meta.input_shape == meta.preprocessing.input_shape
    assert meta.training["config"]["width"] == TrainConfig(fer=Path("unused")).width
    assert meta.mirror_average  # the card's figures are measured with mirror averaging


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
