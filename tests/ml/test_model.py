"""The network itself: the seven-class emotion output and the mood readout served from it."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ml.export import OUTPUT_NAMES, served_outputs
from ml.labels import FER_CLASSES, MOOD_EXPRESSIONS, MOODS
from ml.model import bfloat16_cpu_flags, build_model, float32_model

pytestmark = pytest.mark.slow  # builds TensorFlow models

TINY = {"input_size": 32, "width": 0.0625, "head_units": 8}


@pytest.fixture(scope="module")
def seven() -> keras.Model:
    keras.utils.set_random_seed(3)
    return build_model(emotion_classes=len(FER_CLASSES), **TINY)


def _faces(count: int) -> np.ndarray:
    return np.random.default_rng(5).random((count, 32, 32, 1), dtype=np.float32)


def test_the_mood_readout_of_seven_expressions_sums_to_one_over_the_four_moods(seven):
    out = seven.predict_on_batch(_faces(6))

    assert out["expression"].shape == (6, len(FER_CLASSES))
    assert out["emotion"].shape == (6, len(MOODS))
    np.testing.assert_allclose(out["emotion"].sum(axis=1), 1.0, atol=1e-5)
    # it is the expression distribution given that the face shows one of the moods
    moods = out["expression"][:, list(MOOD_EXPRESSIONS)]
    np.testing.assert_allclose(out["emotion"], moods / moods.sum(axis=1, keepdims=True), atol=1e-5)


def test_the_served_form_of_a_seven_class_model_has_the_three_outputs_and_its_weights(seven):
    served = served_outputs(seven)

    assert sorted(served.output_names) == sorted(OUTPUT_NAMES)
    faces = _faces(3)
    full, plain = seven.predict_on_batch(faces), served.predict_on_batch(faces)
    for name in OUTPUT_NAMES:
        np.testing.assert_allclose(plain[name], full[name], atol=1e-6)


def test_a_saved_seven_class_model_loads_back_with_its_readout(seven, tmp_path):
    seven.save(tmp_path / "seven.keras")

    loaded = keras.models.load_model(tmp_path / "seven.keras")

    faces = _faces(2)
    np.testing.assert_allclose(
        loaded.predict_on_batch(faces)["emotion"],
        seven.predict_on_batch(faces)["emotion"],
        atol=1e-6,
    )


def test_a_four_class_model_is_served_as_it_is_and_other_class_counts_are_refused():
    four = build_model(**TINY)

    assert served_outputs(four) is four
    assert "expression" not in four.output_names
    with pytest.raises(ValueError, match="emotion_classes must be one of"):
        build_model(emotion_classes=5, **TINY)


def test_a_bfloat16_model_computes_its_body_in_bfloat16_and_its_outputs_in_float32(seven):
    keras.utils.set_random_seed(3)
    mixed = build_model(emotion_classes=len(FER_CLASSES), precision="bfloat16", **TINY)

    assert mixed.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in mixed.weights)  # the weights stay float32
    out = mixed.predict_on_batch(_faces(4))
    assert all(out[name].dtype == np.float32 for name in (*OUTPUT_NAMES, "expression"))
    np.testing.assert_allclose(out["emotion"].sum(axis=1), 1.0, atol=1e-5)


def test_float32_model_keeps_the_weights_and_computes_what_a_float32_build_does(seven):
    keras.utils.set_random_seed(3)
    mixed = build_model(emotion_classes=len(FER_CLASSES), precision="bfloat16", **TINY)
    mixed.set_weights(seven.get_weights())

    plain = float32_model(mixed)

    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}
    assert float32_model(seven) is seven
    faces = _faces(4)
    want, got = seven.predict_on_batch(faces), plain.predict_on_batch(faces)
    for name in (*OUTPUT_NAMES, "expression"):
        np.testing.assert_allclose(got[name], want[name], atol=1e-5)
    # the bfloat16 model itself is close, not equal (8-bit mantissas)
    approx = mixed.predict_on_batch(faces)["emotion"]
    assert 0 < np.abs(approx - want["emotion"]).max() < 0.05
    with pytest.raises(ValueError, match="precision must be one of"):
        build_model(precision="float16", **TINY)


def test_the_cpu_s_bfloat16_units_are_read_from_its_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\n"
        "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16\n\n"
        "processor\t: 1\nflags\t\t: fpu sse2\n"
    )
    assert bfloat16_cpu_flags(cpuinfo) == ["amx_bf16", "avx512_bf16"]

    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert bfloat16_cpu_flags(cpuinfo) == []
    assert bfloat16_cpu_flags(tmp_path / "missing") == []
