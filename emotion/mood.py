"""Turning per-frame face estimates into a calm, announced mood: pure functions, no Django.

Every function takes the time as an argument (seconds, any monotonic origin) and never reads a
clock, so the smoothing is tested by replaying frames with chosen timestamps.

How a frame becomes a mood:

1. ``fuse_faces``: the faces of one frame are fused into one group estimate, each face
   weighted by its box area times its detector score (a large, sure face counts more than a
   small, doubtful one in the background).
2. ``MoodState`` keeps the fused estimates of the last ``window_seconds``; the smoothed
   probabilities are their mean, so one odd frame, or frames alternating between two moods,
   cannot flip the result.
3. ``mood_step`` announces a new mood only when (a) its smoothed probability is at least
   ``min_confidence``, (b) it leads the announced mood by ``switch_margin`` (hysteresis) and
   (c) both have held without a break for ``min_dwell_seconds``. After ``absence_seconds``
   without a face the mood decays to ``None`` ("no one here").
4. Age and gender are smoothed over the same window; the age band and gender only change when
   the smoothed value is past the boundary by a margin, so they do not flicker either. With
   ``demographics`` off (the listener's switch) they are neither estimated nor announced.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ml.labels import AGE_BANDS, MOODS, age_band


class FaceLike(Protocol):
    """What smoothing needs from one face: ``ml.analysis.FaceAnalysis`` fits."""

    box: tuple[int, int, int, int]
    score: float
    emotion: Mapping[str, float]
    age: float
    female: float


@dataclass(frozen=True)
class MoodConfig:
    """Thresholds of mood smoothing; ``emotion.services`` fills it from settings."""

    window_seconds: float = 3.0
    min_dwell_seconds: float = 2.0
    switch_margin: float = 0.15
    min_confidence: float = 0.4
    absence_seconds: float = 3.0
    age_margin_years: float = 2.0
    gender_margin: float = 0.1
    #: Off: age band and gender stay None, so their changes announce nothing.
    demographics: bool = True

    def __post_init__(self) -> None:
        if self.window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, got {self.window_seconds}.")
        for name in ("min_dwell_seconds", "switch_margin", "min_confidence", "absence_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}.")


@dataclass(frozen=True)
class GroupEstimate:
    """One frame's faces fused into one estimate."""

    emotion: dict[str, float]
    age: float
    female: float
    faces: int


@dataclass(frozen=True)
class Mood:
    """An announced mood: what the ``mood`` websocket message carries.

    ``mood`` is None when no one is there (or no mood is sure enough yet); ``confidence`` is
    the smoothed probability of ``mood``; ``probabilities`` are the smoothed probabilities of
    all moods in ``MOODS`` order.
    """

    mood: str | None
    confidence: float
    faces: int
    age_band: str | None
    gender: str | None
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the message ``type``)."""
        return {
            "mood": self.mood,
            "confidence": round(self.confidence, 4),
            "faces": self.faces,
            "age_band": self.age_band,
            "gender": self.gender,
            "probabilities": {m: round(p, 4) for m, p in self.probabilities.items()},
        }


NO_ONE = Mood(
    mood=None,
    confidence=0.0,
    faces=0,
    age_band=None,
    gender=None,
    probabilities={m: 0.0 for m in MOODS},
)


@dataclass
class MoodState:
    """Per-listener smoothing state; lives in the consumer's memory only, never stored."""

    config: MoodConfig = field(default_factory=MoodConfig)
    samples: deque[tuple[float, GroupEstimate | None]] = field(default_factory=deque)
    announced: Mood = NO_ONE
    candidate: str | None = None
    candidate_since: float = 0.0
    last_face_at: float | None = None
    age_band: str | None = None
    gender: str | None = None


def fuse_faces(faces: Sequence[FaceLike]) -> GroupEstimate | None:
    """Fuse a frame's faces, weighting each by box area x detector score; None without faces."""
    if not faces:
        return None
    weights = [max(f.box[2], 1) * max(f.box[3], 1) * max(float(f.score), 1e-3) for f in faces]
    total = sum(weights)
    emotion = {
        mood: sum(w * float(f.emotion[mood]) for w, f in zip(weights, faces, strict=True)) / total
        for mood in MOODS
    }
    age = sum(w * float(f.age) for w, f in zip(weights, faces, strict=True)) / total
    female = sum(w * float(f.female) for w, f in zip(weights, faces, strict=True)) / total
    return GroupEstimate(emotion=emotion, age=age, female=female, faces=len(faces))


