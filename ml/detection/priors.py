"""RetinaFace's output decoding: anchors, boxes, landmarks, score threshold and NMS.

RetinaFace predicts, for every anchor of three feature maps (strides 8, 16 and 32, two square
anchor sizes each), a face probability, box offsets and five landmark offsets, all relative
to the anchor and scaled by the training variances. These pure numpy functions turn them into
pixel boxes and points; no model runtime is imported here.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Feature-map strides and, for each, the side of its square anchors in input pixels.
ANCHOR_STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
#: The variances the box and landmark offsets were trained with (centre, size).
CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2
#: Number of landmarks per face (eyes, nose tip, mouth corners).
LANDMARKS = 5


@lru_cache(maxsize=16)
def anchors(height: int, width: int) -> np.ndarray:
    """Anchors of an input of ``height`` x ``width``: float32 (A, 4) as (cx, cy, w, h) pixels.

    Ordered as the network's outputs: feature map by feature map, row by row, cell by cell,
    then the anchor sizes of the cell.
    """
    rows = []
    for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)
        for_cells = np.repeat(centres, len(sizes), axis=0)
        sides = np.tile(np.asarray(sizes, dtype=np.float64), len(centres))[:, np.newaxis]
        rows.append(np.hstack([for_cells, sides, sides]))
    table = np.concatenate(rows).astype(np.float32)
    table.setflags(write=False)
    return table


def decode_boxes(offsets: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Box offsets (A, 4) against ``priors`` (A, 4) into (x0, y0, x1, y1) pixels, float32."""
    centre = priors[:, :2] + offsets[:, :2] * CENTER_VARIANCE * priors[:, 2:]
    size = priors[:, 2:] * np.exp(offsets[:, 2:] * SIZE_VARIANCE)
    return np.hstack([centre - size / 2.0, centre + size / 2.0]).astype(np.float32)


def decode_landmarks(offsets: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Landmark offsets (A, 10) against ``priors`` into points (A, 5, 2) in pixels, float32."""
    points = offsets.reshape(-1, LANDMARKS, 2)
    centres, sides = priors[:, np.newaxis, :2], priors[:, np.newaxis, 2:]
    return (centres + points * CENTER_VARIANCE * sides).astype(np.float32)


def non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept, best score first: each drops the later ones it overlaps.

    Args:
        boxes: (N, 4) as (x0, y0, x1, y1).
        scores: (N,) confidences.
        iou: a box whose intersection over union with a kept, better box exceeds this is dropped.
    """
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    areas = np.maximum(0.0, x1 - x0) * np.maximum(0.0, y1 - y0)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]))
        height = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]))
        overlap = width * height
        union = areas[best] + areas[rest] - overlap
        ratio = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
        order = rest[ratio <= iou]
    return np.asarray(keep, dtype=np.int64)
