// The fast model in this browser with onnxruntime-web 1.31.1 (vendor/onnxruntime-web, WebAssembly
// with SIMD; threads where the page is cross-origin isolated). Two graphs from `stylize export-web`:
// style_encoder.onnx reads a painting once (VGG-19's statistics, a row of numbers), stylizer.onnx
// paints each photo or frame from that row.
import * as ort from "./vendor/onnxruntime-web/ort.wasm.min.mjs";
import { toImageData, toTensor } from "./pixels.js";

ort.env.wasm.wasmPaths = new URL("./vendor/onnxruntime-web/", import.meta.url).href;
// Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

export class BrowserModel {
  constructor(info, encoder, stylizer) {
    Object.assign(this, { info, encoder, stylizer });
    this.threads = ort.env.wasm.numThreads;
    this.queue = Promise.resolve();  // one graph run at a time: a session is not re-entrant
  }

  // model.json's folder, e.g. "static/model/" -> a BrowserModel, or null when there is none.
  static async load(folder) {
    const response = await fetch(new URL("model.json", new URL(folder, document.baseURI)));
    if (!response.ok) return null;
    const info = await response.json();
    const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const url = (name) => new URL(name, new URL(folder, document.baseURI)).href;
    const encoder = await ort.InferenceSession.create(url("style_encoder.onnx"), options);
    const stylizer = await ort.InferenceSession.create(url("stylizer.onnx"), options);
    return new BrowserModel(info, encoder, stylizer);
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
      const { style_stats: stats } = await this.encoder.run({ style: new ort.Tensor("float32", style.data, style.dims) });
      return stats.data.slice();
    });
  }

  // A photo or frame (ImageData), style statistics and a strength -> the painted ImageData.
  stylize(photo, stats, alpha) {
    return this.run(async () => {
      const content = toTensor(photo);
      const { image } = await this.stylizer.run({
        content: new ort.Tensor("float32", content.data, content.dims),
        style_stats: new ort.Tensor("float32", stats, [1, stats.length]),
        alpha: new ort.Tensor("float32", new Float32Array([alpha]), [1]),
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
