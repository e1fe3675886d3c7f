// The camera tab: the camera's frames painted live, in this browser (the fast model's graphs) or on
// the server (/v1/stream, which paints the newest frame and drops stale ones). The painted picture
// and the camera's own picture sit together in the result column, so both stay on screen.
import { pixelsAt } from "./pixels.js";

const $ = (id) => document.getElementById(id);
const LIVE_SIZE = 256;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const dataUrl = (blob) => new Promise((resolve) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result);
  reader.readAsDataURL(blob);
});

export class Camera {
  constructor(page) {
    this.page = page;
    this.active = false;       // the camera tab is shown
    this.running = false;      // frames are being painted
    this.run = 0;              // which start the loops belong to
    this.ws = null;
    this.media = null;
    this.shown = [];
    this.modelBefore = null;
    this.wireTabs();
    $("camera-toggle").addEventListener("click", () => (this.running ? this.stop() : this.start()));
    $("snapshot").addEventListener("click", () => this.snapshot());
  }

  wireTabs() {
    const tabs = [$("tab-photo"), $("tab-camera")];
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => this.setTab(i === 1));
      tab.addEventListener("keydown", (e) => {
        const to = { ArrowRight: (i + 1) % 2, ArrowLeft: (i + 1) % 2, Home: 0, End: 1 }[e.key];
        if (to === undefined) return;
        e.preventDefault();
        tabs[to].focus();
        this.setTab(to === 1);
      });
    });
  }

  setTab(camera) {
    if (camera === this.active) return;
    this.active = camera;
    $("tab-photo").setAttribute("aria-selected", String(!camera));
    $("tab-camera").setAttribute("aria-selected", String(camera));
    $("tab-photo").tabIndex = camera ? -1 : 0;
    $("tab-camera").tabIndex = camera ? 0 : -1;
    $("panel-photo").hidden = camera;
    $("panel-camera").hidden = !camera;
    document.querySelectorAll("[data-mode]").forEach((el) => { el.hidden = el.dataset.mode !== (camera ? "camera" : "photo"); });
    $("result").hidden = camera;
    $("live").hidden = !camera;
    $("result-actions").hidden = camera || !this.page.resultShown();
    this.page.clearError();
    // The quality model is too slow for a camera: the tab uses a fast one and gives the choice back after.
    const quality = $("model-quality");
    if (camera) {
      this.modelBefore = quality.checked ? "quality" : null;
      const fast = ["fast", "browser"].find((m) => !$(`choice-${m}`).hidden);
      if (quality.checked && fast) $(`model-${fast}`).checked = true;
      quality.disabled = true;
    } else {
      this.stop();
      quality.disabled = false;
      if (this.modelBefore) quality.checked = true;
      this.modelBefore = null;
    }
    $("choice-quality").title = camera ? "the camera needs a fast model" : "";
    this.page.updateControls();
  }

  async start() {
    this.page.clearError();
    try {
      this.media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (err) {
      this.page.showError(`The camera is not available: ${err.message}`);
      return;
    }
    const run = ++this.run;
    this.running = true;
    $("camera-video").srcObject = this.media;
    $("live").classList.add("running");
    $("camera-toggle").textContent = "Stop camera";
    $("snapshot").disabled = false;
    await this.page.ensureStyle();
    if (this.page.model() === "browser") this.browserLoop(run);
    else this.serverStream(run);
  }

  // Give the frame in flight a moment to come back before closing, so the server is not left
  // writing to a socket that has gone.
  async stop() {
    if (!this.running && !this.ws) return;
    this.running = false;
    this.run++;
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.timer);
    if (ws) {
      const deadline = performance.now() + 1000;
      while (ws.readyState === WebSocket.OPEN && this.inFlight && performance.now() < deadline) await sleep(20);
      ws.close(1000, "camera stopped");
    }
    if (this.media) this.media.getTracks().forEach((t) => t.stop());
    this.media = null;
    this.shown = [];
    $("live").classList.remove("running");
    $("camera-toggle").textContent = "Start camera";
    $("live-status").textContent = "Press Start camera to paint your camera.";
    $("fps").textContent = "0.0 frames/s";
    $("snapshot").disabled = true;
  }

  // A setting changed while the camera runs: the browser loop reads it each frame; the stream is
  // told; a change between browser and server restarts the camera.
  async configChanged() {
    if (!this.running) return;
    const inBrowser = this.page.model() === "browser";
    if (inBrowser !== (this.ws === null)) {
      await this.stop();
      await this.start();
      return;
    }
    if (this.ws) this.sendConfig(this.ws);
  }

  countFrame(painted) {
    const now = performance.now();
    this.shown.push(now);
    while (this.shown.length && this.shown[0] < now - 2000) this.shown.shift();
    $("fps").textContent = `${(this.shown.length / 2).toFixed(1)} frames/s`;
    $("fps").dataset.frames = Number($("fps").dataset.frames || 0) + 1;
    painted.hidden = false;
  }

  async browserLoop(run) {
    const video = $("camera-video"), canvas = $("live-canvas");
    $("live-image").hidden = true;
    $("live-status").textContent = "Loading the in-browser model...";
    try {
      const model = await this.page.loadBrowserModel();
      while (this.run === run) {
        if (!video.videoWidth) { await sleep(30); continue; }
        const frame = pixelsAt(video, LIVE_SIZE);
        const stats = await this.page.browserStats(frame);
        const painted = await model.stylize(frame, stats, this.page.alpha());
        if (this.run !== run) break;
        if (canvas.width !== painted.width || canvas.height !== painted.height) Object.assign(canvas, { width: painted.width, height: painted.height });
        canvas.getContext("2d").putImageData(painted, 0, 0);
        this.countFrame(canvas);
        $("live-status").textContent = `in this browser, fast model, ${LIVE_SIZE} px, strength ${this.page.alpha().toFixed(2)}`;
        await sleep(0);  // let the page handle input between frames
      }
    } catch (err) {
      if (this.run === run) {
        this.page.showError(`The camera stopped: ${err.message}`);
        this.stop();
      }
    }
  }

  async config() {
    const { style, second, mix } = await this.page.serverConfig();
    const config = { type: "config", model: this.page.model(), alpha: this.page.alpha(), size: LIVE_SIZE };
    if (second && style.bank && second.bank) config.style_name = `${style.bank}:${(1 - mix).toFixed(2)},${second.bank}:${mix.toFixed(2)}`;
    else if (style.bank) config.style_name = style.bank;
    else config.style_image = await dataUrl(style.file);
    return config;
  }

  async sendConfig(ws) {
    const config = await this.config();
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(config));
  }

  serverStream(run) {
    $("live-canvas").hidden = true;
    $("live-status").textContent = "Connecting...";
    const url = new URL("v1/stream", document.baseURI);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    ws.binaryType = "blob";
    this.ws = ws;
    this.inFlight = false;
    let ready = false;
    ws.onopen = () => this.sendConfig(ws);
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") {
        this.inFlight = false;
        this.lastFrame = event.data;
        const img = $("live-image"), url = URL.createObjectURL(event.data);
        img.onload = () => URL.revokeObjectURL(url);
        img.src = url;
        this.countFrame(img);
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "error") this.page.showError(message.detail);
      if (message.type === "ready") {
        ready = true;
        this.page.clearError();
        $("live-status").textContent = `on the server, ${message.model} model, ${message.size} px, strength ${message.alpha.toFixed(2)}, `
          + "smoothed from frame to frame";
      }
    };
    ws.onclose = (event) => {
      if (this.ws === ws && event.reason) this.page.showError(event.reason);
      if (this.ws === ws) this.stop();
    };
    const video = $("camera-video");
    this.timer = setInterval(() => {
      if (this.run !== run || ws.readyState !== WebSocket.OPEN || !ready || ws.bufferedAmount > 0 || !video.videoWidth) return;
      const scale = LIVE_SIZE / Math.min(video.videoWidth, video.videoHeight);
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob((blob) => {
        if (blob && ws.readyState === WebSocket.OPEN && this.run === run) { ws.send(blob); this.inFlight = true; }
      }, "image/jpeg", 0.8);
    }, 1000 / 24);
  }

  async snapshot() {
    const canvas = $("live-canvas");
    const blob = !canvas.hidden ? await new Promise((resolve) => canvas.toBlob(resolve, "image/png"))
      : this.lastFrame;
    if (!blob) return;
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(blob), download: `camera-${this.page.styleLabel()}.${blob.type === "image/png" ? "png" : "jpg"}` });
    document.body.append(link);
    link.click();
    link.remove();
    $("live-status").textContent = `Snapshot saved as ${link.download}.`;
  }
}
