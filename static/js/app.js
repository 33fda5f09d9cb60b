/* MusicMood page: camera (or a photo/video file) -> small JPEG frames over /ws/mood/ -> face
 * boxes, mood meter, age band and gender.
 *
 * One frame is in flight at a time: the next frame is captured only after the server answered
 * the previous one (`analysis` or `error`), so a slow server never builds a queue. Frames are
 * downsized to at most MAX_SIDE pixels and sent as JPEG blobs.
 *
 * For the player (static/js/player.js) every server message is dispatched on `document` as
 * `musicmood:message` (detail = the message).
 *
 * The demographics switch reconnects with `?demographics=0`: the server then sends no age or
 * gender at all (a text control message on the socket would be a protocol error).
 *
 * On-device analysis (the "Analyse on this device" switch, or a server that takes nothing else):
 * ondevice.js, loaded only then, runs the detector and the network here, and the page sends the
 * server an `estimates` text message per frame instead of the picture; the replies are the same.
 * While on-device analysis is asked for, no picture is ever sent: frames wait until it has
 * loaded. If it cannot load, the page says why; then it unticks the switch and analyses on the
 * server, unless the server takes estimates only, in which case analysis stays off.
 */
(function () {
  "use strict";

  const MAX_SIDE = 640;
  const JPEG_QUALITY = 0.7;
  const MIN_FRAME_INTERVAL_MS = 100; // at most 10 frames a second, under the server's limit
  // With nobody in view the server looks twice at each frame (the second time upscaled, for far
  // faces), so the page asks less often: someone sitting down is still found within 0.4 s.
  const EMPTY_FRAME_INTERVAL_MS = 400;
  const BACKOFF_MS = { busy: 300, rate_limited: 1500, analysis_unavailable: 5000,
    model_unavailable: 10000, analysis_timeout: 1000 };
  const RECONNECT_MS = 2000;

  const app = document.getElementById("app");
  if (!app) return;
  // The protocol's facts come from the server: the socket's path and close code here, the
  // moods in the meter it renders and in every face's emotion.
  const CLOSE_TOO_MANY_ERRORS = Number(app.dataset.closeTooManyErrors);
  // "allowed", "only" (the server refuses pictures) or "off"; where the page's on-device
  // parameters and its module are; and why the server cannot offer it, if it knows.
  const ONDEVICE = {
    mode: app.dataset.ondeviceMode || "off", config: app.dataset.ondeviceConfig,
    module: app.dataset.ondeviceModule, unavailable: app.dataset.ondeviceUnavailable || "",
  };
  const $ = (id) => document.getElementById(id);
  const els = {
    start: $("start-camera"), stop: $("stop-camera"), file: $("file-input"),
    demographics: $("demographics"), video: $("preview"), still: $("still"),
    overlay: $("overlay"), empty: $("stage-empty"), state: $("state"),
    moodName: $("mood-name"), confidence: $("mood-confidence"), meter: $("meter"),
    faces: $("faces-count"), ageBand: $("age-band"), gender: $("gender"), latency: $("latency"),
    onDevice: $("on-device"), onDeviceNote: $("on-device-note"),
  };
  const capture = document.createElement("canvas");

  const s = {
    source: null, // "camera" | "video" | "image"
    stream: null, objectUrl: null,
    ws: null, inFlight: false, timer: null, lastSent: 0, wantSocket: false,
    sentSize: null, lastFaces: 0, unavailable: false,
    // On-device analysis: the analyzer once loaded, the load in progress, why it failed.
    analyzer: null, loading: null, deviceFailed: ONDEVICE.unavailable, deviceMs: null,
    unavailableText: "",
  };

  // --- states shown to the listener -----------------------------------------------------------
  const MESSAGES = {
    idle: "Camera off. Press “Start camera” when you are ready.",
    "no-camera": "No camera was found. You can use a photo or video file instead.",
    denied: "Camera permission was denied. Allow the camera for this site in your browser's " +
      "address bar, then press “Start camera” again — or use a photo or video file.",
    starting: "Starting the camera…",
    connecting: "Connecting to the server…",
    live: "Watching for faces.",
    "no-face": "No face found. Face the camera in good light.",
    busy: "The server is busy; frames are being skipped.",
    unavailable: "Mood analysis is unavailable on this server right now.",
    "model-missing": "Mood analysis is unavailable: no trained model is installed on this server.",
    "loading-ondevice": "Loading the on-device analysis…",
    closed: "Disconnected from the server. Reconnecting…",
    abuse: "The server closed the connection after too many errors. Press “Start camera” to retry.",
  };

  function setState(name, detail) {
    els.state.dataset.state = name;
    els.state.textContent = detail || MESSAGES[name] || name;
  }

  // --- the socket -------------------------------------------------------------------------------
  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const demographics = els.demographics.checked ? "1" : "0";
    return `${scheme}//${location.host}${app.dataset.wsPath}?demographics=${demographics}`;
  }

  function connect() {
    s.wantSocket = true;
    if (s.ws && s.ws.readyState <= WebSocket.OPEN) return;
    setState("connecting");
    const ws = new WebSocket(socketUrl());
    ws.binaryType = "arraybuffer";
    s.ws = ws;
    s.inFlight = false;
    ws.addEventListener("open", () => {
      if (s.ws !== ws) return;
      setState(s.unavailable ? "unavailable" : "live", s.unavailable ? s.unavailableText : "");
      schedule(0);
    });
    ws.addEventListener("message", (event) => {
      if (s.ws !== ws || typeof event.data !== "string") return;
      let message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      handle(message);
    });
    ws.addEventListener("close", (event) => {
      if (s.ws !== ws) return;
      s.ws = null;
      s.inFlight = false;
      if (event.code === CLOSE_TOO_MANY_ERRORS) {
        stopSource();
        setState("abuse");
        return;
      }
      if (s.wantSocket && s.source) {
        setState("closed");
        window.setTimeout(() => { if (s.wantSocket && s.source) connect(); }, RECONNECT_MS);
      }
    });
  }

  function disconnect() {
    s.wantSocket = false;
    if (s.ws) { const ws = s.ws; s.ws = null; ws.close(1000); }
    s.inFlight = false;
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail }));
  }

  function handle(message) {
    emit("musicmood:message", message);
    if (message.type === "analysis") {
      s.inFlight = false;
      s.unavailable = false;
      s.unavailableText = "";
      showAnalysis(message);
      schedule((message.faces || []).length ? MIN_FRAME_INTERVAL_MS : EMPTY_FRAME_INTERVAL_MS);
    } else if (message.type === "mood") {
      showMood(message);
    } else if (message.type === "error") {
      if (message.code === "too_many_errors") return; // the close follows
      if (message.code !== "busy") s.inFlight = false; // a busy frame was not ours in flight
      showError(message);
      schedule(BACKOFF_MS[message.code] || MIN_FRAME_INTERVAL_MS);
    }
  }

  // --- the frame loop ---------------------------------------------------------------------------
  function schedule(delayMs) {
    window.clearTimeout(s.timer);
    const wait = Math.max(delayMs, s.lastSent + MIN_FRAME_INTERVAL_MS - performance.now());
    s.timer = window.setTimeout(sendFrame, Math.max(0, wait));
  }

  function frameSource() {
    if (s.source === "image") return { el: els.still, w: els.still.naturalWidth, h: els.still.naturalHeight };
    const v = els.video;
    if (v.readyState < 2 || !v.videoWidth) return null;
    return { el: v, w: v.videoWidth, h: v.videoHeight };
  }

  function sendFrame() {
    const ws = s.ws;
    if (!s.source || !ws || ws.readyState !== WebSocket.OPEN || s.inFlight) return;
    const onDevice = wantsOnDevice();
    if (onDevice && !s.analyzer) {
      // Never a picture while on-device analysis is asked for: wait until it has loaded.
      if (!s.deviceFailed) ensureOnDevice().then(() => schedule(0));
      return;
    }
    const src = frameSource();
    if (!src || !src.w) { schedule(200); return; }
    const scale = Math.min(1, MAX_SIDE / Math.max(src.w, src.h));
    capture.width = Math.round(src.w * scale);
    capture.height = Math.round(src.h * scale);
    const context = capture.getContext("2d", { willReadFrequently: onDevice });
    context.drawImage(src.el, 0, 0, capture.width, capture.height);
    s.inFlight = true;
    s.lastSent = performance.now();
    if (onDevice) { sendEstimates(ws, context); return; }
    s.deviceMs = null;
    capture.toBlob((blob) => {
      if (!blob || s.ws !== ws || ws.readyState !== WebSocket.OPEN) { s.inFlight = false; return; }
      // Switched to on-device analysis while this picture was being encoded: it stays here.
      if (wantsOnDevice()) { s.inFlight = false; schedule(0); return; }
      if (blob.size > Number(app.dataset.frameMaxBytes || Infinity)) {
        s.inFlight = false; schedule(1000); return;
      }
      s.sentSize = { w: capture.width, h: capture.height };
      ws.send(blob);
    }, "image/jpeg", JPEG_QUALITY);
  }

  // --- on-device analysis ----------------------------------------------------------------------
  function wantsOnDevice() {
    return ONDEVICE.mode === "only" || Boolean(els.onDevice && els.onDevice.checked);
  }

  function noteOnDevice(text, warn) {
    if (!els.onDeviceNote) return;
    els.onDeviceNote.hidden = !text;
    els.onDeviceNote.textContent = text || "";
    els.onDeviceNote.classList.toggle("notice--warn", Boolean(warn));
  }

  // Loads ondevice.js and, through it, the runtime and both models, once; resolves either way.
  function ensureOnDevice() {
    if (s.analyzer || s.deviceFailed) return Promise.resolve(s.analyzer);
    if (!s.loading) {
      if (s.source) setState("loading-ondevice");
      noteOnDevice("Loading the on-device analysis…");
      s.loading = import(ONDEVICE.module)
        .then((module) => module.loadOnDevice(ONDEVICE.config))
        .then((analyzer) => {
          s.analyzer = analyzer;
          noteOnDevice("Analysing on this device: only the estimates are sent to the server.");
          if (s.source) setState("live");
          return analyzer;
        }, (err) => {
          onDeviceFailed(err && err.name === "OnDeviceUnavailable" ? err.message : reasonOf(err));
          return null;
        })
        .finally(() => { s.loading = null; });
    }
    return s.loading;
  }

  function reasonOf(err) {
    return err && err.message ? err.message : "it could not be loaded";
  }

  function onDeviceFailed(reason) {
    s.deviceFailed = reason;
    s.analyzer = null;
    if (ONDEVICE.mode === "only") {
      const text = "Mood analysis is unavailable: this server analyses only on your device, and " +
        `on-device analysis cannot run here (${reason}). You can still choose a mood by hand below.`;
      noteOnDevice(text, true);
      s.unavailable = true;
      s.unavailableText = text;
      setState("unavailable", text);
      return;
    }
    if (els.onDevice) { els.onDevice.checked = false; els.onDevice.disabled = true; }
    noteOnDevice(`On-device analysis is unavailable here (${reason}). ` +
      "Pictures are analysed on the server instead.", true);
    if (s.source) { setState("live"); schedule(0); }
  }

  // Analyzes the captured frame here and sends only its estimates.
  function sendEstimates(ws, context) {
    const image = context.getImageData(0, 0, capture.width, capture.height);
    s.analyzer.analyze(image, { demographics: els.demographics.checked }).then((result) => {
      if (s.ws !== ws || ws.readyState !== WebSocket.OPEN) { s.inFlight = false; return; }
      s.deviceMs = result.timing.total_ms;
      s.sentSize = { w: result.width, h: result.height };
      ws.send(s.analyzer.estimatesMessage(result));
    }, (err) => {
      s.inFlight = false;
      onDeviceFailed(reasonOf(err));
    });
  }

  // --- showing results ------------------------------------------------------------------------
  function showAnalysis(message) {
    const faces = message.faces || [];
    drawBoxes(message);
    els.faces.textContent = String(faces.length);
    els.latency.textContent = s.deviceMs === null
      ? `${Math.round(message.ms)} ms on the server`
      : `${Math.round(s.deviceMs)} ms on this device`;
    if (!faces.length) {
      setState("no-face");
    } else {
      setState("live", faces.length === 1 ? "One face found." : `${faces.length} faces found.`);
      const largest = faces.reduce((a, b) => (a.box[2] * a.box[3] >= b.box[2] * b.box[3] ? a : b));
      showProbabilities(largest.emotion);
    }
  }

  function showProbabilities(probabilities) {
    for (const row of els.meter.querySelectorAll(".meter__row")) {
      const p = probabilities ? probabilities[row.dataset.mood] || 0 : 0;
      row.querySelector(".meter__fill").style.width = `${(p * 100).toFixed(1)}%`;
      row.querySelector(".meter__value").textContent = probabilities ? `${Math.round(p * 100)}%` : "–";
    }
  }

  function showMood(message) {
    const mood = message.mood;
    els.moodName.textContent = mood || (message.faces ? "reading your expression…" : "no one here");
    els.moodName.dataset.mood = mood || "";
    document.body.dataset.mood = mood || "";
    els.confidence.textContent = mood ? `${Math.round(message.confidence * 100)}% sure` : "";
    els.ageBand.textContent = message.age_band ? message.age_band.replace("_", " ") : "–";
    els.gender.textContent = message.gender || "–";
    if (!els.demographics.checked) { els.ageBand.textContent = "off"; els.gender.textContent = "off"; }
  }

  function showError(message) {
    if (message.code === "model_unavailable") { s.unavailable = true; setState("model-missing"); }
    else if (message.code === "analysis_unavailable") { s.unavailable = true; setState("unavailable"); }
    else if (message.code === "busy" || message.code === "rate_limited") setState("busy");
    else if (message.code === "analysis_timeout") setState("busy", "The server is slow; retrying…");
    else setState(els.state.dataset.state, `Skipped a frame: ${message.message}`);
  }

  function drawBoxes(message) {
    const canvas = els.overlay;
    const shown = s.source === "image" ? els.still : els.video;
    const rect = shown.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(rect.width * ratio);
    canvas.height = Math.round(rect.height * ratio);
    canvas.style.width = `${rect.width}px`;
    canvas.style.height = `${rect.height}px`;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!message.width || !message.height) return;
    // The element shows the frame with object-fit: contain; map frame pixels onto it.
    const scale = Math.min(rect.width / message.width, rect.height / message.height);
    const dx = (rect.width - message.width * scale) / 2;
    const dy = (rect.height - message.height * scale) / 2;
    ctx.scale(ratio, ratio);
    ctx.lineWidth = 2;
    ctx.font = "600 13px system-ui, sans-serif";
    for (const face of message.faces || []) {
      const [x, y, w, h] = face.box;
      const moods = Object.keys(face.emotion);
      const top = moods.reduce((a, b) => (face.emotion[a] >= face.emotion[b] ? a : b));
      ctx.strokeStyle = "rgba(255, 255, 255, 0.95)";
      ctx.strokeRect(dx + x * scale, dy + y * scale, w * scale, h * scale);
      const label = `${top} ${Math.round(face.emotion[top] * 100)}%`;
      const tw = ctx.measureText(label).width + 10;
      ctx.fillStyle = "rgba(24, 32, 48, 0.75)";
      ctx.fillRect(dx + x * scale, dy + y * scale - 20, tw, 20);
      ctx.fillStyle = "#fff";
      ctx.fillText(label, dx + x * scale + 5, dy + y * scale - 6);
    }
  }

  function clearResults() {
    els.overlay.getContext("2d").clearRect(0, 0, els.overlay.width, els.overlay.height);
    showProbabilities(null);
    els.faces.textContent = "–";
    els.latency.textContent = "–";
  }

  // --- sources: camera, video file, photo ---------------------------------------------------
  function showStage(kind) {
    els.video.hidden = kind === "image";
    els.still.hidden = kind !== "image";
    els.empty.hidden = Boolean(kind);
    els.start.hidden = Boolean(kind);
    els.stop.hidden = !kind;
  }

  async function startCamera() {
    stopSource();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setState("no-camera", "This browser cannot use a camera here (it needs https or localhost).");
      return;
    }
    setState("starting");
    try {
      s.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false,
      });
    } catch (err) {
      const name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError") setState("denied");
      else if (name === "NotFoundError" || name === "OverconstrainedError") setState("no-camera");
      else setState("no-camera", `The camera could not start (${name || "unknown error"}).`);
      return;
    }
    els.video.srcObject = s.stream;
    await els.video.play().catch(() => {});
    s.source = "camera";
    showStage("camera");
    connect();
  }

  function startFile(file) {
    stopSource();
    if (!file) return;
    s.objectUrl = URL.createObjectURL(file);
    if (file.type.startsWith("video/")) {
      els.video.srcObject = null;
      els.video.src = s.objectUrl;
      els.video.loop = true;
      els.video.play().catch(() => {});
      s.source = "video";
      showStage("video");
    } else {
      els.still.src = s.objectUrl;
      s.source = "image";
      showStage("image");
    }
    connect();
  }

  function stopSource() {
    window.clearTimeout(s.timer);
    disconnect();
    if (s.stream) { s.stream.getTracks().forEach((t) => t.stop()); s.stream = null; }
    els.video.pause();
    els.video.srcObject = null;
    els.video.removeAttribute("src");
    if (s.objectUrl) { URL.revokeObjectURL(s.objectUrl); s.objectUrl = null; }
    s.source = null;
    showStage(null);
    clearResults();
  }

  els.start.addEventListener("click", startCamera);
  els.stop.addEventListener("click", () => { stopSource(); setState("idle"); });
  els.file.addEventListener("change", () => startFile(els.file.files[0]));
  els.demographics.addEventListener("change", () => {
    els.ageBand.textContent = els.demographics.checked ? "–" : "off";
    els.gender.textContent = els.demographics.checked ? "–" : "off";
    if (s.source) { disconnect(); connect(); } // the choice travels in the connection's URL
  });
  window.addEventListener("resize", clearResults);
  if (els.onDevice) {
    // Load as soon as it is asked for, so that a failure is told before any camera frame.
    els.onDevice.addEventListener("change", () => {
      if (els.onDevice.checked) ensureOnDevice();
      else noteOnDevice("");
      if (s.source) schedule(0);
    });
  }

  if (app.dataset.modelMissing === "1" && !wantsOnDevice()) setState("model-missing");
  if (ONDEVICE.mode === "only" && s.deviceFailed) onDeviceFailed(s.deviceFailed);
})();
