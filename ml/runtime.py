"""Model runners: one call runs a batch of face inputs through an exported model.

``TFLiteRunner`` uses LiteRT (``ai_edge_litert``) and never imports TensorFlow or Keras, so a
web or worker process that serves with it stays small (~100 MB instead of ~780 MB).
``KerasRunner`` imports Keras lazily, inside its constructor.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ml.errors import ModelNotFound
from ml.export import ONNX_INPUT, OUTPUT_NAMES, RUNTIME_FILES, SIGNATURE_KEY, empty_outputs

logger = logging.getLogger(__name__)

#: Default interpreter threads: the serving machines have 2 cores.
DEFAULT_THREADS = 2


class ModelRunner(ABC):
    """Runs the three-head model on a batch of prepared faces."""

    #: Short name for logs and benchmarks, e.g. "tflite-int8".
    name: str = "runner"

    @abstractmethod
    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Float32 (N, S, S, C) -> {"emotion": (N, 4), "age": (N, 1), "gender": (N, 1)}."""

    def _check(self, batch: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
        """Validate a batch's shape against the model input; returns it as contiguous float32."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(input_shape):
            raise ValueError(
                f"Expected a float32 batch (N, {', '.join(map(str, input_shape))}), "
                f"got shape {batch.shape}."
            )
        return batch


class TFLiteRunner(ModelRunner):
    """Runs a ``.tflite`` export through its named signature with LiteRT.

    LiteRT interpreters are not thread-safe. Each calling thread gets its own interpreter
    (created on its first call, kept in a thread-local), so a small thread pool runs frames in
    parallel without a lock; a process with one analysis thread holds one interpreter.
    """

    def __init__(self, path: str | Path, *, threads: int = DEFAULT_THREADS) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelNotFound(f"Expected a TFLite model file at {self.path}, found none.")
        self.threads = max(1, int(threads))
        self.name = "tflite-int8" if "int8" in self.path.name else "tflite-fp32"
        self._model_bytes = self.path.read_bytes()
        self._local = threading.local()
        runner = self._runner()  # fail early on a broken file, in the loading thread
        details = runner.get_input_details()
        if len(details) != 1:
            raise ValueError(f"{self.path}: expected one input, got {sorted(details)}.")
        self._input_name, spec = next(iter(details.items()))
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in spec["shape_signature"][1:])
        outputs = set(runner.get_output_details())
        if outputs != set(OUTPUT_NAMES):
            raise ValueError(
                f"{self.path}: expected outputs {OUTPUT_NAMES}, got {sorted(outputs)}."
            )

    def _runner(self) -> Any:
        """This thread's signature runner, created on first use."""
        runner = getattr(self._local, "runner", None)
        if runner is None:
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_content=self._model_bytes, num_threads=self.threads)
            runner = interpreter.get_signature_runner(SIGNATURE_KEY)
            self._local.interpreter = interpreter  # keep it alive beside its runner
            self._local.runner = runner
            logger.debug(
                "Created a LiteRT interpreter for %s in %s",
                self.path.name,
                threading.current_thread().name,
            )
        return runner

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Float32 (N, S, S, C) -> outputs by name; the batch size may change between calls."""
        batch = self._check(batch, self.input_shape)
        if not len(batch):
            return empty_outputs()
        # The signature runner resizes the input to N and reallocates only when N changes.
        outputs = self._runner()(**{self._input_name: batch})
        return {name: np.array(outputs[name], dtype=np.float32) for name in OUTPUT_NAMES}


class KerasRunner(ModelRunner):
    """Runs ``model.keras`` with a compiled ``predict_on_batch`` (never ``model.predict``)."""

    name = "keras"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelNotFound(f"Expected a Keras model file at {self.path}, found none.")
        import keras  # lazily: this pulls in TensorFlow (~700 MB)

        self.model = keras.models.load_model(self.path, compile=False)
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in self.model.input_shape[1:])
        # Keras compiles predict_on_batch into one graph function on first call;
        # ``jit_compile=False`` keeps the first call fast on CPU.
        self.model.compile(jit_compile=False)
        self._lock = threading.Lock()

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Float32 (N, S, S, C) -> outputs by name."""
        batch = self._check(batch, self.input_shape)
        if not len(batch):
            return empty_outputs()
        with self._lock:  # Keras's predict function state is not safe to share across threads
            outputs = self.model.predict_on_batch(batch)
        return {name: np.asarray(outputs[name], dtype=np.float32) for name in OUTPUT_NAMES}


