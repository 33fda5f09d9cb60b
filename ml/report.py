"""Training report plots as PNG files (matplotlib's Agg canvas; no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ml.labels import MOODS

LOSS_KEYS: tuple[str, ...] = ("loss", "emotion_loss", "age_loss", "gender_loss")
ACCURACY_KEYS: tuple[str, ...] = ("val_mood_accuracy", "val_mood_macro_f1", "val_gender_accuracy")


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def _curves(history: Mapping[str, Sequence[Any]], keys: Sequence[str]) -> dict[str, np.ndarray]:
    found = {}
    for key in keys:
        values = [np.nan if v is None else float(v) for v in history.get(key, [])]
        if values and not np.all(np.isnan(values)):
            found[key] = np.asarray(values)
    return found


def _plot_curves(
    history: Mapping[str, Sequence[Any]], keys: Sequence[str], path: Path, **axes_set: Any
) -> Path:
    """One line per key of ``history`` over whole epochs (1, 2, ...), saved to ``path``."""
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for key, values in _curves(history, keys).items():
        axes.plot(np.arange(1, len(values) + 1), values, marker="o", label=key)
    axes.set(xlabel="epoch", **axes_set)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_loss(history: Mapping[str, Sequence[Any]], path: Path) -> Path:
    """Training loss per epoch (total and per head) from a Keras-style history dict."""
    return _plot_curves(history, LOSS_KEYS, path, ylabel="loss", title="Training loss")


def plot_accuracy(history: Mapping[str, Sequence[Any]], path: Path) -> Path:
    """Validation mood accuracy, macro-F1 and gender accuracy per epoch."""
    return _plot_curves(
        history, ACCURACY_KEYS, path, ylabel="fraction", title="Validation", ylim=(0, 1)
    )


def plot_confusion(matrix: Sequence[Sequence[int]], path: Path) -> Path:
    """Mood confusion matrix (rows true, columns predicted), normalised per row, with counts."""
    counts = np.asarray(matrix, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    figure = Figure(figsize=(5, 4.5))
    axes = figure.add_subplot()
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, label="fraction of true class")
    ticks = np.arange(len(MOODS))
    axes.set_xticks(ticks, MOODS)
    axes.set_yticks(ticks, MOODS)
    axes.set(xlabel="predicted", ylabel="true", title="Validation mood confusion")
    for row in range(counts.shape[0]):
        for col in range(counts.shape[1]):
            color = "white" if rates[row, col] > 0.5 else "black"
            axes.text(col, row, f"{int(counts[row, col])}", ha="center", va="center", color=color)
    return _save(figure, path)


def plot_age_mae(by_decade: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Bar chart of validation age MAE (years) per decade of true age, with sample counts."""
    names = list(by_decade)
    mae = [by_decade[name]["mae"] for name in names]
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    bars = axes.bar(names, mae, color="tab:orange")
    for bar, name in zip(bars, names, strict=True):
        count = int(by_decade[name]["count"])
        axes.annotate(
            f"n={count}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes.set(xlabel="true age (years)", ylabel="MAE (years)", title="Validation age error")
    axes.grid(alpha=0.3, axis="y")
    return _save(figure, path)


def plot_lr_find(
    lrs: Sequence[float], losses: Sequence[float], suggested: float | None, path: Path
) -> Path:
    """Smoothed loss against learning rate (log scale) from an LR range test."""
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.plot(lrs, losses)
    if suggested is not None:
        axes.axvline(suggested, color="tab:red", linestyle="--", label=f"suggested {suggested:.2g}")
        axes.legend()
    axes.set_xscale("log")
    axes.set(xlabel="learning rate", ylabel="smoothed loss", title="Learning-rate range test")
    axes.grid(alpha=0.3)
    return _save(figure, path)


def write_plots(
    report_dir: Path, history: Mapping[str, Sequence[Any]], metrics: Mapping[str, Any]
) -> list[Path]:
    """Every plot the data allows into ``report_dir``; the paths written."""
    paths = [
        plot_loss(history, report_dir / "loss.png"),
        plot_accuracy(history, report_dir / "accuracy.png"),
    ]
    if metrics.get("confusion") is not None:
        paths.append(plot_confusion(metrics["confusion"], report_dir / "confusion.png"))
    if metrics.get("age_mae_by_decade"):
        paths.append(plot_age_mae(metrics["age_mae_by_decade"], report_dir / "age_mae.png"))
    return paths