def smoothed(samples: Iterable[tuple[float, GroupEstimate | None]]) -> GroupEstimate | None:
    """Mean of the face-bearing estimates in ``samples``; faces is the median face count."""
    estimates = [e for _, e in samples if e is not None]
    if not estimates:
        return None
    n = len(estimates)
    counts = sorted(e.faces for e in estimates)
    return GroupEstimate(
        emotion={m: sum(e.emotion[m] for e in estimates) / n for m in MOODS},
        age=sum(e.age for e in estimates) / n,
        female=sum(e.female for e in estimates) / n,
        faces=counts[(n - 1) // 2],
    )


def _band_with_hysteresis(current: str | None, age: float, margin: float) -> str:
    """The age band of ``age``, keeping ``current`` until ``age`` is ``margin`` past its edges."""
    for name, low, high in AGE_BANDS:
        if name == current and low - margin <= age < high + margin:
            return current
    return age_band(age)


def _gender_with_hysteresis(current: str | None, female: float, margin: float) -> str:
    """'female' or 'male', switching only when ``female`` is ``margin`` past one half."""
    if current == "female" and female >= 0.5 - margin:
        return "female"
    if current == "male" and female < 0.5 + margin:
        return "male"
    return "female" if female >= 0.5 else "male"


def mood_step(state: MoodState, faces: Sequence[FaceLike], *, now: float) -> Mood | None:
    """Feed one analyzed frame taken at ``now``; returns the new ``Mood`` when it changed.

    A change is a different mood, age band or gender, or someone arriving where no one was
    (face count and confidence travel with it but do not trigger a message on their own).
    ``state`` is updated in place.
    """
    config = state.config
    estimate = fuse_faces(faces)
    state.samples.append((now, estimate))
    if estimate is not None:
        state.last_face_at = now
    while state.samples and state.samples[0][0] < now - config.window_seconds:
        state.samples.popleft()

    absent = state.last_face_at is None or now - state.last_face_at >= config.absence_seconds
    group = None if absent else smoothed(state.samples)
    if group is None:
        state.candidate = None
        state.age_band = state.gender = None
        if state.announced.mood is None and state.announced.faces == 0:
            return None
        state.announced = NO_ONE
        return NO_ONE

    if config.demographics:
        state.age_band = _band_with_hysteresis(state.age_band, group.age, config.age_margin_years)
        state.gender = _gender_with_hysteresis(state.gender, group.female, config.gender_margin)
    mood = _mood_with_dwell(state, group.emotion, now=now)
    confidence = group.emotion[mood] if mood is not None else max(group.emotion.values())
    new = Mood(
        mood=mood,
        confidence=confidence,
        faces=group.faces,
        age_band=state.age_band,
        gender=state.gender,
        probabilities=dict(group.emotion),
    )
    if _announced_part(new) == _announced_part(state.announced):
        return None
    state.announced = new
    return new


def _announced_part(mood: Mood) -> tuple[str | None, str | None, str | None, bool]:
    """What a new ``mood`` message is sent for: mood, age band, gender, whether anyone is there."""
    return (mood.mood, mood.age_band, mood.gender, mood.faces > 0)


def _mood_with_dwell(state: MoodState, emotion: Mapping[str, float], *, now: float) -> str | None:
    """The mood to announce: the current one unless a challenger has won for long enough."""
    config = state.config
    current = state.announced.mood
    leader = max(MOODS, key=lambda m: emotion[m])
    current_p = emotion[current] if current is not None else 0.0
    margin = config.switch_margin if current is not None else 0.0
    wins = (
        leader != current
        and emotion[leader] >= config.min_confidence
        and emotion[leader] - current_p >= margin
    )
    if not wins:
        state.candidate = None
        return current
    if state.candidate != leader:
        state.candidate, state.candidate_since = leader, now
    if now - state.candidate_since >= config.min_dwell_seconds:
        state.candidate = None
        return leader
    return current
