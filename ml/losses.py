"""Masked per-head losses: a label of -1 means "no label" and adds nothing to the loss.

Each loss is averaged over the labelled samples of the batch, not the batch size, so a head's
loss keeps its scale however the two datasets mix in a batch; a batch without any label for a
head gives exactly 0 for that head. Implemented with ``reduction="sum"`` over per-sample values
already divided by the labelled count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

#: Label value meaning "no label for this head".
MISSING = -1.0


def _masked_mean_terms(per_sample: Any, mask: Any) -> Any:
    """Per-sample terms whose sum is the mean of ``per_sample`` over ``mask`` (0 when empty)."""
    mask = ops.cast(mask, per_sample.dtype)
    count = ops.maximum(ops.sum(mask), 1.0)
    return ops.where(mask > 0, per_sample, ops.zeros_like(per_sample)) / count


@keras.saving.register_keras_serializable(package="musicmood")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy of softmax (N, K) against int labels (N,) or (N, 1); -1 = no label.

    ``class_weights`` (K,) scales each labelled sample's loss by its true class's weight.
    ``label_smoothing`` moves that much of the target's weight from the true class to all K
    classes evenly, which keeps the network from trusting FER2013's noisy labels outright.
    """

    def __init__(
        self,
        class_weights: Sequence[float] | None = None,
        *,
        label_smoothing: float = 0.0,
        name: str = "masked_sparse_categorical_crossentropy",
        **kwargs: Any,
    ) -> None:
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.reshape(y_true, (-1,))
        mask = labels >= 0
        safe = ops.cast(ops.where(mask, labels, ops.zeros_like(labels)), "int32")
        probs = ops.clip(y_pred, keras.config.epsilon(), 1.0)
        picked = ops.take_along_axis(probs, ops.expand_dims(safe, -1), axis=-1)[:, 0]
        per_sample = -ops.log(picked)
        if self.label_smoothing:
            spread = -ops.mean(ops.log(probs), axis=-1)
            per_sample = (1.0 - self.label_smoothing) * per_sample + self.label_smoothing * spread
        if self.class_weights is not None:
            weights = ops.convert_to_tensor(self.class_weights, dtype=per_sample.dtype)
            per_sample = per_sample * ops.take(weights, safe)
        return _masked_mean_terms(per_sample, mask)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_weights": self.class_weights,
            "label_smoothing": self.label_smoothing,
        }


@keras.saving.register_keras_serializable(package="musicmood")
class MaskedSoftCrossentropy(MaskedSparseCategoricalCrossentropy):
    """Cross-entropy of softmax (N, K) against target distributions; for distillation.

    ``y_true`` (N, 1 + K): the true class (-1 = no label: the row adds nothing), then the
    target distribution (``ml.distill.blend_targets``). Class weights go by the true class;
    label smoothing mixes the distribution with the uniform one, as the sparse loss does, so
    with one-hot targets both losses are equal.
    """

    def __init__(
        self,
        class_weights: Sequence[float] | None = None,
        *,
        label_smoothing: float = 0.0,
        name: str = "masked_soft_crossentropy",
        **kwargs: Any,
    ) -> None:
        super().__init__(class_weights, label_smoothing=label_smoothing, name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels, dist = y_true[:, 0], y_true[:, 1:]
        mask = labels >= 0
        safe = ops.cast(ops.where(mask, labels, ops.zeros_like(labels)), "int32")
        if self.label_smoothing:
            classes = ops.cast(ops.shape(dist)[-1], dist.dtype)
            dist = (1.0 - self.label_smoothing) * dist + self.label_smoothing / classes
        log_probs = ops.log(ops.clip(y_pred, keras.config.epsilon(), 1.0))
        per_sample = -ops.sum(dist * log_probs, axis=-1)
        if self.class_weights is not None:
            weights = ops.convert_to_tensor(self.class_weights, dtype=per_sample.dtype)
            per_sample = per_sample * ops.take(weights, safe)
        return _masked_mean_terms(per_sample, mask)


@keras.saving.register_keras_serializable(package="musicmood")
class MaskedAgeLoss(keras.losses.Loss):
    """Age error in years on (N, 1) predictions; labels (N,) or (N, 1) years, -1 = no label.

    ``kind="huber"``: Huber loss divided by ``delta`` (years), quadratic below ``delta`` and
    |error| - delta/2 above it, so large errors cost about their size in years.
    ``kind="mae"``: absolute error in years.
    """

    def __init__(
        self,
        kind: str = "huber",
        delta: float = 5.0,
        *,
        name: str = "masked_age_loss",
        **kwargs: Any,
    ) -> None:
        if kind not in ("huber", "mae"):
            raise ValueError(f"kind must be 'huber' or 'mae', got {kind!r}.")
        if delta <= 0:
            raise ValueError(f"delta must be positive years, got {delta}.")
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.kind = kind
        self.delta = float(delta)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        years = ops.reshape(y_true, (-1,))
        mask = years >= 0
        error = ops.abs(ops.reshape(y_pred, (-1,)) - years)
        if self.kind == "mae":
            per_sample = error
        else:
            quadratic = ops.minimum(error, self.delta)
            per_sample = (0.5 * quadratic**2 + self.delta * (error - quadratic)) / self.delta
        return _masked_mean_terms(per_sample, mask)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "delta": self.delta}


@keras.saving.register_keras_serializable(package="musicmood")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of probabilities (N, 1) against 0/1 labels; -1 = no label."""

    def __init__(self, *, name: str = "masked_binary_crossentropy", **kwargs: Any) -> None:
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.reshape(y_true, (-1,))
        mask = labels >= 0
        eps = keras.config.epsilon()
        p = ops.clip(ops.reshape(y_pred, (-1,)), eps, 1.0 - eps)
        target = ops.where(mask, labels, ops.zeros_like(labels))
        per_sample = -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))
        return _masked_mean_terms(per_sample, mask)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


def balanced_class_weights(labels: Any, classes: int) -> list[float]:
    """Weights (classes,) of ``n / (classes * count)`` over labels >= 0; 1.0 for absent classes.

    Their mean over the labelled samples is 1, so weighting keeps the loss's scale.
    """
    import numpy as np  # local: the rest of this module works on backend tensors

    labels = np.asarray(labels).reshape(-1)
    labels = labels[labels >= 0].astype(np.int64)
    counts = np.bincount(labels, minlength=classes)[:classes].astype(np.float64)
    total = counts.sum()
    return [float(total / (classes * c)) if c > 0 else 1.0 for c in counts]
