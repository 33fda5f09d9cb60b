"""Ensembles and distillation: soft targets written once, read back by name, blended, learnt."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ml.datasets import FaceSet
from ml.distill import make_targets
from ml.ensemble import Ensemble, load_ensemble
from ml.labels import MOODS
from ml.preprocessing import Preprocessing
from ml.runtime import load_runner
from ml.soft_targets import Teacher, blend_targets, read_soft_targets, write_soft_targets
from ml.train_config import TrainConfig
from tests.ml.fake_faces import make_fer_folder, make_utkface_folder, utkface_names

PARAMS = Preprocessing(input_size=48, color="gray")


def _faces(names: list[str], emotion: list[int]) -> FaceSet:
    n = len(names)
    return FaceSet(
        images=np.zeros((n, 48, 48, 1), np.uint8),
        emotion=emotion,
        age=[-1] * n,
        gender=[-1] * n,
        race=[-1] * n,
        split=["train"] * n,
        names=names,
    )


def _predictions(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    emotion = rng.random((n, len(MOODS)), dtype=np.float32)
    return {
        "emotion": emotion / emotion.sum(axis=1, keepdims=True),
        "age": rng.uniform(1, 90, (n, 1)).astype(np.float32),
        "gender": rng.random((n, 1), dtype=np.float32),
    }


def test_soft_targets_are_written_and_read_back_by_face_name(tmp_path):
    faces = _faces(["a.jpg", "b.jpg", "c.jpg"], [0, 1, 2])
    predictions = _predictions(3)

    path = write_soft_targets(
        tmp_path / "targets.npz", faces, predictions, preprocessing=PARAMS, members=["m1", "m2"]
    )
    targets = read_soft_targets(path)

    assert path == tmp_path / "targets.npz" and targets.members == ("m1", "m2")
    assert targets.preprocessing == PARAMS
    # another set, in another order, with a face the ensemble never saw
    teacher = targets.for_faces(_faces(["c.jpg", "new.jpg", "a.jpg"], [2, 3, 0]), PARAMS)
    np.testing.assert_array_equal(teacher.emotion[0], predictions["emotion"][2])
    np.testing.assert_array_equal(teacher.emotion[2], predictions["emotion"][0])
    assert np.isnan(teacher.emotion[1]).all() and np.isnan(teacher.age[1])
    assert teacher.age[0] == predictions["age"][2, 0]
    assert teacher.gender[2] == predictions["gender"][0, 0]


def test_soft_targets_of_other_crops_or_other_files_are_refused_with_a_clear_message(tmp_path):
    faces = _faces(["a.jpg"], [0])
    path = write_soft_targets(
        tmp_path / "t.npz", faces, _predictions(1), preprocessing=PARAMS, members=["m"]
    )

    with pytest.raises(ValueError, match="preprocessed as"):
        read_soft_targets(path).for_faces(faces, replace(PARAMS, margin=PARAMS.margin + 0.1))
    with pytest.raises(ValueError, match="preprocessed as"):
        read_soft_targets(path).for_faces(faces, replace(PARAMS, framing_context="camera"))
    # the same crops read at another size: the teacher's estimates of the face still hold
    bigger = read_soft_targets(path).for_faces(faces, replace(PARAMS, input_size=80))
    np.testing.assert_array_equal(bigger.emotion[0], _predictions(1)["emotion"][0])
    np.savez(tmp_path / "other.npz", names=np.asarray(["a"]))
    with pytest.raises(ValueError, match="not a soft-targets file"):
        read_soft_targets(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError, match="soft-targets file"):
        read_soft_targets(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="unique face names"):
        write_soft_targets(
            tmp_path / "dup.npz",
            _faces(["a.jpg", "a.jpg"], [0, 1]),
            _predictions(2),
            preprocessing=PARAMS,
            members=["m"],
        )


def test_blended_targets_mix_true_labels_and_the_ensemble_by_the_weight():
    labels = {
        "emotion": np.asarray([1, -1, 3], np.int32),
        "age": np.asarray([[30.0], [50.0], [-1.0]], np.float32),
        "gender": np.asarray([[1.0], [0.0], [-1.0]], np.float32),
    }
    soft = np.asarray([[0.1, 0.5, 0.2, 0.2], [0.25] * 4, [np.nan] * 4], np.float32)
    teacher = Teacher(
        emotion=soft,
        age=np.asarray([40.0, 20.0, 33.0], np.float32),
        gender=np.asarray([0.6, 0.4, np.nan], np.float32),
    )

    out = blend_targets(labels, teacher, np.arange(3), weight=0.25)

    assert out["emotion"][:, 0].tolist() == [1, -1, 3]  # the true class, for the weights
    np.testing.assert_allclose(out["emotion"][0, 1:], [0.025, 0.875, 0.05, 0.05])
    assert out["emotion"][1, 1:].sum() == 0  # no label: the loss skips the row
    np.testing.assert_allclose(out["emotion"][2, 1:], [0, 0, 0, 1])  # no teacher: one-hot
    np.testing.assert_allclose(out["emotion"][:, 1:].sum(axis=1), [1, 0, 1])
    np.testing.assert_allclose(out["age"].ravel(), [32.5, 42.5, -1])
    np.testing.assert_allclose(out["gender"].ravel(), [0.9, 0.1, -1])


def test_filled_targets_teach_each_head_on_the_faces_without_its_label():
    # a FER2013 face (mood, no age or gender) and a UTKFace face (age and gender, no mood)
    labels = {
        "emotion": np.asarray([2, -1, -1], np.int32),
        "age": np.asarray([[-1.0], [30.0], [-1.0]], np.float32),
        "gender": np.asarray([[-1.0], [1.0], [-1.0]], np.float32),
    }
    teacher = Teacher(
        emotion=np.asarray([[0.1, 0.2, 0.6, 0.1], [0.1, 0.6, 0.2, 0.1], [np.nan] * 4], np.float32),
        age=np.asarray([25.0, 40.0, np.nan], np.float32),
        gender=np.asarray([0.2, 0.8, np.nan], np.float32),
    )

    out = blend_targets(labels, teacher, np.arange(3), weight=0.0, fill=True)
    kept = blend_targets(labels, teacher, np.arange(3), weight=0.0)

    # labelled heads keep their labels at weight 0; the missing ones take the teacher's
    np.testing.assert_allclose(out["emotion"][0], [2, 0, 0, 1, 0])
    np.testing.assert_allclose(out["emotion"][1], [1, 0.1, 0.6, 0.2, 0.1])  # its likeliest mood
    np.testing.assert_allclose(out["age"].ravel(), [25, 30, -1])
    np.testing.assert_allclose(out["gender"].ravel(), [0.2, 1, -1])
    # a face the teacher has no estimate for stays unlabelled; without fill, all do
    assert out["emotion"][2, 0] == -1 and out["emotion"][2, 1:].sum() == 0
    assert kept["emotion"][:, 0].tolist() == [2, -1, -1]
    np.testing.assert_allclose(kept["age"].ravel(), [-1, 30, -1])


def test_filling_from_the_ensemble_needs_a_soft_targets_file(tmp_path):
    with pytest.raises(ValueError, match="distill_unlabelled needs a soft-targets file"):
        TrainConfig(fer=tmp_path, out=tmp_path / "run", distill_unlabelled=True)


@pytest.mark.slow  # TensorFlow
def test_the_soft_loss_equals_the_sparse_loss_on_one_hot_targets_and_follows_soft_ones():
    from ml.losses import MaskedSoftCrossentropy, MaskedSparseCategoricalCrossentropy

    probs = np.asarray([[0.7, 0.1, 0.1, 0.1], [0.2, 0.3, 0.4, 0.1], [0.25] * 4], np.float32)
    labels = np.asarray([0, 2, -1], np.float32)
    one_hot = np.eye(4, dtype=np.float32)[[0, 2, 0]]
    weights = [1.0, 2.0, 0.5, 1.5]
    sparse = MaskedSparseCategoricalCrossentropy(weights, label_smoothing=0.1)
    soft = MaskedSoftCrossentropy(weights, label_smoothing=0.1)

    same = soft(np.concatenate([labels[:, None], one_hot], axis=1), probs)

    assert float(same) == pytest.approx(float(sparse(labels, probs)), rel=1e-5)
    # a soft target on the first face: its cross-entropy against that distribution
    target = np.asarray([0.5, 0.5, 0, 0], np.float32)
    mixed = np.concatenate([labels[:, None], np.stack([target, one_hot[1], one_hot[2]])], axis=1)
    expected = (
        -(0.9 * target + 0.025) @ np.log(probs[0]) * 1.0
        - (0.9 * one_hot[1] + 0.025) @ np.log(probs[1]) * 0.5
    ) / 2
    assert float(MaskedSoftCrossentropy(weights, label_smoothing=0.1)(mixed, probs)) == (
        pytest.approx(expected, rel=1e-5)
    )


def test_an_ensemble_averages_its_members_outputs(tiny_model_dir):
    int8 = load_runner(tiny_model_dir, "int8")
    fp32 = load_runner(tiny_model_dir, "fp32")
    faces = np.random.default_rng(2).random((3, 48, 48, 1), dtype=np.float32)

    out = Ensemble([int8, fp32]).predict(faces)

    a, b = int8.predict(faces), fp32.predict(faces)
    for name in ("emotion", "age", "gender"):
        np.testing.assert_allclose(out[name], (a[name] + b[name]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out["emotion"].sum(axis=1), 1.0, atol=0.02)


def test_ensemble_members_must_read_faces_alike(tiny_model_dir, tmp_path):
    other = Path(shutil.copytree(tiny_model_dir, tmp_path / "other"))
    meta = json.loads((other / "metadata.json").read_text())
    meta["preprocessing"]["margin"] = 0.3
    (other / "metadata.json").write_text(json.dumps(meta))

    ensemble, metadata = load_ensemble([tiny_model_dir, tiny_model_dir])
    assert len(ensemble.members) == 2 and metadata.preprocessing.input_size == 48
    with pytest.raises(ValueError, match="read faces as"):
        load_ensemble([tiny_model_dir, other])


@pytest.mark.slow  # trains with TensorFlow
def test_an_ensembles_targets_for_the_training_faces_train_a_student(tiny_model_dir, tmp_path):
    from ml.train import train

    fer = make_fer_folder(tmp_path / "fer", per_class=2, classes=MOODS)
    utk = make_utkface_folder(tmp_path / "utk", utkface_names(12), size=64)

    made = make_targets(
        [tiny_model_dir, tiny_model_dir],
        tmp_path / "soft" / "targets.npz",
        fer=fer,
        utkface=utk,
        show_progress=False,
    )

    targets = read_soft_targets(made["file"])
    train_faces = made["data"]["fer"]["train"] + made["data"]["utkface"]["train"]
    assert made["faces"] == len(targets.names) == train_faces
    assert (tmp_path / "soft" / "cache").is_dir()
    student = TrainConfig(
        fer=fer,
        utkface=utk,
        out=tmp_path / "student",
        epochs=1,
        batch_size=8,
        input_size=48,  # the tiny members' size: the targets' crops must be the student's
        width=0.0625,
        margin=0.1,
        framing=None,
        heldout_fraction=0.0,
        distill=made["file"],
        distill_weight=0.5,
        distill_unlabelled=True,
        distill_heads=("emotion", "gender"),
        calibration_size=4,
        progress=False,
    )
    lines: list[str] = []

    result = train(student, echo=lines.append)

    assert any(
        line.startswith("distilling ")
        and "into emotion, gender;" in line
        and "unlabelled heads from the ensemble" in line
        for line in lines
    )
    assert np.isfinite(result["history"][0]["loss"])
    assert (tmp_path / "student" / "export" / "model_int8.tflite").is_file()


def test_targets_can_be_made_for_a_student_framed_in_camera_frames(tiny_model_dir, tmp_path):
    fer = make_fer_folder(tmp_path / "fer", per_class=1, classes=MOODS)

    made = make_targets(
        [tiny_model_dir],
        tmp_path / "t.npz",
        fer=fer,
        utkface=None,
        framing_context="camera",
        show_progress=False,
    )

    targets = read_soft_targets(made["file"])
    assert targets.preprocessing.framing_context == "camera"
    assert len(targets.names) == made["faces"] > 0


def test_heads_left_out_of_the_distillation_keep_their_true_labels():
    labels = {
        "emotion": np.asarray([1, -1], np.int32),
        "age": np.asarray([[30.0], [-1.0]], np.float32),
        "gender": np.asarray([[1.0], [-1.0]], np.float32),
    }
    teacher = Teacher(
        emotion=np.asarray([[0.1, 0.5, 0.2, 0.2], [0.1, 0.2, 0.6, 0.1]], np.float32),
        age=np.asarray([40.0, 25.0], np.float32),
        gender=np.asarray([0.6, 0.2], np.float32),
    )

    out = blend_targets(labels, teacher, np.arange(2), weight=0.5, fill=True, heads=["emotion"])

    np.testing.assert_allclose(out["emotion"][0], [1, 0.05, 0.75, 0.1, 0.1])
    np.testing.assert_allclose(out["emotion"][1], [2, 0.1, 0.2, 0.6, 0.1])  # filled
    np.testing.assert_allclose(out["age"].ravel(), [30, -1])  # neither blended nor filled
    np.testing.assert_allclose(out["gender"].ravel(), [1, -1])
    with pytest.raises(ValueError, match="heads among"):
        blend_targets(labels, teacher, np.arange(2), weight=0.5, heads=["mood"])
    with pytest.raises(ValueError, match="distill_heads must be one or more of"):
        TrainConfig(fer=Path("unused"), distill_heads=("emotion", "mood"))
