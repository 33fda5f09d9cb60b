/* RetinaFace MobileNet-0.25 in the page: ml/detection/mobilenet.py and priors.py, step for step.
 *
 * The network (the server's own ONNX file) predicts, for every anchor, a face probability, box
 * offsets and five landmark offsets. This module prepares its input and decodes its outputs
 * into boxes and landmarks in frame pixels: anchors, variances, score threshold, NMS, the
 * second, enlarged look at a frame where the first found nobody, and that look's check of a weak
 * face against the mirrored frame. Every number comes from the
 * server (`config`, built from the Python module's constants); arithmetic the reference does in
 * float32 is done in float32 here (Math.fround).
 */
import { downscale, mirror, resizeTo } from "./imaging.js";

const f32 = Math.fround;
const anchorCache = new Map();

/** ml.detection.priors.anchors: float32 (A x 4) as (cx, cy, w, h), in the network's order. */
export function anchors(height, width, config) {
  const key = `${height}x${width}`;
  if (anchorCache.has(key)) return anchorCache.get(key);
  const rows = [];
  config.anchor_strides.forEach((stride, level) => {
    const sizes = config.anchor_sizes[level];
    const ny = Math.ceil(height / stride);
    const nx = Math.ceil(width / stride);
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        for (const side of sizes) rows.push((x + 0.5) * stride, (y + 0.5) * stride, side, side);
      }
    }
  });
  const table = Float32Array.from(rows);
  anchorCache.set(key, table);
  return table;
}

/** The network's input: float32 NCHW, BGR pixels less the training mean. */
export function detectorInput(image, config) {
  const { width, height, data } = image;
  const plane = width * height;
  const input = new Float32Array(3 * plane);
  const mean = config.bgr_mean.map(f32);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) input[c * plane + i] = f32(data[i * 3 + c] - mean[c]);
  }
  return input;
}

/** ml.detection.priors.decode_boxes for one anchor: (x0, y0, x1, y1), float32. */
function decodeBox(loc, table, a, config) {
  const cv = f32(config.center_variance);
  const sv = f32(config.size_variance);
  const [pcx, pcy, pw, ph] = [table[a * 4], table[a * 4 + 1], table[a * 4 + 2], table[a * 4 + 3]];
  const cx = f32(pcx + f32(f32(loc[a * 4] * cv) * pw));
  const cy = f32(pcy + f32(f32(loc[a * 4 + 1] * cv) * ph));
  const w = f32(pw * f32(Math.exp(f32(loc[a * 4 + 2] * sv))));
  const h = f32(ph * f32(Math.exp(f32(loc[a * 4 + 3] * sv))));
  const hw = f32(w / 2);
  const hh = f32(h / 2);
  return [f32(cx - hw), f32(cy - hh), f32(cx + hw), f32(cy + hh)];
}

/** ml.detection.priors.non_maximum_suppression: kept indices, best first. */
export function nonMaximumSuppression(boxes, scores, iou) {
  const limit = f32(iou);
  let order = scores.map((_, i) => i).sort((p, q) => scores[q] - scores[p] || p - q);
  const area = (b) => f32(Math.max(0, f32(b[2] - b[0])) * Math.max(0, f32(b[3] - b[1])));
  const keep = [];
  while (order.length) {
    const best = order[0];
    keep.push(best);
    const b = boxes[best];
    order = order.slice(1).filter((r) => {
      const o = boxes[r];
      const w = Math.max(0, f32(Math.min(b[2], o[2]) - Math.max(b[0], o[0])));
      const h = Math.max(0, f32(Math.min(b[3], o[3]) - Math.max(b[1], o[1])));
      const overlap = f32(w * h);
      const union = f32(f32(area(b) + area(o)) - overlap);
      const ratio = union > 0 ? f32(overlap / union) : 0;
      return ratio <= limit;
    });
  }
  return keep;
}

/** ml.detection.base.box_to_full: an (x, y, w, h) box of the scaled copy in frame pixels. */
function boxToFull([x, y, w, h], factor, frameWidth, frameHeight) {
  const x0 = Math.max(0, Math.floor(x / factor));
  const y0 = Math.max(0, Math.floor(y / factor));
  const x1 = Math.min(frameWidth, Math.ceil((x + w) / factor));
  const y1 = Math.min(frameHeight, Math.ceil((y + h) / factor));
  return [x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0)];
}

/** ml.detection.base.box_iou: intersection over union of two (x, y, w, h) boxes. */
export function boxIou(a, b) {
  const width = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const height = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const overlap = width * height;
  const union = a[2] * a[3] + b[2] * b[3] - overlap;
  return union > 0 ? overlap / union : 0;
}

const MIRRORED_LANDMARKS = {
  left_eye: "right_eye",
  right_eye: "left_eye",
  mouth_left: "mouth_right",
  mouth_right: "mouth_left",
};

