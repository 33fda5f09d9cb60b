/* Image operations of on-device analysis, written to give the pixels OpenCV gives on the server.
 *
 * The server frames every face with OpenCV (ml/preprocessing.py, ml/detection/base.py): an
 * INTER_AREA shrink, an INTER_LINEAR enlargement, BGR -> gray and an INTER_LINEAR warpAffine with
 * BORDER_REPLICATE. A face must reach the network framed the same way in the page as on the
 * server, so each function here follows OpenCV's own arithmetic for 8-bit images: its fixed-point
 * formulas, its float32 steps (Math.fround) and its rounding (half to even). What OpenCV's
 * vector code rounds differently from its scalar code is noted where it matters. Checked against
 * OpenCV 4.14 (the server's) pixel for pixel, on camera frames and on noise.
 *
 * An image is { width, height, channels, data: Uint8Array } with interleaved channels, colour in
 * OpenCV's BGR order. Pure functions: no DOM, so they also run under Node for checks.
 */

const f32 = Math.fround;

/** Round half to even, as OpenCV's cvRound (lrint) and Python's round() do. */
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function saturate(value) {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/** A new image of the given size, all zero. */
export function blank(width, height, channels) {
  return { width, height, channels, data: new Uint8Array(width * height * channels) };
}

/** BGR image from a canvas ImageData (RGBA, opaque). */
export function fromImageData(imageData) {
  const { width, height, data } = imageData;
  const out = blank(width, height, 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    out.data[j] = data[i + 2];
    out.data[j + 1] = data[i + 1];
    out.data[j + 2] = data[i];
  }
  return out;
}

/** cv2.cvtColor(image, COLOR_BGR2GRAY): 0.114 B + 0.587 G + 0.299 R in fixed point with 15
 * fraction bits, rounded (the weights and shift of OpenCV 4's vector code). */
export function bgrToGray(image) {
  const out = blank(image.width, image.height, 1);
  const src = image.data;
  const dst = out.data;
  for (let i = 0, j = 0; j < dst.length; i += 3, j++) {
    dst[j] = (src[i] * 3735 + src[i + 1] * 19235 + src[i + 2] * 9798 + 16384) >> 15;
  }
  return out;
}

/** cv2.cvtColor(image, COLOR_BGR2RGB). */
export function bgrToRgb(image) {
  const out = blank(image.width, image.height, 3);
  for (let i = 0; i < image.data.length; i += 3) {
    out.data[i] = image.data[i + 2];
    out.data[i + 1] = image.data[i + 1];
    out.data[i + 2] = image.data[i];
  }
  return out;
}

/** cv2.resize(image, (width, height), interpolation=INTER_AREA), for shrinking. */
export function resizeArea(image, width, height) {
  // OpenCV computes the scale as 1 / (dst / src), not src / dst: the last bit can differ.
  const scaleX = 1 / (width / image.width);
  const scaleY = 1 / (height / image.height);
  const ix = Math.round(scaleX);
  const iy = Math.round(scaleY);
  if (Math.abs(scaleX - ix) < Number.EPSILON && Math.abs(scaleY - iy) < Number.EPSILON) {
    return resizeAreaInteger(image, width, height, ix, iy);
  }
  return resizeAreaGeneral(image, width, height, scaleX, scaleY);
}

function resizeAreaInteger(image, width, height, sx, sy) {
  const cn = image.channels;
  const out = blank(width, height, cn);
  const src = image.data;
  const rowStride = image.width * cn;
  const area = sx * sy;
  const scale = f32(1 / area);
  const full = Math.floor(image.width / sx) * cn; // values with a whole cell under them
  // OpenCV's own code for a 2x2 shrink rounds half up, (sum + 2) >> 2; other integer shrinks
  // round sum / area half to even.
  const halving = sx === 2 && sy === 2;
  for (let dy = 0; dy < height; dy++) {
    const sy0 = dy * sy;
    const rowEnd = sy0 + sy <= image.height ? full : 0;
    for (let dx = 0; dx < width * cn; dx++) {
      const c = dx % cn;
      const x0 = Math.floor(dx / cn) * sx;
      let value;
      if (dx < rowEnd) {
        let sum = 0;
        for (let y = 0; y < sy; y++) {
          for (let x = 0; x < sx; x++) sum += src[(sy0 + y) * rowStride + (x0 + x) * cn + c];
        }
        value = halving ? (sum + 2) >> 2 : roundHalfEven(f32(sum * scale));
      } else {
        // A cell cut by the image's edge: the mean of what there is.
        let sum = 0;
        let count = 0;
        for (let y = 0; y < sy && sy0 + y < image.height; y++) {
          for (let x = 0; x < sx && x0 + x < image.width; x++) {
            sum += src[(sy0 + y) * rowStride + (x0 + x) * cn + c];
            count++;
          }
        }
        value = count ? roundHalfEven(f32(sum / count)) : 0;
      }
      out.data[dy * width * cn + dx] = saturate(value);
    }
  }
  return out;
}

/** OpenCV's computeResizeAreaTab: the source cells under each target cell, with weights. */
function areaTable(sourceSize, targetSize, scale) {
  const table = [];
  for (let d = 0; d < targetSize; d++) {
    const fs1 = d * scale;
    const fs2 = fs1 + scale;
    const cellWidth = Math.min(scale, sourceSize - fs1);
    let s2 = Math.floor(fs2);
    let s1 = Math.ceil(fs1);
    s2 = Math.min(s2, sourceSize - 1);
    s1 = Math.min(s1, s2);
    if (s1 - fs1 > 1e-3) table.push([d, s1 - 1, f32((s1 - fs1) / cellWidth)]);
    for (let s = s1; s < s2; s++) table.push([d, s, f32(1 / cellWidth)]);
    if (fs2 - s2 > 1e-3) {
      table.push([d, s2, f32(Math.min(Math.min(fs2 - s2, 1), cellWidth) / cellWidth)]);
    }
  }
  return table;
}

function resizeAreaGeneral(image, width, height, scaleX, scaleY) {
  const cn = image.channels;
  const out = blank(width, height, cn);
  const src = image.data;
  const xtab = areaTable(image.width, width, scaleX);
  const ytab = areaTable(image.height, height, scaleY);
  const rowWidth = width * cn;
  const buf = new Float32Array(rowWidth);
  const sum = new Float32Array(rowWidth);
  let previous = ytab[0][0];
  // Each source row is weighted across (buf), then rows are weighted down (sum), in float32.
  for (const [dy, sy, beta] of ytab) {
    buf.fill(0);
    const row = sy * image.width * cn;
    for (const [dx, sx, alpha] of xtab) {
      for (let c = 0; c < cn; c++) {
        buf[dx * cn + c] = f32(buf[dx * cn + c] + f32(src[row + sx * cn + c] * alpha));
      }
    }
    if (dy !== previous) {
      const target = previous * rowWidth;
      for (let i = 0; i < rowWidth; i++) {
        out.data[target + i] = saturate(roundHalfEven(sum[i]));
        sum[i] = f32(beta * buf[i]);
      }
      previous = dy;
    } else {
      for (let i = 0; i < rowWidth; i++) sum[i] = f32(sum[i] + f32(beta * buf[i]));
    }
  }
  const target = previous * rowWidth;
  for (let i = 0; i < rowWidth; i++) out.data[target + i] = saturate(roundHalfEven(sum[i]));
  return out;
}

// INTER_LINEAR on 8-bit images is fixed point: weights in 1/2048, rows blended in 1/2^22.
const RESIZE_COEF_SCALE = 2048;

// Source offset and fixed-point weights of each target column (clampEdges) or row. OpenCV keeps
// columns inside the image by moving the offset, but lets a row's offset run one past an edge
// and reads the edge row twice instead, with the weights as computed.
function linearTable(sourceSize, targetSize, clampEdges) {
  const scale = 1 / (targetSize / sourceSize);
  const offsets = new Int32Array(targetSize);
  const weights = new Int32Array(targetSize * 2);
  for (let d = 0; d < targetSize; d++) {
    let f = f32(f32((d + 0.5) * scale) - 0.5);
    let s = Math.floor(f);
    f = f32(f - s);
    if (clampEdges && s < 0) {
      f = 0;
      s = 0;
    }
    if (clampEdges && s >= sourceSize - 1) {
      f = 0;
      s = sourceSize - 1;
    }
    offsets[d] = s;
    weights[d * 2] = roundHalfEven(f32(1 - f) * RESIZE_COEF_SCALE);
    weights[d * 2 + 1] = roundHalfEven(f * RESIZE_COEF_SCALE);
  }
  return { offsets, weights };
}

/** cv2.resize(image, (width, height), interpolation=INTER_LINEAR), for enlarging. */
export function resizeLinear(image, width, height) {
  const cn = image.channels;
  const out = blank(width, height, cn);
  const src = image.data;
  const xs = linearTable(image.width, width, true);
  const ys = linearTable(image.height, height, false);
  const rowWidth = width * cn;
  const rows = [new Int32Array(rowWidth), new Int32Array(rowWidth)];
  const across = (sy, into) => {
    const row = sy * image.width * cn;
    const last = image.width - 1;
    for (let dx = 0; dx < width; dx++) {
      const sx = xs.offsets[dx];
      const a0 = xs.weights[dx * 2];
      const a1 = xs.weights[dx * 2 + 1];
      for (let c = 0; c < cn; c++) {
        const p0 = src[row + sx * cn + c];
        const p1 = src[row + Math.min(sx + 1, last) * cn + c];
        into[dx * cn + c] = sx >= last ? p0 * RESIZE_COEF_SCALE : p0 * a0 + p1 * a1;
      }
    }
  };
  const clampY = (y) => Math.min(Math.max(y, 0), image.height - 1);
  for (let dy = 0; dy < height; dy++) {
    const sy = ys.offsets[dy];
    across(clampY(sy), rows[0]);
    across(clampY(sy + 1), rows[1]);
    const b0 = ys.weights[dy * 2];
    const b1 = ys.weights[dy * 2 + 1];
    const target = dy * rowWidth;
    for (let i = 0; i < rowWidth; i++) {
      // OpenCV's vector form of (r0 * b0 + r1 * b1 + 2^21) >> 22: it drops low bits first.
      const t = ((rows[0][i] >> 4) * b0 >> 16) + ((rows[1][i] >> 4) * b1 >> 16);
      out.data[target + i] = saturate((t + 2) >> 2);
    }
  }
  return out;
}

/** image[:, ::-1]: the image mirrored left to right (a copy). */
export function mirror(image) {
  const { width, height, channels: cn } = image;
  const out = blank(width, height, cn);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * cn;
      out.data.set(image.data.subarray(from, from + cn), (y * width + width - 1 - x) * cn);
    }
  }
  return out;
}

