"""Exporting a trained model for serving, and reading an export's metadata back.

An export is one folder::

    model.keras          the Keras model (training format; serving fallback)
    model_fp32.tflite    float32 TFLite, signature ``serving_default``
    model_int8.tflite    full-integer int8 weights and activations, float32 input/outputs
    model.onnx           float32 ONNX (input ``image``, the same outputs), for ONNX Runtime
                         in the listener's browser; checked against the fp32 TFLite model
    metadata.json        labels, preprocessing, input shape, files, checks, training, metrics

The TFLite files are converted from a SavedModel (``model.export(..., "tf_saved_model")``)
rather than ``TFLiteConverter.from_keras_model``: the latter left slow variable ops in the
graph. Their signature keeps the outputs by name (``emotion`` (N, 4), ``age`` (N, 1),
``gender`` (N, 1)) and the batch dimension dynamic, so all faces of a frame run in one call.

This module is the export's contract: the file names, the signature, the outputs and which
file each runtime serves are defined here and imported by the model, the runners, the
installer and the benchmarks.

``load_metadata`` imports neither TensorFlow nor Keras; ``export_model`` imports both lazily.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml.errors import IncompatibleModel, ModelNotFound
from ml.labels import AGE_BAND_NAMES, MOODS
from ml.preprocessing import Preprocessing

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

FORMAT_NAME = "musicmood-face-model"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
KERAS_FILE = "model.keras"
TFLITE_FP32_FILE = "model_fp32.tflite"
TFLITE_INT8_FILE = "model_int8.tflite"
ONNX_FILE = "model.onnx"
#: Name of the ONNX model's input.
ONNX_INPUT = "image"
#: ONNX opset of the export (ONNX Runtime Web runs it on WebAssembly).
ONNX_OPSET = 17
#: Largest difference allowed between the ONNX and fp32 TFLite outputs on the calibration
#: faces, by output: the same float graph, so rounding only.
ONNX_TOLERANCE: dict[str, float] = {"emotion": 1e-4, "age": 1e-2, "gender": 1e-4}
#: Name of the TFLite signature that serving calls.
SIGNATURE_KEY = "serving_default"
#: The model's outputs by name, with their width: emotion (N, 4) probabilities in ``MOODS``
#: order, age (N, 1) in years, gender (N, 1) the probability that the face is female.
OUTPUT_WIDTHS: dict[str, int] = {"emotion": len(MOODS), "age": 1, "gender": 1}
OUTPUT_NAMES: tuple[str, ...] = tuple(OUTPUT_WIDTHS)
#: Runtime name -> (key in metadata ``files``, file name), in the order runtime "auto" tries.
RUNTIME_FILES: dict[str, tuple[str, str]] = {
    "int8": ("tflite_int8", TFLITE_INT8_FILE),
    "fp32": ("tflite_fp32", TFLITE_FP32_FILE),
    "keras": ("keras", KERAS_FILE),
    "onnx": ("onnx", ONNX_FILE),
}
#: At most this many calibration images feed the int8 quantiser (more adds time, not accuracy).
MAX_CALIBRATION_SAMPLES = 500
_VERSIONED_PACKAGES = (
    "keras",
    "tensorflow-cpu",
    "tensorflow",
    "ai-edge-litert",
    "tf2onnx",
    "onnx",
    "numpy",
    "opencv-contrib-python-headless",
)


@dataclass(frozen=True)
class ExportMetadata:
    """The contents of an export's ``metadata.json``, validated."""

    preprocessing: Preprocessing
    input_shape: tuple[int, int, int]
    files: dict[str, str]
    moods: tuple[str, ...] = MOODS
    age_bands: tuple[str, ...] = AGE_BAND_NAMES
    outputs: tuple[str, ...] = OUTPUT_NAMES
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    #: Serving averages each face's outputs with its mirror image's (``ml.runtime.Mirrored``).
    mirror_average: bool = False
    #: What the export step checked, e.g. ``onnx``: faces compared and largest differences.
    checks: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as written to ``metadata.json``."""
        return {
            "format": self.format,
            "format_version": self.format_version,
            "moods": list(self.moods),
            "age_bands": list(self.age_bands),
            "outputs": list(self.outputs),
            "preprocessing": self.preprocessing.to_dict(),
            "input_shape": list(self.input_shape),
            "mirror_average": self.mirror_average,
            "files": dict(self.files),
            "checks": self.checks,
            "training": self.training,
            "metrics": self.metrics,
            "created": self.created,
            "versions": dict(self.versions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "metadata") -> ExportMetadata:
        """Parse and validate; raises ``IncompatibleModel`` naming what differs."""
        if data.get("format") != FORMAT_NAME or data.get("format_version") != FORMAT_VERSION:
            raise IncompatibleModel(
                f"{source}: expected format {FORMAT_NAME!r} version {FORMAT_VERSION}, got "
                f"{data.get('format')!r} version {data.get('format_version')!r}."
            )
        moods = tuple(data.get("moods", ()))
        if moods != MOODS:
            raise IncompatibleModel(
                f"{source}: expected emotion labels {list(MOODS)} in this order, got "
                f"{list(moods)}; the model was trained with a different label order."
            )
        outputs = tuple(data.get("outputs", ()))
        if set(outputs) != set(OUTPUT_NAMES):
            raise IncompatibleModel(
                f"{source}: expected outputs {list(OUTPUT_NAMES)}, got {list(outputs)}."
            )
        try:
            preprocessing = Preprocessing.from_dict(data["preprocessing"])
            input_shape = tuple(int(v) for v in data["input_shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise IncompatibleModel(
                f"{source}: invalid preprocessing or input shape: {err}"
            ) from err
        if input_shape != preprocessing.input_shape:
            raise IncompatibleModel(
                f"{source}: input shape {list(input_shape)} does not match preprocessing "
                f"{list(preprocessing.input_shape)}."
            )
        return cls(
            preprocessing=preprocessing,
            input_shape=input_shape,  # type: ignore[arg-type]
            files=dict(data.get("files", {})),
            moods=moods,
            age_bands=tuple(data.get("age_bands", AGE_BAND_NAMES)),
            outputs=outputs,
            training=dict(data.get("training", {})),
            metrics=dict(data.get("metrics", {})),
            created=str(data.get("created", "")),
            versions=dict(data.get("versions", {})),
            mirror_average=bool(data.get("mirror_average", False)),
            checks=dict(data.get("checks", {})),
        )


def load_metadata(model_dir: str | Path) -> ExportMetadata:
    """Read and validate ``model_dir/metadata.json``.

    Raises:
        ModelNotFound: the folder or its ``metadata.json`` does not exist.
        IncompatibleModel: wrong format/version, label order or preprocessing.
    """
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        found = "found no " + METADATA_FILE if Path(model_dir).is_dir() else "it does not exist"
        model_files = ", ".join(name for _, name in RUNTIME_FILES.values())
        raise ModelNotFound(
            f"Expected an exported model folder with {METADATA_FILE} (and one of {model_files}) "
            f"at {Path(model_dir).resolve()}, but {found}. ml.export.export_model writes one "
            "(training does, at its end)."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise IncompatibleModel(f"{path}: not readable JSON: {err}") from err
    return ExportMetadata.from_dict(data, source=str(path))


def empty_outputs() -> dict[str, np.ndarray]:
    """The outputs of a batch of no faces: float32 (0, width) by name."""
    return {name: np.zeros((0, width), np.float32) for name, width in OUTPUT_WIDTHS.items()}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that make or run an export."""
    versions = {}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            continue
    return versions


