"""Face datasets as in-memory ``FaceSet``s: FER2013 (emotion) and UTKFace (age, gender)."""

from ml.datasets.common import DEFAULT_HELDOUT_FRACTION, HELDOUT
from ml.datasets.faceset import NO_LABEL, FaceSet
from ml.datasets.fer import load_fer
from ml.datasets.utkface import UTKFACE_FACE_BOX, load_utkface, parse_utkface_name, utkface_slice

__all__ = [
    "DEFAULT_HELDOUT_FRACTION",
    "HELDOUT",
    "NO_LABEL",
    "UTKFACE_FACE_BOX",
    "FaceSet",
    "load_fer",
    "load_utkface",
    "parse_utkface_name",
    "utkface_slice",
]