/** ml.detection.base.downscale: at most maxSide on the longer side (INTER_AREA); and factor. */
export function downscale(image, maxSide) {
  const longest = Math.max(image.width, image.height);
  if (maxSide <= 0 || longest <= maxSide) return { image, factor: 1 };
  const factor = maxSide / longest;
  const width = Math.max(1, roundHalfEven(image.width * factor));
  const height = Math.max(1, roundHalfEven(image.height * factor));
  return { image: resizeArea(image, width, height), factor };
}

/** ml.detection.base.resize_to: exactly side on the longer side, up (INTER_LINEAR) or down. */
export function resizeTo(image, side) {
  const longest = Math.max(image.width, image.height);
  if (side <= 0 || longest === side) return { image, factor: 1 };
  if (longest > side) return downscale(image, side);
  const factor = side / longest;
  const width = Math.max(1, roundHalfEven(image.width * factor));
  const height = Math.max(1, roundHalfEven(image.height * factor));
  return { image: resizeLinear(image, width, height), factor };
}

// warpAffine's fixed point: the source position of each target pixel in 1/1024 pixel, then
// 1/32 pixel (INTER_BITS), and bilinear weights in 1/32768.
const AB_SCALE = 1024;
const INTER_BITS = 5;
const INTER_TAB_SIZE = 1 << INTER_BITS;
const ROUND_DELTA = AB_SCALE / INTER_TAB_SIZE / 2;

