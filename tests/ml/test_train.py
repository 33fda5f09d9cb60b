"""End-to-end training of a tiny model on generated faces: checkpoints, resume, report, export."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
from django.core.management import call_command

from ml.runs import run_status
from ml.train import (
    TrainConfig,
    add_arguments,
    config_from_options,
    main,
    resolve_precision,
    train,
)
from tests.ml.fake_faces import make_fer_folder, make_utkface_folder, utkface_names

#: The tiny run: 12 FER + 12 UTKFace faces (some held back), batch 16, so 2 steps per epoch.
TINY = {
    "framing": None,  # synthetic faces: the detector framing is tested on real ones
    "batch_size": 16,
    "input_size": 32,
    "width": 0.0625,
    "calibration_size": 8,
    "progress": False,
    "precision": "float32",  # the same arithmetic on every machine; "auto" is tested below
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("faces")
    fer = make_fer_folder(root / "fer", per_class=3, classes=["angry", "happy", "neutral", "sad"])
    utk = make_utkface_folder(root / "utk", utkface_names(24), size=64)
    return fer, utk


@pytest.fixture(scope="module")
def first_run(datasets, tmp_path_factory) -> tuple[TrainConfig, dict, list[str]]:
    fer, utk = datasets
    config = TrainConfig(
        fer=fer,
        utkface=utk,
        out=tmp_path_factory.mktemp("run"),
        epochs=1,
        val_fraction=0.25,
        heldout_fraction=0.25,
        **TINY,
    )
    lines: list[str] = []
    result = train(config, echo=lines.append)
    return config, result, lines


@pytest.mark.slow  # trains with TensorFlow
def test_a_tiny_training_run_writes_checkpoints_report_plots_and_export(first_run):
    config, result, _lines = first_run
    out = config.out

    for name in ("last.keras", "best.keras", "state.json"):
        assert (out / "checkpoints" / name).is_file()
    for name in ("model.keras", "model_fp32.tflite", "model_int8.tflite", "metadata.json"):
        assert (out / "export" / name).is_file()
    for name in ("loss.png", "accuracy.png", "confusion.png", "age_mae.png"):
        assert (out / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report" / "metrics.json").read_text())
    fer_counts = report["training"]["data"]["fer"]
    assert fer_counts["train"] + fer_counts["heldout"] == 12
    assert fer_counts["heldout"] > 0  # these 12 images hash to 3 held out
    assert fer_counts["val"] == 12
    assert fer_counts["skipped"] == {"train": {}, "test": {}}
    assert set(report["metrics"]) >= {
        "mood_accuracy",
        "mood_macro_f1",
        "age_mae",
        "gender_accuracy",
        "confusion",
        "score",
    }
    assert report["metrics"] == result["metrics"]
    assert [record["epoch"] for record in report["history"]] == [1]


@pytest.mark.slow  # trains with TensorFlow
def test_each_epoch_reports_one_metrics_line(first_run):
    _, _, lines = first_run
    epoch_lines = [line for line in lines if line.startswith("epoch ")]

    assert len(epoch_lines) == 1
    for field in ("loss", "val mood acc", "macro-F1", "age MAE", "gender acc", "lr"):
        assert field in epoch_lines[0]


@pytest.mark.slow  # trains with TensorFlow
def test_the_checkpoint_keeps_the_optimizer_after_two_steps(first_run):
    config, _, _ = first_run

    model = keras.models.load_model(config.out / "checkpoints" / "last.keras")

    assert int(model.optimizer.iterations) == 2


@pytest.mark.slow  # trains with TensorFlow
def test_resume_continues_from_the_checkpoint_at_the_next_epoch(first_run):
    config, _, _ = first_run
    resumed = replace(config, epochs=2, resume=True, int8=False)
    lines: list[str] = []

    result = train(resumed, echo=lines.append)

    assert any("at epoch 2" in line for line in lines if line.startswith("resuming"))
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["2/2"]
    assert [record["epoch"] for record in result["history"]] == [1, 2]
    model = keras.models.load_model(config.out / "checkpoints" / "last.keras")
    assert int(model.optimizer.iterations) == 4
    state = json.loads((config.out / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2


def _final_weights(out: Path) -> list:
    return keras.models.load_model(out / "checkpoints" / "last.keras").get_weights()


RECIPES = {
    "adam-cosine": {},
    # the rate cut after every epoch without a better score: the plateau count crosses legs
    "sgd-plateau": {
        "optimizer": "sgd",
        "schedule": "plateau",
        "lr": 0.01,
        "plateau_patience": 1,
        "weight_decay": 1e-4,
    },
}


@pytest.mark.slow  # trains with TensorFlow
@pytest.mark.parametrize("recipe", RECIPES)
def test_a_time_budget_pauses_at_an_epoch_boundary_and_resume_ends_where_one_leg_would(
    datasets, tmp_path, recipe
):
    fer, utk = datasets
    common = {
        "fer": fer,
        "utkface": utk,
        "epochs": 3,
        "val_fraction": 0.25,
        "heldout_fraction": 0.25,
        "int8": False,
        **TINY,
        **RECIPES[recipe],
    }
    train(TrainConfig(out=tmp_path / "straight", **common), echo=lambda line: None)
    legs = tmp_path / "legs"

    # A budget far shorter than an epoch: the first epoch always runs, then the leg pauses.
    out = io.StringIO()
    call_command("train_model", out=str(legs), time_budget=1e-4, stdout=out, **common)
    lines = out.getvalue().splitlines()

    assert any(line.startswith("time budget: stopping after epoch 1/3") for line in lines)
    assert lines[-1].startswith(
        f"Paused after epoch 1 in {legs}; run the same command with --resume"
    )
    assert not (legs / "export").exists()
    assert "paused by the time budget" in run_status(legs)
    state = json.loads((legs / "checkpoints" / "state.json").read_text())
    assert (state["status"], state["epoch"], state["leg"]["number"]) == ("paused", 1, 1)

    # Resumed with as little budget again, it does not start an epoch it cannot finish.
    again = train(TrainConfig(out=legs, resume=True, time_budget=1e-4, **common), echo=print)
    assert again["paused"] and again["epoch"] == 1

    result = train(TrainConfig(out=legs, resume=True, **common), echo=lambda line: None)

    assert [record["epoch"] for record in result["history"]] == [1, 2, 3]
    assert (legs / "export" / "metadata.json").is_file()
    assert "finished" in run_status(legs)
    # Optimizer state, learning-rate schedule, batch order and augmentation all continued:
    # the weights are those of the run that never stopped.
    for resumed, straight in zip(
        _final_weights(legs), _final_weights(tmp_path / "straight"), strict=True
    ):
        np.testing.assert_allclose(resumed, straight, rtol=1e-4, atol=1e-5)
    lrs = [record["lr"] for record in result["history"]]
    straight_lrs = [
        r["lr"]
        for r in json.loads((tmp_path / "straight" / "report" / "metrics.json").read_text())[
            "history"
        ]
    ]
    assert lrs == pytest.approx(straight_lrs)


@pytest.mark.slow  # trains with TensorFlow
def test_a_seven_class_run_trains_on_every_fer_class_and_exports_the_mood_readout(tmp_path):
    from ml.runtime import TFLiteRunner

    fer = make_fer_folder(tmp_path / "fer", per_class=2)  # all seven classes
    config = TrainConfig(
        fer=fer,
        out=tmp_path / "seven",
        epochs=1,
        emotion_classes=7,
        heldout_fraction=0.0,
        **TINY,
    )

    result = train(config, echo=lambda line: None)

    counts = result["training"]["data"]["fer"]
    assert counts["train"] == 14  # disgust, fear and surprise train the emotion head too
    assert counts["val"] == 8  # validation stays on the four moods' PublicTest faces
    weights = result["training"]["class_weights"]
    assert len(weights) == 7 and max(weights) <= 3.0
    checkpoint = keras.models.load_model(config.out / "checkpoints" / "best.keras")
    assert "expression" in checkpoint.output_names
    served = keras.models.load_model(config.out / "export" / "model.keras")
    assert sorted(served.output_names) == ["age", "emotion", "gender"]
    faces = np.random.default_rng(1).random((3, 32, 32, 1), dtype=np.float32)
    emotion = TFLiteRunner(config.out / "export" / "model_int8.tflite").predict(faces)["emotion"]
    assert emotion.shape == (3, 4)
    np.testing.assert_allclose(emotion.sum(axis=1), 1.0, atol=0.02)  # int8 rounding


@pytest.mark.slow  # trains with TensorFlow
def test_a_bfloat16_run_trains_in_mixed_precision_and_exports_a_float32_model(
    datasets, tmp_path, monkeypatch, caplog
):
    from ml.runtime import TFLiteRunner

    fer, utk = datasets
    config = TrainConfig(
        **{**TINY, "precision": "bfloat16"}, fer=fer, utkface=utk, out=tmp_path / "bf16", epochs=1
    )
    monkeypatch.setattr("ml.train.bfloat16_cpu_flags", lambda: [])  # no AMX, no AVX512-BF16

    with caplog.at_level("WARNING", logger="ml.train"):
        result = train(config, echo=lambda line: None)

    assert "CPU without bfloat16 units" in caplog.text  # it still trains, warned
    assert result["training"]["config"]["precision"] == "bfloat16"
    checkpoint = keras.models.load_model(config.out / "checkpoints" / "best.keras")
    assert checkpoint.get_layer("block1_conv1").compute_dtype == "bfloat16"
    served = keras.models.load_model(config.out / "export" / "model.keras")
    assert {layer.dtype_policy.name for layer in served.layers} == {"float32"}
    faces = np.random.default_rng(1).random((3, 32, 32, 1), dtype=np.float32)
    want = served.predict_on_batch(faces)
    got = TFLiteRunner(config.out / "export" / "model_fp32.tflite").predict(faces)
    np.testing.assert_allclose(got["emotion"], want["emotion"], atol=1e-4)
    np.testing.assert_allclose(got["age"], want["age"], atol=1e-2)


def test_the_bfloat16_warning_comes_only_where_the_cpu_has_no_bfloat16_unit(monkeypatch, caplog):
    from ml.train import _warn_if_bfloat16_is_emulated

    monkeypatch.setattr("ml.train.bfloat16_cpu_flags", lambda: ["amx_bf16"])
    with caplog.at_level("WARNING", logger="ml.train"):
        _warn_if_bfloat16_is_emulated()
    assert caplog.text == ""

    monkeypatch.setattr("ml.train.bfloat16_cpu_flags", lambda: [])
    with caplog.at_level("WARNING", logger="ml.train"):
        _warn_if_bfloat16_is_emulated()
    assert "amx_bf16 or avx512_bf16" in caplog.text


def test_auto_precision_is_bfloat16_where_it_runs_natively_and_a_resumed_run_keeps_its_own(
    monkeypatch,
):
    monkeypatch.setattr("ml.train.bfloat16_cpu_flags", lambda: [])
    assert resolve_precision() == "float32"  # emulated bfloat16 would be slower
    monkeypatch.setattr("ml.train.bfloat16_cpu_flags", lambda: ["avx512_bf16"])
    assert resolve_precision() == "bfloat16"
    assert resolve_precision({"config": {"precision": "float32"}}) == "float32"
    assert resolve_precision({"config": {}}) == "bfloat16"
    with pytest.raises(ValueError, match="precision must be auto, float32 or bfloat16"):
        TrainConfig(fer=Path("unused"), precision="float16")


def test_resuming_with_another_number_of_emotion_classes_is_refused(first_run):
    config, _, _ = first_run
    seven = replace(config, epochs=2, resume=True, emotion_classes=7)

    with pytest.raises(ValueError, match="emotion_classes=4"):
        train(seven, echo=lambda line: None)
    mixed = replace(seven, emotion_classes=4, precision="bfloat16")
    with pytest.raises(ValueError, match="precision='float32'"):
        train(mixed, echo=lambda line: None)


def test_the_plateau_schedule_cuts_the_rate_after_patience_epochs_without_a_better_score():
    from ml.callbacks import PlateauSchedule

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    state = {"history": []}
    lines: list[str] = []
    plateau = PlateauSchedule(state=state, factor=0.5, patience=2, echo=lines.append)
    plateau.set_model(model)

    rates = []
    for best in (True, False, False, True, False, False, False):
        state["history"].append({"best": best})
        plateau.on_epoch_end(len(state["history"]) - 1)
        rates.append(float(np.asarray(model.optimizer.learning_rate)))

    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])
    assert lines == [
        "plateau: learning rate cut to 5.00e-02",
        "plateau: learning rate cut to 2.50e-02",
    ]
    assert state["plateau_wait"] == 1


@pytest.mark.slow  # trains with TensorFlow
def test_resume_refuses_a_checkpoint_made_with_other_preprocessing(first_run):
    config, _, _ = first_run
    other = replace(config, epochs=3, resume=True, input_size=40)

    with pytest.raises(ValueError, match="input_size"):
        train(other, echo=lambda line: None)


@pytest.mark.slow  # trains with TensorFlow
def test_the_learning_rate_finder_saves_a_plot_and_suggests_a_rate(datasets, tmp_path):
    fer, _utk = datasets
    config = TrainConfig(
        fer=fer, utkface=None, out=tmp_path, find_lr=True, find_lr_steps=15, **TINY
    )
    lines: list[str] = []

    result = train(config, echo=lines.append)

    assert (tmp_path / "report" / "lr_find.png").is_file()
    tried = result["lr_find"]["lrs"]
    assert len(tried) > 10 and tried == sorted(tried)
    assert tried[0] <= result["lr_find"]["suggested_lr"] <= tried[-1] / 10
    assert any(line.startswith("suggested learning rate") for line in lines)
    assert not (tmp_path / "checkpoints").exists()


def test_command_line_options_become_a_train_config():
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    config = config_from_options(
        parser.parse_args(
            [
                "--fer",
                "f",
                "--out",
                "runs/o",
                "--batch-size",
                "8",
                "--no-augment",
                "--camera-augment",
                "0.3",
                "--random-erasing",
                "0.5",
                "--limit",
                "50",
                "--resume",
                "--weights",
                "imagenet",
                "--precision",
                "bfloat16",
                "--framing-context",
                "camera",
            ]
        )
    )

    assert config.fer == Path("f") and config.utkface is None and config.out == Path("runs/o")
    assert (config.batch_size, config.augment, config.limit) == (8, False, 50)
    assert (config.camera_augment, config.random_erasing) == (0.3, 0.5)
    assert config.resume and config.weights == "imagenet" and config.precision == "bfloat16"
    assert config.cache_dir == Path("runs/o") / "cache"
    assert config.preprocessing().framing_context == "camera"


def test_runs_default_to_musicmood_runs_and_a_bare_name_is_a_run_there(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICMOOD_RUNS", str(tmp_path / "runs"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    default = config_from_options(parser.parse_args(["--fer", "f"]))
    named = config_from_options(parser.parse_args(["--fer", "f", "--out", "ship"]))
    relative = config_from_options(parser.parse_args(["--fer", "f", "--out", "./ship"]))

    assert default.out == tmp_path / "runs" / "default"
    assert named.out == tmp_path / "runs" / "ship"
    assert relative.out == Path("ship")  # a path, not a name: the user's own folder


def test_an_augmentation_probability_outside_0_to_1_is_refused():
    with pytest.raises(ValueError, match="random_erasing must be a probability"):
        TrainConfig(fer=Path("f"), random_erasing=1.5)


def test_training_without_any_dataset_is_refused_with_a_clear_message(capsys):
    with pytest.raises(SystemExit):
        main(["--out", "somewhere"])

    assert "at least one dataset" in capsys.readouterr().err


@pytest.mark.slow  # trains with TensorFlow
def test_manage_py_train_model_trains_and_exports(datasets, tmp_path):
    fer, utk = datasets
    out = tmp_path / "command"

    call_command(
        "train_model",
        fer=str(fer),
        utkface=str(utk),
        out=str(out),
        epochs=1,
        batch_size=16,
        input_size=32,
        width=0.0625,
        calibration_size=8,
        progress=False,
        int8=False,
    )

    assert (out / "export" / "metadata.json").is_file()
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    # The default precision, auto, is recorded as what it stood for on this machine.
    assert metrics["training"]["config"]["precision"] == resolve_precision()