class OnnxRunner(ModelRunner):
    """Runs ``model.onnx`` with ONNX Runtime on the CPU: the form the listener's browser runs,
    served here to measure it (``evaluate_model --runtime onnx``). A session may be shared by
    threads."""

    name = "onnx"

    def __init__(self, path: str | Path, *, threads: int = DEFAULT_THREADS) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelNotFound(f"Expected an ONNX model file at {self.path}, found none.")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        shape = self.session.get_inputs()[0].shape
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in shape[1:])
        self.outputs = [output.name for output in self.session.get_outputs()]

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Float32 (N, S, S, C) -> outputs by name."""
        batch = self._check(batch, self.input_shape)
        if not len(batch):
            return empty_outputs()
        values = dict(zip(self.outputs, self.session.run(None, {ONNX_INPUT: batch}), strict=True))
        return {
            name: np.asarray(values[name], dtype=np.float32).reshape(len(batch), -1)
            for name in OUTPUT_NAMES
        }


class ViewAveraging(ModelRunner):
    """Averages another runner's outputs over several views of each face (test-time averaging).

    All views of a batch go through the wrapped runner in one call; the mean of probability
    vectors still sums to 1. Subclasses say which views (``views``).
    """

    def __init__(self, runner: ModelRunner, suffix: str) -> None:
        self.runner = runner
        self.name = f"{runner.name}+{suffix}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.runner.input_shape  # type: ignore[attr-defined]

    @abstractmethod
    def views(self, batch: np.ndarray) -> list[np.ndarray]:
        """The views of ``batch`` (N, S, S, C), each (N, S, S, C), the batch itself first."""

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.asarray(batch, dtype=np.float32)
        count = len(batch)
        if count == 0 or batch.ndim != 4:
            return self.runner.predict(batch)  # it answers empty or misshapen batches
        views = self.views(batch)
        out = self.runner.predict(np.concatenate(views))
        return {
            name: values.reshape(len(views), count, -1).mean(axis=0) for name, values in out.items()
        }


class Mirrored(ViewAveraging):
    """Averages another runner's outputs over each face and its left-right mirror image.

    Faces are (nearly) symmetric in what the heads read, so the two views disagree only in the
    network's noise, and their mean is a steadier estimate.
    """

    def __init__(self, runner: ModelRunner) -> None:
        super().__init__(runner, "mirror")

    def views(self, batch: np.ndarray) -> list[np.ndarray]:
        return [batch, batch[:, :, ::-1]]


class Shifted(ViewAveraging):
    """Averages another runner's outputs over each face and four copies shifted by ``pixels``.

    The face moved left, right, up and down by ``pixels`` (edges replicated), a cheap stand-in
    for the ten-crop averaging of FER2013 papers that keeps the model's input size; wrapped
    around ``Mirrored`` it reads each face in ten views, at five times its time per face.
    """

    def __init__(self, runner: ModelRunner, pixels: int) -> None:
        if pixels < 1:
            raise ValueError(f"Expected a shift of at least 1 pixel, got {pixels}.")
        super().__init__(runner, f"shift{int(pixels)}")
        self.pixels = int(pixels)

    def views(self, batch: np.ndarray) -> list[np.ndarray]:
        return [batch, *shifted_views(batch, self.pixels)]


def shifted_views(batch: np.ndarray, pixels: int) -> list[np.ndarray]:
    """Four copies of ``batch`` (N, S, S, C) moved by ``pixels`` right, left, down and up.

    The uncovered border repeats the edge pixels, as the training augmentation's shifts do.
    """
    p = int(pixels)
    size = batch.shape[1]
    padded = np.pad(batch, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    offsets = ((p, 0), (p, 2 * p), (0, p), (2 * p, p))  # (row, column) of each window
    return [padded[:, r : r + size, c : c + size] for r, c in offsets]


RUNTIMES: tuple[str, ...] = ("auto", *RUNTIME_FILES)


def load_runner(
    model_dir: str | Path,
    runtime: str = "auto",
    *,
    threads: int = DEFAULT_THREADS,
    mirror: bool = False,
    shift: int = 0,
) -> ModelRunner:
    """The runner for an export folder: "auto" takes int8 TFLite, else fp32, else Keras.

    ``mirror`` wraps it in ``Mirrored`` (as an export's ``mirror_average`` metadata asks);
    ``shift`` > 0 wraps that in ``Shifted`` (a test-time averaging to measure, not served).

    Raises:
        ValueError: unknown ``runtime``.
        ModelNotFound: the requested file (for "auto": any of them) is missing.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"Expected runtime in {RUNTIMES}, got {runtime!r}.")
    folder = Path(model_dir)
    order = tuple(RUNTIME_FILES) if runtime == "auto" else (runtime,)
    for kind in order:
        path = folder / RUNTIME_FILES[kind][1]
        if path.is_file():
            logger.info("Model runtime: %s (%s)%s", kind, path, ", mirror-averaged" * mirror)
            if kind == "keras":
                runner: ModelRunner = KerasRunner(path)
            elif kind == "onnx":
                runner = OnnxRunner(path, threads=threads)
            else:
                runner = TFLiteRunner(path, threads=threads)
            runner = Mirrored(runner) if mirror else runner
            return Shifted(runner, shift) if shift else runner
    expected = " or ".join(RUNTIME_FILES[kind][1] for kind in order)
    raise ModelNotFound(f"Expected {expected} in {folder.resolve()}, found none.")
