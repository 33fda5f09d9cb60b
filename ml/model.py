"""The face model: a VGG16-topology backbone shared by three heads (emotion, age, gender).

Outputs, by name: ``emotion`` (N, 4) softmax over ``labels.MOODS``; ``age`` (N, 1) in years;
``gender`` (N, 1) probability that the face is female. A model built with seven emotion classes
also has ``expression`` (N, 7), a softmax over ``labels.FER_CLASSES`` that training fits to all
of FER2013's labels, and reads ``emotion`` out of its four mood logits (``MoodReadout``); the
export keeps the three served outputs only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from ml.export import OUTPUT_NAMES
from ml.labels import FER_CLASSES, MOOD_EXPRESSIONS, MOODS

#: Emotion outputs a model can be built with: the four moods alone, or all of FER2013's classes.
EMOTION_CLASSES: tuple[int, ...] = (len(MOODS), len(FER_CLASSES))

#: Training precisions: ``float32``, or ``bfloat16`` (Keras's ``mixed_bfloat16``: bfloat16
#: arithmetic, float32 weights and outputs), which CPUs with AMX or AVX512-BF16 run faster.
PRECISIONS: dict[str, str] = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
#: The /proc/cpuinfo flags of CPU units that run bfloat16 matrix products natively.
BFLOAT16_CPU_FLAGS: tuple[str, ...] = ("amx_bf16", "avx512_bf16")

#: VGG16's convolutional topology: 13 conv layers in 5 blocks, filters per layer at width 1.0.
VGG16_BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)
#: The age head predicts (years - AGE_CENTER) / AGE_SCALE, and the model rescales it to years.
AGE_CENTER = 35.0
AGE_SCALE = 20.0


def build_model(
    *,
    input_size: int = 48,
    channels: int = 1,
    width: float = 0.5,
    head_units: int = 256,
    dropout: float = 0.4,
    weights: str | Path | None = None,
    emotion_classes: int = len(MOODS),
    precision: str = "float32",
) -> keras.Model:
    """Build the three-head network.

    Args:
        input_size: side of the square input in pixels (>= 32: five 2x poolings).
        channels: 1 for gray input, 3 for RGB.
        width: multiplier on VGG16's filter counts (1.0 is the original).
        head_units: width of each head's hidden dense layer.
        dropout: dropout rate before each head's output.
        weights: None for random initialisation, a path to Keras VGG16 ``notop`` weights
            (``.h5``), or ``"imagenet"`` to let Keras fetch them (needs the internet). Needs
            ``width == 1.0``; for gray input the RGB kernels of the first layer are summed.
        emotion_classes: 4, an emotion softmax over the moods; or 7, an ``expression``
            softmax over FER2013's classes as well, with ``emotion`` read out of its mood
            logits (``MoodReadout``), so faces of the other three classes train the head too.
        precision: a key of ``PRECISIONS``. With ``bfloat16`` the backbone and the heads'
            hidden layers compute in bfloat16; the output layers stay float32 (stable losses),
            and ``float32_model`` turns the trained model into an all-float32 one for export.

    Returns:
        A functional ``keras.Model`` with input ``image`` (N, S, S, C) float32 in [0, 1] and
        the outputs ``ml.export.OUTPUT_NAMES`` by name (and ``expression`` with 7 classes).
    """
    if input_size < 32:
        raise ValueError(f"input_size must be at least 32 (five 2x poolings), got {input_size}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}.")
    if not 0.05 <= width <= 2.0:
        raise ValueError(f"width must be between 0.05 and 2.0, got {width}.")
    if emotion_classes not in EMOTION_CLASSES:
        raise ValueError(
            f"emotion_classes must be one of {EMOTION_CLASSES}, got {emotion_classes}."
        )
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}.")
    policy = PRECISIONS[precision]

    inputs = keras.Input(shape=(input_size, input_size, channels), name="image")
    x = inputs
    for block, filters in enumerate(VGG16_BLOCKS, start=1):
        for conv, count in enumerate(filters, start=1):
            x = layers.Conv2D(
                max(8, round(count * width)),
                3,
                padding="same",
                use_bias=False,
                name=f"block{block}_conv{conv}",
                dtype=policy,
            )(x)
            x = layers.BatchNormalization(name=f"block{block}_bn{conv}", dtype=policy)(x)
            x = layers.ReLU(name=f"block{block}_relu{conv}", dtype=policy)(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool", dtype=policy)(x)
    features = layers.GlobalAveragePooling2D(name="features", dtype=policy)(x)

    def head(name: str) -> keras.KerasTensor:
        h = layers.Dense(head_units, activation="relu", name=f"{name}_dense", dtype=policy)(
            features
        )
        return layers.Dropout(dropout, name=f"{name}_dropout", dtype=policy)(h)

    # The output layers compute in float32 whatever the precision (they cast their input).
    out = "float32"
    extra: dict[str, keras.KerasTensor] = {}
    if emotion_classes == len(MOODS):
        emotion = layers.Dense(len(MOODS), activation="softmax", name="emotion", dtype=out)(
            head("emotion")
        )
    else:
        logits = layers.Dense(len(FER_CLASSES), name="expression_logits", dtype=out)(
            head("emotion")
        )
        extra["expression"] = layers.Softmax(name="expression", dtype=out)(logits)
        emotion = MoodReadout(name="emotion", dtype=out)(logits)
    age_raw = layers.Dense(1, name="age_raw", dtype=out)(head("age"))
    age = layers.Rescaling(AGE_SCALE, offset=AGE_CENTER, name="age", dtype=out)(age_raw)
    gender = layers.Dense(1, activation="sigmoid", name="gender", dtype=out)(head("gender"))

    outputs = dict(zip(OUTPUT_NAMES, (emotion, age, gender), strict=True)) | extra
    model = keras.Model(inputs, outputs, name="musicmood_vgg16")
    if weights is not None:
        load_vgg16_weights(model, weights, input_size=input_size, width=width)
    return model


def bfloat16_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The CPU's bfloat16 units among ``BFLOAT16_CPU_FLAGS`` (empty where none or unknown)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return []
    flags = set(next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split())
    return [flag for flag in BFLOAT16_CPU_FLAGS if flag in flags]


def float32_model(model: keras.Model) -> keras.Model:
    """``model`` computing in float32 throughout, with the same weights.

    A model trained with ``precision="bfloat16"`` keeps float32 weights but computes in
    bfloat16; exports and evaluation want the float32 network. An all-float32 model is
    returned as it is.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def as_float32(layer: layers.Layer) -> layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=as_float32)
    copy.set_weights(model.get_weights())
    return copy