def _representative(calibration: np.ndarray) -> Iterator[list[np.ndarray]]:
    """Yield calibration samples one at a time, as the TFLite quantiser wants them."""
    for row in calibration[:MAX_CALIBRATION_SAMPLES]:
        yield [row[np.newaxis].astype(np.float32)]


def convert_tflite(saved_model_dir: Path, *, calibration: np.ndarray | None) -> bytes:
    """Convert a SavedModel to TFLite: float32 when ``calibration`` is None, else full int8.

    Args:
        saved_model_dir: output of ``model.export(..., format="tf_saved_model")``.
        calibration: float32 (N, S, S, C) model inputs from real images, N >= 1.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Input and outputs stay float32: uint8 I/O measured no faster (default model, batch 1,
        # 2 threads: 1.19 ms float32 vs 1.19-1.25 ms uint8 I/O), and float outputs keep age in
        # years and probabilities without a caller-side dequantisation step.
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return converter.convert()


def convert_onnx(model: keras.Model) -> bytes:
    """The float32 ONNX form of ``model``: input ``ONNX_INPUT`` (N, S, S, C), outputs by name."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=ONNX_INPUT),)
    graph = tf.function(lambda image: model(image, training=False))
    proto, _ = tf2onnx.convert.from_function(graph, input_signature=spec, opset=ONNX_OPSET)
    return proto.SerializeToString()


def check_onnx(onnx_model: bytes, tflite_fp32: bytes, inputs: np.ndarray) -> dict[str, Any]:
    """Compare the ONNX model with the fp32 TFLite one on ``inputs``; returns what was compared.

    Raises:
        IncompatibleModel: an output is missing, or differs by more than ``ONNX_TOLERANCE``.
    """
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    if [i.name for i in session.get_inputs()] != [ONNX_INPUT] or set(names) != set(OUTPUT_NAMES):
        raise IncompatibleModel(
            f"Expected an ONNX model with input {ONNX_INPUT!r} and outputs {OUTPUT_NAMES}, "
            f"got outputs {names}."
        )
    # The two runtimes called directly (``ml.runtime`` imports this module, not the reverse).
    interpreter = Interpreter(model_content=tflite_fp32)
    outputs = interpreter.get_signature_runner(SIGNATURE_KEY)(
        **{interpreter.get_signature_list()[SIGNATURE_KEY]["inputs"][0]: inputs}
    )
    expected = {name: np.asarray(outputs[name], np.float32) for name in OUTPUT_NAMES}
    got = dict(zip(names, session.run(None, {ONNX_INPUT: inputs}), strict=True))
    diffs = {
        name: float(np.max(np.abs(np.reshape(got[name], expected[name].shape) - expected[name])))
        for name in OUTPUT_NAMES
    }
    over = {name: diff for name, diff in diffs.items() if diff > ONNX_TOLERANCE[name]}
    if over:
        raise IncompatibleModel(
            f"The ONNX model differs from the fp32 TFLite one by more than {ONNX_TOLERANCE} "
            f"on {len(inputs)} faces: {over}."
        )
    return {"faces": len(inputs), "max_abs_diff": diffs, "tolerance": dict(ONNX_TOLERANCE)}


