"""Training callbacks: a tqdm progress bar and per-epoch validation with checkpoints."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm import tqdm

from ml.datasets import FaceSet
from ml.evaluation import predict_faces
from ml.metrics import evaluate_predictions
from ml.preprocessing import Preprocessing
from ml.runs import epoch_seconds

logger = logging.getLogger(__name__)

#: Keys of the training logs kept in the history, when Keras reports them.
TRAIN_KEYS: tuple[str, ...] = ("loss", "emotion_loss", "age_loss", "gender_loss")
#: Smallest validation score gain that counts as an improvement for early stopping.
MIN_SCORE_DELTA = 1e-4


class TqdmProgress(keras.callbacks.Callback):
    """A tqdm bar over each epoch's steps on stderr, showing the running training loss."""

    def __init__(self, *, steps: int, epochs: int, enabled: bool = True) -> None:
        super().__init__()
        self.steps, self.epochs, self.enabled = steps, epochs, enabled
        self.bar: tqdm | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.bar = tqdm(
            total=self.steps,
            desc=f"epoch {epoch + 1}/{self.epochs}",
            unit="step",
            leave=False,
            disable=not self.enabled,
        )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def evaluate_faces(model: keras.Model, faces: FaceSet, params: Preprocessing) -> dict[str, Any]:
    """``metrics.evaluate_predictions`` of ``model`` on ``faces``."""
    predicted = predict_faces(model.predict_on_batch, faces, params)
    return evaluate_predictions(
        emotion_true=faces.emotion,
        emotion_prob=predicted["emotion"],
        age_true=faces.age,
        age_pred=predicted["age"],
        gender_true=faces.gender,
        gender_prob=predicted["gender"],
    )


def metrics_line(record: dict[str, Any], epochs: int) -> str:
    """One human-readable line summarising an epoch record."""

    def fmt(key: str, spec: str) -> str:
        value = record.get(key)
        return "n/a" if value is None else format(value, spec)

    best = " *best" if record.get("best") else ""
    return (
        f"epoch {record['epoch']}/{epochs}  loss {fmt('loss', '.4f')}  "
        f"val mood acc {fmt('val_mood_accuracy', '.3f')} macro-F1 {fmt('val_mood_macro_f1', '.3f')}"
        f"  age MAE {fmt('val_age_mae', '.2f')}  gender acc {fmt('val_gender_accuracy', '.3f')}"
        f"  score {fmt('val_score', '.4f')}  lr {fmt('lr', '.2e')}  {fmt('seconds', '.0f')}s{best}"
    )


