"""Test-time averaging: serving and evaluation read each face and its mirror image in one call;
evaluation can also average shifted copies."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ml.export import METADATA_FILE, load_metadata
from ml.inference import Analyzer
from ml.runtime import Mirrored, ModelRunner, Shifted, TFLiteRunner, load_runner, shifted_views

from .conftest import TINY_INPUT_SIZE, synthetic_faces


class CountingRunner(ModelRunner):
    """Wraps a runner and records the batches it is given."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner, self.name, self.batches = runner, runner.name, []

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.batches.append(np.array(batch))
        return self.runner.predict(batch)


@pytest.fixture
def fp32(tiny_model_dir) -> TFLiteRunner:
    return TFLiteRunner(tiny_model_dir / "model_fp32.tflite")


def test_mirrored_outputs_are_the_mean_of_each_face_and_its_mirror_from_one_call(fp32):
    faces = synthetic_faces(3, TINY_INPUT_SIZE, seed=5)
    counting = CountingRunner(fp32)

    out = Mirrored(counting).predict(faces)

    plain, flipped = fp32.predict(faces), fp32.predict(faces[:, :, ::-1])
    for name in ("emotion", "age", "gender"):
        np.testing.assert_allclose(out[name], (plain[name] + flipped[name]) / 2, atol=1e-6)
    assert len(counting.batches) == 1 and len(counting.batches[0]) == 6
    np.testing.assert_allclose(out["emotion"].sum(axis=1), 1.0, atol=1e-5)


def test_a_symmetric_face_reads_the_same_mirrored_or_not(fp32):
    face = synthetic_faces(1, TINY_INPUT_SIZE, seed=6)
    symmetric = (face + face[:, :, ::-1]) / 2

    mirrored, plain = Mirrored(fp32).predict(symmetric), fp32.predict(symmetric)

    for name in ("emotion", "age", "gender"):
        np.testing.assert_allclose(mirrored[name], plain[name], atol=1e-5)


def test_mirrored_passes_empty_and_misshapen_batches_to_the_runner_it_wraps(fp32):
    empty = Mirrored(fp32).predict(np.zeros((0, TINY_INPUT_SIZE, TINY_INPUT_SIZE, 1)))
    assert empty["emotion"].shape == (0, 4)
    with pytest.raises(ValueError, match="Expected a float32 batch"):
        Mirrored(fp32).predict(np.zeros((TINY_INPUT_SIZE, TINY_INPUT_SIZE)))


def test_shifted_views_move_the_face_by_whole_pixels_repeating_the_edge():
    face = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)

    right, left, down, up = (view[0, :, :, 0] for view in shifted_views(face, 1))

    np.testing.assert_array_equal(right[:, 1:], face[0, :, :-1, 0])  # moved right by one
    np.testing.assert_array_equal(right[:, 0], face[0, :, 0, 0])  # the edge repeats
    np.testing.assert_array_equal(left[:, :-1], face[0, :, 1:, 0])
    np.testing.assert_array_equal(down[1:], face[0, :-1, :, 0])
    np.testing.assert_array_equal(up[:-1], face[0, 1:, :, 0])


def test_shifted_outputs_are_the_mean_of_five_views_from_one_call(fp32):
    faces = synthetic_faces(2, TINY_INPUT_SIZE, seed=7)
    counting = CountingRunner(fp32)

    out = Shifted(counting, 2).predict(faces)

    views = [faces, *shifted_views(faces, 2)]
    for name in ("emotion", "age", "gender"):
        expected = np.mean([fp32.predict(view)[name] for view in views], axis=0)
        np.testing.assert_allclose(out[name], expected, atol=1e-6)
    assert len(counting.batches) == 1 and len(counting.batches[0]) == 10
    np.testing.assert_allclose(out["emotion"].sum(axis=1), 1.0, atol=1e-5)
    assert load_runner(fp32.path.parent, "fp32", mirror=True, shift=2).name == (
        "tflite-fp32+mirror+shift2"
    )
    with pytest.raises(ValueError, match="at least 1 pixel"):
        Shifted(fp32, 0)


@pytest.mark.parametrize("mirror", [True, False])
def test_serving_mirrors_exactly_when_the_export_says_so(tiny_model_dir, tmp_path, mirror):
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    data = json.loads((model / METADATA_FILE).read_text())
    data["mirror_average"] = mirror
    (model / METADATA_FILE).write_text(json.dumps(data))

    analyzer = Analyzer.load(model, detector="opencv")

    assert load_metadata(model).mirror_average is mirror
    assert isinstance(analyzer.runner, Mirrored) is mirror
    assert analyzer.runner.name.endswith("+mirror") is mirror


def test_exports_ask_for_mirroring_and_older_metadata_without_the_key_do_not(
    tiny_model_dir, tmp_path
):
    assert load_metadata(tiny_model_dir).mirror_average is True
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    data = json.loads((model / METADATA_FILE).read_text())
    del data["mirror_average"]
    (model / METADATA_FILE).write_text(json.dumps(data))

    assert load_metadata(model).mirror_average is False
    assert not isinstance(load_runner(model), Mirrored)
