"""Label vocabularies, defined once: mood order, the FER2013 mapping and age bands."""

from __future__ import annotations

#: Output order of the emotion head. Never reorder: exported models store it and are checked.
MOODS: tuple[str, ...] = ("angry", "happy", "neutral", "sad")

#: FER2013's seven classes in the order of the original ``fer2013.csv`` ``emotion`` column.
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: FER2013 class name -> mood name; classes missing here are left out of the mood head.
FER_TO_MOOD: dict[str, str] = {
    "angry": "angry",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
}

#: Age bands as (name, first year, first year of the next band); the last band is open-ended.
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("child", 0, 13),
    ("teen", 13, 20),
    ("young_adult", 20, 35),
    ("adult", 35, 60),
    ("senior", 60, float("inf")),
)
AGE_BAND_NAMES: tuple[str, ...] = tuple(name for name, _, _ in AGE_BANDS)

GENDERS: tuple[str, ...] = ("male", "female")

#: The network's heads, by the names of their training targets.
HEADS: tuple[str, ...] = ("emotion", "age", "gender")


#: For each mood, the index of its FER2013 class in ``FER_CLASSES``: where the 7-way expression
#: output's mood logits are (``ml.model.MoodReadout`` reads the mood out of them).
MOOD_EXPRESSIONS: tuple[int, ...] = tuple(
    FER_CLASSES.index(next(c for c, m in FER_TO_MOOD.items() if m == mood)) for mood in MOODS
)


def expression_index(fer_class: str) -> int | None:
    """Index into ``FER_CLASSES`` of a FER2013 class name, or None for an unknown name."""
    name = fer_class.strip().lower()
    return FER_CLASSES.index(name) if name in FER_CLASSES else None


def mood_index(fer_class: str) -> int | None:
    """Index into ``MOODS`` for a FER2013 class name, or None when the class is left out."""
    mood = FER_TO_MOOD.get(fer_class.strip().lower())
    return None if mood is None else MOODS.index(mood)


def age_band(years: float) -> str:
    """Name of the age band that ``years`` (>= 0) falls in; negative ages count as 0."""
    years = max(float(years), 0.0)
    for name, low, high in AGE_BANDS:
        if low <= years < high:
            return name
    return AGE_BANDS[-1][0]
