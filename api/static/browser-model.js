// The fast model in this browser with onnxruntime-web 1.31.1 (vendor/onnxruntime-web): on WebGPU
// where the browser offers it, else WebAssembly with SIMD (threads where the page is cross-origin
// isolated). Two graphs from `stylize export-web`: style_encoder.onnx reads a painting once (VGG-19's
// statistics, a row of numbers), stylizer.onnx paints each photo or frame from that row.
import { toImageData, toTensor } from "./pixels.js";

const VENDOR = new URL("./vendor/onnxruntime-web/", import.meta.url).href;
// Each backend is its own build of the runtime; a page loads one of them.
const RUNTIMES = { webgpu: "ort.jspi.min.mjs", wasm: "ort.wasm.min.mjs" };
const BACKEND_NAMES = { webgpu: "WebGPU", wasm: "WebAssembly" };

// The WebGPU build needs a GPU adapter and JavaScript Promise Integration (Chromium 137 and later).
// (Browsers offer a software adapter only when told to, as the tests tell Chromium.)
async function hasWebGPU() {
  if (!navigator.gpu || typeof WebAssembly.Suspending !== "function") return false;
  try {
    return Boolean(await navigator.gpu.requestAdapter());
  } catch {
    return false;
  }
}

async function runtime(backend) {
  const ort = await import(VENDOR + RUNTIMES[backend]);
  ort.env.wasm.wasmPaths = VENDOR;
  // Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  return ort;
}

export class BrowserModel {
  constructor(info, ort, backend, encoder, stylizer) {
    Object.assign(this, { info, ort, backend, encoder, stylizer });
    this.threads = ort.env.wasm.numThreads;
    this.queue = Promise.resolve();  // one graph run at a time: a session is not re-entrant
  }

  // "WebGPU" or "WebAssembly, N threads": what the page says it ran on.
  get description() {
    if (this.backend === "webgpu") return BACKEND_NAMES.webgpu;
    return `${BACKEND_NAMES.wasm}, ${this.threads} thread${this.threads > 1 ? "s" : ""}`;
  }

  // model.json's folder, e.g. "static/model/" -> a BrowserModel, or null when there is none. WebGPU
  // first where there is one; if its graphs fail to load there, WebAssembly.
  static async load(folder) {
    const response = await fetch(new URL("model.json", new URL(folder, document.baseURI)));
    if (!response.ok) return null;
    const info = await response.json();
    const url = (name) => new URL(name, new URL(folder, document.baseURI)).href;
    const backends = (await hasWebGPU()) ? ["webgpu", "wasm"] : ["wasm"];
    for (const backend of backends) {
      let encoder = null, stylizer = null;
      try {
        const ort = await runtime(backend);
        const options = { executionProviders: [backend], graphOptimizationLevel: "all" };
        encoder = await ort.InferenceSession.create(url("style_encoder.onnx"), options);
        stylizer = await ort.InferenceSession.create(url("stylizer.onnx"), options);
        const model = new BrowserModel(info, ort, backend, encoder, stylizer);
        if (backend === "webgpu") await model.tryOnce();  // a GPU may load the graphs and still fail to run them
        return model;
      } catch (err) {
        await Promise.all([encoder, stylizer].map((session) => session?.release().catch(() => {})));
        if (backend === backends[backends.length - 1]) throw err;
        console.warn(`${BACKEND_NAMES[backend]} could not run the model, using ${BACKEND_NAMES.wasm}:`, err);
      }
    }
  }

  // One run of both graphs on a blank 16 x 16 picture (the smallest the networks take).
  async tryOnce() {
    const blank = new ImageData(16, 16);
    await this.stylize(blank, await this.styleStats(blank), 1);
  }

  run(task) {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => {});
    return next;
  }

  // A painting (ImageData) -> its style statistics (Float32Array).
  styleStats(painting) {
    return this.run(async () => {
      const style = toTensor(painting);
      const { style_stats: stats } = await this.encoder.run({ style: new this.ort.Tensor("float32", style.data, style.dims) });
      return stats.data.slice();
    });
  }

  // A photo or frame (ImageData), style statistics and a strength -> the painted ImageData.
  stylize(photo, stats, alpha) {
    return this.run(async () => {
      const content = toTensor(photo);
      const { image } = await this.stylizer.run({
        content: new this.ort.Tensor("float32", content.data, content.dims),
        style_stats: new this.ort.Tensor("float32", stats, [1, stats.length]),
        alpha: new this.ort.Tensor("float32", new Float32Array([alpha]), [1]),
      });
      return toImageData(image, content.width, content.height);
    });
  }
}

// A weighted sum of style rows (weights summing to 1): the library's blend of styles.
export function blendStats(rows, weights) {
  const total = weights.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows[0].length);
  rows.forEach((row, k) => { for (let i = 0; i < out.length; i++) out[i] += (weights[k] / total) * row[i]; });
  return out;
}
