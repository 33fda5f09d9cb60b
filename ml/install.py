"""Installing an export as the model the site serves, replacing what was there.

The repository ships one model folder (``models/default``) holding only what serving needs:
one TFLite file, ``metadata.json`` and, for the page's on-device mode, ``model.onnx``.
``install_export`` copies exactly that from a training run's export and removes every other
model file from the target, so a retrain replaces the shipped weights instead of adding to
them.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

from ml.export import METADATA_FILE, ONNX_FILE, RUNTIME_FILES, load_metadata

logger = logging.getLogger(__name__)

_MODEL_FILES = (*(name for _, name in RUNTIME_FILES.values()), METADATA_FILE)


def install_export(
    source: str | Path, target: str | Path, *, runtime: str = "int8", browser: bool = True
) -> Path:
    """Copy ``source``'s ``runtime`` model file and metadata into ``target``, replacing it.

    Args:
        source: an export folder written by ``ml.export.export_model``.
        target: the folder the site loads (created when missing).
        runtime: which model file to install: "int8", "fp32" or "keras".
        browser: also copy the export's ``model.onnx`` (when it has one), the form the page
            runs in on-device mode.

    Returns:
        The installed model file's path.

    Raises:
        ModelNotFound / IncompatibleModel: ``source`` is not a valid export.
        FileNotFoundError: the export has no file for ``runtime``.
    """
    if runtime not in RUNTIME_FILES:
        raise ValueError(f"Expected runtime in {tuple(RUNTIME_FILES)}, got {runtime!r}.")
    source, target = Path(source), Path(target)
    metadata = load_metadata(source)
    key, name = RUNTIME_FILES[runtime]
    if not (source / name).is_file():
        raise FileNotFoundError(f"Expected {name} in the export {source}, found none.")
    if source.resolve() == target.resolve():
        raise ValueError(f"Source and target are the same folder: {source}.")

    target.mkdir(parents=True, exist_ok=True)
    for stale in _MODEL_FILES:
        (target / stale).unlink(missing_ok=True)
    files = {key: name}
    if browser and runtime != "onnx" and (source / ONNX_FILE).is_file():
        files[RUNTIME_FILES["onnx"][0]] = ONNX_FILE
    for copied in files.values():
        shutil.copyfile(source / copied, target / copied)
    installed = replace(metadata, files=files)
    (target / METADATA_FILE).write_text(
        json.dumps(installed.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    logger.info("Installed %s from %s into %s", name, source, target)
    return target / name
