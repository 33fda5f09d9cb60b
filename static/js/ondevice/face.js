/* Face preprocessing in the page: ml/preprocessing.py's face_crop, step for step.
 *
 * A face is cut from the frame by its detector box: squared around its centre, grown by the
 * margin, turned so the eyes are level, shrunk first with INTER_AREA when it is more than twice
 * the model's input (only the region around the face), then warped to the input size and
 * normalised. Every parameter comes from the export's metadata (`params`, the server's
 * Preprocessing); the Python code is the reference and the names follow it.
 */
import {
  bgrToGray,
  bgrToRgb,
  region,
  resizeArea,
  roundHalfEven,
  warpAffine,
} from "./imaging.js";

// These two are the reference's own constants for its shrink, not model parameters.
const SHRINK_MARGIN_PIXELS = 2; // ml.preprocessing.SHRINK_MARGIN_PIXELS
const GRID_TOLERANCE_PIXELS = 1e-6; // ml.preprocessing.GRID_TOLERANCE_PIXELS

const f32 = Math.fround;

/** ml.preprocessing.eye_angle: degrees that level the eyes, 0 without both eyes. */
export function eyeAngle(landmarks) {
  if (!landmarks || !landmarks.left_eye || !landmarks.right_eye) return 0;
  // Image left/right: the eye with the smaller x (then y) is on the image's left.
  const eyes = [landmarks.left_eye, landmarks.right_eye].map(([x, y]) => [x, y]);
  eyes.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  const [[ax, ay], [bx, by]] = eyes;
  if (bx - ax < 1e-6) return 0;
  return Math.atan2(by - ay, bx - ax) * (180 / Math.PI);
}

/** ml.preprocessing.to_model_colour: a BGR frame in the model's colour space. */
export function toModelColour(image, params) {
  return params.color === "gray" ? bgrToGray(image) : bgrToRgb(image);
}

/** The first of candidate cell edges (nearest first) that lies on a source pixel edge. */
function nearestOnEdge(candidates, step) {
  for (const c of candidates) {
    const at = c * step;
    if (Math.abs(at - roundHalfEven(at)) <= GRID_TOLERANCE_PIXELS) return c;
  }
  return candidates[candidates.length - 1];
}

function range(from, to, by) {
  const out = [];
  for (let i = from; by > 0 ? i < to : i > to; i += by) out.push(i);
  return out;
}

/** ml.preprocessing._grid_window. */
function gridWindow(low, high, step, cells) {
  const first = Math.min(cells - 1, Math.max(0, Math.floor(low / step)));
  const last = Math.max(first + 1, Math.min(cells, Math.ceil(high / step)));
  const c0 = nearestOnEdge(range(first, -1, -1), step);
  const c1 = nearestOnEdge(range(last, cells + 1, 1), step);
  return [c0, c1, roundHalfEven(c0 * step), roundHalfEven(c1 * step)];
}

/** ml.preprocessing._shrunk_around: the region around centre, shrunk factor times. */
function shrunkAround(source, [cx, cy], reach, factor) {
  const { width, height } = source;
  const cols = Math.max(1, roundHalfEven(width / factor));
  const rows = Math.max(1, roundHalfEven(height / factor));
  const stepX = width / cols;
  const stepY = height / rows;
  const margin = reach + SHRINK_MARGIN_PIXELS * Math.max(stepX, stepY);
  const [c0, c1, x0, x1] = gridWindow(cx - margin, cx + margin, stepX, cols);
  const [r0, r1, y0, y1] = gridWindow(cy - margin, cy + margin, stepY, rows);
  const shrunk = resizeArea(region(source, x0, y0, x1, y1), c1 - c0, r1 - r0);
  const scaleX = cols / width;
  const scaleY = rows / height;
  return { image: shrunk, centre: [cx * scaleX - c0, cy * scaleY - r0], scale: (scaleX + scaleY) / 2 };
}

/**
 * ml.preprocessing._cut: one face of an image already in the model's colour space, as a
 * (size x size x channels) image.
 */
export function cut(source, box, params, landmarks) {
  const [x, y, w, h] = box;
  let side = Math.max(w, h) * (1 + 2 * params.margin);
  let cx = x + w / 2;
  let cy = y + h / 2;
  const angle = params.align ? eyeAngle(landmarks) : 0;
  const size = params.input_size;
  const shrink = side / size;
  if (shrink > 2) {
    const turn = angle * (Math.PI / 180);
    const reach = (side / 2) * (Math.abs(Math.cos(turn)) + Math.abs(Math.sin(turn)));
    const shrunk = shrunkAround(source, [cx, cy], reach, shrink / 2);
    source = shrunk.image;
    [cx, cy] = shrunk.centre;
    side *= shrunk.scale;
  }
  // cv2.getRotationMatrix2D takes the centre as float32 (Point2f), the rest in double.
  const scale = size / side;
  const radians = angle * (Math.PI / 180);
  const alpha = Math.cos(radians) * scale;
  const beta = Math.sin(radians) * scale;
  const fx = f32(cx);
  const fy = f32(cy);
  const matrix = [
    alpha, beta, (1 - alpha) * fx - beta * fy + (size / 2 - cx),
    -beta, alpha, beta * fx + (1 - alpha) * fy + (size / 2 - cy),
  ];
  return warpAffine(source, matrix, size, size);
}

/** ml.preprocessing.face_crop for several faces of one BGR frame (converted once). */
export function faceCrops(frame, faces, params) {
  const source = toModelColour(frame, params);
  return faces.map((face) => cut(source, face.box, params, face.landmarks));
}

/**
 * ml.preprocessing.to_model_input for a batch, with each face's left-right mirror image after
 * all of them when `mirror` (ml.runtime.Mirrored): float32 NHWC, pixel * scale + offset.
 */
export function modelInput(crops, params, mirror) {
  const size = params.input_size;
  const cn = params.color === "gray" ? 1 : 3;
  const per = size * size * cn;
  const count = crops.length * (mirror ? 2 : 1);
  const batch = new Float32Array(count * per);
  const scale = f32(params.scale);
  const offset = f32(params.offset);
  crops.forEach((crop, i) => {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < cn; c++) {
          const value = f32(f32(crop.data[(y * size + x) * cn + c] * scale) + offset);
          batch[i * per + (y * size + x) * cn + c] = value;
          if (mirror) batch[(crops.length + i) * per + (y * size + (size - 1 - x)) * cn + c] = value;
        }
      }
    }
  });
  return { batch, shape: [count, size, size, cn] };
}
