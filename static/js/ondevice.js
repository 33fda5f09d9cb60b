/* On-device analysis: the face detector and the network run in this browser, and only their
 * estimates leave it (README.md, "The websocket protocol": the `estimates` message).
 *
 * `loadOnDevice(configUrl)` asks the server what to run (emotion/ondevice.py: the file URLs, the
 * export's preprocessing, the detector's decoding, the limits), loads ONNX Runtime Web from the
 * site's own static files and both ONNX files, and resolves to an analyzer whose
 * `analyze(imageData, { demographics })` does what ml.inference.Analyzer does on the server:
 * detect (./ondevice/detector.js), crop (./ondevice/face.js), run the network once for all
 * faces (with their mirror images when the export asks), decode the outputs. It rejects with
 * OnDeviceUnavailable, whose message says why in words for the listener.
 *
 * ONNX Runtime runs on one thread in the page itself (no worker, no proxy): the page needs no
 * cross-origin isolation, and its Content-Security-Policy only adds 'wasm-unsafe-eval'.
 */
import { detectFaces } from "./ondevice/detector.js";
import { faceCrops, modelInput } from "./ondevice/face.js";
import { fromImageData } from "./ondevice/imaging.js";

const f32 = Math.fround;

/** On-device analysis cannot run here; the message says why, for the listener. */
export class OnDeviceUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = "OnDeviceUnavailable";
  }
}

async function fetchBytes(url, what) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin" });
  } catch (err) {
    throw new OnDeviceUnavailable(`${what} could not be downloaded`);
  }
  if (!response.ok) throw new OnDeviceUnavailable(`${what} could not be downloaded (${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The server's on-device parameters, or OnDeviceUnavailable with the server's reason. */
export async function fetchConfig(configUrl) {
  let response;
  try {
    response = await fetch(configUrl, { credentials: "same-origin", cache: "no-store" });
  } catch (err) {
    throw new OnDeviceUnavailable("the server could not be reached");
  }
  if (!response.ok) throw new OnDeviceUnavailable(`the server answered ${response.status}`);
  const config = await response.json();
  if (!config.available) throw new OnDeviceUnavailable(config.reason);
  return config;
}

/** Load the runtime, the detector and the network; resolves to an OnDeviceAnalyzer. */
export async function loadOnDevice(configUrl) {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
    throw new OnDeviceUnavailable("this browser cannot run WebAssembly");
  }
  const config = await fetchConfig(configUrl);
  const absolute = (path) => new URL(path, location.href).href;
  let ort;
  try {
    ort = await import(absolute(config.runtime.module));
  } catch (err) {
    throw new OnDeviceUnavailable("its runtime (ONNX Runtime Web) could not be loaded");
  }
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = { mjs: absolute(config.runtime.loader), wasm: absolute(config.runtime.wasm) };
  const detectorBytes = await fetchBytes(config.detector.url, "the face detector");
  const modelBytes = await fetchBytes(config.model.url, "the model");
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  let detector;
  let model;
  try {
    detector = await ort.InferenceSession.create(detectorBytes, options);
    model = await ort.InferenceSession.create(modelBytes, options);
  } catch (err) {
    const why = err && err.message ? `: ${err.message}` : "";
    throw new OnDeviceUnavailable(`WebAssembly could not run the models here${why}`);
  }
  return new OnDeviceAnalyzer(ort, config, detector, model);
}

/** Runs one frame at a time through the detector and the network. */
export class OnDeviceAnalyzer {
  constructor(ort, config, detector, model) {
    this.ort = ort;
    this.config = config;
    this.detector = detector;
    this.model = model;
  }

  async runDetector(input, width, height) {
    const feeds = { [this.detector.inputNames[0]]: new this.ort.Tensor("float32", input, [1, 3, height, width]) };
    const outputs = await this.detector.run(feeds);
    // The Python decoder takes the outputs in the graph's order: boxes, scores, landmarks.
    return this.detector.outputNames.map((name) => outputs[name].data);
  }

  async runModel(crops) {
    const { model: spec } = this.config;
    const mirror = Boolean(spec.mirror_average);
    const { batch, shape } = modelInput(crops, spec.preprocessing, mirror);
    const outputs = await this.model.run({ [spec.input]: new this.ort.Tensor("float32", batch, shape) });
    const count = crops.length;
    // ml.runtime.Mirrored: the mean of each face's outputs and its mirror image's, in float32.
    const row = (name, i) => {
      const { data } = outputs[name];
      const width = data.length / shape[0];
      const values = Array.from(data.subarray(i * width, (i + 1) * width));
      if (!mirror) return values;
      const other = data.subarray((count + i) * width, (count + i + 1) * width);
      return values.map((v, j) => f32(f32(v + other[j]) / 2));
    };
    return Array.from({ length: count }, (_, i) => ({
      emotion: row("emotion", i), age: row("age", i)[0], female: row("gender", i)[0],
    }));
  }

  /**
   * Estimates for one frame (canvas ImageData), as the `estimates` message wants them, and the
   * time each part took: { width, height, faces: [...], timing: { detector_ms, network_ms,
   * total_ms } }. Without `demographics`, faces carry no age and no female.
   */
  async analyze(imageData, { demographics = true } = {}) {
    const started = performance.now();
    const frame = fromImageData(imageData);
    const { detector, model, estimates } = this.config;
    const detectStarted = performance.now();
    const found = await detectFaces(frame, detector, (input, w, h) => this.runDetector(input, w, h));
    const faces = found.slice(0, estimates.max_faces);
    const networkStarted = performance.now();
    const outputs = faces.length ? await this.runModel(faceCrops(frame, faces, model.preprocessing)) : [];
    const done = performance.now();
    const [low, high] = model.age_range;
    const clip = (v, a, b) => Math.min(b, Math.max(a, v));
    return {
      width: frame.width,
      height: frame.height,
      faces: faces.map((face, i) => {
        // ml.inference.decode_outputs: probabilities clipped at 0 and summing to 1.
        const probabilities = outputs[i].emotion.map((p) => Math.max(0, p));
        const total = probabilities.reduce((a, b) => a + b, 0);
        const emotion = {};
        model.moods.forEach((mood, j) => {
          emotion[mood] = total > 0 ? probabilities[j] / total : 1 / model.moods.length;
        });
        const estimate = { box: face.box, score: face.score, emotion };
        if (demographics) {
          estimate.age = clip(outputs[i].age, low, high);
          estimate.female = clip(outputs[i].female, 0, 1);
        }
        return { ...estimate, landmarks: face.landmarks };
      }),
      timing: {
        detector_ms: networkStarted - detectStarted,
        network_ms: done - networkStarted,
        total_ms: done - started,
      },
    };
  }

  /** The `estimates` message for an analyze() result: only what the protocol allows. */
  estimatesMessage(result) {
    return JSON.stringify({
      type: "estimates",
      width: result.width,
      height: result.height,
      faces: result.faces.map(({ landmarks, ...estimate }) => estimate),
    });
  }
}
