"""Distillation: an ensemble's estimates for the training faces, written once, read by a student.

``python -m ml.distill --member A/export --member B/export --fer DIR --utkface DIR --out FILE``
loads the training faces exactly as the members' training did (same preprocessing, the same
validation and held-out slices left out), runs the ``ml.ensemble.Ensemble`` of the members
over them once, and writes ``FILE`` (``.npz``): per face, by name, the mean mood
probabilities, age and probability female. ``train_model --distill FILE`` then trains one
student on targets blended from the true labels and these (``ml.soft_targets``), and only the
student is ever served.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ml.evaluation import predict_faces
from ml.preprocessing import FRAMING_CONTEXTS
from ml.soft_targets import write_soft_targets

logger = logging.getLogger(__name__)


def make_targets(
    members: Sequence[str | Path],
    out: str | Path,
    *,
    fer: str | Path | None,
    utkface: str | Path | None,
    runtime: str = "auto",
    cache: str | Path | None = None,
    limit: int | None = None,
    framing_context: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run the ensemble of ``members`` over their training faces and write the soft targets.

    The faces are those a student with the members' configuration trains on: the members'
    preprocessing, and their validation and held-out slices left out. Decoded crops are
    cached in ``cache`` (default: a ``cache`` folder beside ``out``). ``framing_context``
    (``Preprocessing.framing_context``) frames them for a student framed otherwise than the
    members were: the members then read the crops that student will train on.
    """
    from ml.ensemble import load_ensemble
    from ml.train import TrainConfig, load_data  # heavy (Keras); only this command needs it

    ensemble, metadata = load_ensemble(members, runtime)
    params = metadata.preprocessing
    if framing_context is not None:
        params = replace(params, framing_context=framing_context)
    trained = metadata.training.get("config", {})
    config = TrainConfig(
        fer=fer,
        utkface=utkface,
        out=Path(out).parent,
        input_size=params.input_size,
        color=params.color,
        margin=params.margin,
        framing=params.framing,
        framing_context=params.framing_context,
        heldout_fraction=float(trained.get("heldout_fraction", 0.0)),
        val_fraction=float(trained.get("val_fraction", 0.1)),
        limit=limit,
        cache=Path(cache) if cache else Path(out).parent / "cache",
        progress=show_progress,
    )
    if config.preprocessing() != params:
        raise ValueError(
            f"Expected the members' preprocessing {params.to_dict()} to be one a training run "
            f"makes, got {config.preprocessing().to_dict()}."
        )
    faces, _, counts = load_data(config, params)
    predictions = predict_faces(ensemble.predict, faces, params)
    path = write_soft_targets(
        out, faces, predictions, preprocessing=params, members=[str(m) for m in members]
    )
    return {"file": str(path), "faces": len(faces), "data": counts, "runner": ensemble.name}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m ml.distill", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--member", action="append", required=True, type=Path, help="an exported model folder"
    )
    parser.add_argument("--fer", type=Path, help="FER2013 folder (train/, test/) or fer2013.csv")
    parser.add_argument("--utkface", type=Path, help="UTKFace folder of *.jpg chips")
    parser.add_argument("--out", required=True, type=Path, help="soft-targets file to write")
    parser.add_argument("--runtime", default="auto", help="model file of each member to run")
    parser.add_argument("--cache", type=Path, help="decoded-crop cache folder")
    parser.add_argument("--limit", type=int, help="at most this many images per dataset part")
    parser.add_argument(
        "--framing-context",
        choices=FRAMING_CONTEXTS,
        help="frame the faces for a student trained with this --framing-context "
        "(default: the members' own)",
    )
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if options.fer is None and options.utkface is None:
        parser.error("give --fer, --utkface or both")
    try:
        result = make_targets(
            options.member,
            options.out,
            fer=options.fer,
            utkface=options.utkface,
            runtime=options.runtime,
            cache=options.cache,
            limit=options.limit,
            framing_context=options.framing_context,
        )
    except (FileNotFoundError, ValueError) as err:  # ModelNotFound, DatasetError, bad members
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Soft targets of {result['runner']} for {result['faces']} faces in {result['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
