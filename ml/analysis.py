"""What the analyzer returns for one frame: plain, serialisable value objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml.labels import MOODS


@dataclass(frozen=True)
class FaceAnalysis:
    """Estimates for one face.

    ``box`` is (x, y, w, h) in pixels of the decoded frame; ``emotion`` maps each mood in
    ``MOODS`` order to a probability (they sum to 1); ``age`` is in years; ``female`` is the
    probability in [0, 1] that the face is female.
    """

    box: tuple[int, int, int, int]
    score: float
    emotion: dict[str, float]
    age: float
    age_band: str
    female: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as sent in the websocket ``analysis`` message."""
        return {
            "box": [int(v) for v in self.box],
            "score": round(float(self.score), 4),
            "emotion": {mood: round(float(self.emotion[mood]), 4) for mood in MOODS},
            "age": round(float(self.age), 1),
            "age_band": self.age_band,
            "gender": {"female": round(float(self.female), 4)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceAnalysis:
        """Inverse of ``to_dict``."""
        return cls(
            box=tuple(int(v) for v in data["box"]),  # type: ignore[arg-type]
            score=float(data["score"]),
            emotion={mood: float(data["emotion"][mood]) for mood in MOODS},
            age=float(data["age"]),
            age_band=str(data["age_band"]),
            female=float(data["gender"]["female"]),
        )


@dataclass(frozen=True)
class FrameAnalysis:
    """All faces found in one frame, with the frame's decoded size in pixels."""

    width: int
    height: int
    faces: tuple[FaceAnalysis, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "width": self.width,
            "height": self.height,
            "faces": [face.to_dict() for face in self.faces],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameAnalysis:
        """Inverse of ``to_dict``."""
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            faces=tuple(FaceAnalysis.from_dict(face) for face in data["faces"]),
        )
