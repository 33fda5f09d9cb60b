"""``TrainConfig`` and its command-line options, shared by ``python -m ml.train`` and
``manage.py train_model``. Imports nothing heavy, so parsing options stays fast."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ml.labels import HEADS
from ml.preprocessing import FRAMING_CONTEXTS, Preprocessing
from ml.runs import RUNS_ENV, default_run_dir, resolve_run


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved with its checkpoints and export.

    The defaults train the half-width network on 64x64 gray crops for 18 epochs of the 35.7k
    training faces of FER2013 (4 moods) + UTKFace left after the validation and held-out
    slices, in bfloat16 where the hardware runs it natively: on the 2-core development CPU
    (AMD EPYC with AVX512-BF16) an epoch took 5-7 minutes with validation, so a run ends
    within about two hours. Slower machines train in legs: ``time_budget`` minutes each,
    continued with ``resume``.
    """

    fer: Path | None = None  # FER2013 folder or fer2013.csv(.gz)
    utkface: Path | None = None  # UTKFace folder of chips
    # checkpoints/, report/, export/ and cache/ go here; a bare name is a run in MUSICMOOD_RUNS
    out: Path | str = field(default_factory=default_run_dir)
    epochs: int = 18
    batch_size: int = 64
    #: "float32", "bfloat16" (mixed precision: float32 weights, bfloat16 arithmetic) or "auto":
    #: bfloat16 where it runs natively (CPUs with AMX or AVX512-BF16, accelerators), float32
    #: elsewhere; a resumed run keeps the precision it started with.
    precision: str = "auto"
    input_size: int = 64  # FER2013's 48-pixel faces upscaled; UTKFace's chips keep more detail
    width: float = 0.5  # multiplier on VGG16's filter counts
    color: str = "gray"
    #: 4: the emotion head is a softmax over the moods, fitted to FER2013's mood faces alone;
    #: 7: it is a softmax over all of FER2013's classes, fitted to all its faces, and the moods
    #: are read out of their four logits (``ml.model.MoodReadout``).
    emotion_classes: int = 4
    #: 0: the crop is the square of the RetinaFace box's longer side (the box already spans
    #: forehead to chin; a larger margin fills FER2013's tight crops with replicated edges).
    margin: float = 0.0
    #: Detector whose boxes frame the training faces, as serving frames camera faces (see
    #: ml.framing); None crops at fixed boxes, as models before detector framing were.
    framing: str | None = "retinaface-mobilenet"
    #: Where the framing detector looks for each training face (ml.framing): "padded", in the
    #: image padded with grey; "camera", in a camera-sized frame, detected as serving detects.
    framing_context: str = "padded"
    lr: float = 1e-3  # peak learning rate of the warm-up + cosine schedule
    optimizer: str = "adam"  # or "sgd" (Nesterov momentum 0.9)
    weight_decay: float = 0.0  # decoupled weight decay (Khaireddin & Chen: 1e-4 with SGD)
    schedule: str = "cosine"  # or "plateau": lr cut by plateau_factor when validation stalls
    plateau_factor: float = 0.75
    plateau_patience: int = 5
    warmup_epochs: float = 1.0
    seed: int = 1337
    resume: bool = False
    time_budget: float | None = None  # minutes: stop at an epoch boundary before they are up
    find_lr: bool = False  # run only the learning-rate range test and report its suggestion
    find_lr_steps: int = 300
    patience: int = 6  # epochs without a better validation score before stopping
    val_fraction: float = 0.1  # UTKFace slice held back for validation
    heldout_fraction: float = 0.1  # training images of each dataset never trained or selected on
    weights: str | None = None  # ImageNet VGG16 notop .h5 path, "imagenet", or None
    limit: int | None = None  # at most this many images per dataset part (quick runs)
    cache: Path | None = None  # decoded-crop cache folder; None means out/cache
    augment: bool = True
    camera_augment: float = 0.0  # probability of a webcam round trip per training crop
    random_erasing: float = 0.0  # probability of erasing one rectangle per training crop
    #: Probability of a new background past a training crop's source image (``ml.augment``).
    background_augment: float = 0.5
    class_weights: bool = True  # weight moods inversely to their frequency
    #: Soft-targets file of an ensemble (``python -m ml.distill``): train a student on them.
    distill: Path | None = None
    distill_weight: float = 0.5  # share of the ensemble's estimate in each target
    #: Faces without a head's label learn it from the ensemble alone: the moods of UTKFace
    #: faces, the age and gender of FER2013 faces (cross-dataset soft pseudo-labels).
    distill_unlabelled: bool = False
    #: The heads the ensemble teaches (of ``labels.HEADS``); the others learn their labels alone.
    distill_heads: tuple[str, ...] = HEADS
    label_smoothing: float = 0.1  # of the emotion targets (FER2013's labels are noisy)
    age_loss_weight: float = 0.1  # age loss is in years; this brings it near the others
    gender_loss_weight: float = 1.0
    calibration_size: int = 300  # training images used to calibrate the int8 export
    int8: bool = True
    onnx: bool = True  # also export model.onnx, for on-device analysis in the browser
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("fer", "utkface", "cache", "distill"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        self.out = resolve_run(self.out)
        if self.framing in ("none", ""):
            self.framing = None
        if self.fer is None and self.utkface is None:
            raise ValueError("Expected at least one dataset: give fer, utkface or both.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be positive, got {self.epochs} and {self.batch_size}."
            )
        if self.precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(
                f"precision must be auto, float32 or bfloat16, got {self.precision!r}."
            )
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be positive minutes, got {self.time_budget}.")
        for name in ("camera_augment", "random_erasing", "background_augment"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}."
                )
        if self.optimizer not in ("adam", "sgd") or self.schedule not in ("cosine", "plateau"):
            raise ValueError(
                f"Expected optimizer adam or sgd and schedule cosine or plateau, got "
                f"{self.optimizer!r} and {self.schedule!r}."
            )
        if not 0.0 < self.plateau_factor < 1.0 or self.plateau_patience < 1:
            raise ValueError("plateau_factor must be in (0, 1) and plateau_patience at least 1.")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}.")
        if self.emotion_classes not in (4, 7):
            raise ValueError(f"emotion_classes must be 4 or 7, got {self.emotion_classes}.")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight}.")
        self.distill_heads = tuple(self.distill_heads)
        if not self.distill_heads or set(self.distill_heads) - set(HEADS):
            raise ValueError(
                f"distill_heads must be one or more of {', '.join(HEADS)}, "
                f"got {', '.join(self.distill_heads) or 'none'}."
            )
        if self.distill_unlabelled and self.distill is None:
            raise ValueError("distill_unlabelled needs a soft-targets file: give distill.")
        if self.distill is not None and self.emotion_classes != 4:
            raise ValueError(
                "distill trains the four-mood emotion output on an ensemble's mood estimates; "
                f"it needs emotion_classes 4, got {self.emotion_classes}."
            )
        self.preprocessing()  # validates input_size, color and margin

    def preprocessing(self) -> Preprocessing:
        """The preprocessing parameters this run trains with."""
        return Preprocessing(
            input_size=self.input_size,
            color=self.color,
            margin=self.margin,
            framing=self.framing or None,
            framing_context=self.framing_context,
        )

    @property
    def cache_dir(self) -> Path:
        """Folder of the decoded-crop cache."""
        return self.cache if self.cache is not None else self.out / "cache"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the training options to ``parser``; each ``dest`` is a ``TrainConfig`` field."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    add = parser.add_argument

    def option(flag: str, **kwargs: Any) -> None:
        """An option defaulting to its field's default (argparse names the field after it)."""
        add(flag, default=defaults[flag.lstrip("-").replace("-", "_")], **kwargs)

    option("--fer", type=Path, help="FER2013 folder (train/, test/) or fer2013.csv(.gz)")
    option("--utkface", type=Path, help="UTKFace folder of *.jpg chips")
    add(
        "--out",
        default=None,
        help=f"run folder, or a run name in ${RUNS_ENV} (default: {default_run_dir()})",
    )
    option("--epochs", type=int)
    option("--batch-size", type=int)
    option(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        help="bfloat16: mixed precision (float32 weights and outputs), faster on CPUs with "
        "AMX or AVX512-BF16 and on accelerators; auto: bfloat16 where it runs natively, "
        "float32 elsewhere, and a resumed run's own; the export is float32 either way "
        "(default: %(default)s)",
    )
    option("--input-size", type=int)
    option("--width", type=float, help="VGG16 filter multiplier")
    option("--color", choices=("gray", "rgb"))
    option(
        "--emotion-classes",
        type=int,
        choices=(4, 7),
        help="4: a mood softmax trained on the mood faces; 7: a softmax over all FER2013 "
        "classes, trained on all its faces, with the moods read out of it (default: %(default)s)",
    )
    option("--margin", type=float)
    option(
        "--framing",
        choices=("retinaface-mobilenet", "retinaface-resnet50", "opencv", "none"),
        help="detector framing the training faces as serving does, or 'none' for fixed boxes "
        "(default: %(default)s)",
    )
    option(
        "--framing-context",
        choices=FRAMING_CONTEXTS,
        help="where the framing detector looks for each training face: in the image padded "
        "with grey, or pasted into a camera-sized frame and detected as serving detects "
        "(default: %(default)s)",
    )
    option("--lr", type=float, help="peak learning rate")
    option("--optimizer", choices=("adam", "sgd"))
    option("--weight-decay", type=float)
    option(
        "--schedule",
        choices=("cosine", "plateau"),
        help="warm-up + cosine decay, or reduce-on-plateau (default: %(default)s)",
    )
    option("--plateau-factor", type=float)
    option("--plateau-patience", type=int)
    option("--warmup-epochs", type=float)
    option("--seed", type=int)
    add("--resume", action="store_true", help="continue from out/checkpoints/last.keras")
    option(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="stop cleanly at an epoch boundary before this many minutes, ready for --resume",
    )
    add("--find-lr", dest="find_lr", action="store_true", help="only run the LR range test")
    option("--find-lr-steps", type=int)
    option("--patience", type=int)
    option("--val-fraction", type=float)
    option(
        "--heldout-fraction",
        type=float,
        help="training images of each dataset held out for evaluate_model (default: %(default)s)",
    )
    option("--weights", help="ImageNet VGG16 notop .h5 path or 'imagenet'")
    option("--limit", type=int, help="at most this many images per dataset part")
    option("--cache", type=Path, help="crop cache folder (default: OUT/cache)")
    add("--no-augment", dest="augment", action="store_false")
    option(
        "--camera-augment",
        type=float,
        metavar="P",
        help="probability of a webcam round trip (shrink, JPEG, scale back) per crop",
    )
    option(
        "--random-erasing",
        type=float,
        metavar="P",
        help="probability of erasing one random rectangle per crop",
    )
    option(
        "--background-augment",
        type=float,
        metavar="P",
        help="probability of a new background past the crop's source image (default: %(default)s)",
    )
    add("--no-class-weights", dest="class_weights", action="store_false")
    option(
        "--distill",
        type=Path,
        metavar="FILE",
        help="soft-targets file of an ensemble (python -m ml.distill): train a student on them",
    )
    option(
        "--distill-weight",
        type=float,
        help="share of the ensemble's estimate in each target (default: %(default)s)",
    )
    add(
        "--distill-unlabelled",
        action="store_true",
        help="faces without a head's label learn it from the ensemble alone (the moods of "
        "UTKFace faces, the age and gender of FER2013 faces)",
    )
    option(
        "--distill-heads",
        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
        metavar="HEADS",
        help="comma-separated heads the ensemble teaches, of emotion, age and gender; the others "
        "learn their true labels alone (default: all)",
    )
    option("--label-smoothing", type=float, help="emotion label smoothing (default: %(default)s)")
    option("--age-loss-weight", type=float)
    option("--gender-loss-weight", type=float)
    option("--calibration-size", type=int)
    add("--no-int8", dest="int8", action="store_false", help="skip the int8 TFLite export")
    add("--no-onnx", dest="onnx", action="store_false", help="skip the ONNX export")
    add("--no-progress", dest="progress", action="store_false", help="no progress bars")


def config_from_options(options: dict[str, Any] | argparse.Namespace) -> TrainConfig:
    """A ``TrainConfig`` from parsed options (extra keys, such as Django's, are ignored)."""
    values = vars(options) if isinstance(options, argparse.Namespace) else dict(options)
    known = {f.name for f in fields(TrainConfig)}
    chosen = {k: v for k, v in values.items() if k in known}
    if chosen.get("out") is None:
        chosen.pop("out", None)  # the default run folder
    return TrainConfig(**chosen)
