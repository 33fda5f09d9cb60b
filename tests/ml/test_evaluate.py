"""evaluate_model: the JSON it writes has the documented keys, per split where there are two."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from ml.datasets import HELDOUT, load_fer
from ml.evaluate import main
from ml.evaluation import evaluate
from ml.export import METADATA_FILE
from ml.labels import MOODS
from ml.preprocessing import Preprocessing, to_model_input

from .fake_faces import make_fer_folder


@pytest.fixture
def fer_folder(tmp_path):
    """A FER2013-layout folder with PublicTest and PrivateTest images and one non-mood class."""
    rng = np.random.default_rng(0)
    root = tmp_path / "fer"
    for cls in ("happy", "sad", "disgust"):
        (root / "test" / cls).mkdir(parents=True)
        for i, split in enumerate(("PublicTest", "PublicTest", "PrivateTest")):
            image = cv2.GaussianBlur(rng.integers(0, 256, (48, 48), dtype=np.uint8), (5, 5), 0)
            cv2.imwrite(str(root / "test" / cls / f"{split}_{i}.jpg"), image)
    return root


@pytest.fixture
def utkface_folder(tmp_path, astronaut_bgr):
    root = tmp_path / "utk"
    root.mkdir()
    chip = cv2.resize(astronaut_bgr[40:260, 120:340], (200, 200))
    for name in (
        "25_1_0_20170109150557335.jpg.chip.jpg",
        "61_0_2_20170110183726390.jpg.chip.jpg",
        "8_0_1_20170112213500903.jpg.chip.jpg",
    ):
        cv2.imwrite(str(root / name), chip)
    return root


def test_evaluate_writes_fer_and_utkface_metrics_with_documented_keys(
    tiny_model_dir, fer_folder, utkface_folder, tmp_path, capsys
):
    out = tmp_path / "eval.json"
    status = main(
        [
            "--model",
            str(tiny_model_dir),
            "--fer",
            str(fer_folder),
            "--utkface",
            str(utkface_folder),
            "--json",
            str(out),
            "--markdown",
            str(tmp_path / "card.md"),
        ]
    )
    assert status == 0
    data = json.loads(out.read_text())
    fer, utk = data["fer"], data["utkface"]
    assert fer["n"] == 6  # disgust is not a mood
    assert 0.0 <= fer["accuracy"] <= 1.0 and 0.0 <= fer["macro_f1"] <= 1.0
    assert set(fer["recall"]) == set(MOODS)
    assert np.array(fer["confusion"]).shape == (4, 4) and np.sum(fer["confusion"]) == 6
    assert fer["splits"]["PublicTest"]["n"] == 4 and fer["splits"]["PrivateTest"]["n"] == 2
    assert utk["n"] == 3 and utk["age_mae"] >= 0 and 0 <= utk["gender_accuracy"] <= 1
    assert set(utk["by_race"]) == {"0", "1", "2"}
    assert {"age_mae", "gender_accuracy"} <= set(utk["by_race"]["2"])
    assert set(utk["by_decade"]) == {"0-9", "20-29", "60-69"}
    assert "age_mae" in utk["by_decade"]["20-29"]
    # gender by decade: one face each, right or wrong, adding up to the overall accuracy
    by_decade = [(d["n"], d["gender_accuracy"]) for d in utk["by_decade"].values()]
    assert all(accuracy in (0.0, 1.0) for _, accuracy in by_decade)
    assert sum(n * a for n, a in by_decade) / utk["n"] == pytest.approx(utk["gender_accuracy"])
    printed = capsys.readouterr().out
    assert "FER2013 test: 6 faces" in printed and "UTKFace (all): 3 faces" in printed
    card = (tmp_path / "card.md").read_text()
    assert "| FER2013 test, 4 moods | all | PrivateTest | PublicTest |" in card
    assert f"| accuracy | {100 * fer['accuracy']:.1f} % |" in card
    assert f"| age MAE | {utk['age_mae']:.2f} years |" in card and "| 2 asian | 1 |" in card
    # The printed tables and the Markdown ones hold the same cells, row by row.
    for row in card.splitlines():
        if row.startswith("| ") and not row.startswith("|---"):
            cells = [cell.strip() for cell in row.strip("|").split("|") if cell.strip()]
            assert any(all(cell in line for cell in cells) for line in printed.splitlines()), row


def test_evaluate_without_any_dataset_exits_with_an_error(tiny_model_dir, capsys):
    assert main(["--model", str(tiny_model_dir)]) == 2
    assert "Nothing to evaluate" in capsys.readouterr().err


def test_evaluate_model_command_runs_under_django(tiny_model_dir, fer_folder, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "cmd.json"
    call_command(
        "evaluate_model",
        "--model",
        str(tiny_model_dir),
        "--fer",
        str(fer_folder),
        "--json",
        str(out),
        "--runtime",
        "fp32",
    )
    data = json.loads(out.read_text())
    assert data["runtime"] == "tflite-fp32+mirror" and data["fer"]["n"] == 6


def test_evaluation_can_average_shifted_copies_of_each_face(tiny_model_dir, fer_folder, tmp_path):
    out = tmp_path / "shift.json"
    model, fer = str(tiny_model_dir), str(fer_folder)

    status = main(
        ["--model", model, "--fer", fer, "--shift", "2", "--runtime", "fp32", "--json", str(out)]
    )

    data = json.loads(out.read_text())
    assert status == 0 and data["shift"] == 2 and data["fer"]["n"] == 6
    assert data["runtime"] == "tflite-fp32+mirror+shift2"


def test_several_models_are_evaluated_as_one_ensemble_on_crops_only(
    tiny_model_dir, fer_folder, tmp_path, capsys
):
    out = tmp_path / "ensemble.json"
    twice = ["--model", str(tiny_model_dir), "--model", str(tiny_model_dir)]

    assert main([*twice, "--fer", str(fer_folder), "--runtime", "fp32", "--json", str(out)]) == 0

    data = json.loads(out.read_text())
    assert data["runtime"].startswith("ensemble(tflite-fp32+mirror, tflite-fp32+mirror")
    single = evaluate(tiny_model_dir, fer=fer_folder, runtime="fp32")
    assert data["fer"]["n"] == 6 and data["fer"]["accuracy"] == single["fer"]["accuracy"]
    assert main([*twice, "--fer", str(fer_folder), "--live"]) == 2
    assert "evaluate an ensemble without live" in capsys.readouterr().err


def test_a_model_trained_without_held_out_images_cannot_be_evaluated_on_them(
    tiny_model_dir, capsys
):
    status = main(["--model", str(tiny_model_dir), "--fer", "unused", "--fer-split", "heldout"])

    assert status == 2
    assert "trained without a held-out slice" in capsys.readouterr().err


def test_held_out_evaluation_takes_the_training_images_the_model_was_trained_without(
    tiny_model_dir, tmp_path
):
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    data = json.loads((model / METADATA_FILE).read_text())
    data["training"] = {"config": {"heldout_fraction": 0.4}}
    (model / METADATA_FILE).write_text(json.dumps(data))
    fer = make_fer_folder(tmp_path / "fer", per_class=10)
    out = tmp_path / "heldout.json"

    status = main(
        ["--model", str(model), "--fer", str(fer), "--fer-split", "heldout", "--json", str(out)]
    )

    train = load_fer(fer, Preprocessing(input_size=48), heldout_fraction=0.4, show_progress=False)
    held_out = int((train.split == HELDOUT).sum())
    result = json.loads(out.read_text())
    assert status == 0 and 0 < held_out < len(train)
    assert result["fer"]["split"] == HELDOUT and result["fer"]["n"] == held_out
    assert result["mirror_average"] is True


def test_training_and_evaluation_predict_faces_the_same_way_in_batches(tiny_model_dir):
    from ml.datasets import FaceSet
    from ml.evaluation import predict_faces
    from ml.runtime import load_runner

    params = Preprocessing(input_size=48)
    n = 5
    faces = FaceSet(
        images=np.random.default_rng(0).integers(0, 256, (n, 48, 48, 1), dtype=np.uint8),
        emotion=np.full(n, -1),
        age=np.full(n, -1.0),
        gender=np.full(n, -1.0),
        race=np.full(n, -1),
        split=["x"] * n,
        names=[f"{i}.jpg" for i in range(n)],
    )
    runner = load_runner(tiny_model_dir, "fp32")
    batches: list[int] = []

    def counted(batch):
        batches.append(len(batch))
        return runner.predict(batch)

    out = predict_faces(counted, faces, params, batch_size=2)
    assert batches == [2, 2, 1]
    assert {k: v.shape for k, v in out.items()} == {
        "emotion": (5, 4),
        "age": (5, 1),
        "gender": (5, 1),
    }
    whole = runner.predict(to_model_input(faces.images, params))
    for name, value in whole.items():
        np.testing.assert_allclose(out[name], value, atol=1e-5)
    empty = predict_faces(counted, faces.subset(np.arange(0)), params)
    assert {k: v.shape for k, v in empty.items()} == {
        "emotion": (0, 4),
        "age": (0, 1),
        "gender": (0, 1),
    }