def _seed_states(model: keras.Model) -> list[Any]:
    """``model``'s random seed generator states (its dropout layers'), in layer order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def rng_state(model: keras.Model) -> list[list[int]]:
    """The states of ``model``'s random seed generators, as JSON.

    Keras does not save them with the model: a model loaded from a checkpoint would draw other
    dropout masks than the run that saved it, so checkpoints keep them in ``state.json``.
    """
    return [np.asarray(v).tolist() for v in _seed_states(model)]


def restore_rng_state(model: keras.Model, saved: list[list[int]] | None) -> bool:
    """Put back states from ``rng_state``; False (nothing changed) when they do not fit."""
    variables = _seed_states(model)
    if saved is None or len(saved) != len(variables):
        return False
    for variable, value in zip(variables, saved, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return True


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, default=str))
    os.replace(partial, path)


class ValidationCheckpoint(keras.callbacks.Callback):
    """After each epoch: validate, save ``last.keras`` + ``state.json`` (and ``best.keras`` on
    a better score), stop after ``patience`` epochs without improvement, report one line.

    ``state`` (epoch, best_score, best_epoch, bad_epochs, history, config) is continued on resume.
    """

    def __init__(
        self,
        *,
        val: FaceSet,
        params: Preprocessing,
        checkpoints: Path,
        state: dict[str, Any],
        patience: int,
        epochs: int,
        echo: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.val, self.preprocessing, self.checkpoints = val, params, checkpoints
        self.state, self.patience, self.epochs, self.echo = state, patience, epochs, echo
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        metrics = evaluate_faces(self.model, self.val, self.preprocessing)
        record: dict[str, Any] = {"epoch": epoch + 1}
        record.update({k: float(logs[k]) for k in TRAIN_KEYS if k in logs})
        for key in ("mood_accuracy", "mood_macro_f1", "age_mae", "gender_accuracy", "score"):
            record[f"val_{key}"] = metrics[key]
        record["val_mood_recall"] = metrics["mood_recall"]
        record["lr"] = float(np.asarray(self.model.optimizer.learning_rate))
        record["seconds"] = time.monotonic() - self.started

        state = self.state
        better = metrics["score"] > state.get("best_score", -np.inf) + MIN_SCORE_DELTA
        record["best"] = bool(better)
        state["epoch"] = epoch + 1
        state["history"].append(record)
        if better:
            state.update(best_score=metrics["score"], best_epoch=epoch + 1, bad_epochs=0)
            state["best_metrics"] = metrics
            self._save_model("best.keras")
        else:
            state["bad_epochs"] = state.get("bad_epochs", 0) + 1
        if state["bad_epochs"] >= self.patience:
            state["stopped_early"] = True
            self.model.stop_training = True
        self._save_model("last.keras")
        state["rng"] = rng_state(self.model)
        write_json(self.checkpoints / "state.json", state)
        self.echo(metrics_line(record, self.epochs))
        if state.get("stopped_early"):
            self.echo(f"early stop: no better validation score for {self.patience} epochs")

    def _save_model(self, name: str) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        partial = self.checkpoints / f"{Path(name).stem}.partial.keras"
        self.model.save(partial)
        os.replace(partial, self.checkpoints / name)


#: An epoch is started only if this multiple of the recent epochs' time is left in the budget.
EPOCH_TIME_MARGIN = 1.15
#: Time kept in the budget, after the last epoch, for the export (TFLite conversion and int8
#: calibration take one to three minutes on 2 cores).
EXPORT_RESERVE_SECONDS = 300.0


def budget_allows_epoch(
    state: dict[str, Any], deadline: float | None, epochs: int, now: float | None = None
) -> bool:
    """Whether the next epoch (and, if it is the last, the export) fits before ``deadline``
    (a ``time.monotonic()`` value, or None for no budget), judged by the epochs run so far."""
    if deadline is None:
        return True
    per_epoch = epoch_seconds(state.get("history", []))
    if per_epoch is None:
        return True  # nothing measured yet: the first epoch always runs
    needed = per_epoch * EPOCH_TIME_MARGIN
    if state.get("epoch", 0) + 1 >= epochs:
        needed += EXPORT_RESERVE_SECONDS
    return (time.monotonic() if now is None else now) + needed <= deadline


class TimeBudget(keras.callbacks.Callback):
    """After each epoch (and ``ValidationCheckpoint``, which must come first): note the leg's
    progress in ``state.json`` and, when the next epoch would not end before ``deadline``,
    stop training with the run marked ``paused``, so ``--resume`` continues it."""

    def __init__(
        self,
        *,
        state: dict[str, Any],
        checkpoints: Path,
        deadline: float | None,
        epochs: int,
        echo: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.state, self.checkpoints, self.deadline = state, checkpoints, deadline
        self.epochs, self.echo = epochs, echo

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = self.state
        state["leg"]["updated"] = time.time()
        last = state["epoch"] >= self.epochs or state.get("stopped_early")
        if not last and not budget_allows_epoch(state, self.deadline, self.epochs):
            state["status"] = "paused"
            self.model.stop_training = True
            self.echo(
                f"time budget: stopping after epoch {state['epoch']}/{self.epochs}, "
                f"checkpoint saved; continue with --resume"
            )
        write_json(self.checkpoints / "state.json", state)


class PlateauSchedule(keras.callbacks.Callback):
    """Reduce-on-plateau for the "plateau" schedule: after ``patience`` epochs without a better
    validation score (``ValidationCheckpoint``, which must come first, keeps the best), the
    learning rate is multiplied by ``factor``. Its count lives in ``state`` (``plateau_wait``),
    so it carries over ``--resume``; the rate itself is the optimizer's, saved with it."""

    def __init__(
        self,
        *,
        state: dict[str, Any],
        factor: float,
        patience: int,
        echo: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.state, self.factor, self.patience, self.echo = state, factor, patience, echo

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = self.state
        improved = state["history"][-1].get("best", False)
        state["plateau_wait"] = 0 if improved else state.get("plateau_wait", 0) + 1
        if state["plateau_wait"] >= self.patience:
            optimizer = self.model.optimizer
            rate = float(np.asarray(optimizer.learning_rate)) * self.factor
            optimizer.learning_rate.assign(rate)
            state["plateau_wait"] = 0
            self.echo(f"plateau: learning rate cut to {rate:.2e}")
