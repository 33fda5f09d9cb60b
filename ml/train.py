"""Train the three-head face model on FER2013 (emotion) and UTKFace (age, gender).

``python -m ml.train --fer DIR --utkface DIR --out DIR`` or ``train(TrainConfig(...))``. Writes
``out/checkpoints/`` (``last.keras``, ``best.keras``, ``state.json``), ``out/report/``
(``metrics.json`` and PNG plots) and ``out/export/`` (``ml.export.export_model``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ml import report
from ml.augment import Augmentation
from ml.batches import FaceBatches
from ml.callbacks import (
    PlateauSchedule,
    TimeBudget,
    TqdmProgress,
    ValidationCheckpoint,
    budget_allows_epoch,
    evaluate_faces,
    restore_rng_state,
    write_json,
)
from ml.datasets import HELDOUT, FaceSet, load_fer, load_utkface
from ml.datasets.fer import MOOD_CLASSES
from ml.labels import FER_CLASSES, MOODS
from ml.losses import (
    MaskedAgeLoss,
    MaskedBinaryCrossentropy,
    MaskedSoftCrossentropy,
    MaskedSparseCategoricalCrossentropy,
    balanced_class_weights,
)
from ml.lr_find import lr_range_test
from ml.model import (
    BFLOAT16_CPU_FLAGS,
    PRECISIONS,
    bfloat16_cpu_flags,
    build_model,
    float32_model,
)
from ml.preprocessing import Preprocessing, to_model_input
from ml.runs import read_json
from ml.soft_targets import read_soft_targets
from ml.train_config import TrainConfig, add_arguments, config_from_options

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "add_arguments", "config_from_options", "load_data", "main", "train"]

#: Validation takes FER2013's PublicTest split only (PrivateTest stays unseen); "test" covers a
#: test folder whose file names carry no split prefix.
FER_VAL_SPLITS: tuple[str, ...] = ("PublicTest", "test")
#: The cosine schedule ends at this fraction of the peak learning rate.
FINAL_LR_FRACTION = 0.01
#: Momentum of the SGD optimizer (Nesterov), as in Khaireddin & Chen 2021.
SGD_MOMENTUM = 0.9
#: Largest class weight of the seven-class emotion output: balanced weights would give
#: FER2013's 436 disgust faces about 9 times the weight of an average face.
MAX_EXPRESSION_WEIGHT = 3.0


def load_data(config: TrainConfig, params: Preprocessing) -> tuple[FaceSet, FaceSet, dict]:
    """(train, val, counts): both datasets' training and validation faces, concatenated.

    Each dataset's held-out slice (``config.heldout_fraction`` of its training images, chosen
    by a hash of the image bytes) is left out of both: it is for ``evaluate_model`` alone.
    A seven-class run trains on FER2013's faces of every class; validation keeps the moods'.
    """
    train_parts, val_parts, counts = [], [], {}
    options = {
        "heldout_fraction": config.heldout_fraction,
        "limit": config.limit,
        "cache_dir": config.cache_dir,
        "show_progress": config.progress,
    }
    if config.fer is not None:
        classes = FER_CLASSES if config.emotion_classes == len(FER_CLASSES) else MOOD_CLASSES
        fer_all = load_fer(config.fer, params, part="train", classes=classes, **options)
        fer_test = load_fer(config.fer, params, part="test", **options)
        fer_train = fer_all.subset(np.flatnonzero(fer_all.split != HELDOUT))
        fer_val = fer_test.subset(np.flatnonzero(np.isin(fer_test.split, FER_VAL_SPLITS)))
        train_parts.append(fer_train)
        val_parts.append(fer_val)
        counts["fer"] = {
            "train": len(fer_train),
            "val": len(fer_val),
            "heldout": len(fer_all) - len(fer_train),
            "skipped": {"train": fer_all.skipped, "test": fer_test.skipped},
        }
    if config.utkface is not None:
        utk = load_utkface(config.utkface, params, val_fraction=config.val_fraction, **options)
        utk_train, utk_val = utk.subset(utk.split == "train"), utk.subset(utk.split == "val")
        train_parts.append(utk_train)
        val_parts.append(utk_val)
        counts["utkface"] = {
            "train": len(utk_train),
            "val": len(utk_val),
            "heldout": int((utk.split == HELDOUT).sum()),
            "skipped": utk.skipped,
        }
    train_set, val_set = FaceSet.concat(train_parts), FaceSet.concat(val_parts)
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(
            f"Expected training and validation faces, got {len(train_set)} and {len(val_set)}."
        )
    return train_set, val_set, counts


def class_weights(config: TrainConfig, train_set: FaceSet) -> list[float] | None:
    """Weights of the trained emotion output's classes (None: unweighted).

    Balanced over the moods (``labels.MOODS``), or over FER2013's seven classes for a
    seven-class run, capped at ``MAX_EXPRESSION_WEIGHT``.
    """
    if config.emotion_classes == len(FER_CLASSES):
        labels, classes, cap = train_set.expression, len(FER_CLASSES), MAX_EXPRESSION_WEIGHT
    else:
        labels, classes, cap = train_set.emotion, len(MOODS), None
    if not config.class_weights or not (labels >= 0).any():
        return None
    weights = balanced_class_weights(labels, classes)
    return weights if cap is None else [min(w, cap) for w in weights]


def lr_schedule(
    config: TrainConfig, steps: int
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """The learning rate ``config.schedule`` asks for.

    "cosine": linear warm-up from lr/10 to ``config.lr`` over ``warmup_epochs``, then cosine
    decay to ``FINAL_LR_FRACTION * lr`` at the last step of ``config.epochs`` epochs of
    ``steps``. "plateau": ``config.lr``, cut by ``PlateauSchedule`` when validation stalls.
    """
    if config.schedule == "plateau":
        return config.lr
    total = max(1, steps * config.epochs)
    warmup = min(int(steps * config.warmup_epochs), total - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr * 0.1 if warmup else config.lr,
        decay_steps=max(1, total - warmup),
        alpha=FINAL_LR_FRACTION,
        warmup_target=config.lr if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(
    config: TrainConfig,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
) -> keras.optimizers.Optimizer:
    """Adam, or SGD with Nesterov momentum ``SGD_MOMENTUM`` and weight decay ``weight_decay``."""
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=learning_rate,
            momentum=SGD_MOMENTUM,
            nesterov=True,
            weight_decay=config.weight_decay or None,
        )
    return keras.optimizers.Adam(
        learning_rate=learning_rate, weight_decay=config.weight_decay or None
    )


def new_model(config: TrainConfig, params: Preprocessing) -> keras.Model:
    """An untrained network of the size, width and precision ``config`` asks for."""
    return build_model(
        input_size=params.input_size,
        channels=params.channels,
        width=config.width,
        weights=config.weights,
        emotion_classes=config.emotion_classes,
        precision=config.precision,
    )


def compile_model(
    model: keras.Model,
    config: TrainConfig,
    class_weights: list[float] | None,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
) -> None:
    """Compile with the masked per-head losses, their weights and ``make_optimizer``.

    A seven-class model's loss is on ``expression``; its ``emotion`` readout has none. A
    student (``config.distill``) learns target distributions (``MaskedSoftCrossentropy``).
    """
    emotion = "expression" if config.emotion_classes == len(FER_CLASSES) else "emotion"
    emotion_loss = MaskedSoftCrossentropy if config.distill else MaskedSparseCategoricalCrossentropy
    model.compile(
        optimizer=make_optimizer(config, learning_rate),
        loss={
            emotion: emotion_loss(class_weights, label_smoothing=config.label_smoothing),
            "age": MaskedAgeLoss(),
            "gender": MaskedBinaryCrossentropy(),
        },
        loss_weights={
            emotion: 1.0,
            "age": config.age_loss_weight,
            "gender": config.gender_loss_weight,
        },
    )


def train(config: TrainConfig, *, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run training as ``config`` says; returns the report written to ``out/report/metrics.json``.

    ``echo`` receives the one-line summary of each epoch (default: ``logger.info``).
    """
    say = echo or logger.info
    started = time.monotonic()
    params = config.preprocessing()
    checkpoints, report_dir = config.out / "checkpoints", config.out / "report"
    keras.utils.set_random_seed(config.seed)

    say(f"run folder: {config.out}")
    if config.precision == "auto":
        saved = read_json(checkpoints / "state.json") if config.resume else None
        config = replace(config, precision=resolve_precision(saved))
        say(f"precision: {config.precision} (auto)")
    if config.precision == "bfloat16":
        _warn_if_bfloat16_is_emulated()
    train_set, val_set, counts = load_data(config, params)
    say(f"data: {len(train_set)} training faces, {len(val_set)} validation faces")
    expression = config.emotion_classes == len(FER_CLASSES)
    weights = class_weights(config, train_set)
    augmentation = (
        Augmentation(
            camera=config.camera_augment,
            erasing=config.random_erasing,
            background=config.background_augment,
        )
        if config.augment
        else None
    )
    teacher = None
    if config.distill is not None:
        teacher = read_soft_targets(config.distill).for_faces(train_set, params)
        say(
            f"distilling {config.distill} with weight {config.distill_weight} into "
            + ", ".join(config.distill_heads)
            + ("; unlabelled heads from the ensemble alone" if config.distill_unlabelled else "")
        )
    batches = FaceBatches(
        train_set,
        params,
        batch_size=config.batch_size,
        seed=config.seed,
        augmentation=augmentation,
        expression=expression,
        teacher=teacher,
        teacher_weight=config.distill_weight,
        teacher_fills=config.distill_unlabelled,
        teacher_heads=config.distill_heads,
    )

    if config.find_lr:
        return _find_lr(config, params, batches, weights, report_dir, say)

    last = checkpoints / "last.keras"
    state: dict[str, Any] = {"epoch": 0, "history": [], "bad_epochs": 0, "config": config.to_dict()}
    if config.resume and last.is_file():
        state = json.loads((checkpoints / "state.json").read_text())
        _check_resumable(state, config)
        model = keras.models.load_model(last)
        if not restore_rng_state(model, state.get("rng")):
            logger.warning("The checkpoint has no dropout RNG state; resuming with a new one.")
        say(f"resuming from {last} at epoch {state['epoch'] + 1}")
    else:
        if config.resume:
            logger.warning("No checkpoint at %s; starting a new run.", last)
        model = new_model(config, params)
        compile_model(model, config, weights, lr_schedule(config, len(batches)))

    deadline = started + config.time_budget * 60 if config.time_budget else None
    state["status"] = "running"
    state["leg"] = {
        "number": state.get("leg", {}).get("number", 0) + 1,
        "pid": os.getpid(),
        "started": time.time(),
        "updated": time.time(),
        "budget_minutes": config.time_budget,
    }
    unfinished = state["epoch"] < config.epochs and not state.get("stopped_early")
    if unfinished and not budget_allows_epoch(state, deadline, config.epochs):
        state["status"] = "paused"
        say("time budget: too little left for another epoch; continue with --resume")
    elif unfinished:
        write_json(checkpoints / "state.json", state)
        batches.set_epoch(state["epoch"])
        model.fit(
            batches,
            epochs=config.epochs,
            initial_epoch=state["epoch"],
            shuffle=False,  # FaceBatches orders each epoch itself, from the seed and the epoch
            verbose=0,
            callbacks=[
                TqdmProgress(steps=len(batches), epochs=config.epochs, enabled=config.progress),
                ValidationCheckpoint(
                    val=val_set,
                    params=params,
                    checkpoints=checkpoints,
                    state=state,
                    patience=config.patience,
                    epochs=config.epochs,
                    echo=say,
                ),
                *(
                    [
                        PlateauSchedule(
                            state=state,
                            factor=config.plateau_factor,
                            patience=config.plateau_patience,
                            echo=say,
                        )
                    ]
                    if config.schedule == "plateau"
                    else []
                ),
                TimeBudget(
                    state=state,
                    checkpoints=checkpoints,
                    deadline=deadline,
                    epochs=config.epochs,
                    echo=say,
                ),
            ],
        )
    if state["status"] == "paused":
        write_json(checkpoints / "state.json", state)
        return {"paused": True, "epoch": state["epoch"], "history": state["history"]}

    best = float32_model(keras.models.load_model(checkpoints / "best.keras"))
    metrics = evaluate_faces(best, val_set, params)
    training = {
        "config": config.to_dict(),
        "data": counts,
        "class_weights": weights,
        "augmentation": augmentation.to_dict() if augmentation else None,
        "epochs_run": state["epoch"],
        "best_epoch": state.get("best_epoch"),
        "stopped_early": bool(state.get("stopped_early")),
        "seconds": round(time.monotonic() - started, 1),
    }
    export_dir = _export(best, config, params, train_set, training, metrics)
    result = {
        "metrics": metrics,
        "training": training,
        "history": state["history"],
        "export": str(export_dir),
    }
    write_json(report_dir / "metrics.json", result)
    state["status"] = "finished"
    write_json(checkpoints / "state.json", state)
    history = {
        key: [r.get(key) for r in state["history"]]
        for key in (*report.LOSS_KEYS, *report.ACCURACY_KEYS)
    }
    report.write_plots(report_dir, history, metrics)
    say(
        f"best epoch {state.get('best_epoch')}: score {metrics['score']:.4f}; "
        f"report in {report_dir}, model in {export_dir}"
    )
    return result


