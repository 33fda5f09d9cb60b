"""``Ensemble``: several exported models read as one, a training tool that is never served.

An ensemble of networks trained with different seeds or widths reads faces better than any one
of them; ``ml.distill`` writes its estimates for the training faces once, so one student
network can learn them and be served at one network's cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ml.export import ExportMetadata, load_metadata
from ml.runtime import DEFAULT_THREADS, ModelRunner, load_runner

#: Metadata every member must share: members read the same crops, and the held-out and
#: validation slices (from the training configuration) must be the same faces for all.
SHARED_TRAINING_KEYS: tuple[str, ...] = ("heldout_fraction", "val_fraction")


class Ensemble(ModelRunner):
    """Averages its members' outputs: mood probabilities, age in years, probability female.

    The mean of probability vectors is a probability vector, so the emotion output still sums
    to 1 over the moods.
    """

    def __init__(self, members: Sequence[ModelRunner]) -> None:
        if not members:
            raise ValueError("Expected at least one ensemble member, got none.")
        self.members = list(members)
        self.name = f"ensemble({', '.join(member.name for member in self.members)})"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.members[0].input_shape  # type: ignore[attr-defined]

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = [member.predict(batch) for member in self.members]
        return {
            name: np.mean([out[name] for out in outputs], axis=0).astype(np.float32)
            for name in outputs[0]
        }


def load_ensemble(
    model_dirs: Sequence[str | Path],
    runtime: str = "auto",
    *,
    threads: int = DEFAULT_THREADS,
    mirror: bool | None = None,
    shift: int = 0,
) -> tuple[Ensemble, ExportMetadata]:
    """An ``Ensemble`` of exports and the metadata they share (the first member's).

    ``mirror``: each member averages each face with its mirror image; None does what each
    export's ``mirror_average`` says; ``shift``: each member averages shifted copies too
    (``ml.runtime.Shifted``).

    Raises:
        ValueError: no member, or members differing in preprocessing or in their slices.
        ModelNotFound: a member has no model file for ``runtime``.
    """
    if not model_dirs:
        raise ValueError("Expected at least one exported model folder, got none.")
    metadata = [load_metadata(folder) for folder in model_dirs]
    first = metadata[0]
    for folder, meta in zip(model_dirs[1:], metadata[1:], strict=True):
        if meta.preprocessing != first.preprocessing:
            raise ValueError(
                f"Expected every ensemble member to read faces as {model_dirs[0]} does "
                f"({first.preprocessing.to_dict()}), got {meta.preprocessing.to_dict()} "
                f"in {folder}."
            )
        for key in SHARED_TRAINING_KEYS:
            ours = first.training.get("config", {}).get(key)
            theirs = meta.training.get("config", {}).get(key)
            if ours != theirs:
                raise ValueError(
                    f"Expected every ensemble member to be trained with the same {key} "
                    f"(so its slices hold the same faces), got {ours} in {model_dirs[0]} and "
                    f"{theirs} in {folder}."
                )
    members = [
        load_runner(
            folder,
            runtime,
            threads=threads,
            mirror=meta.mirror_average if mirror is None else mirror,
            shift=shift,
        )
        for folder, meta in zip(model_dirs, metadata, strict=True)
    ]
    return Ensemble(members), first
