// Pictures <-> the graphs' tensors, done as the Python library does them (stylize/media/images.py
// and the engine's padding), so the browser's result matches the library's.

// (width, height) with the shorter side scaled to `side`, rounded as scaled_size() rounds.
export function scaledSize(width, height, side) {
  const scale = side / Math.min(width, height);
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

// The picture's pixels with its shorter side at `side` (never enlarged: a smaller picture keeps
// its own size, so the result is not blurred by upscaling).
export function pixelsAt(source, side) {
  const width = source.naturalWidth || source.videoWidth || source.width;
  const height = source.naturalHeight || source.videoHeight || source.height;
  const [w, h] = side && side < Math.min(width, height) ? scaledSize(width, height, side) : [width, height];
  const canvas = new OffscreenCanvas(w, h);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingQuality = "high";
  context.drawImage(source, 0, 0, w, h);
  return context.getImageData(0, 0, w, h);
}

// The engine pads the bottom and right to multiples of 8: by reflection, or by repeating the
// edge when the picture is too small to reflect (pad_to_multiple).
function padIndex(i, n, reflect) {
  if (i < n) return i;
  return reflect ? 2 * (n - 1) - i : n - 1;
}

// ImageData -> { data: Float32Array (1, 3, H, W) in [0, 1], dims, width, height } with H and W
// padded to multiples of 8.
export function toTensor(image) {
  const { width, height, data } = image;
  const W = Math.ceil(width / 8) * 8, H = Math.ceil(height / 8) * 8;
  const reflect = Math.min(width, height) > Math.max(W - width, H - height);
  const out = new Float32Array(3 * H * W);
  const plane = H * W;
  for (let y = 0; y < H; y++) {
    const sy = padIndex(y, height, reflect);
    for (let x = 0; x < W; x++) {
      const s = 4 * (sy * width + padIndex(x, width, reflect));
      const d = y * W + x;
      out[d] = data[s] / 255;
      out[plane + d] = data[s + 1] / 255;
      out[2 * plane + d] = data[s + 2] / 255;
    }
  }
  return { data: out, dims: [1, 3, H, W], width, height };
}

// The graph's (1, 3, H, W) output, cut back to width x height, as ImageData (to_frame's rounding).
export function toImageData(output, width, height) {
  const [, , H, W] = output.dims;
  const values = output.data, plane = H * W;
  const image = new ImageData(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = y * W + x, d = 4 * (y * width + x);
      for (let c = 0; c < 3; c++) image.data[d + c] = Math.round(Math.min(1, Math.max(0, values[c * plane + s])) * 255);
      image.data[d + 3] = 255;
    }
  }
  return image;
}