def bfloat16_is_native() -> bool:
    """Whether bfloat16 runs natively here: on an accelerator, or a CPU with bfloat16 units."""
    on_cpu = all(device.startswith("cpu") for device in keras.distribution.list_devices())
    return not on_cpu or bool(bfloat16_cpu_flags())


def resolve_precision(saved_state: dict[str, Any] | None = None) -> str:
    """The precision ``auto`` stands for: a resumed run's own (from its ``state.json``), else
    bfloat16 where it runs natively and float32 where it would be emulated."""
    saved = (saved_state or {}).get("config", {}).get("precision")
    if saved in PRECISIONS:
        return saved
    return "bfloat16" if bfloat16_is_native() else "float32"


def _warn_if_bfloat16_is_emulated() -> None:
    """Warn where bfloat16 would run on a CPU with no bfloat16 units: slower than float32."""
    if not bfloat16_is_native():
        logger.warning(
            "--precision bfloat16 on a CPU without bfloat16 units (%s): each step is emulated "
            "and likely slower than float32; `python bench/train_step.py` measures both.",
            " or ".join(BFLOAT16_CPU_FLAGS),
        )


def _check_resumable(state: dict[str, Any], config: TrainConfig) -> None:
    saved = state.get("config", {})
    for key in (
        "input_size",
        "color",
        "margin",
        "width",
        "emotion_classes",
        "seed",
        "val_fraction",
        "heldout_fraction",
        "optimizer",
        "schedule",
        "precision",
    ):
        if key in saved and saved[key] != getattr(config, key):
            raise ValueError(
                f"Cannot resume: the checkpoint was trained with {key}={saved[key]!r}, "
                f"got {key}={getattr(config, key)!r}."
            )
    if saved.get("epochs", config.epochs) != config.epochs:
        logger.warning(
            "Resuming with epochs=%s; the checkpoint's learning-rate schedule was made for %s "
            "epochs and is kept (past its end the rate stays at its final value).",
            config.epochs,
            saved.get("epochs"),
        )