def served_outputs(model: keras.Model) -> keras.Model:
    """``model`` with just the served outputs (``OUTPUT_NAMES``), sharing its layers.

    Training-only outputs (the seven-class ``expression``) are left out of every file.

    Raises:
        ValueError: an output of ``OUTPUT_NAMES`` is missing.
    """
    missing = set(OUTPUT_NAMES) - set(model.output_names)
    if missing:
        raise ValueError(f"Expected model outputs {OUTPUT_NAMES}, missing {sorted(missing)}.")
    if set(model.output_names) == set(OUTPUT_NAMES):
        return model
    import keras

    outputs = {name: model.get_layer(name).output for name in OUTPUT_NAMES}
    return keras.Model(model.inputs, outputs, name=model.name)


def export_model(
    model: keras.Model,
    out_dir: str | Path,
    *,
    preprocessing: Preprocessing,
    calibration: np.ndarray,
    training: Mapping[str, Any],
    metrics: Mapping[str, Any],
    int8: bool = True,
    onnx: bool = True,
    mirror_average: bool = True,
) -> Path:
    """Write ``model.keras``, TFLite fp32 (and int8), ONNX and ``metadata.json`` into
    ``out_dir``.

    Args:
        model: the three-head model, input (N, S, S, C) float32, outputs by name; outputs
            other than ``OUTPUT_NAMES`` are left out (``served_outputs``).
        out_dir: folder to write; created when missing, files in it are replaced.
        preprocessing: the parameters training used; must match the model's input shape.
        calibration: float32 (N, S, S, C) model inputs from real training images (N >= 1),
            used to calibrate int8 activations.
        training: JSON-serialisable description of the training run.
        metrics: JSON-serialisable evaluation results.
        mirror_average: tell serving to average each face with its mirror image.
        int8: also write the full-integer model.
        onnx: also write the ONNX model, checked against fp32 TFLite on ``calibration``.

    Returns:
        ``out_dir`` as a Path.
    """
    out = Path(out_dir)
    model_shape = tuple(int(v) for v in model.input_shape[1:])
    if model_shape != preprocessing.input_shape:
        raise ValueError(
            f"Expected the model's input shape to equal preprocessing's "
            f"{preprocessing.input_shape}, got {model_shape}."
        )
    model = served_outputs(model)
    calibration = np.asarray(calibration, dtype=np.float32)
    if (int8 or onnx) and (
        calibration.ndim != 4 or calibration.shape[1:] != model_shape or not len(calibration)
    ):
        raise ValueError(
            f"Expected calibration float32 (N, {', '.join(map(str, model_shape))}) with N >= 1, "
            f"got {calibration.shape}."
        )
    out.mkdir(parents=True, exist_ok=True)

    written = ("keras", "fp32", *(["int8"] if int8 else []), *(["onnx"] if onnx else []))
    files = {RUNTIME_FILES[kind][0]: RUNTIME_FILES[kind][1] for kind in written}
    checks: dict[str, Any] = {}
    model.save(out / KERAS_FILE)
    with tempfile.TemporaryDirectory(prefix="musicmood-savedmodel-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        (out / TFLITE_FP32_FILE).write_bytes(convert_tflite(saved, calibration=None))
        if int8:
            (out / TFLITE_INT8_FILE).write_bytes(convert_tflite(saved, calibration=calibration))
        elif (out / TFLITE_INT8_FILE).exists():
            (out / TFLITE_INT8_FILE).unlink()  # a stale int8 file would be served first
    if onnx:
        onnx_model = convert_onnx(model)
        checks["onnx"] = check_onnx(
            onnx_model,
            (out / TFLITE_FP32_FILE).read_bytes(),
            calibration[:MAX_CALIBRATION_SAMPLES],
        )
        (out / ONNX_FILE).write_bytes(onnx_model)
    elif (out / ONNX_FILE).exists():
        (out / ONNX_FILE).unlink()

    meta = ExportMetadata(
        preprocessing=preprocessing,
        input_shape=preprocessing.input_shape,
        files=files,
        training=dict(training),
        metrics=dict(metrics),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=package_versions(),
        mirror_average=mirror_average,
        checks=checks,
    )
    (out / METADATA_FILE).write_text(
        json.dumps(meta.to_dict(), indent=2, sort_keys=False, default=_json_default) + "\n",
        encoding="utf-8",
    )
    logger.info("Exported model to %s (%s)", out, ", ".join(files.values()))
    return out


def _json_default(value: Any) -> Any:
    """Make numpy scalars and arrays and Paths JSON-serialisable."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Not JSON-serialisable in training/metrics: {type(value).__name__}")