/**
 * cv2.warpAffine(image, matrix, (width, height), flags=INTER_LINEAR,
 * borderMode=BORDER_REPLICATE).
 *
 * matrix maps source to target pixels (2x3, row-major). OpenCV inverts it in double precision,
 * maps every target pixel back to a source position rounded to 1/32 pixel, and blends the four
 * neighbours with integer weights; outside the image the edge pixels repeat.
 */
export function warpAffine(image, matrix, width, height) {
  let [a, b, c, d, e, f] = matrix;
  const det = a * e - b * d;
  const inv = det !== 0 ? 1 / det : 0;
  const a11 = e * inv;
  const a22 = a * inv;
  b *= -inv;
  d *= -inv;
  a = a11;
  e = a22;
  const c2 = -a * c - b * f;
  const f2 = -d * c - e * f;
  const cn = image.channels;
  const out = blank(width, height, cn);
  const src = image.data;
  const w = image.width;
  const h = image.height;
  const clampX = (x) => (x < 0 ? 0 : x >= w ? w - 1 : x);
  const clampY = (y) => (y < 0 ? 0 : y >= h ? h - 1 : y);
  const mask = INTER_TAB_SIZE - 1;
  for (let y = 0; y < height; y++) {
    const rowX = roundHalfEven((b * y + c2) * AB_SCALE) + ROUND_DELTA;
    const rowY = roundHalfEven((e * y + f2) * AB_SCALE) + ROUND_DELTA;
    for (let x = 0; x < width; x++) {
      const X = (rowX + roundHalfEven(a * x * AB_SCALE)) >> (10 - INTER_BITS);
      const Y = (rowY + roundHalfEven(d * x * AB_SCALE)) >> (10 - INTER_BITS);
      const sx = X >> INTER_BITS;
      const sy = Y >> INTER_BITS;
      const fx = X & mask;
      const fy = Y & mask;
      const w00 = (INTER_TAB_SIZE - fy) * (INTER_TAB_SIZE - fx) * INTER_TAB_SIZE;
      const w01 = (INTER_TAB_SIZE - fy) * fx * INTER_TAB_SIZE;
      const w10 = fy * (INTER_TAB_SIZE - fx) * INTER_TAB_SIZE;
      const w11 = fy * fx * INTER_TAB_SIZE;
      const x0 = clampX(sx) * cn;
      const x1 = clampX(sx + 1) * cn;
      const y0 = clampY(sy) * w * cn;
      const y1 = clampY(sy + 1) * w * cn;
      for (let k = 0; k < cn; k++) {
        const v =
          src[y0 + x0 + k] * w00 + src[y0 + x1 + k] * w01 +
          src[y1 + x0 + k] * w10 + src[y1 + x1 + k] * w11;
        out.data[(y * width + x) * cn + k] = saturate((v + 16384) >> 15);
      }
    }
  }
  return out;
}

/** The part of image in [x0, x1) x [y0, y1) (a copy). */
export function region(image, x0, y0, x1, y1) {
  const cn = image.channels;
  const out = blank(x1 - x0, y1 - y0, cn);
  for (let y = y0; y < y1; y++) {
    const from = (y * image.width + x0) * cn;
    out.data.set(image.data.subarray(from, from + (x1 - x0) * cn), (y - y0) * (x1 - x0) * cn);
  }
  return out;
}