def _export(
    model: keras.Model,
    config: TrainConfig,
    params: Preprocessing,
    train_set: FaceSet,
    training: dict,
    metrics: dict,
) -> Path:
    from ml.export import export_model  # TFLite conversion is only needed at the very end

    rng = np.random.default_rng(config.seed)
    count = min(config.calibration_size, len(train_set))
    chosen = np.sort(rng.choice(len(train_set), size=count, replace=False))
    calibration = to_model_input(train_set.images[chosen], params)
    return export_model(
        model,
        config.out / "export",
        preprocessing=params,
        calibration=calibration,
        training=training,
        metrics=metrics,
        int8=config.int8,
        onnx=config.onnx,
    )


def _find_lr(
    config: TrainConfig,
    params: Preprocessing,
    batches: FaceBatches,
    weights: list[float] | None,
    report_dir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    model = new_model(config, params)
    compile_model(model, config, weights, 1e-6)  # lr_range_test sets the rate at each step
    found = lr_range_test(model, batches, steps=config.find_lr_steps)
    plot = report.plot_lr_find(found.lrs, found.losses, found.suggested, report_dir / "lr_find.png")
    result = {
        "lr_find": {
            "lrs": found.lrs,
            "losses": found.losses,
            "suggested_lr": found.suggested,
            "plot": str(plot),
        }
    }
    write_json(report_dir / "lr_find.json", result)
    say(f"suggested learning rate: {found.suggested} (plot: {plot})")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: parse options, train, print one line per epoch."""
    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n")[0])
    add_arguments(parser)
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        config = config_from_options(options)
    except ValueError as err:
        parser.error(str(err))
    train(config, echo=print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
