"""Export round trip: Keras, TFLite fp32 and int8 agree; metadata is written and checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.errors import IncompatibleModel, ModelNotFound
from ml.export import ONNX_TOLERANCE, check_onnx, convert_onnx, load_metadata
from ml.labels import MOODS
from ml.preprocessing import Preprocessing
from ml.runtime import KerasRunner, OnnxRunner, TFLiteRunner, load_runner

from .conftest import TINY_INPUT_SIZE, synthetic_faces

#: fp32 TFLite runs the same float graph: differences are rounding only.
FP32_TOLERANCE = {"emotion": 1e-4, "age": 1e-2, "gender": 1e-4}
#: int8 quantises weights and activations: probabilities within 0.1, age within 3 years.
INT8_TOLERANCE = {"emotion": 0.1, "age": 3.0, "gender": 0.1}


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return synthetic_faces(5, TINY_INPUT_SIZE, seed=7)


def test_export_writes_keras_both_tflite_files_onnx_and_metadata(tiny_model_dir):
    names = {path.name for path in tiny_model_dir.iterdir()}
    expected = {"model.keras", "model_fp32.tflite", "model_int8.tflite", "model.onnx"}
    assert expected | {"metadata.json"} <= names


def test_the_onnx_form_matches_fp32_tflite_and_its_check_is_in_the_metadata(tiny_model_dir, batch):
    check = load_metadata(tiny_model_dir).checks["onnx"]
    assert check["faces"] == 16 and check["tolerance"] == ONNX_TOLERANCE
    assert all(check["max_abs_diff"][name] <= ONNX_TOLERANCE[name] for name in ONNX_TOLERANCE)

    onnx = OnnxRunner(tiny_model_dir / "model.onnx")
    fp32 = TFLiteRunner(tiny_model_dir / "model_fp32.tflite")
    for size in (1, 5):  # any batch size, outputs by name
        got, expected = onnx.predict(batch[:size]), fp32.predict(batch[:size])
        for name, tolerance in ONNX_TOLERANCE.items():
            assert got[name].shape == expected[name].shape
            np.testing.assert_allclose(got[name], expected[name], atol=tolerance)
    assert load_runner(tiny_model_dir, "onnx").name == "onnx"


def test_an_onnx_model_that_disagrees_with_tflite_is_refused(tiny_model_dir, tiny_model, batch):
    import keras

    other = keras.models.clone_model(tiny_model)  # same graph, fresh weights
    with pytest.raises(IncompatibleModel, match="differs from the fp32 TFLite one"):
        check_onnx(convert_onnx(other), (tiny_model_dir / "model_fp32.tflite").read_bytes(), batch)


def test_tflite_fp32_matches_keras_within_rounding(tiny_model_dir, tiny_model, batch):
    expected = {k: np.asarray(v) for k, v in tiny_model.predict_on_batch(batch).items()}
    got = TFLiteRunner(tiny_model_dir / "model_fp32.tflite", threads=1).predict(batch)
    for name, tolerance in FP32_TOLERANCE.items():
        assert got[name].shape == expected[name].shape
        np.testing.assert_allclose(got[name], expected[name], atol=tolerance, err_msg=name)


def test_tflite_int8_stays_close_to_keras(tiny_model_dir, tiny_model, batch):
    expected = {k: np.asarray(v) for k, v in tiny_model.predict_on_batch(batch).items()}
    got = TFLiteRunner(tiny_model_dir / "model_int8.tflite", threads=1).predict(batch)
    for name, tolerance in INT8_TOLERANCE.items():
        assert got[name].shape == expected[name].shape
        np.testing.assert_allclose(got[name], expected[name], atol=tolerance, err_msg=name)


def test_tflite_outputs_are_named_and_batch_size_can_change_between_calls(tiny_model_dir):
    runner = TFLiteRunner(tiny_model_dir / "model_int8.tflite", threads=1)
    for count in (1, 3, 2):
        out = runner.predict(synthetic_faces(count, TINY_INPUT_SIZE, seed=count))
        assert out["emotion"].shape == (count, len(MOODS))
        assert out["age"].shape == (count, 1)
        assert out["gender"].shape == (count, 1)


def test_keras_runner_loads_the_saved_model_and_matches_it(tiny_model_dir, tiny_model, batch):
    expected = tiny_model.predict_on_batch(batch)
    got = KerasRunner(tiny_model_dir / "model.keras").predict(batch)
    for name in ("emotion", "age", "gender"):
        np.testing.assert_allclose(got[name], np.asarray(expected[name]), atol=1e-5)


def test_metadata_round_trip_gives_back_labels_preprocessing_and_files(tiny_model_dir):
    meta = load_metadata(tiny_model_dir)
    assert meta.moods == MOODS
    assert meta.preprocessing == Preprocessing(input_size=TINY_INPUT_SIZE, color="gray")
    assert meta.input_shape == (TINY_INPUT_SIZE, TINY_INPUT_SIZE, 1)
    assert meta.files["tflite_int8"] == "model_int8.tflite"
    assert meta.training == {"note": "untrained test model, emotion bias favours happy"}
    assert "keras" in meta.versions
    assert meta.created


def test_metadata_with_another_label_order_is_refused(tiny_model_dir, tmp_path):
    data = json.loads((tiny_model_dir / "metadata.json").read_text())
    data["moods"] = ["happy", "angry", "neutral", "sad"]
    (tmp_path / "metadata.json").write_text(json.dumps(data))
    with pytest.raises(IncompatibleModel, match="label order"):
        load_metadata(tmp_path)


def test_metadata_of_another_format_version_is_refused(tiny_model_dir, tmp_path):
    data = json.loads((tiny_model_dir / "metadata.json").read_text())
    data["format_version"] = 999
    (tmp_path / "metadata.json").write_text(json.dumps(data))
    with pytest.raises(IncompatibleModel, match="version 999"):
        load_metadata(tmp_path)


def test_folder_without_metadata_is_reported_as_model_not_found(tmp_path):
    with pytest.raises(ModelNotFound, match=r"metadata\.json"):
        load_metadata(tmp_path / "nowhere")
