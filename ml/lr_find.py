"""Learning-rate range test: train briefly while the learning rate grows exponentially."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import keras
import numpy as np

logger = logging.getLogger(__name__)

#: Smoothing of the loss curve (exponential moving average factor).
SMOOTHING = 0.98
#: Stop once the smoothed loss exceeds this multiple of its minimum (diverged).
DIVERGENCE_FACTOR = 4.0
#: The suggestion is the learning rate at the smoothed loss's minimum divided by this.
SUGGESTION_DIVISOR = 10.0


@dataclass(frozen=True)
class LRFindResult:
    """Learning rates tried, smoothed losses at each, and the suggested learning rate."""

    lrs: list[float]
    losses: list[float]
    suggested: float | None


def lr_range_test(
    model: keras.Model,
    batches: keras.utils.PyDataset,
    *,
    steps: int = 300,
    lr_min: float = 1e-6,
    lr_max: float = 1.0,
) -> LRFindResult:
    """Train ``model`` (compiled, changed in place) for up to ``steps`` batches from ``batches``.

    The learning rate grows from ``lr_min`` to ``lr_max`` geometrically; the test stops early
    when the loss diverges. The suggestion is the rate at the lowest smoothed loss (ignoring
    the first tenth of the steps) divided by ``SUGGESTION_DIVISOR``, well before the loss blows
    up, and never below ``lr_min``; None when fewer than 11 steps ran.
    """
    steps = max(2, int(steps))
    factor = (lr_max / lr_min) ** (1.0 / (steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    for step in range(steps):
        lr = lr_min * factor**step
        model.optimizer.learning_rate = lr
        x, y = batches[step % len(batches)]
        if step and step % len(batches) == 0:
            batches.on_epoch_end()
        loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        if not math.isfinite(loss):
            break
        average = SMOOTHING * average + (1.0 - SMOOTHING) * loss
        smoothed = average / (1.0 - SMOOTHING ** (step + 1))
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if step > 10 and smoothed > DIVERGENCE_FACTOR * best:
            break
    suggested = None
    if len(losses) > 10:
        skip = len(losses) // 10  # the first smoothed values rest on very few batches
        lowest = skip + int(np.argmin(losses[skip:]))
        suggested = max(lrs[lowest] / SUGGESTION_DIVISOR, lrs[0])
    logger.info("LR range test: %d steps, suggested lr %s", len(lrs), suggested)
    return LRFindResult(lrs=lrs, losses=losses, suggested=suggested)