@keras.saving.register_keras_serializable(package="musicmood")
class MoodReadout(layers.Layer):
    """Mood probabilities (N, 4) from FER2013 expression logits (N, 7).

    A softmax over the four mood logits (``labels.MOOD_EXPRESSIONS``) alone: the expression
    distribution given that the face shows one of the moods, so it sums to 1 over ``MOODS``.
    """

    def call(self, logits: Any) -> Any:
        return ops.softmax(ops.take(logits, list(MOOD_EXPRESSIONS), axis=-1), axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], len(MOODS))


def load_vgg16_weights(
    model: keras.Model, weights: str | Path, *, input_size: int, width: float
) -> None:
    """Copy ImageNet VGG16 conv kernels and biases into ``model``'s backbone, in place.

    Biases are dropped: the backbone's convolutions are followed by batch normalisation.
    """
    if width != 1.0:
        raise ValueError(f"ImageNet VGG16 weights need width 1.0, got width {width}.")
    source_weights = str(weights)
    if source_weights != "imagenet" and not Path(source_weights).is_file():
        raise FileNotFoundError(
            f"VGG16 weights file not found: {source_weights}. Expected Keras's "
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, or 'imagenet' to download it."
        )
    vgg = keras.applications.VGG16(
        include_top=False, weights=source_weights, input_shape=(input_size, input_size, 3)
    )
    for block, filters in enumerate(VGG16_BLOCKS, start=1):
        for conv in range(1, len(filters) + 1):
            name = f"block{block}_conv{conv}"
            kernel = vgg.get_layer(name).get_weights()[0]
            target = model.get_layer(name)
            if target.kernel.shape[2] == 1 and kernel.shape[2] == 3:
                kernel = kernel.sum(axis=2, keepdims=True)
            target.set_weights([np.asarray(kernel, dtype="float32")])