/** ml.detection.base.mirror_face: a face found in the mirrored frame, in the frame's pixels. */
export function mirrorFace(face, width) {
  const [x, y, w, h] = face.box;
  const landmarks = {};
  for (const [name, [px, py]] of Object.entries(face.landmarks)) {
    landmarks[MIRRORED_LANDMARKS[name] ?? name] = [width - px, py];
  }
  return { ...face, box: [width - x - w, y, w, h], landmarks };
}

/**
 * Faces scored at least `threshold` (default config.score_threshold) by the network's outputs
 * for an input scaled by `factor` from the frame:
 * [{ box: [x, y, w, h], score, landmarks: { left_eye: [x, y], ... } }], best first.
 */
export function decodeFaces(outputs, inputWidth, inputHeight, factor, frame, config, threshold) {
  const [loc, conf, marks] = outputs;
  const table = anchors(inputHeight, inputWidth, config);
  const count = table.length / 4;
  if (conf.length !== count * 2) {
    throw new Error(
      `Expected ${count} anchors for a ${inputWidth}x${inputHeight} input, got ` +
        `${conf.length / 2} predictions: not a RetinaFace MobileNet model.`,
    );
  }
  const floor = f32(threshold ?? config.score_threshold);
  let candidates = [];
  for (let a = 0; a < count; a++) if (conf[a * 2 + 1] >= floor) candidates.push(a);
  if (!candidates.length) return [];
  candidates.sort((p, q) => conf[q * 2 + 1] - conf[p * 2 + 1] || p - q);
  candidates = candidates.slice(0, config.top_candidates);
  const scores = candidates.map((a) => conf[a * 2 + 1]);
  const boxes = candidates.map((a) => decodeBox(loc, table, a, config));
  const kept = nonMaximumSuppression(boxes, scores, config.nms_iou).slice(0, config.max_faces);
  const cv = f32(config.center_variance);
  return kept.map((k) => {
    const a = candidates[k];
    const [x0, y0, x1, y1] = boxes[k];
    const landmarks = {};
    config.landmarks.forEach((name, j) => {
      const px = f32(table[a * 4] + f32(f32(marks[a * 10 + j * 2] * cv) * table[a * 4 + 2]));
      const py = f32(table[a * 4 + 1] + f32(f32(marks[a * 10 + j * 2 + 1] * cv) * table[a * 4 + 3]));
      landmarks[name] = [px / factor, py / factor];
    });
    return {
      box: boxToFull([x0, y0, x1 - x0, y1 - y0], factor, frame.width, frame.height),
      score: Math.min(1, Math.max(0, scores[k])),
      landmarks,
    };
  });
}

/**
 * RetinaFaceMobileNetDetector.detect: faces of a BGR frame, best first. `run(input, width,
 * height)` runs the network and resolves to its three outputs (boxes, scores, landmarks).
 */
export async function detectFaces(frame, config, run) {
  const look = (side, upscale) => async (source, threshold) => {
    const { image, factor } = upscale ? resizeTo(source, side) : downscale(source, side);
    const outputs = await run(detectorInput(image, config), image.width, image.height);
    return decodeFaces(outputs, image.width, image.height, factor, source, config, threshold);
  };
  const faces = await confirmedLook(frame, config, look(config.max_side, false));
  const longest = Math.max(frame.width, frame.height);
  const first = config.max_side <= 0 ? longest : Math.min(longest, config.max_side);
  if (faces.length || config.max_side <= 0 || config.retry_side <= first) return faces;
  const [least, most] = config.retry_face_sides.map((share) => share * longest);
  return confirmedLook(frame, config, look(config.retry_side, true), (face) => {
    const side = Math.max(face.box[2], face.box[3]);
    return least <= side && side <= most;
  });
}

/** RetinaFaceMobileNetDetector._look: the faces one look (`look(source, threshold)`) finds
 * sure; when none, the weak ones the same look at the mirrored frame finds too
 * (config.confirm_threshold). `keep` filters the faces by size. */
async function confirmedLook(frame, config, look, keep = () => true) {
  const threshold = Math.min(config.confirm_threshold, config.score_threshold);
  const floor = threshold || config.score_threshold;
  const faces = (await look(frame, floor)).filter(keep);
  const sure = faces.filter((face) => face.score >= config.score_threshold);
  if (sure.length || !faces.length) return sure;
  const mirrored = (await look(mirror(frame), floor))
    .filter(keep)
    .map((face) => mirrorFace(face, frame.width));
  const confirmed = [];
  for (const face of faces) {
    const twins = mirrored.filter((other) => boxIou(face.box, other.box) > config.nms_iou);
    if (twins.length) {
      const best = Math.max(...twins.map((other) => other.score));
      confirmed.push({ ...face, score: (face.score + best) / 2 });
    }
  }
  return confirmed.sort((p, q) => q.score - p.score);
}
